"""Fixtures for the SQL backend: every test runs on SQLite, PostgreSQL and MariaDB.

Each engine gets one isolated place per session (a temp SQLite file, a uniquely named
PostgreSQL schema, a uniquely named MariaDB database) holding the standard tables created
by ``init_schema``; the server ones are dropped at the end, so other users of database
``test`` see nothing.  Every test starts from empty tables.  PostgreSQL and MariaDB skip
when unreachable, and fail instead under ``CI=true`` (ara_ldap.testing.databases).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from ara_ldap.backends.sql import STANDARD_TABLES, SqlBackend, init_schema
from ara_ldap.bootstrap import open_realtime
from ara_ldap.config import Settings, load_settings
from ara_ldap.realtime import Realtime
from ara_ldap.testing.databases import (
    mariadb_url,
    postgres_url,
    sqlite_url,
    temporary_schema,
)

ENGINES = ("sqlite", "postgresql", "mariadb")


@dataclass(frozen=True)
class Target:
    """Where one engine's tables live."""

    engine: str
    url: str
    schema: str | None

    def settings(self, **extra: Any) -> Settings:
        spec: dict[str, Any] = {"type": "sql", "url": self.url, **extra}
        if self.schema:
            spec["schema"] = self.schema
        return load_settings({"backends": {"sql": spec}})


def server_url(engine: str) -> str:
    return postgres_url() if engine == "postgresql" else mariadb_url()


@pytest.fixture(scope="session", params=ENGINES)
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    engine_name: str = request.param
    if engine_name == "sqlite":
        url = sqlite_url(tmp_path_factory.mktemp("sql"))
        engine = sa.create_engine(url)
        init_schema(engine)
        engine.dispose()
        yield Target(engine_name, url, None)
        return
    url = server_url(engine_name)
    with temporary_schema(url) as schema:
        engine = sa.create_engine(url)
        init_schema(engine, schema)
        engine.dispose()
        yield Target(engine_name, url, schema)


@pytest.fixture(scope="session")
def shared_rt(target: Target) -> Iterator[Realtime]:
    """One Realtime per engine, wired as the CLI would be (tables reflected once)."""
    realtime = open_realtime(target.settings())
    yield realtime
    realtime.close()


@pytest.fixture
def rt(shared_rt: Realtime) -> Realtime:
    """The engine's Realtime on empty tables."""
    backend = shared_rt.backends["sql"]
    assert isinstance(backend, SqlBackend)
    with backend.engine.begin() as conn:
        for name in STANDARD_TABLES:
            conn.execute(backend.table_info(name).table.delete())
    return shared_rt


@pytest.fixture
def backend(rt: Realtime) -> SqlBackend:
    found = rt.backends["sql"]
    assert isinstance(found, SqlBackend)
    return found


RawInsert = Callable[..., None]


@pytest.fixture
def raw_insert(backend: SqlBackend) -> RawInsert:
    """Insert rows with plain SQL (as another Asterisk driver would have written them)."""

    def insert(table: str, *rows: Mapping[str, object]) -> None:
        t = backend.table_info(table).table
        with backend.engine.begin() as conn:
            conn.execute(t.insert(), [dict(r) for r in rows])

    return insert


RawSelect = Callable[[str, str], list[object]]


@pytest.fixture
def raw_column(backend: SqlBackend) -> RawSelect:
    """Every stored value of ``table.column`` (to check what was written, not what reads)."""

    def select(table: str, column: str) -> list[object]:
        t = backend.table_info(table).table
        with backend.engine.connect() as conn:
            return [row[0] for row in conn.execute(sa.select(t.c[column]))]

    return select
