"""``ara-ldap compare --suite``: the conformance suite on every configured backend kind.

The suite writes (store, update, destroy) and reloads its own data set, so it never runs
on the configured data.  Each configured backend is exercised on a scratch copy of the
same kind, with the backend's own settings where they change behaviour:

* an LDAP backend: a throwaway slapd (the harness) with the backend's ``value_order``;
* a SQLite backend: a temporary database file;
* a PostgreSQL or MariaDB backend: the configured server, in a scratch schema (database)
  that is created for the run and dropped afterwards.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import click

from ara_ldap.backends.base import Backend
from ara_ldap.config import LdapBackendSettings, Settings, SqlBackendSettings
from ara_ldap.errors import ConfigError


@contextlib.contextmanager
def _scratch_schema(url: str) -> Iterator[str]:
    """Create a uniquely named schema (PostgreSQL) or database (MariaDB) and drop it."""
    import sqlalchemy as sa

    name = f"ara_conformance_{secrets.token_hex(4)}"
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {name}"))
        yield name
    finally:
        with engine.begin() as conn:
            drop = (
                "DROP SCHEMA {} CASCADE"
                if engine.dialect.name == "postgresql"
                else ("DROP SCHEMA {}")
            )
            conn.execute(sa.text(drop.format(name)))
        engine.dispose()


@contextlib.contextmanager
def _target_for(name: str, settings: LdapBackendSettings | SqlBackendSettings) -> Iterator[object]:
    from ara_ldap.testing.conformance import ldap_target, sql_target

    if isinstance(settings, LdapBackendSettings):
        from ara_ldap.testing.slapd import Slapd, find_schema_ldifs

        with (
            Slapd(schema_ldifs=find_schema_ldifs()) as slapd,
            ldap_target(slapd, name=name, value_order=settings.value_order) as target,
        ):
            yield target
        return
    url = settings.url
    if url.startswith("sqlite"):
        with tempfile.TemporaryDirectory(prefix="ara-suite-") as tmp:
            scratch = f"sqlite:///{Path(tmp) / 'suite.db'}"
            with sql_target(scratch, name=name) as target:
                yield target
        return
    with _scratch_schema(url) as schema, sql_target(url, schema=schema, name=name) as target:
        yield target


def run_suite_report(
    settings: Settings,
    backends: dict[str, Backend],
    names: Sequence[str] | None,
    keyword: str | None = None,
) -> int:
    """Print the pass/skip/fail table; exit status 1 if any case failed."""
    from ara_ldap.testing.conformance import format_table, run_suite

    chosen = list(names) if names else list(settings.backends)
    unknown = [n for n in chosen if n not in settings.backends]
    if unknown:
        raise ConfigError(f"backend(s) not configured: {', '.join(unknown)}")
    results = []
    for name in chosen:
        click.echo(f"running the conformance suite for {name} ...", err=True)
        with _target_for(name, settings.backends[name]) as target:
            results += run_suite(target, keyword=keyword)  # type: ignore[arg-type]
    click.echo(format_table(results))
    failed = [r for r in results if r.outcome in ("failed", "error")]
    for r in failed:
        click.echo(f"FAILED {r.backend} {r.operation} {r.case}: {r.reason}")
    return 1 if failed else 0
