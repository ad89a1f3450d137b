"""The SQL backend's read path: cached statements on a pool of autocommit connections.

``search`` (every ``single``/``multi``) is the hot path.  Going through SQLAlchemy Core for
each call costs far more than the query itself: building and compiling the statement,
result metadata, a pool checkout with a pre-ping, the implicit BEGIN and the ROLLBACK of
the pool's reset-on-return (on PostgreSQL three extra round trips).  Here instead:

* a statement is compiled once per query *shape* (family, and per criterion its column and
  the kind of WHERE condition, see ``FamilyTable.plan``) by SQLAlchemy for the engine's
  dialect, and that SQL string is run by the DBAPI cursor with the values as bound
  parameters, never spliced in.  Its WHERE clause is built by the same code as Core's
  statement (``FamilyTable.statement``); it selects the fields' columns only, and on
  PostgreSQL a schema-qualified table is aliased to its own name (shorter SQL);
* it runs on :class:`ReadPool` connections in autocommit mode (one SELECT needs no
  transaction; psycopg prepares a statement on the server after a few executions), made by
  SQLAlchemy (same driver arguments and connect hooks) and kept outside SQLAlchemy's pool;
* rows become Records through a precomputed column plan, with the same result processors
  SQLAlchemy applies, so a value reads exactly as it does through Core.

Writes keep SQLAlchemy's transactional path.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.pool import ConnectionPoolEntry

from ara_ldap import deadline
from ara_ldap.backends.sql import chunks
from ara_ldap.criteria import Criterion, record_matches
from ara_ldap.record import Pair, Record

#: Distinct statements kept per backend before the cache starts over (shapes are few).
CACHE_LIMIT = 512

Processor = Callable[[Any], Any]
Render = Callable[[object], str]


#: How one selected column becomes pairs: its field name, whether it is multi-valued, and
#: SQLAlchemy's result processor for it.
Slot = tuple[str, bool, Processor | None]


@dataclass
class CompiledRead:
    """One query shape compiled for the dialect: the SQL text and how to bind it."""

    sql: str
    #: Positional dialects: the values in placeholder order (indexes into the plan's
    #: values); named ones: placeholder name per value.
    positional: bool
    order: tuple[int, ...]
    names: tuple[str, ...]
    bind_processors: tuple[Processor | None, ...]
    #: The selected columns (of the table) and the fields they are: (name, multi-valued).
    columns: tuple[sa.Column[Any], ...]
    fields: tuple[tuple[str, bool], ...]
    #: Whether ``order`` is not simply every value in plan order.
    reordered: bool = False
    #: Whether a bind processor applies.
    converted: bool = False
    #: Neither: the values are bound as they are.
    plain: bool = True
    #: Filled from the first execution's cursor description (result processors depend on
    #: the driver's type codes, exactly as in SQLAlchemy's result metadata).
    slots: tuple[Slot, ...] | None = None
    #: Whether any column has a result processor (most columns on most drivers have none).
    processed: bool = False
    #: Executions so far (tests and diagnostics).
    uses: int = 0

    @classmethod
    def compile(
        cls,
        statement: sa.Select[Any],
        columns: Sequence[sa.Column[Any]],
        fields: Sequence[tuple[str, bool]],
        dialect: Dialect,
        bind_keys: Sequence[str],
    ) -> CompiledRead:
        """``statement`` selects ``columns`` (through an alias or not), in order."""
        if len(statement.selected_columns) != len(columns) or len(columns) != len(fields):
            raise ValueError("the statement does not select the fields' columns")  # never
        compiled = statement.compile(dialect=dialect)
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("statement needs render-time parameters")  # never ours
        rendered = {bp.key: name for bp, name in compiled.bind_names.items()}
        by_key = {bp.key: bp for bp in compiled.bind_names}
        index = {key: i for i, key in enumerate(bind_keys)}
        processors: list[Processor | None] = []
        if compiled.positional:
            back = {name: key for key, name in rendered.items()}
            keys = [back[name] for name in compiled.positiontup or []]
            order = tuple(index[key] for key in keys)
            names: tuple[str, ...] = ()
        else:
            # A clause may drop a parameter (``false AND x`` renders as false): bind those used.
            keys = [key for key in bind_keys if key in rendered]
            order = tuple(index[key] for key in keys)
            names = tuple(rendered[key] for key in keys)
        for key in keys:
            impl = by_key[key].type.dialect_impl(dialect)
            processors.append(impl.bind_processor(dialect))
        reordered = order != tuple(range(len(bind_keys)))
        converted = any(p is not None for p in processors)
        return cls(
            reordered=reordered,
            converted=converted,
            plain=not reordered and not converted,
            sql=compiled.string,
            positional=bool(compiled.positional),
            order=order,
            names=names,
            bind_processors=tuple(processors),
            columns=tuple(columns),
            fields=tuple(fields),
        )

    def parameters(self, values: Sequence[object]) -> tuple[object, ...] | dict[str, object]:
        """The plan's values (``FamilyTable.plan``) as the DBAPI parameters, with the bind
        processors SQLAlchemy would apply (none for str and int on the supported drivers)."""
        if self.plain:
            return tuple(values) if self.positional else dict(zip(self.names, values, strict=True))
        if self.reordered:
            values = [values[i] for i in self.order]
        if self.converted:
            procs = self.bind_processors
            values = [v if p is None else p(v) for v, p in zip(values, procs, strict=True)]
        if self.positional:
            return tuple(values)
        return dict(zip(self.names, values, strict=True))

    def make_slots(self, description: Sequence[Sequence[Any]], dialect: Dialect) -> None:
        """The columns' slots, from the first execution's cursor description."""
        if len(description) != len(self.columns):
            raise RuntimeError("result columns differ from the statement's")  # pragma: no cover
        slots: list[Slot] = []
        for column, (name, multi), desc in zip(self.columns, self.fields, description, strict=True):
            impl = column.type.dialect_impl(dialect)
            slots.append((name, multi, impl.result_processor(dialect, desc[1])))
        self.processed = any(slot[2] is not None for slot in slots)
        self.slots = tuple(slots)  # last: ``processed`` is set once this is


#: A table's fields in column order, as (name, multi-valued).
FieldPlan = tuple[tuple[str, bool], ...]


def row_to_record(row: Sequence[Any], fields: FieldPlan, render: Render) -> Record:
    """One row (values in *fields* order) as a Record: table order, NULL/empty omitted,
    multi-valued columns split.  The only row->record conversion: the read path and the
    write path's reads (``FamilyTable.to_record``) both use it, so they cannot drift."""
    split, separator = chunks.split_chunks, chunks.SEPARATOR
    pairs: list[Pair] = []
    for field, value in zip(fields, row, strict=True):
        if value is None:
            continue  # most columns: nothing else done for them
        name, multi = field
        kind = type(value)
        if kind is not str:
            value = str(value) if kind is int else str(render(value))  # render(int) is str
        if not value:
            continue
        if not multi:
            pairs.append((name, value))
        elif "^" in value:
            pairs.extend([(name, v) for v in split(value)])
        else:  # chunks.split_chunks, with no escape to decode
            pairs.extend([(name, v) for v in map(str.strip, value.split(separator)) if v])
    return Record._trusted(tuple(pairs))


