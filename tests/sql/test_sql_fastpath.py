"""The read path (ara_ldap/backends/sql/fastpath.py): statements compiled once per query
shape and run on a pool of autocommit connections, on every engine.

Results are covered by the whole SQL suite (every search goes through this path); here:
the cache is used, values stay bound parameters, a dropped connection is replaced, many
threads share the pool, and failures are reported exactly as on SQLAlchemy's path.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
import sqlalchemy as sa

from ara_ldap import deadline
from ara_ldap.backends.sql import SqlBackend
from ara_ldap.backends.sql.family import Cond
from ara_ldap.backends.sql.fastpath import ReadPool
from ara_ldap.bootstrap import open_realtime
from ara_ldap.config import Settings, SqlBackendSettings, load_settings
from ara_ldap.criteria import Criterion, Operator, record_matches
from ara_ldap.errors import BackendError, BackendUnavailable
from ara_ldap.realtime import Realtime
from ara_ldap.record import Record


class Target(Protocol):
    """The ``target`` fixture (conftest.py): where one engine's tables live."""

    engine: str
    url: str
    schema: str | None

    def settings(self, **extra: Any) -> Settings: ...


INJECTIONS = [
    "x'; DROP TABLE sippeers; --",
    "x' OR '1'='1",
    "\\'; DELETE FROM sippeers; --",
    '"; DROP TABLE sippeers; --',
    "%' OR 1=1 --",
    "1 OR 1=1",
    "5060) OR (1=1",
    "%(b0)s",
    "?",
    "$1",
]


def pool_of(backend: SqlBackend) -> ReadPool:
    pool = backend.read_pool
    assert pool is not None
    return pool


def uses(backend: SqlBackend) -> dict[Any, int]:
    return {key: read.uses for key, read in backend.read_statements().items()}


def everyone(rt: Realtime) -> list[str]:
    return sorted(r.get("name") or "" for r in rt.multi("sippeers", {"name LIKE": "%"}))


# The statement cache ------------------------------------------------------------------------


def test_one_shape_is_compiled_once_and_reused(rt: Realtime, backend: SqlBackend) -> None:
    for i in range(5):
        rt.store("sippeers", {"name": f"p{i}", "port": str(5060 + i)})
    rt.single("sippeers", {"name": "p0"})
    before = uses(backend)
    connects = pool_of(backend).connects
    for i in range(20):
        found = rt.single("sippeers", {"name": f"p{i % 5}"})
        assert found is not None and found.get("port") == str(5060 + i % 5)
    after = uses(backend)
    assert set(after) == set(before)  # no new statement for new values
    assert sum(after.values()) - sum(before.values()) == 20
    assert pool_of(backend).connects == connects  # and no new connection


def test_each_shape_gets_its_own_statement(rt: Realtime, backend: SqlBackend) -> None:
    rt.store("sippeers", {"name": "a", "port": "1"})
    keys = set(backend.read_statements())
    rt.multi("sippeers", {"name": "a", "port >": "0", "host !=": "x", "context LIKE": "%"})
    rt.multi("sippeers", {"name": "a", "port >": "0", "host !=": "x", "context LIKE": "%"})
    rt.multi("sippeers", {"name": "b", "port >": "7", "host !=": "y", "context LIKE": "c%"})
    new = set(backend.read_statements()) - keys
    assert len(new) <= 1  # three calls, one shape (none if an earlier test compiled it)
    rt.multi("sippeers", {"port >": "1e40"})  # beyond any integer: decided in Python
    rt.multi("sippeers", {"port >": "3"})  # a numeric bound on the server
    shapes = {shape for _, shape in backend.read_statements()}
    assert (("port", Cond.PRESENT),) in shapes
    assert (("port", Cond.INT_GT),) in shapes


# The same results as SQLAlchemy's path ------------------------------------------------------

PROBES = [
    "",
    "a",
    "A",
    "alice",
    "al%",
    "%e",
    "a_c",
    "a\\_c",
    "10",
    "010",
    "-5",
    "5060",
    "9.5",
    "ulaw",
    "u%",
    "x;y",
    "b^c",
    " x",
    "é",
    "\x00",
    "1e40",
    "%",
]


