"""Assertions shared by the cases: what "the same record" means across backends.

Field *order* inside a record is not part of the contract (LDAP returns attribute-map
order, SQL table-column order; Asterisk looks fields up by name), but the order of the
values of one field is (codec lists).  So records are compared in
:meth:`~ara_ldap.record.Record.canonical` form: fields sorted, values in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ara_ldap.record import Pair, Record

__all__ = ["canonical", "column", "names", "same_record", "same_records"]


def canonical(record: Record | None) -> tuple[Pair, ...] | None:
    return None if record is None else record.canonical()


def same_record(actual: Record | None, expected: Record | None) -> bool:
    """Equal fields and values, value order kept, field order ignored."""
    return canonical(actual) == canonical(expected)


def same_records(actual: Sequence[Record], expected: Sequence[Record]) -> bool:
    """Equal records in the same order."""
    return [canonical(r) for r in actual] == [canonical(r) for r in expected]


def column(records: Iterable[Record], field: str) -> list[str | None]:
    """The first value of ``field`` of each record, in result order."""
    return [r.get(field) for r in records]


def names(records: Iterable[Record]) -> list[str | None]:
    """``name`` of each record (sippeers), in result order."""
    return column(records, "name")
