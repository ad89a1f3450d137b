"""One deadline per SQL call: a statement blocked by a lock that another connection holds
ends within the backend's ``timeout`` (or the caller's shorter budget) as
BackendUnavailable, so routing fails over; on SQLite, PostgreSQL and MariaDB.

The lock is real and held by a second connection: PostgreSQL ``LOCK TABLE ... ACCESS
EXCLUSIVE`` and ``SELECT ... FOR UPDATE``; MariaDB ``LOCK TABLES ... WRITE`` and ``SELECT
... FOR UPDATE``; SQLite ``BEGIN EXCLUSIVE`` / ``BEGIN IMMEDIATE`` on the same file.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ara_ldap import deadline
from ara_ldap.backends.sql import SqlBackend, init_schema
from ara_ldap.bootstrap import open_realtime
from ara_ldap.config import load_settings
from ara_ldap.errors import BackendUnavailable
from ara_ldap.realtime import Realtime
from ara_ldap.record import Record

from .conftest import Target

TIMEOUT = 1.5  # the backend's ``timeout`` in these tests
SLACK = 0.6  # scheduling on a loaded 2-core machine
PEERS = {"peers": {"table": "sippeers"}}


def spec(target: Target, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "sql", "url": target.url, "timeout": TIMEOUT, **extra}
    if target.schema:
        out["schema"] = target.schema
    return out


@pytest.fixture
def timed(rt: Realtime, target: Target) -> Iterator[Realtime]:
    """A Realtime whose backend has ``timeout: TIMEOUT``, warm (tables reflected, one pooled
    connection) and holding peer ``a``, before any lock is taken."""
    rt.store("sippeers", {"name": "a", "host": "h"})
    realtime = open_realtime(load_settings({"backends": {"sql": spec(target)}}))
    try:
        assert realtime.single("sippeers", {"name": "a"}) is not None
        yield realtime
    finally:
        realtime.close()


def table(target: Target) -> str:
    return f"{target.schema}.sippeers" if target.schema else "sippeers"


@contextmanager
def locked(target: Target, what: str) -> Iterator[None]:
    """Another connection holds a lock: ``table`` (reads block) or ``row`` (peer ``a``'s
    row, or SQLite's write lock: writes block), until the block ends."""
    if target.engine == "sqlite":
        path = sa.make_url(target.url).database
        assert path
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN EXCLUSIVE" if what == "table" else "BEGIN IMMEDIATE")
            yield
        finally:
            other.rollback()
            other.close()
        return
    engine = sa.create_engine(target.url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            if what == "table" and target.engine == "postgresql":
                conn.exec_driver_sql(f"LOCK TABLE {table(target)} IN ACCESS EXCLUSIVE MODE")
            elif what == "table":
                conn.exec_driver_sql(f"LOCK TABLES {table(target)} WRITE")
            else:
                conn.exec_driver_sql(f"SELECT * FROM {table(target)} WHERE name = 'a' FOR UPDATE")
            try:
                yield
            finally:
                if what == "table" and target.engine == "mariadb":
                    conn.exec_driver_sql("UNLOCK TABLES")
                conn.rollback()
    finally:
        engine.dispose()


def test_a_read_blocked_by_a_table_lock_ends_within_the_timeout(
    timed: Realtime, target: Target
) -> None:
    with locked(target, "table"):
        started = time.monotonic()
        with pytest.raises(BackendUnavailable, match="time budget") as info:
            timed.single("sippeers", {"name": "a"})
        took = time.monotonic() - started
    assert took < TIMEOUT + SLACK, took
    assert "search sippeers" in str(info.value)
    assert timed.single("sippeers", {"name": "a"}) is not None  # the lock gone: answers


def test_a_write_blocked_by_a_row_lock_ends_within_the_timeout(
    timed: Realtime, target: Target
) -> None:
    with locked(target, "row"):
        started = time.monotonic()
        with pytest.raises(BackendUnavailable, match="time budget"):
            timed.update("sippeers", "name", "a", {"host": "changed"})
        took = time.monotonic() - started
    assert took < TIMEOUT + SLACK, took
    found = timed.single("sippeers", {"name": "a"})
    assert found is not None and found.get("host") == "h"  # nothing changed


def test_a_callers_shorter_budget_bounds_the_statement(timed: Realtime, target: Target) -> None:
    backend = timed.backends["sql"]
    assert isinstance(backend, SqlBackend)
    with locked(target, "table"):
        started = time.monotonic()
        with deadline.budget(0.5), pytest.raises(BackendUnavailable, match="time budget"):
            backend.search("sippeers", [])
        took = time.monotonic() - started
    assert took < 0.5 + SLACK, took


def test_the_router_fails_over_to_the_next_backend_in_time(
    rt: Realtime, target: Target, tmp_path: Path
) -> None:
    rt.store("sippeers", {"name": "a", "host": "first"})
    second = f"sqlite:///{tmp_path / 'second.db'}"
    engine = sa.create_engine(second)
    init_schema(engine)
    engine.dispose()
    settings = load_settings(
        {
            "backends": {
                "first": spec(target, default_families=False, families=PEERS),
                "second": {
                    "type": "sql",
                    "url": second,
                    "timeout": TIMEOUT,
                    "default_families": False,
                    "families": PEERS,
                },
            },
            "families": {"peers": ["first", "second"]},
        }
    )
    realtime = open_realtime(settings)
    try:
        other = realtime.backends["second"]
        assert isinstance(other, SqlBackend)
        other.store("peers", Record([("name", "a"), ("host", "second")]))
        found = realtime.single("peers", {"name": "a"})
        assert found is not None and found.get("host") == "first"
        with locked(target, "table"):
            started = time.monotonic()
            found = realtime.single("peers", {"name": "a"})
            took = time.monotonic() - started
        assert found is not None and found.get("host") == "second"
        assert took < TIMEOUT + SLACK, took  # first's share (half), then second answered
    finally:
        realtime.close()