def rows_to_records(
    rows: Sequence[Sequence[Any]],
    read: CompiledRead,
    criteria: Sequence[Criterion],
    render: Render,
) -> list[Record]:
    """Rows as Records (:func:`row_to_record`), keeping those the criteria match exactly."""
    slots, fields = read.slots, read.fields
    assert slots is not None
    out: list[Record] = []
    for row in rows:
        if read.processed:
            row = [v if p is None else p(v) for (_, _, p), v in zip(slots, row, strict=True)]
        record = row_to_record(row, fields, render)
        if record_matches(record, criteria):
            out.append(record)
    return out


# Connections -------------------------------------------------------------------------------

#: Keys in a pooled connection's ``info`` (cleared by SQLAlchemy when it is replaced).
_CURSOR = "ara_cursor"
_LIMIT = "ara_limit"
#: Set by the pool's connect hook: no statement has run on the connection yet.
FRESH = "ara_fresh"


class BudgetQueuePool(sa.pool.QueuePool):
    """SQLAlchemy's QueuePool whose wait for a free connection is ``pool_timeout`` cut to
    what is left of the call's budget (:func:`ara_ldap.deadline.clamp`): QueuePool reads
    ``_timeout`` at every checkout, so a property makes the wait per call."""

    _pool_timeout: float = 30.0

    @property
    def _timeout(self) -> float:
        return deadline.clamp(self._pool_timeout)

    @_timeout.setter
    def _timeout(self, value: float) -> None:
        self._pool_timeout = value

    # The read path's checkout: a pool entry as QueuePool's own checkout gets it, without
    # the proxy object, events and reset around it (about 5 µs of a 20 µs lookup).
    def take(self) -> ConnectionPoolEntry:
        """A pool entry with a live DBAPI connection (a stale or invalidated one is
        reconnected first); hand it back with :meth:`give`."""
        idle: Any = self._pool  # SQLAlchemy's Queue (stdlib queue's code): an idle entry is
        with idle.mutex:  # taken under its lock, as Queue.get does, minus the wait logic
            record: Any = idle._get() if idle._qsize() else None
        if record is None:
            record = self._do_get()  # wait (cut to the budget) or open a connection
        try:
            record.get_connection()
        except BaseException:
            self._do_return_conn(record)  # its slot stays: the next checkout reconnects
            raise
        entry: ConnectionPoolEntry = record
        return entry

    def give(self, record: ConnectionPoolEntry) -> None:
        idle: Any = self._pool
        with idle.mutex:  # as Queue.put(record, False) does, minus its checks
            if idle._qsize() < idle.maxsize:
                idle._put(record)
                idle.not_empty.notify()
                return
        self._do_return_conn(record)  # never (the pool has a slot per entry); it copes

    def mark_stale(self) -> None:
        """Every connection made before now is replaced at its next checkout (what Core
        does to the pool after a disconnect)."""
        self._invalidate_time = time.time()


