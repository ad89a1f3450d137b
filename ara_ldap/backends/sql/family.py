"""A family seen through its table: the superset WHERE clause for criteria (Python finishes
with ``record_matches``), the statements per query shape, and request values converted to
column values.  Column names come only from the reflected table, never from the request."""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from ara_ldap.backends.sql import chunks
from ara_ldap.backends.sql.columns import ColumnInfo, Kind, TableInfo, integer_range, render
from ara_ldap.backends.sql.fastpath import (
    FieldPlan,
    row_to_record,
)
from ara_ldap.config import SqlFamily, shipped_sql_families
from ara_ldap.criteria import (
    Criterion,
    LikeToken,
    Operator,
    as_number,
    like_escape,
    literal_likes,
    parse_like,
)
from ara_ldap.errors import (
    BadRequest,
    ConfigError,
    Conflict,
    UnknownField,
    describe_value,
)
from ara_ldap.record import Record

_INT_RE = re.compile(r"[+-]?\d{1,40}")  # fullmatch; longer is out of any column's range
_TRUE = {"1", "true", "yes", "on", "t", "y"}
_FALSE = {"0", "false", "no", "off", "f", "n"}


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
