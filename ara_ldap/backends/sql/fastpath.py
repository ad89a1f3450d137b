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
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect, Engine

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


@dataclass(eq=False)
class Reader:
    """One pooled read connection."""

    proxy: Any  # SQLAlchemy's PoolProxiedConnection (a NullPool one: closing closes it)
    dbapi: Any  # the driver's connection
    generation: int
    fresh: bool = True
    #: One cursor per connection, reused (a new psycopg cursor per call costs ~10 µs).
    cursor: Any = None


class ReadPool:
    """At most ``size`` autocommit DBAPI connections for reads, thread-safe.

    ``engine`` makes the connections (a NullPool engine with ``isolation_level=AUTOCOMMIT``:
    the driver arguments and connect hooks of the backend's engine).  Each call gets a
    connection of its own, waiting up to ``timeout`` seconds when all are busy (as
    SQLAlchemy's QueuePool does).  A disconnect closes the idle connections too (after a
    server restart they are all dead; SQLAlchemy invalidates its pool the same way), and a
    statement that failed on a reused connection because it was gone is retried once on a
    new one: what ``pool_pre_ping`` achieves, without a round trip per call.
    """

    def __init__(self, engine: Engine, size: int, timeout: float) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self._dbapi_error: type[Any] = engine.dialect.loaded_dbapi.Error  # the driver's
        self.size = max(1, size)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._idle: list[Reader] = []
        self._open = 0
        self._waiting = 0
        self._generation = 0
        #: Connections made so far (tests and diagnostics).
        self.connects = 0

    # Checkout ---------------------------------------------------------------------------
    def acquire(self) -> Reader:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            deadline = time.monotonic() + self.timeout
            while self._open >= self.size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise sa_exc.TimeoutError(
                        f"read pool limit of size {self.size} reached, connection timed out, "
                        f"timeout {self.timeout:.2f}"
                    )
                self._waiting += 1
                try:
                    self._cond.wait(remaining)
                finally:
                    self._waiting -= 1
                if self._idle:
                    return self._idle.pop()
            self._open += 1
            generation = self._generation
        try:
            proxy = self.engine.raw_connection()  # unlike Connection, does not wrap errors
        except self._dbapi_error as exc:
            self._forget()
            disconnect = self.dialect.is_disconnect(exc, None, None)
            raise self._wrap(exc, None, None, disconnect) from exc
        except BaseException:
            self._forget()
            raise
        self.connects += 1
        return Reader(proxy, proxy.dbapi_connection, generation)

    def release(self, reader: Reader) -> None:
        with self._lock:
            if reader.generation == self._generation:
                reader.fresh = False
                self._idle.append(reader)
                if self._waiting:
                    self._cond.notify()
                return
        self.discard(reader)

    def discard(self, reader: Reader) -> None:
        """Close a connection that may be broken; it no longer counts."""
        with contextlib.suppress(Exception):  # closing a dead connection may fail too
            reader.proxy.invalidate()
        self._forget()

    def _forget(self) -> None:
        with self._lock:
            self._open -= 1
            if self._waiting:
                self._cond.notify()

    def invalidate(self) -> None:
        """Close the idle connections; those in use are closed when released."""
        with self._lock:
            self._generation += 1
            stale, self._idle = self._idle, []
        for reader in stale:
            self.discard(reader)

    def close(self) -> None:
        """Close every connection (a later call connects again, like a disposed engine)."""
        self.invalidate()
        self.engine.dispose()

    def idle_connections(self) -> list[Any]:
        """The DBAPI connections waiting for a call (tests, diagnostics)."""
        with self._lock:
            return [reader.dbapi for reader in self._idle]

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
        self, sql: str, params: tuple[object, ...] | dict[str, object], describe: bool
    ) -> tuple[list[Any], Sequence[Sequence[Any]] | None]:
        """All rows of ``sql`` (and the cursor description when ``describe``).  Driver
        errors are raised as SQLAlchemy's exception classes, exactly as Core raises them."""
        dbapi_error = self._dbapi_error
        retried = False
        while True:
            reader = self.acquire()
            cursor = reader.cursor
            try:
                if cursor is None:
                    cursor = reader.cursor = reader.dbapi.cursor()
                cursor.execute(sql, params)
                rows = cursor.fetchall()
                description = cursor.description if describe else None
            except dbapi_error as exc:
                disconnect = self.dialect.is_disconnect(exc, reader.dbapi, cursor)
                self.discard(reader)
                if disconnect:
                    self.invalidate()
                    if not reader.fresh and not retried:
                        retried = True  # the server dropped an idle connection: once more
                        continue
                raise self._wrap(exc, sql, params, disconnect) from exc
            except BaseException:
                self.discard(reader)  # interrupted mid-statement: its state is unknown
                raise
            self.release(reader)
            return rows, description