class SessionLimits:
    """Keeps a connection's own time limits within the call's budget, so that a statement
    blocked on a lock (or a hung server) ends in time instead of holding the caller.

    PostgreSQL: ``statement_timeout``; MariaDB/MySQL: ``max_statement_time`` (MariaDB's,
    seconds) and PyMySQL's socket read/write timeouts (a hung server); SQLite:
    ``busy_timeout`` (lock waits; a progress handler ends long statements, see
    :meth:`install`).  A server-side limit costs a round trip to change, so it is changed
    only when the budget is below it or far above it (a route's share of the budget stays
    the same call after call: one ``SET`` per connection)."""

    #: The limit set is this fraction of the budget: the error must still come back in time.
    MARGIN = 0.9

    def __init__(self, dialect: str, timeout: float) -> None:
        self.dialect = dialect
        self.timeout = timeout

    def budget(self) -> float:
        left = deadline.remaining()
        return self.timeout if left is None else max(deadline.MIN_STEP, left)

    def install(self, dbapi: Any) -> None:
        """On a new connection: SQLite's progress handler (ends a running statement once
        the budget is spent; SQLite checks it every 10,000 virtual machine steps)."""
        if self.dialect == "sqlite":
            dbapi.set_progress_handler(_over_budget, 10_000)

    def apply(self, dbapi: Any, info: dict[Any, Any], left: float | None = None) -> None:
        """Before a call on ``dbapi``: its limits fit what is left of the budget (``left``
        when the caller has just read it)."""
        want = self.budget() if left is None else max(deadline.MIN_STEP, left)
        if self.dialect == "mysql":  # PyMySQL checks these on every socket read and write
            dbapi._read_timeout = dbapi._write_timeout = math.ceil(want * 10 + 2) / 10
        current = info.get(_LIMIT)
        if current is not None and want * 0.75 <= current <= want:
            return
        limit = max(deadline.MIN_STEP, want * self.MARGIN)
        if self.dialect == "postgresql":
            statement = f"SET statement_timeout = {math.ceil(limit * 1000)}"
        elif self.dialect == "mysql" and "mariadb" in str(dbapi.get_server_info()).lower():
            statement = f"SET SESSION max_statement_time = {limit:.3f}"
        elif self.dialect == "mysql":  # MySQL's own (SELECTs only; the socket bounds the rest)
            statement = f"SET SESSION max_execution_time = {math.ceil(limit * 1000)}"
        elif self.dialect == "sqlite":
            statement = f"PRAGMA busy_timeout = {math.ceil(limit * 1000)}"
        else:  # pragma: no cover - the supported dialects are the three above
            return
        cursor = dbapi.cursor()
        try:
            cursor.execute(statement)
        finally:
            cursor.close()
        info[_LIMIT] = limit


def _over_budget() -> bool:
    """SQLite's progress handler: True (interrupt the statement) once the budget is spent."""
    left = deadline.remaining()
    return left is not None and left <= 0


