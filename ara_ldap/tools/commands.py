"""Dialplan and static-file commands: ``dialplan``, ``extensions-check``, ``static-import``.

Why here: ``ara_ldap.cli`` registers every command listed in :data:`COMMANDS`, so these
tools live with their subsystem.  Nothing here imports ``ara_ldap.cli`` (it imports this
module while it loads); the shared error handling comes from ``ara_ldap.cli_support``.

Exit status: 0 for "yes" / no problems, 1 for "no" / problems found, and 1 with one
``ara-ldap: error:`` line for errors (the CLI's rule).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ara_ldap.cli_support import handle_errors
from ara_ldap.dialplan.switch import (
    RealtimeSwitch,
    StopReason,
    SwitchAnswer,
    SwitchDataError,
    SwitchMode,
    SwitchTarget,
    Walk,
    app_of,
    parse_switch,
)
from ara_ldap.errors import BadRequest
from ara_ldap.realtime import Realtime
from ara_ldap.record import Record

__all__ = ["COMMANDS", "dialplan", "extensions_check", "static_import"]


def _realtime(ctx: click.Context) -> Realtime:
    """The command's Realtime, opened once per invocation as the other commands do."""
    from ara_ldap.bootstrap import open_realtime
    from ara_ldap.config import load_config

    obj = ctx.ensure_object(dict)
    if "realtime" not in obj:
        obj["realtime"] = open_realtime(load_config(obj.get("config")))
        ctx.call_on_close(obj["realtime"].close)
    realtime: Realtime = obj["realtime"]
    return realtime


def _warn(message: str) -> None:
    click.echo(f"ara-ldap: warning: {message}", err=True)


# dialplan ------------------------------------------------------------------------------


def _split_number(where: str) -> tuple[str, str]:
    number, at, context = where.rpartition("@")
    if not at or not context:
        raise BadRequest(f"expected NUMBER@CONTEXT, got {where!r}")
    return number, context


def _target(
    context: str, family: str | None, switch: str | None, no_patterns: bool
) -> SwitchTarget:
    if switch is not None:
        if family is not None:
            raise BadRequest("--family and --switch both choose the family; give one")
        try:
            target = parse_switch(switch, context, strict=True)
        except SwitchDataError as exc:
            _warn(str(exc))
            target = parse_switch(switch, context)
    else:
        target = SwitchTarget(context, family or "extensions")
    if no_patterns and not target.no_patterns:
        target = SwitchTarget(target.context, target.family, target.options + "p")
    return target


def _row_label(answer: SwitchAnswer) -> str:
    record = answer.record
    if record is None:
        return "no row"
    exten = record.get("exten") or ""
    return f"pattern {exten}" if answer.via_pattern else f"literal {exten}"


def _app_text(record: Record) -> str:
    app, data = app_of(record)
    return f"{app}({data})"


def _queries(answer: SwitchAnswer, indent: str) -> None:
    for query in answer.queries:
        click.echo(f"{indent}{query}")


@click.command("dialplan")
@click.argument("where", metavar="NUMBER@CONTEXT")
@click.option("--family", default=None, help="Realtime family of the rows (default: extensions).")
@click.option(
    "--mode",
    type=click.Choice([m.value for m in SwitchMode]),
    default=SwitchMode.EXISTS.value,
    show_default=True,
    help="exists: execute priorities 1, 2, ...; canmatch/matchmore: answer that question.",
)
@click.option("--priority", type=int, default=1, show_default=True, help="For canmatch/matchmore.")
@click.option(
    "--asterisk-compat",
    is_flag=True,
    help="Answer canmatch/matchmore as pbx_realtime does (swapped for pattern rows).",
)
@click.option("--no-patterns", is_flag=True, help="Switch option p: no pattern query.")
@click.option(
    "--switch",
    "switch",
    default=None,
    metavar="DATA",
    help="Switch data as in extensions.conf (Realtime/ctx@family/opts); warns about traps.",
)
@click.option(
    "--specific-first",
    is_flag=True,
    help="Order equal-length patterns most specific first (Asterisk uses backend order).",
)
@click.option("--trace", is_flag=True, help="Show every query the switch issues.")
@click.pass_context
@handle_errors()
def dialplan(
    ctx: click.Context,
    where: str,
    family: str | None,
    mode: str,
    priority: int,
    asterisk_compat: bool,
    no_patterns: bool,
    switch: str | None,
    specific_first: bool,
    trace: bool,
) -> None:
    """Show what the Realtime switch does with NUMBER dialed in CONTEXT.

    Exit status 0 when the extension exists (or canmatch/matchmore says yes), else 1.
    """
    number, context = _split_number(where)
    target = _target(context, family, switch, no_patterns)
    rt_switch = RealtimeSwitch(
        _realtime(ctx), asterisk_compat=asterisk_compat, specific_first=specific_first
    )
    switch_mode = SwitchMode(mode)
    if switch_mode is SwitchMode.EXISTS:
        ok = _show_walk(rt_switch.walk(target, number), trace)
    else:
        answer = rt_switch.resolve(target, number, priority, switch_mode)
        ok = _show_question(answer, asterisk_compat)
    sys.exit(0 if ok else 1)


def _heading(number: str, target: SwitchTarget) -> str:
    return f"{number} via switch => Realtime/{target.data()}"


