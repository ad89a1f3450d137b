"""``ara-ldap sql init``: create Asterisk's standard realtime tables on an empty database."""

from __future__ import annotations

import click

from ara_ldap.cli_support import fail, handle_errors


@click.group()
def sql() -> None:
    """SQL compatibility backend tools."""


@sql.command("init")
@click.option(
    "--backend",
    "name",
    default=None,
    help="The sql backend to initialise (default: the only one configured).",
)
@click.pass_context
@handle_errors()
def init(ctx: click.Context, name: str | None) -> None:
    """Create the standard tables (sippeers, iaxfriends, voicemail, extensions, ast_config
    and the PJSIP ps_* tables with stir_tn) that do not exist yet; existing tables are
    left alone."""
    from ara_ldap.backends.sql.backend import SqlBackend
    from ara_ldap.backends.sql.tables import init_schema
    from ara_ldap.config import SqlBackendSettings, load_config

    settings = load_config((ctx.obj or {}).get("config"))
    candidates = {n: s for n, s in settings.backends.items() if isinstance(s, SqlBackendSettings)}
    if name is None:
        if len(candidates) != 1:
            fail(
                "name the sql backend with --backend "
                f"(configured: {', '.join(candidates) or 'none'})"
            )
        name = next(iter(candidates))
    if name not in candidates:
        fail(f"{name!r} is not a configured sql backend (configured: {', '.join(candidates)})")
    backend = SqlBackend(name, candidates[name])
    try:
        created = init_schema(backend.engine, candidates[name].db_schema)
    finally:
        backend.close()
    if created:
        click.echo(f"Created tables: {', '.join(created)}.")
    else:
        click.echo("All standard tables already exist; nothing created.")


COMMANDS = [sql]