def test_every_criterion_reads_as_on_the_core_path(rt: Realtime, backend: SqlBackend) -> None:
    rows: list[list[tuple[str, str]]] = [
        [("name", "alice"), ("port", "5060"), ("allow", "ulaw"), ("allow", "alaw")],
        [("name", "Alice"), ("port", "10"), ("allow", "ULAW"), ("callerid", "A")],
        [("name", "010"), ("regseconds", "-5"), ("setvar", "a=1"), ("setvar", "b^c")],
        [("name", "a_c"), ("port", "0"), ("allow", "x;y"), ("allow", " x"), ("context", "é")],
        [("name", "al%"), ("callerid", "9.5"), ("fullcontact", "sip:a@h;transport=udp")],
    ]
    for row in rows:
        rt.store("sippeers", row)
    pool = backend.read_pool
    for field in ("name", "port", "allow", "callerid", "regseconds", "setvar", "context"):
        for op in Operator:
            for value in PROBES:
                criteria = [Criterion(field, op, value)]
                fast = backend.search("sippeers", criteria)
                backend._reader = None
                try:
                    core = backend.search("sippeers", criteria)
                finally:
                    backend._reader = pool
                assert fast == core, (field, op, value)


# Bound parameters ---------------------------------------------------------------------------

OPERATORS = ["", " !=", " <", " <=", " >", " >=", " LIKE", " NOT LIKE"]


@pytest.mark.parametrize("op", OPERATORS)
def test_an_injection_in_any_operator_matches_only_itself(
    rt: Realtime, backend: SqlBackend, op: str
) -> None:
    rt.store("sippeers", {"name": "victim", "callerid": "plain", "allow": "ulaw", "port": "5"})
    for i, value in enumerate(INJECTIONS):
        rt.store("sippeers", {"name": f"attacker{i}", "callerid": value, "allow": value})
    stored = rt.multi("sippeers", {"name LIKE": "%"})
    for value in INJECTIONS:
        for field in ("callerid", "allow", "port"):  # text, multi-valued, integer
            found = rt.multi("sippeers", {f"{field}{op}": value})
            crit = Criterion(field, Operator(op.strip() or "="), value)
            expected = [r for r in stored if record_matches(r, [crit])]
            assert sorted(found, key=repr) == sorted(expected, key=repr), (field, op, value)
            if op == "" and field == "callerid":
                assert [r.get("callerid") for r in found] == [value]
    assert everyone(rt) == sorted(["victim", *(f"attacker{i}" for i in range(len(INJECTIONS)))])
    for read in backend.read_statements().values():
        assert "DROP" not in read.sql and "1=1" not in read.sql and "'1'" not in read.sql


# Dropped connections ------------------------------------------------------------------------


