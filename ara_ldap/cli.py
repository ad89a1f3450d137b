"""The ``ara-ldap`` command: Asterisk's ``realtime`` CLI verbs, plus what Asterisk lacks.

Argument shapes and output strings follow ``res_realtime`` (reference realtime-api.md
§10), so an admin's muscle memory and scripts carry over.  Errors are one line on stderr
and a non-zero exit status; no tracebacks, no secrets.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import click

from ara_ldap.cli_support import fail as _fail
from ara_ldap.cli_support import handle_errors as _handle_errors
from ara_ldap.cli_support import pairs as _pairs

ROW_FORMAT = "{:>30}  {:<30}"


def _realtime(ctx: click.Context) -> Any:
    from ara_ldap.bootstrap import open_realtime
    from ara_ldap.config import load_config

    obj = ctx.ensure_object(dict)
    if "realtime" not in obj:
        settings = load_config(obj.get("config"))
        obj["realtime"] = open_realtime(settings)
        ctx.call_on_close(obj["realtime"].close)
    return obj["realtime"]


def _plural(n: int) -> str:
    return "" if n == 1 else "s"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "-c",
    "config",
    type=click.Path(dir_okay=False),
    envvar="ARA_LDAP_CONFIG",
    help="Configuration file (default: ./ara-ldap.yaml, "
    "~/.config/ara-ldap/ara-ldap.yaml, /etc/ara-ldap/ara-ldap.yaml).",
)
@click.option("-v", "--verbose", count=True, help="Log warnings (-vv info, -vvv debug).")
@click.version_option(package_name="ara-ldap")
@click.pass_context
def main(ctx: click.Context, config: str | None, verbose: int) -> None:
    """Asterisk realtime configuration in LDAP: the realtime verbs and tools."""
    # Errors already reach the user as one line; log lines only when asked for.
    level = (logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 3)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    ctx.ensure_object(dict)["config"] = config


@main.command()
@click.argument("family")
@click.argument("field")
@click.argument("value")
@click.argument("more", nargs=-1)
@click.pass_context
@_handle_errors()
def load(ctx: click.Context, family: str, field: str, value: str, more: tuple[str, ...]) -> None:
    """Print the record matching FIELD VALUE (like 'realtime load')."""
    rt = _realtime(ctx)
    record = rt.single(family, [(field, value), *_pairs(more, "load")])
    if record is None:
        click.echo("No rows found matching search criteria.")
        return
    _print_record(record)


def _print_record(record: Any) -> None:
    click.echo(ROW_FORMAT.format("Column Name", "Column Value"))
    click.echo(ROW_FORMAT.format("-" * 20, "-" * 20))
    for name, value in record:
        click.echo(ROW_FORMAT.format(name, value))


@main.command()
@click.argument("family")
@click.argument("field")
@click.argument("value")
@click.argument("more", nargs=-1)
@click.pass_context
@_handle_errors()
def multi(ctx: click.Context, family: str, field: str, value: str, more: tuple[str, ...]) -> None:
    """Print every record matching the FIELD VALUE pairs, in result order."""
    rt = _realtime(ctx)
    records = rt.multi(family, [(field, value), *_pairs(more, "multi")])
    if not records:
        click.echo("No rows found matching search criteria.")
        return
    for i, record in enumerate(records):
        if i:
            click.echo("")
        _print_record(record)
    click.echo(f"\n{len(records)} record{_plural(len(records))}.")


@main.command()
@click.argument("family")
@click.argument("colmatch")
@click.argument("valuematch")
@click.argument("colupdate")
@click.argument("newvalue")
@click.pass_context
@_handle_errors("update")
def update(
    ctx: click.Context, family: str, colmatch: str, valuematch: str, colupdate: str, newvalue: str
) -> None:
    """Set COLUPDATE to NEWVALUE where COLMATCH is VALUEMATCH (like 'realtime update')."""
    n = _realtime(ctx).update(family, colmatch, valuematch, [(colupdate, newvalue)])
    click.echo(f"Updated {n} RealTime record{_plural(n)}.")


@main.command()
@click.argument("family")
@click.argument("args", nargs=-1, required=True)
@click.pass_context
@_handle_errors("update")
def update2(ctx: click.Context, family: str, args: tuple[str, ...]) -> None:
    """FAMILY F1 V1 [F2 V2 ...] NULL COLUPDATE NEWVALUE (like 'realtime update2')."""
    if len(args) < 5 or (len(args) - 3) % 2 or args[-3] != "NULL":
        _fail("usage: ara-ldap update2 FAMILY F1 V1 [F2 V2 ...] NULL COLUPDATE NEWVALUE")
    lookup = _pairs(args[:-3], "update2")
    n = _realtime(ctx).update2(family, lookup, [(args[-2], args[-1])])
    click.echo(f"Updated {n} RealTime record{_plural(n)}.")


@main.command()
@click.argument("family")
@click.argument("args", nargs=-1, required=True)
@click.pass_context
@_handle_errors("store")
def store(ctx: click.Context, family: str, args: tuple[str, ...]) -> None:
    """FAMILY F1 V1 [F2 V2 ...]: create a record (like 'realtime store')."""
    _realtime(ctx).store(family, _pairs(args, "store"))
    click.echo("Stored RealTime record.")


@main.command()
@click.argument("family")
@click.argument("args", nargs=-1, required=True)
@click.pass_context
@_handle_errors("destroy")
def destroy(ctx: click.Context, family: str, args: tuple[str, ...]) -> None:
    """FAMILY F1 V1 [F2 V2 ...]: delete matching records (like 'realtime destroy')."""
    n = _realtime(ctx).destroy(family, _pairs(args, "destroy"))
    click.echo(f"Removed {n} RealTime record{_plural(n)}.")


@main.command()
@click.argument("family")
@click.argument("args", nargs=-1, required=True)
@click.pass_context
@_handle_errors()
def require(ctx: click.Context, family: str, args: tuple[str, ...]) -> None:
    """FAMILY FIELD TYPE[:SIZE] ...: can the family hold such data? (exit 1 if not)"""
    from ara_ldap.backends.base import Requirement

    reqs = [Requirement.parse(f, spec) for f, spec in _pairs(args, "require")]
    problems = _realtime(ctx).require(family, reqs)
    if problems:
        for p in problems:
            click.echo(p)
        _fail(f"{family} cannot hold {len(problems)} of the {len(reqs)} required fields")
    click.echo(f"{family}: all {len(reqs)} required field{_plural(len(reqs))} can be stored.")


@main.command()
@click.argument("filename")
@click.option(
    "--format", "fmt", type=click.Choice(["conf", "json"]), default="conf", show_default=True
)
@click.option(
    "--no-follow-includes",
    is_flag=True,
    help="Print #include lines instead of inlining the included files.",
)
@click.pass_context
@_handle_errors()
def static(ctx: click.Context, filename: str, fmt: str, no_follow_includes: bool) -> None:
    """Print a stored config file as Asterisk would build it."""
    config = _realtime(ctx).static(filename)
    if fmt == "json":
        click.echo(config.to_json())
    else:
        click.echo(config.render(follow_includes=not no_follow_includes), nl=False)


@main.command()
@click.option("--port", type=int, default=None, help="LDAP port (default: a free one).")
@click.option(
    "--ldif-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Fixtures to load (default: the shipped ldif/).",
)
@click.option(
    "--write-config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("ara-ldap.yaml"),
    show_default=True,
    help="Where to write the demo configuration.",
)
@click.option(
    "--gateway-port",
    type=int,
    default=None,
    help="Gateway port (default: 8389, or a free one if that is busy).",
)
@_handle_errors()
def demo(
    port: int | None, ldif_dir: Path | None, write_config: Path, gateway_port: int | None
) -> None:
    """Start a throwaway directory loaded with the fixtures, and the gateway; Ctrl-C stops."""
    from ara_ldap.tools.demo import run_demo

    run_demo(port=port, ldif_dir=ldif_dir, config_path=write_config, gateway_port=gateway_port)


#: Subpackages never searched for commands: test code must not load with the CLI, and a
#: backend carries no CLI (its commands live in ``ara_ldap.tools``).
NOT_SEARCHED = frozenset({"testing", "backends"})


def command_modules(package: str = "ara_ldap") -> list[str]:
    """The modules named ``commands`` or ``*_cli`` in *package*'s subpackages, found on disk
    (nothing is imported to look), so a new command group needs no edit here."""
    import importlib.util
    import pkgutil

    spec = importlib.util.find_spec(package)
    found: list[str] = []
    for sub in pkgutil.iter_modules(spec.submodule_search_locations if spec else None):
        if not sub.ispkg or sub.name in NOT_SEARCHED:
            continue
        where = Path(getattr(sub.module_finder, "path", "")) / sub.name
        for mod in pkgutil.iter_modules([str(where)]):
            if not mod.ispkg and (mod.name == "commands" or mod.name.endswith("_cli")):
                found.append(f"{package}.{sub.name}.{mod.name}")
    return sorted(found)


def register_commands(group: click.Group, modules: list[str]) -> None:
    """Add each module's ``COMMANDS`` to *group*; a module whose own package is missing is
    skipped (a trimmed install), a missing dependency of it is an error to see."""
    import importlib

    for module in modules:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module.startswith(exc.name):
                raise
            continue
        for command in getattr(mod, "COMMANDS", ()):
            if command.name in group.commands:
                raise RuntimeError(f"{module}: command {command.name!r} is already registered")
            group.add_command(command)


register_commands(main, command_modules())

if __name__ == "__main__":  # pragma: no cover
    main()
