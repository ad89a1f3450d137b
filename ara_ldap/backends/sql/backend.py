"""The SQL backend: every realtime operation on the standard Asterisk tables (SQLAlchemy Core).

It reads and writes what res_config_odbc/res_config_pgsql read and write (same tables, same
``;``/``^XX`` multi-value convention) and answers exactly like the LDAP backend and the
core's in-memory semantics (:meth:`ara_ldap.criteria.Criterion.matches`): the WHERE clause
is a *superset* on every engine (collations may be case-insensitive or ignore trailing
spaces, collation order is not code-point order, a multi-valued column holds a ``;``
list) and Python finishes with :func:`~ara_ldap.criteria.record_matches`.  Equality on
the key columns stays an indexed ``=`` on the server.

Every value is a bound parameter; column names come only from the reflected table, never
from the request.  Tables are reflected once, at first use, so a site's own columns and
types (an older alembic revision, real ENUMs) are honoured.

This module holds the backend itself (connections, errors, reads, writes); its parts live
by job in ``columns`` (reflected columns and rendering), ``family`` (WHERE plans,
statements, value conversion), ``require`` (can a column hold a type) and ``fastpath``
(the read path and the one row->record conversion).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.sql.elements import ColumnElement

from ara_ldap import deadline
from ara_ldap.backends.base import Capabilities, Requirement
from ara_ldap.backends.sql.columns import TableInfo, render
from ara_ldap.backends.sql.family import FamilyTable, Shape, _first, bind_names
from ara_ldap.backends.sql.fastpath import (
    CACHE_LIMIT,
    FRESH,
    BudgetQueuePool,
    CompiledRead,
    ReadPool,
    SessionLimits,
    rows_to_records,
)
from ara_ldap.backends.sql.require import requirement_problem
from ara_ldap.backends.sql.tables import standard_table
from ara_ldap.config import SqlBackendSettings, SqlFamily
from ara_ldap.criteria import (
    Criterion,
    Operator,
    record_matches,
)
from ara_ldap.errors import (
    SECRET_MASK,
    BackendError,
    BackendUnavailable,
    BadRequest,
    ConfigError,
    UnknownFamily,
)
from ara_ldap.record import Record

log = logging.getLogger("ara_ldap.sql")

#: Rows per ``UPDATE/DELETE ... WHERE key IN (...)`` statement.
BATCH = 500


def describe_url(url: URL) -> str:
    """Where the backend connects, for messages: dialect, user, host, port, database; never
    the password (nor the query string, which may carry one)."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        return f"sqlite:///{url.database or ':memory:'}"
    user = f"{url.username}@" if url.username else ""
    host = url.host or "localhost"
    port = f":{url.port}" if url.port else ""
    return f"{backend}://{user}{host}{port}/{url.database or ''}"


# The backend ---------------------------------------------------------------------------


