"""``ara-ldap compare`` and ``ara-ldap copy``: working with two backends side by side."""

from __future__ import annotations

import sys

import click

from ara_ldap.cli_support import fail as _fail
from ara_ldap.cli_support import handle_errors as _handle_errors
from ara_ldap.cli_support import pairs as _pairs


@click.command()
@click.option(
    "--backends",
    "names",
    default=None,
    metavar="A,B",
    help="The two backends to compare (default: the first two configured).",
)
@click.option("--show-secrets", is_flag=True, help="Print values of secret fields.")
@click.option(
    "--suite",
    is_flag=True,
    help="Run the driver conformance suite on every configured backend instead.",
)
@click.option(
    "--cases",
    "keyword",
    default=None,
    metavar="EXPR",
    help="With --suite: only cases matching EXPR (as pytest -k).",
)
@click.argument("verb", required=False)
@click.argument("family", required=False)
@click.argument("args", nargs=-1)
@click.pass_context
@_handle_errors()
def compare(
    ctx: click.Context,
    names: str | None,
    show_secrets: bool,
    suite: bool,
    keyword: str | None,
    verb: str | None,
    family: str | None,
    args: tuple[str, ...],
) -> None:
    """Run VERB (load, multi, require, static) on two backends; show both answers.

    \b
    ara-ldap compare load sippeers name alice
    ara-ldap compare multi extensions context default 'exten LIKE' '\\_%'
    ara-ldap compare static sip.conf
    ara-ldap compare --suite

    Exit status: 0 identical, 1 different (or an error).
    """
    from ara_ldap.backends import create_backend
    from ara_ldap.config import load_config
    from ara_ldap.tools.compare import compare_call, sides

    settings = load_config(ctx.obj.get("config"))
    backends = {name: create_backend(name, spec) for name, spec in settings.backends.items()}
    try:
        if suite:
            from ara_ldap.tools.suite_report import run_suite_report

            sys.exit(
                run_suite_report(settings, backends, names.split(",") if names else None, keyword)
            )
        if not verb or not family:
            _fail("compare: give VERB FAMILY FIELD VALUE ... (or --suite)")
        left, right = sides(settings, backends, names.split(",") if names else None)
        if verb == "static":
            pairs: list[tuple[str, str]] = []
        else:
            pairs = _pairs(args, "compare")
        result = compare_call(left, right, verb, family, pairs, show_secrets=show_secrets)
        for line in result.lines:
            click.echo(line)
        if result.differences:
            click.echo(f"{result.differences} difference(s).")
            sys.exit(1)
        click.echo("Identical answers.")
    finally:
        for backend in backends.values():
            backend.close()


@click.command("copy")
@click.option("--from", "source", required=True, help="Backend to read.")
@click.option("--to", "target", required=True, help="Backend to write.")
@click.option("--family", "families", multiple=True, help="Only these families (repeatable).")
@click.option(
    "--drop-unknown-fields",
    is_flag=True,
    help="Leave out fields the target family lacks (listed in the report).",
)
@click.pass_context
@_handle_errors()
def copy(
    ctx: click.Context,
    source: str,
    target: str,
    families: tuple[str, ...],
    drop_unknown_fields: bool,
) -> None:
    """Copy every record of the families from one backend to another."""
    from ara_ldap.backends import create_backend
    from ara_ldap.config import load_config
    from ara_ldap.tools.copy import copy_records

    settings = load_config(ctx.obj.get("config"))
    backends = {name: create_backend(name, spec) for name, spec in settings.backends.items()}
    try:
        report = copy_records(
            settings,
            backends,
            source,
            target,
            families or None,
            drop_unknown_fields=drop_unknown_fields,
        )
    finally:
        for backend in backends.values():
            backend.close()
    for family, n in report.copied.items():
        click.echo(f"{family}: {n} copied, {report.present[family]} already present")
    for family, dropped in report.dropped_fields.items():
        click.echo(f"{family}: left out fields the target lacks: {', '.join(sorted(dropped))}")
    for line in report.errors:
        click.echo(f"not copied: {line}")
    if report.errors:
        sys.exit(1)


COMMANDS = [compare, copy]
