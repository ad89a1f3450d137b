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
"""

from __future__ import annotations

import enum
import functools
import logging
import math
import re
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.sql.elements import ColumnElement

from ara_ldap.backends.base import Capabilities, FieldType, Requirement
from ara_ldap.backends.sql import chunks
from ara_ldap.backends.sql.fastpath import (
    CACHE_LIMIT,
    CompiledRead,
    FieldPlan,
    ReadPool,
    row_to_record,
    rows_to_records,
)
from ara_ldap.backends.sql.tables import standard_table
from ara_ldap.config import SqlBackendSettings, SqlFamily, shipped_sql_families
from ara_ldap.criteria import (
    Criterion,
    LikeToken,
    Operator,
    as_number,
    like_escape,
    literal_likes,
    parse_like,
    record_matches,
)
from ara_ldap.errors import (
    SECRET_MASK,
    BackendError,
    BackendUnavailable,
    BadRequest,
    ConfigError,
    Conflict,
    UnknownFamily,
    UnknownField,
    describe_value,
)
from ara_ldap.record import Record

log = logging.getLogger("ara_ldap.sql")

#: Rows per ``UPDATE/DELETE ... WHERE key IN (...)`` statement.
BATCH = 500
_INT_RE = re.compile(r"[+-]?\d{1,40}")  # fullmatch; longer is out of any column's range
_TRUE = {"1", "true", "yes", "on", "t", "y"}
_FALSE = {"0", "false", "no", "off", "f", "n"}


class Kind(enum.Enum):
    """How a column's values are converted to and from the strings Asterisk uses."""

    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    FLOAT = "float"
    DATETIME = "datetime"
    DATE = "date"
    TIME = "time"
    BOOLEAN = "boolean"
    OTHER = "other"


def column_kind(type_: sa.types.TypeEngine[Any]) -> Kind:
    if isinstance(type_, sa.Boolean):
        return Kind.BOOLEAN
    if isinstance(type_, sa.Integer):
        return Kind.INTEGER
    if isinstance(type_, sa.Float):
        return Kind.FLOAT
    if isinstance(type_, sa.Numeric):
        return Kind.DECIMAL
    if isinstance(type_, sa.DateTime):
        return Kind.DATETIME
    if isinstance(type_, sa.Date):
        return Kind.DATE
    if isinstance(type_, sa.Time):
        return Kind.TIME
    if isinstance(type_, sa.String):  # VARCHAR, TEXT, CHAR, ENUM
        return Kind.TEXT
    return Kind.OTHER


