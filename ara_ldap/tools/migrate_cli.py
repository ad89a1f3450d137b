"""``ara-ldap migrate``: the standard SQL realtime tables into the directory, and back.

The engine is :mod:`ara_ldap.tools.migrate`; this module resolves ``--from``/``--to``
(a configured backend, or a SQL URL), draws the progress bar and prints the report.
Registered by ``ara_ldap.cli`` through :data:`COMMANDS`.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import click

from ara_ldap.cli_support import fail, handle_errors

__all__ = ["COMMANDS", "migrate"]

_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_PASSWORD_RE = re.compile(r"^([^:/]+://[^:/@]*):[^@]*@")
#: Below this many rows a bar only flickers.
PROGRESS_MIN_ROWS = 1000


def _masked(url: str) -> str:
    return _PASSWORD_RE.sub(r"\1:***@", url)


def _open_side(
    spec: str, settings: Any, schema: str | None, create_tables: bool
) -> tuple[str, Any]:
    """``(name, backend)`` for a configured backend name or a SQL URL."""
    from ara_ldap.backends import create_backend
    from ara_ldap.config import LdapBackendSettings, LdapCacheSettings, load_settings
    from ara_ldap.tools.migrate import aligned_sql_families

    ldap = next((b for b in settings.backends.values() if isinstance(b, LdapBackendSettings)), None)
    if _URL_RE.match(spec):
        backend_spec: dict[str, Any] = {
            "type": "sql",
            "url": spec,
            "families": aligned_sql_families(ldap),
        }
        if schema:
            backend_spec["schema"] = schema
        name = _masked(spec)
        backend_settings = load_settings({"backends": {"url": backend_spec}}).backends["url"]
    else:
        if spec not in settings.backends:
            fail(f"backend {spec!r} is not configured (configured: {', '.join(settings.backends)})")
        name, backend_settings = spec, settings.backends[spec]
    if isinstance(backend_settings, LdapBackendSettings):
        # A one-off bulk job: no syncrepl stream, no replica in memory.
        backend_settings = backend_settings.model_copy(
            update={"cache": LdapCacheSettings(enabled=False)}
        )
    backend = create_backend(name, backend_settings)
    if create_tables and hasattr(backend, "engine"):
        from ara_ldap.backends.sql.tables import init_schema

        created = init_schema(backend.engine, getattr(backend_settings, "db_schema", None))
        if created:
            click.echo(f"Created tables: {', '.join(created)}.", err=True)
    return name, backend


def _default_target(settings: Any) -> str:
    from ara_ldap.config import LdapBackendSettings

    ldap = [n for n, b in settings.backends.items() if isinstance(b, LdapBackendSettings)]
    if len(ldap) != 1:
        fail(f"name the target with --to (LDAP backends configured: {', '.join(ldap) or 'none'})")
    return str(ldap[0])


@click.command("migrate")
@click.option(
    "--from",
    "source",
    required=True,
    metavar="BACKEND|URL",
    help="Where the records are: a configured backend, or a SQL URL "
    "(sqlite:///realtime.db, postgresql+psycopg://user@host/db, mysql+pymysql://user@host/db).",
)
@click.option(
    "--to",
    "target",
    default=None,
    metavar="BACKEND|URL",
    help="Where they go (default: the only LDAP backend configured).",
)
@click.option("--schema", default=None, help="PostgreSQL schema or MariaDB database of a URL.")
@click.option("--family", "families", multiple=True, help="Only these families (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@click.option(
    "--ldif",
    "ldif_path",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=None,
    help="Write the changes as LDIF for ldapadd (- for stdout) instead of writing them.",
)
@click.option(
    "--full",
    is_flag=True,
    help="With --ldif: every record as an entry, containers included, without reading "
    "the directory (for an empty directory).",
)
@click.option(
    "--drop-unknown-fields",
    is_flag=True,
    help="Leave out fields the target family lacks (listed in the report).",
)
@click.option("--create-tables", is_flag=True, help="SQL target: create missing standard tables.")
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=None,
    help="Writes in flight (default: the LDAP pool size; 1 for SQL).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr (default: on a terminal, for large families).",
)
@click.pass_context
@handle_errors()
def migrate(
    ctx: click.Context,
    source: str,
    target: str | None,
    schema: str | None,
    families: tuple[str, ...],
    dry_run: bool,
    ldif_path: Path | None,
    full: bool,
    drop_unknown_fields: bool,
    create_tables: bool,
    jobs: int | None,
    progress: bool | None,
) -> None:
    """Copy realtime records between SQL tables and the directory, idempotently.

    \b
    ara-ldap migrate --from sqlite:///var/lib/asterisk/realtime.db --dry-run
    ara-ldap migrate --from sqlite:///var/lib/asterisk/realtime.db
    ara-ldap migrate --from postgresql+psycopg://asterisk@db/asterisk --ldif out.ldif
    ara-ldap migrate --from directory --to mysql+pymysql://asterisk@db/asterisk

    Existing identical records are left alone, changed ones updated; a row that cannot be
    stored is reported with its family and key and skipped.  Exit status 1 if any was.
    """
    from ara_ldap.config import load_config
    from ara_ldap.tools.migrate import migrate as run

    if full and ldif_path is None:
        fail("--full goes with --ldif")
    settings = load_config(ctx.ensure_object(dict).get("config"))
    target = target or _default_target(settings)
    opened: list[Any] = []
    try:
        src_name, src = _open_side(source, settings, schema, False)
        opened.append(src)
        dst_name, dst = _open_side(target, settings, schema, create_tables and not dry_run)
        opened.append(dst)
        if jobs is None:
            pool = getattr(getattr(dst, "settings", None), "pool_size", 1)
            jobs = pool if hasattr(dst, "family_map") else 1
        _warn_mismatches(src, dst, families)

        @contextlib.contextmanager
        def bar(family: str, rows: int) -> Iterator[Any]:
            show = progress if progress is not None else sys.stderr.isatty()
            if not show or (progress is None and rows < PROGRESS_MIN_ROWS):
                yield lambda n: None
                return
            with click.progressbar(length=rows, label=family, file=sys.stderr) as b:
                yield b.update

        with _ldif_stream(ldif_path, dry_run) as stream:
            report = run(
                src_name,
                src,
                dst_name,
                dst,
                families or None,
                dry_run=dry_run,
                drop_unknown_fields=drop_unknown_fields,
                ldif=stream,
                full_ldif=full,
                jobs=jobs,
                progress=bar,
            )
    finally:
        for backend in opened:
            backend.close()
    _print(report, dry_run, ldif_path)
    if report.bad_rows or report.errors:
        sys.exit(1)


@contextlib.contextmanager
def _ldif_stream(path: Path | None, dry_run: bool) -> Iterator[IO[str] | None]:
    if path is None or dry_run:
        yield None
        return
    if str(path) == "-":
        yield sys.stdout
        return
    with path.open("w", encoding="utf-8") as handle:
        yield handle


def _warn_mismatches(src: Any, dst: Any, families: tuple[str, ...]) -> None:
    from ara_ldap.backends.ldap.backend import LdapBackend
    from ara_ldap.tools.migrate import multi_value_mismatches

    ldap, other = (src, dst) if isinstance(src, LdapBackend) else (dst, src)
    if not isinstance(ldap, LdapBackend):
        return
    common = [f for f in ldap.families() if f in set(other.families())]
    wanted = [f for f in common if not families or f in families]
    try:
        problems = multi_value_mismatches(ldap, other, wanted)
    except Exception:  # the SQL side may lack tables: migrate reports that per family
        return
    for line in problems:
        click.echo(f"ara-ldap: warning: {line}", err=True)


def _print(report: Any, dry_run: bool, ldif_path: Path | None) -> None:
    out = sys.stderr if ldif_path is not None and str(ldif_path) == "-" else sys.stdout
    for line in report.diff:
        click.echo(line, file=out)
    if report.containers:
        verb = "missing" if dry_run else ("in the LDIF" if ldif_path else "created")
        click.echo(f"containers {verb}: {', '.join(report.containers)}", file=out)
    planned = dry_run or ldif_path is not None
    quiet = [
        f
        for f, r in report.results.items()
        if not (r.added or r.updated or r.unchanged or r.failed)
    ]
    for family, r in report.results.items():
        if family in quiet:
            continue
        if planned:
            line = f"{family}: {r.added} to add, {r.updated} to update, {r.unchanged} unchanged"
        else:
            line = f"{family}: {r.added} added, {r.updated} updated, {r.unchanged} unchanged"
        if r.failed:
            line += f", {r.failed} bad"
        click.echo(line, file=out)
    if quiet:
        click.echo(f"no records: {', '.join(quiet)}", file=out)
    for family, why in report.skipped.items():
        click.echo(f"{family}: skipped ({why})", file=out)
    for family, dropped in report.dropped_fields.items():
        click.echo(
            f"{family}: left out fields the target lacks: {', '.join(sorted(dropped))}", file=out
        )
    for bad in report.bad_rows:
        click.echo(f"bad row: {bad}", file=out)
    for error in report.errors:
        click.echo(f"error: {error}", file=out)
    if dry_run:
        click.echo("Dry run: nothing was written.", file=out)


COMMANDS = [migrate]
