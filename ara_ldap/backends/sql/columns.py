"""The SQL backend's view of a reflected table: what kind each column is, what range an
integer column holds, and how a column value reads as the string Asterisk sees (one
rendering for every engine)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement


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