def integer_range(type_: sa.types.TypeEngine[Any]) -> tuple[int, int]:
    """The values an integer column holds (by its declared type, the same on every engine)."""
    bits = 32
    name = type(type_).__name__.upper()
    if isinstance(type_, sa.BigInteger):
        bits = 64
    elif isinstance(type_, sa.SmallInteger):
        bits = 16
    if name == "TINYINT":
        bits = 8
    elif name == "MEDIUMINT":
        bits = 24
    if getattr(type_, "unsigned", False):
        return 0, 2**bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def render(value: object) -> str:
    """A column value as the string Asterisk sees (the same on every engine)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def sql_like_pattern(pattern: str) -> str:
    """A LIKE pattern re-spelled for ``ESCAPE '\\'`` on every engine (a trailing lone ``\\``
    is a literal, as in :func:`~ara_ldap.criteria.parse_like`)."""
    out: list[str] = []
    for part in parse_like(pattern):
        if part is LikeToken.ANY:
            out.append("%")
        elif part is LikeToken.ONE:
            out.append("_")
        else:
            out.append(like_escape(str(part)))
    return "".join(out)


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


class Cond(enum.Enum):
    """The kinds of WHERE condition (:meth:`FamilyTable.condition_plan`), each with how many
    parameters it binds (:attr:`arity`)."""

    PRESENT = ("present", 0)  # column IS NOT NULL
    FALSE = ("false", 0)
    MULTI_ESCAPED = ("multi-escaped", 1)  # present AND column LIKE '%^%'
    MULTI_LIKE = ("multi-like", 2)  # present AND (column LIKE :p ESCAPE '\\' OR ... '%^%')
    MULTI_ANY = ("multi-any", 0)  # present AND true
    TEXT_EQ = ("text=", 1)
    TEXT_LIKE = ("text-like", 1)
    INT_EQ = ("int=", 1)
    INT_LT = ("int<", 1)
    INT_LE = ("int<=", 1)
    INT_GT = ("int>", 1)
    INT_GE = ("int>=", 1)

    __hash__ = object.__hash__  # members are singletons; Enum's own hashes the name in Python

    @property
    def arity(self) -> int:
        return int(self.value[1])


#: A WHERE clause's shape: per criterion, the column key and the kind of condition.
Shape = tuple[tuple[str, Cond], ...]
#: Distinct statements kept per family before the cache starts over (shapes are few).
STATEMENT_CACHE_LIMIT = 256
#: A multi-valued column holding ``^`` escapes may decode to anything.
_ESCAPED = "%^%"
_PRESENT: tuple[Cond, tuple[object, ...]] = (Cond.PRESENT, ())
_NEVER: tuple[Cond, tuple[object, ...]] = (Cond.FALSE, ())


def bind_names(count: int) -> list[str]:
    """The parameter names of a statement binding ``count`` values."""
    return [f"b{i}" for i in range(count)]


# Columns and tables ----------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnInfo:
    """One reflected column with what conversions and WHERE clauses need to know."""

    name: str
    column: sa.Column[Any]
    kind: Kind
    length: int | None
    nullable: bool
    has_default: bool
    #: The name lower-cased (fields are matched case-insensitively).
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", self.name.lower())

    @property
    def expr(self) -> ColumnElement[Any]:
        """The column as compared: a real ENUM is compared as text (PostgreSQL has no LIKE
        on enums and rejects unknown labels in ``=``)."""
        return self.compared(self.column)

    def compared(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        """``expr`` for this column or its counterpart in an alias."""
        if isinstance(self.column.type, sa.Enum):
            return sa.cast(column, sa.String())
        return column

    @property
    def enum_values(self) -> tuple[str, ...] | None:
        if isinstance(self.column.type, sa.Enum) and self.column.type.enums:
            return tuple(self.column.type.enums)
        return None

    def type_name(self) -> str:
        try:
            return str(self.column.type)
        except Exception:  # pragma: no cover - a type without a generic DDL form
            return type(self.column.type).__name__


@dataclass(frozen=True)
class TableInfo:
    """A reflected table: columns in table order, its row key and its unique keys."""

    table: sa.Table
    columns: tuple[ColumnInfo, ...]
    key_columns: tuple[sa.Column[Any], ...]
    unique_keys: tuple[tuple[str, ...], ...]

    @property
    def name(self) -> str:
        return self.table.name

    @classmethod
    def from_table(cls, table: sa.Table) -> TableInfo:
        unique: list[tuple[str, ...]] = []
        for index in table.indexes:
            if index.unique:
                unique.append(tuple(c.name for c in index.columns))
        for constraint in table.constraints:
            if isinstance(constraint, sa.UniqueConstraint | sa.PrimaryKeyConstraint):
                names = tuple(c.name for c in constraint.columns)
                if names:
                    unique.append(names)
        auto = table.autoincrement_column
        columns = tuple(
            ColumnInfo(
                name=col.name,
                column=col,
                kind=column_kind(col.type),
                length=getattr(col.type, "length", None),
                nullable=bool(col.nullable),
                has_default=col.server_default is not None or col is auto,
            )
            for col in table.columns
        )
        if table.primary_key.columns:
            key: tuple[sa.Column[Any], ...] = tuple(table.primary_key.columns)
        else:
            key = next(
                (
                    tuple(table.c[n] for n in names)
                    for names in unique
                    if all(not table.c[n].nullable for n in names)
                ),
                tuple(table.columns),
            )
        return cls(table, columns, key, tuple(dict.fromkeys(unique)))


@dataclass(frozen=True)
class FamilyTable:
    """A family seen through its table: visible columns are its fields."""

    name: str
    spec: SqlFamily
    info: TableInfo
    fields: tuple[ColumnInfo, ...]
    by_key: Mapping[str, ColumnInfo]
    hidden: frozenset[str]
    multi_valued: frozenset[str]
    secret_fields: frozenset[str]
    _statements: dict[tuple[Shape, bool, bool, bool], sa.Select[Any]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def build(cls, name: str, spec: SqlFamily, info: TableInfo) -> FamilyTable:
        hidden = frozenset(h.lower() for h in spec.hidden)
        fields = tuple(c for c in info.columns if c.key not in hidden)
        columns = {c.key for c in info.columns}
        # A shipped name the (older) table lacks holds no secret; a site's name must exist.
        shipped = shipped_sql_families().get(name, {}).get("secret_fields") or []
        known = columns | {str(f).lower() for f in shipped}
        unknown = [f for f in spec.secret_fields if f.lower() not in known]
        if unknown:
            # A misspelt name would mask nothing: refuse it (the site's list adds to the
            # shipped one, so the shipped secrets stay masked either way).
            raise ConfigError(
                f"{', '.join(repr(f) for f in unknown)}: not a column of table "
                f"{info.table.name!r}; check the spelling",
                f"families.{name}.secret_fields",
            )
        return cls(
            name=name,
            spec=spec,
            info=info,
            fields=fields,
            by_key={c.key: c for c in fields},
            hidden=hidden,
            multi_valued=frozenset(f.lower() for f in spec.multi_valued),
            secret_fields=frozenset(f.lower() for f in spec.secret_fields),
        )

    @property
    def table(self) -> sa.Table:
        return self.info.table

    def column(self, field: str) -> ColumnInfo:
        info = self.by_key.get(field.lower())
        if info is not None:
            return info
        if field.lower() in self.hidden:
            raise UnknownField(
                f"family {self.name!r} has no field {field!r}: column {self.table.name}.{field} "
                "is hidden (listed under the family's hidden columns, e.g. a surrogate key)"
            )
        raise UnknownField(
            f"family {self.name!r} has no field {field!r} (table {self.table.name} has no such "
            "column)"
        )

    def describe(self, field: str, value: str) -> str:
        return describe_value(field, value, self.secret_fields)

    # Reading --------------------------------------------------------------------------
    @functools.cached_property
    def field_plan(self) -> FieldPlan:
        """The fields in column order as (name, multi-valued), for :func:`row_to_record`."""
        return tuple((str(info.name), info.key in self.multi_valued) for info in self.fields)

    def to_record(self, row: sa.Row[Any]) -> Record:
        """A row as a Record (the read path's conversion, on a SQLAlchemy row)."""
        mapping = row._mapping
        return row_to_record(
            [mapping[info.column] for info in self.fields], self.field_plan, render
        )

    # WHERE ----------------------------------------------------------------------------
    def plan(self, criteria: Sequence[Criterion]) -> tuple[Shape, list[object]]:
        """The WHERE clause for the criteria as a shape (per criterion: its column and the
        kind of condition) and the values to bind, in order (see :meth:`condition_plan`)."""
        shape: list[tuple[str, Cond]] = []
        values: list[object] = []
        by_key = self.by_key
        for crit in criteria:
            info = by_key.get(crit.field.lower()) or self.column(crit.field)
            cond, bound = self.condition_plan(info, crit)
            shape.append((info.key, cond))
            values += bound
        return tuple(shape), values

    def condition_plan(self, info: ColumnInfo, crit: Criterion) -> tuple[Cond, tuple[object, ...]]:
        """A condition matching a superset of what the criterion matches (see module doc),
        as its kind and the values it binds (:meth:`build_condition` makes the clause)."""
        op, value = crit.op, crit.value
        if op is Operator.NE or op is Operator.NOT_LIKE:
            # Present-and-different is decided in Python: a case-insensitive collation
            # would drop values that differ only in case.
            return _PRESENT
        if op is Operator.EQ and value == "":
            return _NEVER  # NULL (absent) never equals; nothing present equals ""
        if "\x00" in value:
            return _PRESENT  # PostgreSQL cannot even bind NUL; no value holds one
        if info.key in self.multi_valued:
            return _multi_plan(crit)
        if info.kind is Kind.TEXT:
            if op is Operator.EQ:
                # Exact on binary collations, a superset on case-insensitive or PAD SPACE ones.
                return Cond.TEXT_EQ, (value,)
            return _text_plan(crit)
        if info.kind is Kind.INTEGER:
            return _integer_plan(info, crit)
        return _PRESENT

    def build_condition(
        self,
        info: ColumnInfo,
        cond: Cond,
        binds: Sequence[sa.BindParameter[Any]],
        source: sa.FromClause | None = None,
    ) -> ColumnElement[bool]:
        """The clause of one condition kind, on ``binds`` (as many as the kind binds), on
        the table's column or its counterpart in ``source`` (an alias of the table)."""
        column = info.column if source is None else _counterpart(source, info.column)
        expr = info.compared(column)
        present = column.is_not(None)
        if cond is Cond.PRESENT:
            return present
        if cond is Cond.FALSE:
            return sa.false()
        if cond is Cond.MULTI_ESCAPED:
            return sa.and_(present, expr.like(binds[0]))
        if cond is Cond.MULTI_LIKE:
            return sa.and_(present, sa.or_(expr.like(binds[0], escape="\\"), expr.like(binds[1])))
        if cond is Cond.MULTI_ANY:
            return sa.and_(present, sa.true())
        if cond is Cond.TEXT_EQ:
            return expr == binds[0]
        if cond is Cond.TEXT_LIKE:
            return expr.like(binds[0], escape="\\")
        if cond is Cond.INT_EQ:
            return column == binds[0]
        if cond is Cond.INT_LT:
            return column < binds[0]
        if cond is Cond.INT_LE:
            return column <= binds[0]
        if cond is Cond.INT_GT:
            return column > binds[0]
        return column >= binds[0]  # Cond.INT_GE

    def statement(
        self, shape: Shape, lock: bool = False, fields_only: bool = False, short: bool = False
    ) -> sa.Select[Any]:
        """``SELECT`` of the table's rows for a shape, its values bound as ``b0``, ``b1``...
        (built once per shape: :func:`bind_names` gives the parameter names).

        ``fields_only``: select the fields' columns (:attr:`fields`, table order) rather than
        every column (writes need the key, which may be hidden).  ``short``: the
        schema-qualified table is aliased to its own name, so the columns are not each
        spelled ``schema.table.column`` (psycopg caches the parsing of statements up to 4 KB
        only; the same rows, and PostgreSQL's messages name the same columns)."""
        key = (shape, lock, fields_only, short)
        cached = self._statements.get(key)
        if cached is not None:
            return cached
        source: sa.FromClause = self.table
        if short and self.table.schema is not None:
            source = self.table.alias(self.table.name)
        conditions = []
        count = 0
        for column_key, cond in shape:
            binds: list[sa.BindParameter[Any]] = [
                sa.bindparam(f"b{count + i}") for i in range(cond.arity)
            ]
            count += cond.arity
            info = self.by_key[column_key]
            conditions.append(self.build_condition(info, cond, binds, source))
        if fields_only:
            query = sa.select(*(_counterpart(source, info.column) for info in self.fields))
        else:
            query = sa.select(source)
        query = query.where(*conditions)
        if lock:
            query = query.with_for_update()
        if len(self._statements) >= STATEMENT_CACHE_LIMIT:
            self._statements.clear()
        return self._statements.setdefault(key, query)

    # Writing --------------------------------------------------------------------------
    def group(self, record: Record) -> tuple[dict[str, list[str]], list[str]]:
        """``{column key: [values]}`` plus the names of unknown (or hidden) fields."""
        grouped: dict[str, list[str]] = {}
        unknown: list[str] = []
        for name, value in record:
            key = name.lower()
            if key in self.by_key:
                grouped.setdefault(key, []).append(value)
            elif name not in unknown:
                unknown.append(name)
        return grouped, unknown

    def unknown(self, name: str) -> UnknownField:
        return UnknownField(
            f"family {self.name!r} has no field {name!r} (table {self.table.name} has no such "
            "column); add the column or leave the field out"
        )

    def bad_value(self, info: ColumnInfo, value: str, what: str) -> BadRequest:
        # The caller's value, not an outage: no failover, no backend-error count.
        return BadRequest(
            f"family {self.name!r}: field {info.name!r} {what} (column "
            f"{self.table.name}.{info.name} {info.type_name()}); "
            f"got {self.describe(info.name, value)}"
        )

    def convert(self, info: ColumnInfo, value: str) -> object:
        """A non-empty string as the column's Python value; values the column cannot hold
        are refused here, identically on every engine (SQLite would store anything)."""
        kind = info.kind
        if "\x00" in value:
            # PostgreSQL text cannot hold NUL; refused everywhere so the engines agree
            # (Asterisk's values are C strings and never contain one).
            raise self.bad_value(info, value, "cannot hold NUL characters")
        if kind is Kind.TEXT:
            allowed = info.enum_values
            if allowed is not None and value not in allowed:
                raise self.bad_value(info, value, f"holds one of {', '.join(allowed)}")
            if info.length is not None and len(value) > info.length:
                raise self.bad_value(
                    info, value, f"holds at most {info.length} characters, not {len(value)}"
                )
            return value
        if kind is Kind.INTEGER:
            if not _INT_RE.fullmatch(value):
                raise self.bad_value(info, value, "holds whole numbers")
            number = int(value)
            low, high = integer_range(info.column.type)
            if not low <= number <= high:
                raise self.bad_value(info, value, f"holds whole numbers from {low} to {high}")
            return number
        if kind in (Kind.DECIMAL, Kind.FLOAT):
            parsed = as_number(value)
            if parsed is None:
                raise self.bad_value(info, value, "holds numbers")
            if kind is Kind.FLOAT:
                return float(parsed)
            return self._decimal(info, value, parsed)
        if kind in (Kind.DATETIME, Kind.DATE, Kind.TIME):
            return self._temporal(info, value)
        if kind is Kind.BOOLEAN:
            folded = value.strip().lower()
            if folded in _TRUE:
                return True
            if folded in _FALSE:
                return False
            raise self.bad_value(info, value, "holds yes/no")
        return value

    def _decimal(self, info: ColumnInfo, value: str, number: Decimal) -> Decimal:
        precision = getattr(info.column.type, "precision", None)
        scale = getattr(info.column.type, "scale", None)
        try:
            if scale is not None:
                number = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
        except InvalidOperation:
            raise self.bad_value(info, value, "is out of range") from None
        if precision is not None and abs(number) >= Decimal(10) ** (precision - (scale or 0)):
            raise self.bad_value(
                info, value, f"holds numbers below {Decimal(10) ** (precision - (scale or 0))}"
            )
        return number

    def _temporal(self, info: ColumnInfo, value: str) -> object:
        try:
            if info.kind is Kind.DATE:
                return date.fromisoformat(value)
            if info.kind is Kind.TIME:
                return time.fromisoformat(value)
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self.bad_value(
                info, value, f"holds {info.kind.value} values (YYYY-MM-DD HH:MM:SS)"
            ) from None
        if parsed.tzinfo is not None:
            raise self.bad_value(info, value, "holds local times without a time zone")
        return parsed

    def write_values(
        self, grouped: Mapping[str, Sequence[str]], insert: bool
    ) -> dict[sa.Column[Any], object]:
        """Column values for an INSERT or UPDATE; an empty value stores NULL."""
        out: dict[sa.Column[Any], object] = {}
        for key, values in grouped.items():
            info = self.by_key[key]
            present = [v for v in values if v != ""]
            value: object
            if key in self.multi_valued:
                joined = chunks.join_chunks(present)
                value = None if joined is None else self.convert(info, joined)
            else:
                if len(present) > 1 and key in self.joined:
                    present = [",".join(present)]  # a last-wins list keeps every item
                if len(present) > 1:
                    raise BadRequest(
                        f"family {self.name!r}: field {info.name!r} is single-valued but got "
                        f"{len(present)} values (list it under multi_valued to allow several)"
                    )
                value = self.convert(info, present[0]) if present else None
            if value is None and key in self.key_columns:
                raise BadRequest(
                    f"family {self.name!r}: field {info.name!r} names the record (unique key "
                    f"of table {self.table.name}) and cannot be empty"
                )
            if value is None and not info.nullable:
                if insert and info.has_default:
                    continue  # the column's default applies, as if the field were absent
                if info.kind is not Kind.TEXT:
                    raise BadRequest(
                        f"family {self.name!r}: field {info.name!r} cannot be empty (column "
                        f"{self.table.name}.{info.name} is NOT NULL)"
                    )
                value = ""  # reads back as absent, like NULL
            out[info.column] = value
        if insert:
            for info in self.info.columns:
                if info.column in out or info.nullable or info.has_default:
                    continue
                if (
                    info.kind is Kind.TEXT
                    and info.key not in self.hidden
                    and info.key not in self.key_columns
                ):
                    out[info.column] = ""
                    continue
                raise BadRequest(
                    f"family {self.name!r}: a record needs a value for {info.name!r} "
                    f"(column {self.table.name}.{info.name} is NOT NULL)"
                )
        return out

    @functools.cached_property
    def joined(self) -> frozenset[str]:
        return frozenset(f.lower() for f in self.spec.joined)

    def prepare(self, criteria: Sequence[Criterion]) -> Sequence[Criterion]:
        """Criteria as the family reads them (sorcery's literal LIKE when configured)."""
        return literal_likes(criteria) if self.spec.literal_like else criteria

    @functools.cached_property
    def key_columns(self) -> frozenset[str]:
        """Fields in a unique key: they name a record, so they can never be empty."""
        return frozenset(n.lower() for names in self.info.unique_keys for n in names)

    def conflict(self, record_values: Mapping[str, Sequence[str]], action: str) -> Conflict:
        """A unique key clash, naming the key fields the request gave (secrets masked)."""
        hint = "use update to change it" if action == "store" else "nothing was changed"
        for names in self.info.unique_keys:
            keys = [n.lower() for n in names]
            if all(k in record_values and k in self.by_key for k in keys):
                shown = ", ".join(
                    f"{self.by_key[k].name}={self.describe(k, _first(record_values[k]))}"
                    for k in keys
                )
                return Conflict(
                    f"family {self.name!r}: {action} refused: a record with {shown} already "
                    f"exists; {hint}"
                )
        return Conflict(
            f"family {self.name!r}: {action} refused: a record with the same unique key of "
            f"table {self.table.name} already exists; {hint}"
        )


def _first(values: Sequence[str]) -> str:
    return next((v for v in values if v != ""), "")


def _counterpart(source: sa.FromClause, column: sa.Column[Any]) -> ColumnElement[Any]:
    """``column`` of the table as seen through ``source`` (the table or an alias of it)."""
    found = source.corresponding_column(column)
    assert found is not None
    return found


def _multi_plan(crit: Criterion) -> tuple[Cond, tuple[object, ...]]:
    """Superset for a ``;``-list column: a chunk is a substring of the raw value unless the
    value holds ``^`` escapes (which may decode to anything), so either may match."""
    value = crit.value
    if crit.op is Operator.EQ:
        if ";" in value or "^" in value or value != value.strip():
            return Cond.MULTI_ESCAPED, (_ESCAPED,)  # such a chunk can only be stored escaped
        return Cond.MULTI_LIKE, (f"%{like_escape(value)}%", _ESCAPED)
    if crit.op is Operator.LIKE:
        return Cond.MULTI_LIKE, (f"%{sql_like_pattern(value)}%", _ESCAPED)
    return Cond.MULTI_ANY, ()


def _text_plan(crit: Criterion) -> tuple[Cond, tuple[object, ...]]:
    if crit.op is Operator.LIKE:
        # Case-insensitive collations (MySQL, SQLite's ASCII LIKE) make this a superset.
        return Cond.TEXT_LIKE, (sql_like_pattern(crit.value),)
    # <, <=, >, >=: collation order is not code-point order, and numbers compare
    # numerically: decided in Python.
    return _PRESENT


_INT_BOUNDS = {
    Operator.LT: Cond.INT_LT,
    Operator.LE: Cond.INT_LE,
    Operator.GT: Cond.INT_GT,
    Operator.GE: Cond.INT_GE,
}


def _integer_plan(info: ColumnInfo, crit: Criterion) -> tuple[Cond, tuple[object, ...]]:
    """An integer column reads as its decimal spelling: ``=`` is text equality with that
    spelling, ``<``/``>`` compare numerically when the value is a number."""
    low, high = integer_range(info.column.type)
    if crit.op is Operator.EQ:
        value = crit.value
        if _INT_RE.fullmatch(value) and str(int(value)) == value and low <= int(value) <= high:
            return Cond.INT_EQ, (int(value),)
        return _PRESENT  # no integer is spelled that way; foreign text (SQLite) may be
    number = as_number(crit.value)
    if crit.op is Operator.LIKE or number is None or not number.is_finite():
        return _PRESENT  # string comparison (or LIKE) of the decimal spelling: Python
    if number.adjusted() > 30:
        return _PRESENT  # far outside any integer column (and too big to convert cheaply)
    floor = int(number.to_integral_value(rounding=ROUND_FLOOR))
    ceil = int(number.to_integral_value(rounding=ROUND_CEILING))
    bound = ceil if crit.op in (Operator.LT, Operator.GE) else floor
    if not low <= bound <= high:
        return _PRESENT  # outside the column's type: let Python decide, never a cast error
    return _INT_BOUNDS[crit.op], (bound,)


# Require -------------------------------------------------------------------------------

_INT_REQUIREMENTS = {
    FieldType.INTEGER1: (8, True),
    FieldType.UINTEGER1: (8, False),
    FieldType.INTEGER2: (16, True),
    FieldType.UINTEGER2: (16, False),
    FieldType.INTEGER3: (24, True),
    FieldType.UINTEGER3: (24, False),
    FieldType.INTEGER4: (32, True),
    FieldType.UINTEGER4: (32, False),
    FieldType.INTEGER8: (64, True),
    FieldType.UINTEGER8: (64, False),
}


def _needed_range(ftype: FieldType) -> tuple[int, int]:
    bits, signed = _INT_REQUIREMENTS[ftype]
    if signed:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def requirement_problem(table: str, info: ColumnInfo, req: Requirement) -> str | None:
    """What stops column ``info`` from holding ``req`` (None: nothing)."""
    where = f"{req.field}: column {table}.{info.name}"
    kind = info.kind
    ftype = req.type

    def width_problem(needed: int) -> str | None:
        if info.length is not None and needed > info.length:
            return f"{where} holds at most {info.length} characters, {needed} required"
        return None

    if ftype is FieldType.UNKNOWN:
        return None
    if ftype.is_integer:
        low, high = _needed_range(ftype)
        if kind is Kind.INTEGER:
            have_low, have_high = integer_range(info.column.type)
            if have_low > low or have_high < high:
                return f"{where} holds {have_low}..{have_high}, {ftype.value} needs {low}..{high}"
            return None
        if kind is Kind.TEXT:
            return width_problem(req.size or max(len(str(low)), len(str(high))))
        if kind in (Kind.DECIMAL, Kind.FLOAT):
            precision = getattr(info.column.type, "precision", None)
            scale = getattr(info.column.type, "scale", None) or 0
            digits = len(str(high))
            if kind is Kind.DECIMAL and precision is not None and precision - scale < digits:
                return f"{where} holds {precision - scale} integer digits, {digits} required"
            return None
        return f"{where} holds {kind.value} values, not {ftype.value}"
    if ftype is FieldType.CHAR:
        if kind is Kind.TEXT:
            return width_problem(req.size)
        noun = "integers" if kind is Kind.INTEGER else f"{kind.value} values"
        return f"{where} holds {noun}, not char"
    if ftype is FieldType.FLOAT:
        if kind in (Kind.FLOAT, Kind.DECIMAL):
            return None
        if kind is Kind.TEXT:
            return width_problem(req.size)
        noun = "integers" if kind is Kind.INTEGER else f"{kind.value} values"
        return f"{where} holds {noun}, not float"
    # DATE, DATETIME
    if kind is Kind.DATETIME or (kind is Kind.DATE and ftype is FieldType.DATE):
        return None
    if kind is Kind.TEXT:
        return width_problem(max(req.size, 10 if ftype is FieldType.DATE else 19))
    noun = "integers" if kind is Kind.INTEGER else f"{kind.value} values"
    return f"{where} holds {noun}, not {ftype.value}"


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
        self.engine, self._reader = self._create_engine(url)
        #: Writes read their rows and change them in one transaction that holds the write
        #: lock from the start (SQLite: BEGIN IMMEDIATE; elsewhere SELECT ... FOR UPDATE).
        self._writer = self.engine.execution_options(**{_SQLITE_BEGIN: "BEGIN IMMEDIATE"})
        self._lock = threading.Lock()
        self._tables: dict[str, TableInfo] = {}
        self._family_tables: dict[str, FamilyTable] = {}
        self._requested: dict[str, FamilyTable] = {}
        #: The read path's statements, compiled per family and query shape.
        self._reads: dict[tuple[str, Shape], CompiledRead] = {}

    def _create_engine(self, url: URL) -> tuple[Engine, ReadPool | None]:
        """The engine (writes, reflection, ping) and the pool of autocommit connections
        that ``search`` reads on (none for an in-memory SQLite database, which exists on
        its one shared connection only: reads go through the engine)."""
        backend = url.get_backend_name()
        shared = False
        timeout = self.settings.connect_timeout
        kwargs: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
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
                kwargs.update(pool_size=self.settings.pool_size, max_overflow=0)
        else:
            kwargs.update(pool_size=self.settings.pool_size, max_overflow=0, pool_timeout=30)
            if backend == "postgresql":
                connect_args = {"connect_timeout": max(2, math.ceil(timeout))}
            elif backend in ("mysql", "mariadb"):
                connect_args = {"connect_timeout": max(1, math.ceil(timeout))}
                if "charset" not in url.query:
                    url = url.update_query_dict({"charset": "utf8mb4"})
        try:
            engine = sa.create_engine(url, connect_args=connect_args, **kwargs)
            reader = None
            if not shared:
                reader = ReadPool(
                    sa.create_engine(
                        url,
                        connect_args=connect_args,
                        poolclass=sa.pool.NullPool,
                        pool_reset_on_return=None,
                        isolation_level="AUTOCOMMIT",
                        hide_parameters=True,
                    ),
                    size=self.settings.pool_size,
                    timeout=float(kwargs.get("pool_timeout", 30)),
                )
        except (ImportError, sa_exc.NoSuchModuleError) as exc:
            hint = {"postgresql": "ara-ldap[postgresql]", "mysql": "ara-ldap[mysql]"}.get(
                backend, "the DBAPI driver named in the URL"
            )
            raise ConfigError(
                f"cannot load the driver for {url.drivername} ({exc}); install {hint}",
                f"backends.{self.name}.url",
            ) from None
        if backend == "sqlite":
            _sqlite_transactions(engine)
        return engine, reader

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
        """Database exceptions as BackendUnavailable/BackendError, with no password, SQL
        parameters or secret values in the message."""
        try:
            yield
        except sa_exc.SQLAlchemyError as exc:
            raise self._classify(exc, what, secrets) from None

    def _classify(
        self, exc: sa_exc.SQLAlchemyError, what: str, secrets: Sequence[str] = ()
    ) -> BackendError | BadRequest:
        """The error a database exception is reported as (see :meth:`_errors`)."""
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
        # autocommit connection, rows converted by a precomputed plan.
        try:
            read = self._compiled(ft, shape)
            result, description = reader.fetch(
                read.sql, read.parameters(values), read.slots is None
            )
            if read.slots is None:
                assert description is not None
                read.make_slots(description, self.engine.dialect)
            read.uses += 1
            return rows_to_records(result, read, criteria, render)
        except sa_exc.SQLAlchemyError as exc:
            raise self._classify(exc, f"search {ft.name}") from None

    @property
    def read_pool(self) -> ReadPool | None:
        """The connections ``search`` reads on (None for an in-memory SQLite database)."""
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
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa_exc.SQLAlchemyError as exc:
            raise BackendUnavailable(
                f"backend {self.name!r} ({self.where}): not answering: {self._reason(exc)}"
            ) from None

    def close(self) -> None:
        self.engine.dispose()
        if self._reader is not None:
            self._reader.close()


_SQLITE_BEGIN = "ara_sqlite_begin"


def _sqlite_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not pysqlite, start SQLite transactions (the recipe in SQLAlchemy's
    SQLite docs): pysqlite would begin only at the first write, so a read-then-update would
    not be one transaction.  Writers ask for ``BEGIN IMMEDIATE`` so two concurrent updates
    queue on the write lock instead of failing with "database is locked"."""

    @sa.event.listens_for(engine, "connect")
    def _driver_autocommit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql(str(conn.get_execution_options().get(_SQLITE_BEGIN, "BEGIN")))


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