def _show_walk(walk: Walk, trace: bool) -> bool:
    click.echo(f"Executing {_heading(walk.exten, walk.target)}")
    for step in walk.steps:
        click.echo(
            f"  priority {step.priority}: {_app_text(step.record)}  [{_row_label(step.answer)}]"
        )
        if trace:
            _queries(step.answer, "      ")
    stop = walk.stop_priority
    ran = len(walk.steps)
    if walk.stop is StopReason.NO_EXTENSION:
        click.echo(
            f"  priority 1: no row: {walk.exten} does not exist in context "
            f"{walk.target.context} (the switch answers no)"
        )
    elif walk.stop is StopReason.MISSING_PRIORITY:
        click.echo(
            f"  priority {stop}: no row: execution stops here (the first missing priority); "
            f"the call ends after priority {ran}"
        )
    elif walk.stop is StopReason.NO_APPLICATION:
        assert walk.final is not None
        click.echo(
            f"  priority {stop}: [{_row_label(walk.final)}] has no application: Asterisk logs "
            '"No application specified for realtime extension" and the call hangs up'
        )
    else:
        click.echo(f"  priority {stop}: stopped: more priorities than this command walks")
    if trace and walk.final is not None:
        _queries(walk.final, "      ")
    return walk.stop is not StopReason.NO_EXTENSION


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _decided_by(answer: SwitchAnswer, record: Record | None) -> str:
    if record is None:
        return "no row matches"
    exten = record.get("exten") or ""
    if answer.literal is not None:
        return f"literal {exten}, found by the first query; the swap does not affect it"
    return f"pattern {exten}"


def _show_question(answer: SwitchAnswer, asterisk_compat: bool) -> bool:
    mode = answer.mode.value
    click.echo(f"{mode} {_heading(answer.exten, answer.target)}, priority {answer.priority}")
    _queries(answer, "  ")
    if answer.candidates:
        width = max(len(c.exten) for c in answer.candidates) + 2
        header = "correct  Asterisk" if asterisk_compat else "matches"
        click.echo("  pattern rows, tried longest first:")
        click.echo(f"    {'':<{width}}{header}")
        for candidate in answer.candidates:
            cells = _yes(candidate.correct)
            if asterisk_compat:
                cells = f"{cells:<9}{_yes(candidate.asterisk)}"
            click.echo(f"    {candidate.exten:<{width}}{cells}")
    correct = answer.correct_record
    click.echo(f"answer: {_yes(correct is not None)} ({_decided_by(answer, correct)})")
    if not asterisk_compat:
        return correct is not None
    real = answer.asterisk_record
    click.echo(f"Asterisk answers: {_yes(real is not None)} ({_decided_by(answer, real)})")
    if answer.differs:
        click.echo(
            f"  differs: pbx_realtime swaps canmatch and matchmore for pattern rows, so its "
            f"{mode} asks the other question (see docs/dialplan.md)"
        )
    return real is not None


# extensions-check -----------------------------------------------------------------------


@click.command("extensions-check")
@click.option("--family", default="extensions", show_default=True)
@click.option("--context", default=None, help="Check one context (default: all).")
@click.pass_context
@handle_errors()
def extensions_check(ctx: click.Context, family: str, context: str | None) -> None:
    """List dialplan rows the Realtime switch can never run (exit 1 if any)."""
    from ara_ldap.dialplan.check import check_extensions

    findings, total = check_extensions(_realtime(ctx), family, context)
    for finding in findings:
        click.echo(str(finding))
    contexts = len({f.context for f in findings})
    scope = f"context {context}" if context is not None else f"family {family}"
    if findings:
        plural = "" if len(findings) == 1 else "s"
        click.echo(
            f"{len(findings)} problem{plural} in {contexts} context"
            f"{'' if contexts == 1 else 's'} ({total} rows checked in {scope})."
        )
        sys.exit(1)
    click.echo(f"No problems ({total} rows checked in {scope}).")


# static-import -------------------------------------------------------------------------


@click.command("static-import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--filename", default=None, help="Stored file name (default: FILE's name).")
@click.option(
    "--family",
    default=None,
    help="Static family (default: the one configured for the file name, else ast_config).",
)
@click.option("--replace", is_flag=True, help="Replace the file's stored rows.")
@click.option(
    "--order",
    type=click.Choice(["asterisk", "ldap"]),
    default=None,
    help="Static order the rows are read with (default: the configured static.order).",
)
@click.option(
    "--expand-templates",
    is_flag=True,
    help="Store templated categories expanded (templates themselves are not stored).",
)
@click.pass_context
@handle_errors()
def static_import(
    ctx: click.Context,
    file: Path,
    filename: str | None,
    family: str | None,
    replace: bool,
    order: str | None,
    expand_templates: bool,
) -> None:
    """Store an Asterisk .conf FILE for static realtime (read it back with 'static')."""
    from ara_ldap.config import load_config
    from ara_ldap.tools.conf_parser import import_static, parse_conf_file

    name = filename or file.name
    conf = parse_conf_file(file)
    realtime = _realtime(ctx)
    static_order = order or load_config(ctx.ensure_object(dict).get("config")).static.order
    result = import_static(
        realtime,
        conf,
        name,
        family=family,
        replace=replace,
        expand_templates=expand_templates,
        order="ldap" if static_order == "ldap" else "asterisk",
    )
    for warning in result.warnings:
        _warn(warning)
    verb = f"Replaced (removed {result.removed} rows)" if result.removed else "Imported"
    click.echo(
        f"{verb} {result.filename} into family {result.family}: "
        f"{result.categories} categories, {result.rows} rows."
    )


COMMANDS = [dialplan, extensions_check, static_import]