def kill(target: Target, connection: Any) -> None:
    """Drop one of the read pool's connections the way its engine would lose it."""
    if target.engine == "sqlite":
        connection.close()
        return
    engine = sa.create_engine(target.url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            if target.engine == "postgresql":
                pid = connection.info.backend_pid
                conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            else:
                conn.exec_driver_sql(f"KILL {int(connection.thread_id())}")
    finally:
        engine.dispose()


def test_a_dropped_connection_is_replaced(
    rt: Realtime, backend: SqlBackend, target: Target
) -> None:
    rt.store("sippeers", {"name": "a", "host": "h"})
    assert rt.single("sippeers", {"name": "a"}) is not None
    pool = pool_of(backend)
    idle = pool.idle_connections()
    assert idle
    for connection in idle:
        kill(target, connection)
    connects = pool.connects
    found = rt.single("sippeers", {"name": "a"})  # retried once on a new connection
    assert found is not None and found.get("host") == "h"
    assert pool.connects == connects + 1
    assert all(c not in pool.idle_connections() for c in idle)
    assert rt.single("sippeers", {"name": "a"}) == found


def test_a_connection_killed_while_idle_in_a_busy_pool_is_replaced(
    rt: Realtime, backend: SqlBackend, target: Target
) -> None:
    rt.store("sippeers", {"name": "a"})
    pool = pool_of(backend)
    held = [pool.acquire() for _ in range(pool.size)]  # every connection made and idle
    for reader in held:
        pool.release(reader)
    for connection in pool.idle_connections()[1:]:  # all but the one used last
        kill(target, connection)
    for _ in range(pool.size + 1):
        assert rt.single("sippeers", {"name": "a"}) is not None


# Threads ------------------------------------------------------------------------------------


def test_eight_threads_read_correct_results(rt: Realtime, backend: SqlBackend) -> None:
    peers = {f"peer{i:03d}": f"ctx{i % 7}" for i in range(60)}
    for name, context in peers.items():
        rt.store(
            "sippeers", [("name", name), ("context", context), ("allow", "ulaw"), ("allow", "alaw")]
        )
    rt.store("sippeers", {"name": "moving", "callerid": "0"})
    errors: list[BaseException] = []
    start = threading.Barrier(9)

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        try:
            start.wait()
            for _ in range(150):
                name = rng.choice(list(peers))
                found = rt.single("sippeers", {"name": name})
                assert found is not None and found.get("context") == peers[name]
                assert found.get_all("allow") == ["ulaw", "alaw"]
                prefix = name[:6]
                rows = rt.multi("sippeers", {"name LIKE": prefix + "%"})
                assert sorted(r.get("name") or "" for r in rows) == sorted(
                    n for n in peers if n.startswith(prefix)
                )
                moving = rt.single("sippeers", {"name": "moving"})
                assert moving is not None and (moving.get("callerid") or "").isdigit()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def writer() -> None:
        try:
            start.wait()
            for i in range(30):
                rt.update("sippeers", "name", "moving", {"callerid": str(i)})
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    connects = pool_of(backend).connects
    threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(8)]
    threads.append(threading.Thread(target=writer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors[0]
    assert pool_of(backend).connects - connects <= pool_of(backend).size  # never more
    assert len(pool_of(backend).idle_connections()) <= pool_of(backend).size


def test_a_caller_waits_for_a_free_connection_then_times_out(backend: SqlBackend) -> None:
    pool = pool_of(backend)
    held = [pool.acquire() for _ in range(pool.size)]  # every connection of the one pool
    started = time.monotonic()
    with deadline.budget(0.2), pytest.raises(sa.exc.TimeoutError):
        pool.acquire()  # the wait is cut to the call's budget, not pool_timeout (30 s)
    assert time.monotonic() - started < 1.0
    last = held[-1].dbapi_connection
    released = threading.Timer(0.05, pool.release, args=(held[-1],))
    released.start()
    again = pool.acquire()  # handed over by release
    assert again.dbapi_connection is last
    for proxy in [again, *held[:-1]]:
        pool.release(proxy)


def test_reads_and_writes_share_one_pool_of_pool_size(rt: Realtime, backend: SqlBackend) -> None:
    rt.store("sippeers", {"name": "a"})
    pool = pool_of(backend)
    held = [pool.acquire() for _ in range(pool.size)]
    try:
        with pytest.raises(BackendUnavailable, match="time budget"), deadline.budget(0.2):
            rt.store("sippeers", {"name": "b"})  # no second pool to write on
    finally:
        for proxy in held:
            pool.release(proxy)
    rt.store("sippeers", {"name": "b"})
    assert backend.engine.pool.checkedout() == 0
    assert len(pool.idle_connections()) <= pool.size


# Failures are classified as on SQLAlchemy's path --------------------------------------------


@pytest.fixture
def probe(target: Target) -> Iterator[tuple[Realtime, Callable[[str], None]]]:
    """A family on a table of its own, and a way to run DDL on it behind the backend."""
    engine = sa.create_engine(target.url)
    table = sa.Table(
        "fastpath_probe",
        sa.MetaData(schema=target.schema),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("extra", sa.String(40)),
        sa.Column("stamp", sa.DateTime),
        sa.Column("vol", sa.Numeric(5, 2)),
        sa.Column("n", sa.Integer),
    )
    table.drop(engine, checkfirst=True)
    table.create(engine)
    prefix = f"{target.schema}." if target.schema else ""

    def ddl(statement: str) -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql(statement.format(table=f"{prefix}fastpath_probe"))

    settings = target.settings(families={"probe": {"table": "fastpath_probe", "hidden": ["id"]}})
    realtime = open_realtime(settings)
    try:
        yield realtime, ddl
    finally:
        realtime.close()
        table.drop(engine, checkfirst=True)
        engine.dispose()


def both_paths(backend: SqlBackend, call: Callable[[], object]) -> list[tuple[type, str]]:
    """What ``call`` raises on the read path and on SQLAlchemy's (no read pool)."""
    seen = []
    pool = backend.read_pool
    for use_pool in (True, False):
        backend._reader = pool if use_pool else None
        try:
            with pytest.raises(BackendError) as info:
                call()
            seen.append((type(info.value), str(info.value)))
        finally:
            backend._reader = pool
    return seen


def test_typed_columns_read_as_on_the_core_path(
    probe: tuple[Realtime, Callable[[str], None]],
) -> None:
    realtime, _ = probe
    backend = realtime.backends["sql"]
    assert isinstance(backend, SqlBackend)
    realtime.store("probe", {"name": "a", "stamp": "2024-01-02 03:04:05", "vol": "1.5", "n": "7"})
    realtime.store("probe", {"name": "b", "vol": "0", "n": "0", "extra": ""})  # falsy values
    realtime.store("probe", {"name": "c", "stamp": "1999-12-31 23:59:59", "vol": "-2.25"})
    pool = backend.read_pool
    for criteria in ({"name LIKE": "%"}, {"n <": "5"}, {"vol >=": "0"}, {"stamp >": "2000"}):
        fast = realtime.multi("probe", criteria)
        backend._reader = None
        try:
            core = realtime.multi("probe", criteria)
        finally:
            backend._reader = pool
        assert fast == core, criteria
    every = realtime.multi("probe", {"name LIKE": "%"})
    assert [r.get("vol") for r in every] == ["1.50", "0.00", "-2.25"]
    assert every[1].get("n") == "0" and every[0].get("stamp") == "2024-01-02 03:04:05"


def test_a_statement_error_is_reported_as_on_the_core_path(
    probe: tuple[Realtime, Callable[[str], None]],
) -> None:
    realtime, ddl = probe
    realtime.store("probe", {"name": "a", "extra": "x"})
    assert realtime.single("probe", {"name": "a"}) == Record([("name", "a"), ("extra", "x")])
    backend = realtime.backends["sql"]
    assert isinstance(backend, SqlBackend)
    ddl("ALTER TABLE {table} DROP COLUMN extra")  # the reflected columns are gone
    fast, core = both_paths(backend, lambda: realtime.single("probe", {"name": "a"}))
    assert fast == core
    assert "extra" in fast[1]


def test_an_unreachable_server_is_unavailable_without_the_password(
    backend: SqlBackend, target: Target, tmp_path: Path
) -> None:
    if target.engine == "sqlite":
        url = f"sqlite:///{tmp_path}/no/such/dir/x.db"
    else:
        scheme = "postgresql+psycopg" if target.engine == "postgresql" else "mysql+pymysql"
        url = f"{scheme}://asterisk:s3cretpw@127.0.0.1:9/astdb"
    settings = load_settings({"backends": {"x": {"type": "sql", "url": url, "connect_timeout": 2}}})
    spec = settings.backends["x"]
    assert isinstance(spec, SqlBackendSettings)
    dead = SqlBackend("x", spec)
    pool = backend.read_pool
    assert pool is not None and dead.read_pool is not None
    backend._reader = dead.read_pool  # the tables are known; the connections fail
    try:
        with pytest.raises(BackendUnavailable) as info:
            backend.search("sippeers", [Criterion("name", Operator.EQ, "a")])
    finally:
        backend._reader = pool
        dead.close()
    assert "s3cretpw" not in str(info.value)
    assert "search sippeers" in str(info.value)