class SqlBackend:
    """A SQL database holding one or more families (SQLite, PostgreSQL, MySQL/MariaDB)."""

    capabilities = Capabilities(
        store=True,
        destroy=True,
        ordered_multi_values=True,  # one ";"-joined column keeps the order written
        unicode_values=True,  # UTF-8 / utf8mb4 connections and tables
        schema_require=True,  # require reads the reflected table
        bounded_text=True,  # VARCHAR(n): wider values are refused, require reports them
        unique_keys_all_families=False,  # ast_config has no unique key (SQL convention)
        repeated_values=True,  # a ";" list may repeat a value
        # Keys compare exactly on the tables "sql init" creates (binary collations); a
        # site table with a case-insensitive collation folds them (docs/backends.md).
        exact_keys=True,
    )

    def __init__(self, name: str, settings: SqlBackendSettings) -> None:
        self.name = name
        self.settings = settings
        self._families = {
            family.lower(): (family, spec) for family, spec in settings.families.items()
        }
        self._schema = settings.db_schema
        try:
            url = make_url(settings.url)
        except sa_exc.ArgumentError:
            raise ConfigError("not a SQLAlchemy URL", f"backends.{name}.url") from None
        password = settings.connect_password()
        if password is not None:
            url = url.set(password=password)
        self._password = url.password if isinstance(url.password, str) else None
        self.url = url
        self.where = describe_url(url)
        #: Every call (connection checkout, statements, retries) ends within this, or
        #: within the caller's budget if that is shorter (ara_ldap.deadline).
        self.call_timeout: float = float(settings.timeout)
        dialect = url.get_backend_name()
        self._limits = SessionLimits(
            "mysql" if dialect == "mariadb" else dialect, self.call_timeout
        )
        self.engine, self._reader = self._create_engine(url)
        #: When a statement last succeeded (base.LastSuccess; /healthz reads it): every
        #: statement on the engine (writes, reflection, ping) and the read path's fetches.
        self.last_success = float("-inf")
        self.last_failure = float("-inf")
        sa.event.listen(self.engine, "after_cursor_execute", self._answered)
        #: Writes read their rows and change them in one transaction that holds the write
        #: lock from the start (SQLite: BEGIN IMMEDIATE; elsewhere SELECT ... FOR UPDATE).
        begin = "BEGIN IMMEDIATE" if dialect == "sqlite" else "BEGIN"
        self._writer = self.engine.execution_options(**{_BEGIN: begin})
        self._lock = threading.Lock()
        self._tables: dict[str, TableInfo] = {}
        self._family_tables: dict[str, FamilyTable] = {}
        self._requested: dict[str, FamilyTable] = {}
        #: The read path's statements, compiled per family and query shape.
        self._reads: dict[tuple[str, Shape], CompiledRead] = {}

    def _answered(self, *_event: Any) -> None:
        self.last_success = time.monotonic()

    def _create_engine(self, url: URL) -> tuple[Engine, ReadPool | None]:
        """The backend's one engine and its one pool of at most ``pool_size`` connections:
        ``search`` reads on them as raw autocommit connections (:class:`ReadPool`), writes,
        reflection and ping through Core.  Every connection is in autocommit mode and a
        transaction starts with an explicit ``BEGIN`` (see :func:`_transactions`), so a read
        needs no transaction and nothing is reset on return.  An in-memory SQLite database
        exists on its one shared connection only: there, reads go through Core."""
        backend = url.get_backend_name()
        shared = False
        timeout = self.settings.connect_timeout
        kwargs: dict[str, Any] = {"hide_parameters": True, "pool_reset_on_return": None}
        pooled = {
            "poolclass": BudgetQueuePool,
            "pool_size": self.settings.pool_size,
            "max_overflow": 0,
            "pool_timeout": 30,  # cut to the call's budget at every checkout
        }
        connect_args: dict[str, Any] = {}
        if backend == "sqlite":
            if self._schema:
                raise ConfigError(
                    "SQLite has no schemas; leave it out", f"backends.{self.name}.schema"
                )
            connect_args = {"timeout": timeout, "check_same_thread": False}
            if url.database in (None, "", ":memory:"):
                kwargs["poolclass"] = sa.pool.StaticPool  # one shared in-memory database
                shared = True
            else:
                kwargs.update(pooled)
        else:
            kwargs.update(pooled, isolation_level="AUTOCOMMIT")
            if backend == "postgresql":
                connect_args = {"connect_timeout": max(2, math.ceil(timeout))}
            elif backend in ("mysql", "mariadb"):
                connect_args = {
                    "connect_timeout": max(1, math.ceil(timeout)),
                    "read_timeout": self.call_timeout + 1,  # then set per call
                    "write_timeout": self.call_timeout + 1,
                }
                if "charset" not in url.query:
                    url = url.update_query_dict({"charset": "utf8mb4"})
        try:
            engine = sa.create_engine(url, connect_args=connect_args, **kwargs)
        except (ImportError, sa_exc.NoSuchModuleError) as exc:
            hint = {"postgresql": "ara-ldap[postgresql]", "mysql": "ara-ldap[mysql]"}.get(
                backend, "the DBAPI driver named in the URL"
            )
            raise ConfigError(
                f"cannot load the driver for {url.drivername} ({exc}); install {hint}",
                f"backends.{self.name}.url",
            ) from None
        _transactions(engine, backend == "sqlite")
        self._checkouts(engine, backend)
        return engine, None if shared else ReadPool(engine, self._limits)

    def _checkouts(self, engine: Engine, backend: str) -> None:
        """Pool hooks: a new connection's connect time is cut to the call's budget; Core's
        checkouts ping a reused connection (``pool_pre_ping``) and fit the session's limits
        to the budget.  (The read path takes entries without these hooks: it fits the
        limits itself and retries a disconnect instead of pinging.)"""
        limits, dialect = self._limits, engine.dialect
        dbapi_error: type[Any] = dialect.loaded_dbapi.Error
        connect_timeout = self.settings.connect_timeout

        @sa.event.listens_for(engine, "do_connect")
        def _connect_in_budget(_d: Any, _r: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
            if backend == "postgresql":
                cparams["connect_timeout"] = max(2, math.ceil(deadline.clamp(connect_timeout)))
            elif backend in ("mysql", "mariadb"):
                cparams["connect_timeout"] = deadline.clamp(connect_timeout)

        @sa.event.listens_for(engine, "connect")
        def _new(dbapi: Any, record: Any) -> None:
            limits.install(dbapi)
            record.info[FRESH] = True

        @sa.event.listens_for(engine, "checkout")
        def _checkout(dbapi: Any, record: Any, _proxy: Any) -> None:
            if not record.info.pop(FRESH, False):
                try:
                    dialect.do_ping(dbapi)
                except dbapi_error as exc:
                    if dialect.is_disconnect(exc, dbapi, None):
                        raise sa_exc.DisconnectionError() from exc  # the pool reconnects
                    raise
            limits.apply(dbapi, record.info)

    def __repr__(self) -> str:
        return f"SqlBackend({self.name!r}, {self.where!r})"

    # Errors -----------------------------------------------------------------------------
    def _scrub(self, text: str, secrets: Sequence[str] = ()) -> str:
        for secret in [self._password, *secrets]:
            if secret:
                text = text.replace(secret, SECRET_MASK)
        return text

    def _reason(self, exc: BaseException, secrets: Sequence[str] = ()) -> str:
        orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
        lines = [line.strip() for line in str(orig).strip().splitlines() if line.strip()]
        text = lines[0] if lines else type(orig).__name__
        if len(text) > 200:
            text = text[:197] + "..."
        return self._scrub(text, secrets)

    @contextmanager
    def _errors(self, what: str, secrets: Sequence[str] = ()) -> Iterator[None]:
        """One call: within its budget (the caller's, cut to ``timeout``), with database
        exceptions as BackendUnavailable/BackendError and no password, SQL parameters or
        secret values in the message."""
        started = time.monotonic()
        with deadline.budget(self.call_timeout):
            budget = deadline.remaining()
            try:
                yield
            except sa_exc.SQLAlchemyError as exc:
                raise self._classify(exc, what, secrets, started, budget) from None

    def _classify(
        self,
        exc: sa_exc.SQLAlchemyError,
        what: str,
        secrets: Sequence[str] = (),
        started: float | None = None,
        budget: float | None = None,
    ) -> BackendError | BadRequest:
        """The error a database exception is reported as (see :meth:`_errors`); an
        unavailable database is noted in ``last_failure`` (the health check's evidence)."""
        error = self._reported_as(exc, what, secrets, started, budget)
        if isinstance(error, BackendUnavailable):
            self.last_failure = time.monotonic()
        return error

    def _reported_as(
        self,
        exc: sa_exc.SQLAlchemyError,
        what: str,
        secrets: Sequence[str],
        started: float | None,
        budget: float | None,
    ) -> BackendError | BadRequest:
        if started is not None and budget is not None and self._timed_out(exc):
            return BackendUnavailable(
                f"backend {self.name!r} ({self.where}): {what}: no answer within the call's "
                f"time budget ({budget:.2f} s, gave up after {time.monotonic() - started:.2f} "
                f"s; the backend's timeout is {self.call_timeout:g} s): "
                f"{self._reason(exc, secrets)}"
            )
        if isinstance(exc, sa_exc.DataError):
            # The database refused a value (too long, out of range...): the caller's
            # mistake, which another backend would not fix.
            return BadRequest(
                f"backend {self.name!r} ({self.where}): {what}: the database refused a value: "
                f"{self._reason(exc, secrets)}"
            )
        if isinstance(
            exc,
            sa_exc.OperationalError
            | sa_exc.InterfaceError
            | sa_exc.DisconnectionError
            | sa_exc.TimeoutError,
        ):
            return BackendUnavailable(
                f"backend {self.name!r} ({self.where}): {what}: {self._reason(exc, secrets)}"
            )
        if isinstance(exc, sa_exc.NoSuchTableError):
            return BackendError(
                f"backend {self.name!r} ({self.where}): {what}: table {exc} does not exist "
                "(create the standard tables with 'ara-ldap sql init')"
            )
        return BackendError(
            f"backend {self.name!r} ({self.where}): {what}: {self._reason(exc, secrets)}"
        )

    def _timed_out(self, exc: sa_exc.SQLAlchemyError) -> bool:
        """A failure of the time limits: the pool's wait, a statement or lock wait cut by
        the server (PostgreSQL 57014, MariaDB 1969, MySQL 3024), SQLite's busy timeout or
        progress handler, a socket timeout; or any failure once the budget is spent."""
        if isinstance(exc, sa_exc.TimeoutError) or deadline.expired():
            return True
        orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else None
        if orig is None:
            return False
        if str(getattr(orig, "sqlstate", "")) == "57014":
            return True
        args = getattr(orig, "args", ())
        if args and args[0] in (1969, 3024):
            return True
        text = str(orig).lower()
        return "timed out" in text or (
            self.url.get_backend_name() == "sqlite"
            and ("database is locked" in text or "interrupted" in text)
        )

    # Families and tables ----------------------------------------------------------------
    def families(self) -> Collection[str]:
        return [family for family, _ in self._families.values()]

    def _spec(self, family: str) -> tuple[str, SqlFamily]:
        try:
            return self._families[family.lower()]
        except KeyError:
            raise UnknownFamily(
                f"backend {self.name!r} has no family {family!r} "
                f"(it has: {', '.join(sorted(self.families()))})"
            ) from None

    def table_info(self, table: str) -> TableInfo:
        """The reflected table (read once, then cached for the backend's lifetime)."""
        with self._lock:
            cached = self._tables.get(table)
        if cached is not None:
            return cached
        with self._errors(f"reading the columns of table {table}"), self.engine.connect() as conn:
            reflected = sa.Table(table, sa.MetaData(), schema=self._schema, autoload_with=conn)
        info = TableInfo.from_table(reflected)
        with self._lock:
            return self._tables.setdefault(table, info)

    def family_table(self, family: str) -> FamilyTable:
        found = self._requested.get(family)  # the hot path: the family as callers spell it
        if found is not None:
            return found
        found = self._family_table(family)
        if len(self._requested) < 1000:
            self._requested[family] = found
        return found

    def _family_table(self, family: str) -> FamilyTable:
        name, spec = self._spec(family)
        cached = self._family_tables.get(name.lower())  # atomic; only ever added to
        if cached is not None:
            return cached
        built = FamilyTable.build(name, spec, self.table_info(spec.table))
        with self._lock:
            return self._family_tables.setdefault(name.lower(), built)

    def fields(self, family: str) -> Collection[str]:
        """The table's visible columns; the standard definition while the database is down."""
        _, spec = self._spec(family)
        try:
            return [c.name for c in self.family_table(family).fields]
        except BackendError:
            standard = standard_table(spec.table)
            if standard is None:
                raise
            hidden = {h.lower() for h in spec.hidden}
            return [c.name for c in standard.columns if c.name.lower() not in hidden]

    def secret_fields(self, family: str) -> Collection[str]:
        return {f.lower() for f in self._spec(family)[1].secret_fields}

    # Reading ----------------------------------------------------------------------------
    def _rows(
        self,
        conn: Connection,
        ft: FamilyTable,
        criteria: Sequence[Criterion],
        plan: tuple[Shape, list[object]],
        lock: bool = False,
    ) -> list[tuple[sa.Row[Any], Record]]:
        """Rows matching the criteria exactly: the server's superset, filtered in Python."""
        shape, values = plan
        query = ft.statement(shape, lock)
        out = []
        for row in conn.execute(query, dict(zip(bind_names(len(values)), values, strict=True))):
            record = ft.to_record(row)
            if record_matches(record, criteria):
                out.append((row, record))
        return out

    def search(self, family: str, criteria: Sequence[Criterion]) -> list[Record]:
        ft = self.family_table(family)
        criteria = ft.prepare(criteria)
        shape, values = ft.plan(criteria)
        reader = self._reader
        if reader is None:
            with self._errors(f"search {ft.name}"), self.engine.connect() as conn:
                rows = self._rows(conn, ft, criteria, (shape, values))
                return [record for _, record in rows]
        # The read path (fastpath.py): the statement compiled once per shape, run on an
        # autocommit connection, rows converted by a precomputed plan.  (``_errors``
        # inlined, and no budget of its own inside a shorter one, e.g. the router's: its
        # context managers were a tenth of a lookup.)
        left = deadline.remaining()
        if left is not None and left <= self.call_timeout:
            return self._read(reader, ft, criteria, shape, values, left)
        with deadline.budget(self.call_timeout):
            return self._read(reader, ft, criteria, shape, values, self.call_timeout)

    def _read(
        self,
        reader: ReadPool,
        ft: FamilyTable,
        criteria: Sequence[Criterion],
        shape: Shape,
        values: list[object],
        budget: float,
    ) -> list[Record]:
        started = time.monotonic()
        try:
            read = self._compiled(ft, shape)
            result, description = reader.fetch(
                read.sql, read.parameters(values), read.slots is None, budget
            )
            if read.slots is None:
                assert description is not None
                read.make_slots(description, self.engine.dialect)
        except sa_exc.SQLAlchemyError as exc:
            raise self._classify(exc, f"search {ft.name}", (), started, budget) from None
        read.uses += 1
        self.last_success = time.monotonic()
        return rows_to_records(result, read, criteria, render)

    @property
    def read_pool(self) -> ReadPool | None:
        """``search``'s view of the engine's pool (None for an in-memory SQLite database)."""
        return self._reader

    def read_statements(self) -> dict[tuple[str, Shape], CompiledRead]:
        """The read path's compiled statements by (family, shape) (tests, diagnostics)."""
        return dict(self._reads)

    def _compiled(self, ft: FamilyTable, shape: Shape) -> CompiledRead:
        key = (ft.name, shape)
        read = self._reads.get(key)
        if read is None:
            count = sum(cond.arity for _, cond in shape)
            dialect = self.engine.dialect
            statement = ft.statement(shape, fields_only=True, short=dialect.name == "postgresql")
            read = CompiledRead.compile(
                statement,
                [info.column for info in ft.fields],
                ft.field_plan,
                dialect,
                bind_names(count),
            )
            with self._lock:
                if len(self._reads) >= CACHE_LIMIT:
                    self._reads.clear()
                read = self._reads.setdefault(key, read)
        return read

    # Writing ----------------------------------------------------------------------------
    def _secret_values(self, ft: FamilyTable, grouped: Mapping[str, Sequence[str]]) -> list[str]:
        return [v for k, vals in grouped.items() if k in ft.secret_fields for v in vals if v]

    def store(self, family: str, record: Record) -> int:
        ft = self.family_table(family)
        grouped, unknown = ft.group(record)
        if unknown:
            raise ft.unknown(unknown[0])
        values = ft.write_values(grouped, insert=True)
        secrets = self._secret_values(ft, grouped)
        with self._errors(f"store {ft.name}", secrets):
            try:
                with self._writer.begin() as conn:
                    conn.execute(ft.table.insert().values(values))
            except sa_exc.IntegrityError as exc:
                if not is_unique_violation(exc):
                    raise
                if ft.spec.store_existing != "replace" or not self._replace(ft, grouped):
                    raise ft.conflict(grouped, "store") from None
        return 1

    def _replace(self, ft: FamilyTable, grouped: Mapping[str, Sequence[str]]) -> bool:
        """``store`` on an existing key with ``store_existing: replace``: the row becomes
        exactly the record (columns it leaves out become NULL).  False: no row holds the
        key after all (a non-key unique clash), so the store stays refused."""
        keys = [k for names in ft.info.unique_keys for k in (n.lower() for n in names)]
        criteria = [
            Criterion(ft.by_key[k].name, Operator.EQ, _first(grouped[k]))
            for k in dict.fromkeys(keys)
            if k in grouped and k in ft.by_key and _first(grouped[k])
        ]
        if not criteria:
            return False
        full = {info.key: list(grouped.get(info.key, [])) for info in ft.fields}
        for info in ft.fields:
            if info.key not in grouped and not info.nullable:
                del full[info.key]  # NOT NULL without a value: keep what is stored
        values = ft.write_values(full, insert=False)
        with self._writer.begin() as conn:
            rows = self._rows(conn, ft, criteria, ft.plan(criteria), lock=True)
            return self._by_key(conn, ft, [row for row, _ in rows], values) > 0

    def update(self, family: str, criteria: Sequence[Criterion], changes: Record) -> int:
        ft = self.family_table(family)
        criteria = ft.prepare(criteria)
        plan = ft.plan(criteria)
        grouped, unknown = ft.group(changes)
        if unknown:
            # Asterisk's SQL drivers ignore columns they lack (chan_iax2 sends regserver).
            log.warning(
                "update %s: ignoring fields that are not columns of %s: %s",
                ft.name,
                ft.table.name,
                ", ".join(unknown),
            )
        if not grouped:
            raise ft.unknown(unknown[0])
        values = ft.write_values(grouped, insert=False)
        secrets = self._secret_values(ft, grouped)
        with self._errors(f"update {ft.name}", secrets):
            try:
                with self._writer.begin() as conn:
                    rows = self._rows(conn, ft, criteria, plan, lock=True)
                    return self._by_key(conn, ft, [row for row, _ in rows], values)
            except sa_exc.IntegrityError as exc:
                if is_unique_violation(exc):
                    raise ft.conflict(grouped, "update") from None
                raise

    def destroy(self, family: str, criteria: Sequence[Criterion]) -> int:
        ft = self.family_table(family)
        criteria = ft.prepare(criteria)
        plan = ft.plan(criteria)
        with self._errors(f"destroy {ft.name}"), self._writer.begin() as conn:
            rows = self._rows(conn, ft, criteria, plan, lock=True)
            return self._by_key(conn, ft, [row for row, _ in rows], None)

    def _by_key(
        self,
        conn: Connection,
        ft: FamilyTable,
        rows: Sequence[sa.Row[Any]],
        values: Mapping[sa.Column[Any], object] | None,
    ) -> int:
        """UPDATE (``values``) or DELETE (``None``) the given rows by their key; the count."""
        if not rows:
            return 0
        key = ft.info.key_columns
        conditions: list[ColumnElement[bool]]
        if len(key) == 1:
            column = key[0]
            ids = [row._mapping[column] for row in rows]
            conditions = [column.in_(ids[i : i + BATCH]) for i in range(0, len(ids), BATCH)]
        else:
            conditions = [
                sa.and_(
                    *(c.is_(None) if row._mapping[c] is None else c == row._mapping[c] for c in key)
                )
                for row in rows
            ]
        count = 0
        for where in conditions:
            if values is None:
                statement: sa.Executable = ft.table.delete().where(where)
            else:
                statement = ft.table.update().where(where).values(dict(values))
            result = conn.execute(statement)
            count += max(result.rowcount, 0)
        return count

    # Schema questions -------------------------------------------------------------------
    def require(self, family: str, requirements: Sequence[Requirement]) -> list[str]:
        ft = self.family_table(family)
        problems: list[str] = []
        for req in requirements:
            info = ft.by_key.get(req.field.lower())
            if info is None:
                problems.append(f"{req.field}: table {ft.table.name} has no such column")
                continue
            problem = requirement_problem(ft.table.name, info, req)
            if problem:
                problems.append(problem)
        return problems

    def ping(self) -> None:
        try:
            with deadline.budget(self.call_timeout), self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa_exc.SQLAlchemyError as exc:
            raise BackendUnavailable(
                f"backend {self.name!r} ({self.where}): not answering: {self._reason(exc)}"
            ) from None

    def close(self) -> None:
        self.engine.dispose()


_BEGIN = "ara_begin"


def _transactions(engine: Engine, sqlite: bool) -> None:
    """Connections stay in the driver's autocommit mode and SQLAlchemy starts transactions
    with an explicit ``BEGIN`` (the recipe in SQLAlchemy's SQLite docs, for every engine):
    one pool then serves both the read path, which needs no transaction, and Core's
    transactions.  On SQLite pysqlite would begin only at the first write, so a
    read-then-update would not be one transaction; writers ask for ``BEGIN IMMEDIATE`` so
    two concurrent updates queue on the write lock instead of failing with "database is
    locked".  (PostgreSQL and MariaDB connections are put in autocommit mode by the
    engine's ``isolation_level``.)"""

    if sqlite:

        @sa.event.listens_for(engine, "connect")
        def _driver_autocommit(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql(str(conn.get_execution_options().get(_BEGIN, "BEGIN")))


def is_unique_violation(exc: sa_exc.IntegrityError) -> bool:
    """A duplicate key (as opposed to a NOT NULL or foreign key violation), per engine."""
    orig = exc.orig
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):  # MySQL/MariaDB error numbers (sqlstate is 23000)
        return args[0] in (1062, 1586)  # ER_DUP_ENTRY, ER_DUP_ENTRY_WITH_KEY_NAME
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None:
        return str(sqlstate) == "23505"  # PostgreSQL unique_violation
    text = str(orig)
    return "UNIQUE constraint failed" in text or "is not unique" in text  # SQLite
