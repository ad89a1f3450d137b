"""Database URLs for tests: SQLite always, PostgreSQL and MariaDB when they answer.

Each function returns a SQLAlchemy URL or ends the test: it **skips** with the reason when
the server (or its driver) is missing, except when the environment variable ``CI`` is
``true``, where it **fails**, so a broken CI image cannot turn the SQL tests into silent
skips (the same rule as the slapd fixtures in :mod:`ara_ldap.testing.pytest_plugin`).

Servers default to this project's development set-up (127.0.0.1, trust auth, database
``test``); override with ``ARA_TEST_POSTGRES_URL`` / ``ARA_TEST_MARIADB_URL``.  Tests must
not disturb other users of that database: :func:`temporary_schema` gives each run its own
schema (PostgreSQL) or database (MariaDB) and drops it afterwards.

Example (a conftest.py)::

    @pytest.fixture
    def pg_url() -> str:
        return postgres_url()

    def test_something(pg_url):
        with temporary_schema(pg_url) as schema:
            ...
"""

from __future__ import annotations

import functools
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest

POSTGRES_ENV = "ARA_TEST_POSTGRES_URL"
MARIADB_ENV = "ARA_TEST_MARIADB_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_MARIADB_URL = "mysql+pymysql://root@127.0.0.1:3306/test"
PROBE_TIMEOUT = 3

__all__ = [
    "DEFAULT_MARIADB_URL",
    "DEFAULT_POSTGRES_URL",
    "MARIADB_ENV",
    "POSTGRES_ENV",
    "mariadb_url",
    "postgres_url",
    "probe",
    "sqlite_url",
    "temporary_schema",
    "unavailable",
]


def on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it on CI (``CI=true``) where every engine must be there."""
    if on_ci():
        pytest.fail(f"{reason} (CI=true: SQL tests must not be skipped on CI)", pytrace=False)
    pytest.skip(reason)


def _masked(url: str) -> str:
    return re.sub(r"^([^:/]+://[^:/@]*):[^@]*@", r"\1:***@", url)


@functools.cache
def probe(url: str) -> str | None:
    """Why ``url`` cannot be used (driver missing, server down), or None; asked once per
    process, so an unreachable server costs one timeout, not one per test."""
    try:
        import sqlalchemy as sa
    except ImportError:
        return "SQLAlchemy is not installed (pip install 'ara-ldap[sql]')"
    backend = url.split(":", 1)[0].split("+", 1)[0]
    connect_args: dict[str, object] = {}
    if backend in ("postgresql", "mysql", "mariadb"):
        connect_args = {"connect_timeout": PROBE_TIMEOUT}
    try:
        engine = sa.create_engine(url, connect_args=connect_args, poolclass=sa.pool.NullPool)
    except ImportError as exc:
        return f"the driver for {_masked(url)} is not installed ({exc}); pip install -e '.[dev]'"
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any failure means "not usable here"; the reason says why
        orig = getattr(exc, "orig", None) or exc
        first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        return f"{_masked(url)} is not reachable: {first}"
    finally:
        engine.dispose()
    return None


def _server_url(env: str, default: str, what: str) -> str:
    url = os.environ.get(env) or default
    reason = probe(url)
    if reason is not None:
        unavailable(f"{what}: {reason} (set {env} to use another server)")
    return url


def sqlite_url(tmp_path: Path) -> str:
    """A SQLite database file in ``tmp_path`` (only SQLAlchemy is needed)."""
    try:
        import sqlalchemy  # noqa: F401
    except ImportError:
        unavailable("SQLite: SQLAlchemy is not installed (pip install 'ara-ldap[sql]')")
    return f"sqlite:///{Path(tmp_path) / 'ara-ldap.db'}"


def postgres_url() -> str:
    """The test PostgreSQL server's URL, or skip (fail on CI) when it does not answer."""
    return _server_url(POSTGRES_ENV, DEFAULT_POSTGRES_URL, "PostgreSQL")


def mariadb_url() -> str:
    """The test MariaDB/MySQL server's URL, or skip (fail on CI) when it does not answer."""
    return _server_url(MARIADB_ENV, DEFAULT_MARIADB_URL, "MariaDB")


@contextmanager
def temporary_schema(url: str, prefix: str = "ara_test") -> Iterator[str | None]:
    """A uniquely named schema (PostgreSQL) or database (MySQL/MariaDB) on ``url``'s server,
    dropped with everything in it on exit; yields its name.  SQLite yields None (use a
    temporary file instead)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    backend = engine.dialect.name
    if backend == "sqlite":
        engine.dispose()
        yield None
        return
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}".lower()
    quoted = engine.dialect.identifier_preparer.quote(name)
    if backend == "postgresql":
        create, drop = f"CREATE SCHEMA {quoted}", f"DROP SCHEMA IF EXISTS {quoted} CASCADE"
    else:
        create = f"CREATE DATABASE {quoted} CHARACTER SET utf8mb4"
        drop = f"DROP DATABASE IF EXISTS {quoted}"
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(create))
        yield name
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(drop))
        engine.dispose()
