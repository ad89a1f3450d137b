"""Moving in and checking a site: ``import-res-ldap`` and ``doctor``.

The logic lives in :mod:`ara_ldap.tools.import_res_ldap` and :mod:`ara_ldap.tools.doctor`;
this module only parses arguments and prints.  Registered by ``ara_ldap.cli`` through
:data:`COMMANDS`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from ara_ldap.cli_support import fail, handle_errors

__all__ = ["COMMANDS", "doctor", "import_res_ldap"]


def _warn(message: str) -> None:
    click.echo(f"ara-ldap: warning: {message}", err=True)


def _write_secret(path: Path, secret: str, force: bool) -> None:
    """Write the password file as ``ldap* -y`` and our loader read it: mode 0600, no
    trailing newline; an existing file is kept unless ``--force``."""
    if path.exists() and not force:
        fail(f"{path} exists; pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret)
    os.chmod(path, 0o600)


@click.command("import-res-ldap")
@click.argument("res_ldap_conf", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.argument(
    "extconfig_conf",
    required=False,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the YAML here (default: standard output).",
)
@click.option("--url", default=None, help="LDAP URL(s), if [_general] has no url/host.")
@click.option("--bind-dn", default=None, help="Bind DN, instead of [_general] user.")
@click.option("--base-dn", default=None, help="Backend base DN, instead of [_general] basedn.")
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("/etc/ara-ldap/ldap.pw"),
    show_default=True,
    help="Where the YAML says the bind password is.",
)
@click.option(
    "--write-password",
    is_flag=True,
    help="Write the bind password found in res_ldap.conf to --password-file (mode 0600).",
)
@click.option(
    "--keep-sample-bugs",
    is_flag=True,
    help="Keep the stock sample's wrong class/attribute names (only warn about them).",
)
@click.option("--force", is_flag=True, help="Overwrite --output / --password-file.")
@handle_errors()
def import_res_ldap(
    res_ldap_conf: Path,
    extconfig_conf: Path | None,
    output: Path | None,
    url: str | None,
    bind_dn: str | None,
    base_dn: str | None,
    password_file: Path,
    write_password: bool,
    keep_sample_bugs: bool,
    force: bool,
) -> None:
    """Turn Asterisk's res_ldap.conf (and extconfig.conf) into an ara-ldap YAML map."""
    from ara_ldap.tools.conf_parser import parse_conf_file
    from ara_ldap.tools.import_res_ldap import import_res_ldap as run_import
    from ara_ldap.tools.import_res_ldap import render_yaml

    res_ldap = parse_conf_file(res_ldap_conf)
    extconfig = parse_conf_file(extconfig_conf) if extconfig_conf else None
    result = run_import(
        res_ldap,
        extconfig,
        url=url,
        bind_dn=bind_dn,
        base_dn=base_dn,
        password_file=password_file.absolute() if write_password else password_file,
        fix_sample=not keep_sample_bugs,
    )
    for message in [
        *res_ldap.warnings,
        *(extconfig.warnings if extconfig else []),
        *result.warnings,
    ]:
        _warn(message)
    sources = [str(res_ldap_conf), *([str(extconfig_conf)] if extconfig_conf else [])]
    text = render_yaml(result, sources)
    if output is None:
        click.echo(text, nl=False)
    else:
        if output.exists() and not force:
            fail(f"{output} exists; pass --force to overwrite it")
        output.write_text(text, encoding="utf-8")
        click.echo(
            f"Wrote {output} ({len(result.config['backends']['ldap']['families'])} families).",
            err=True,
        )
    if result.password is not None and result.password_file is not None:
        if write_password:
            _write_secret(result.password_file, result.password, force)
            click.echo(f"Bind password written to {result.password_file} (mode 0600).", err=True)
        else:
            click.echo(
                f"The bind password in {res_ldap_conf} was not copied. Put it into "
                f"{result.password_file} (mode 0600, no trailing newline), or run again with "
                "--write-password.",
                err=True,
            )
    sys.stdout.flush()


_MARK = {
    "ok": ("ok", "green"),
    "warn": ("warn", "yellow"),
    "fail": ("FAIL", "red"),
    "skip": ("skip", "cyan"),
}


def _print_report(report: Any) -> None:
    click.secho(f"Backend {report.backend} ({report.url}), bound as {report.identity}", bold=True)
    current = None
    for finding in report.findings:
        if finding.check != current:
            current = finding.check
            click.secho(f"  {current}", bold=True)
        label, colour = _MARK[finding.status]
        mark = click.style(f"{label:>4}", fg=colour, bold=finding.status == "fail")
        click.echo(f"    {mark}  {finding.subject}: {finding.message}")
        if finding.fix and finding.status in ("fail", "warn", "skip"):
            for i, line in enumerate(finding.fix.splitlines()):
                click.echo(f"          {'fix: ' if i == 0 else '     '}{line}")
    n, w = len(report.problems), len(report.warnings)
    summary = f"  {n} problem{'s' if n != 1 else ''}, {w} warning{'s' if w != 1 else ''}"
    click.secho(summary, fg="red" if n else ("yellow" if w else "green"), bold=True)


@click.command("doctor")
@click.option("--backend", "backend_name", default=None, help="Check one LDAP backend only.")
@click.option(
    "--cn-config-url",
    default=None,
    help="Read cn=config (indexes, limits) here when the configured identity may not, "
    "e.g. ldapi:/// (SASL EXTERNAL) on the directory host.",
)
@click.option("--cn-config-bind-dn", default=None, help="Simple bind for --cn-config-url.")
@click.option(
    "--cn-config-password-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Password for --cn-config-bind-dn.",
)
@click.pass_context
@handle_errors()
def doctor(
    ctx: click.Context,
    backend_name: str | None,
    cn_config_url: str | None,
    cn_config_bind_dn: str | None,
    cn_config_password_file: Path | None,
) -> None:
    """Check the directory as ara-ldap's identity sees it; print what to fix (exit 1 if any)."""
    from ara_ldap.config import LdapBackendSettings, load_config
    from ara_ldap.secrets import read_secret_file
    from ara_ldap.tools.doctor import CnConfigAccess, diagnose

    settings = load_config(ctx.ensure_object(dict).get("config"))
    backends = {
        name: b for name, b in settings.backends.items() if isinstance(b, LdapBackendSettings)
    }
    if backend_name is not None:
        if backend_name not in backends:
            fail(f"no LDAP backend named {backend_name!r} (LDAP backends: {', '.join(backends)})")
        backends = {backend_name: backends[backend_name]}
    if not backends:
        fail("the configuration has no LDAP backend")
    access = None
    if cn_config_url:
        password = None
        if cn_config_password_file is not None:
            password = read_secret_file(cn_config_password_file, "--cn-config-password-file")
        access = CnConfigAccess(cn_config_url, cn_config_bind_dn, password)
    problems = 0
    for name, backend in backends.items():
        report = diagnose(backend, name, password=backend.bind_password(), cn_config=access)
        _print_report(report)
        problems += len(report.problems)
    if problems:
        sys.exit(1)


COMMANDS = [import_res_ldap, doctor]