class ReadPool:
    """The read path's view of the backend's one connection pool (the engine's).

    ``search`` takes a connection's entry straight from the engine's pool
    (:meth:`BudgetQueuePool.take`, no proxy, events or reset):
    every connection of the pool is in autocommit mode (writes emit their own ``BEGIN``,
    see ``backend._transactions``), so a read needs no transaction; there is no pre-ping
    (Core's checkouts ping in a hook this path skips) and no reset-on-return.  A disconnect
    marks every idle connection stale (SQLAlchemy replaces them at their next checkout,
    as it does for Core), and a statement that failed on a reused connection because it
    was gone is retried once on a new one, while the call's budget lasts: what
    ``pool_pre_ping`` achieves, without a round trip per call.
    """

    def __init__(self, engine: Engine, limits: SessionLimits) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self.limits = limits
        self._dbapi_error: type[Any] = engine.dialect.loaded_dbapi.Error  # the driver's
        if not isinstance(engine.pool, BudgetQueuePool):
            raise TypeError("the read path needs a BudgetQueuePool engine")  # never
        self.size = self.pool.size()
        #: Connections made so far (tests and diagnostics).
        self.connects = 0
        sa.event.listen(engine, "connect", self._connected)

    def _connected(self, dbapi: Any, _record: Any) -> None:
        self.connects += 1

    @property
    def pool(self) -> BudgetQueuePool:
        """The engine's pool (a new one after ``engine.dispose()``; backend.py makes it a
        BudgetQueuePool, checked once in ``__init__``)."""
        return cast(BudgetQueuePool, self.engine.pool)

    @property
    def timeout(self) -> float:
        """The longest wait for a free connection (``pool_timeout``; cut to the budget)."""
        return float(getattr(self.pool, "_pool_timeout", 30.0))

    # Checkout ---------------------------------------------------------------------------
    def acquire(self) -> ConnectionPoolEntry:
        """A pool entry (``release`` or ``discard`` it); driver errors as SQLAlchemy's."""
        try:
            return self.pool.take()
        except self._dbapi_error as exc:
            disconnect = self.dialect.is_disconnect(exc, None, None)
            raise self._wrap(exc, None, None, disconnect) from exc

    def release(self, record: ConnectionPoolEntry) -> None:
        """Back to the pool (no reset: autocommit, nothing to roll back)."""
        self.pool.give(record)

    def discard(self, record: ConnectionPoolEntry, exc: BaseException | None = None) -> None:
        """Close a connection that may be broken; its slot reconnects when next used."""
        with contextlib.suppress(Exception):  # closing a dead connection may fail too
            record.invalidate(exc)
        self.pool.give(record)

    def invalidate(self) -> None:
        """After a disconnect: the idle connections are stale too (a server restart kills
        them all); SQLAlchemy replaces each at its next checkout."""
        self.pool.mark_stale()

    def close(self) -> None:
        """Close every connection (a later call connects again, like a disposed engine)."""
        self.engine.dispose()

    def idle_connections(self) -> list[Any]:
        """The live DBAPI connections waiting in the pool (tests, diagnostics)."""
        stale_before = self.pool._invalidate_time
        return [
            record.dbapi_connection
            for record in list(getattr(self.pool._pool, "queue", ()))
            if record.dbapi_connection is not None
            and getattr(record, "starttime", 0) > stale_before
        ]

    def _wrap(
        self,
        exc: Exception,
        sql: str | None,
        params: tuple[object, ...] | dict[str, object] | None,
        disconnect: bool,
    ) -> BaseException:
        """A driver error as SQLAlchemy's exception class for it (what Core raises)."""
        return sa_exc.DBAPIError.instance(
            sql,
            params,
            exc,
            self._dbapi_error,
            hide_parameters=True,
            connection_invalidated=disconnect,
            dialect=self.dialect,
        )

    # Running a statement ----------------------------------------------------------------
    def fetch(
        self,
        sql: str,
        params: tuple[object, ...] | dict[str, object],
        describe: bool,
        left: float | None = None,
    ) -> tuple[list[Any], Sequence[Sequence[Any]] | None]:
        """All rows of ``sql`` (and the cursor description when ``describe``); ``left``:
        the budget left, if the caller has just read it.  Driver errors are raised as
        SQLAlchemy's exception classes, exactly as Core raises them."""
        dbapi_error = self._dbapi_error
        retried = False
        while True:
            pool = cast(BudgetQueuePool, self.engine.pool)
            try:
                record = pool.take()
            except dbapi_error as exc:
                disconnect = self.dialect.is_disconnect(exc, None, None)
                raise self._wrap(exc, None, None, disconnect) from exc
            dbapi: Any = record.dbapi_connection
            info = record.info
            cursor = info.get(_CURSOR)
            fresh = info.pop(FRESH, False)
            try:
                self.limits.apply(dbapi, info, left)
                if cursor is None:
                    cursor = info[_CURSOR] = dbapi.cursor()
                cursor.execute(sql, params)
                rows = cursor.fetchall()
                description = cursor.description if describe else None
            except dbapi_error as exc:
                disconnect = self.dialect.is_disconnect(exc, dbapi, cursor)
                self.discard(record, exc)
                if disconnect:
                    self.invalidate()
                    if not fresh and not retried and not deadline.expired():
                        retried = True  # the server dropped an idle connection: once more
                        left = None
                        continue
                raise self._wrap(exc, sql, params, disconnect) from exc
            except BaseException as exc:
                self.discard(record, exc)  # interrupted mid-statement: its state is unknown
                raise
            pool.give(record)
            return rows, description
