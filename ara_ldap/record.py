"""Record: what one realtime row looks like to Asterisk.

Asterisk hands drivers and receives back a linked list of ``(name, value)`` variables in
which a name may repeat: that is how multi-valued options such as ``allow`` travel.  A
Record keeps exactly that shape (ordered pairs, repeats allowed) so nothing is lost between
a backend and the wire, and adds case-insensitive lookups because Asterisk compares column
names case-insensitively.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import overload

Pair = tuple[str, str]


class Record(Sequence[Pair]):
    """An immutable, ordered sequence of ``(field, value)`` pairs; a field may repeat."""

    __slots__ = ("_canonical", "_pairs")

    def __init__(self, pairs: Iterable[Pair] = ()) -> None:
        self._pairs: tuple[Pair, ...] = tuple((str(f), str(v)) for f, v in pairs)
        self._canonical = False

    @classmethod
    def _trusted(cls, pairs: tuple[Pair, ...]) -> Record:
        """Wrap pairs from a backend's read path: already ``(str, str)``, and each field
        spelled one way only (the attribute map's or the table's spelling)."""
        record = cls.__new__(cls)
        record._pairs = pairs
        record._canonical = True
        return record

    @classmethod
    def from_mapping(cls, fields: Mapping[str, str | Sequence[str]]) -> Record:
        """Build from ``{field: value or [values]}``; list values become repeated fields."""
        pairs: list[Pair] = []
        for field, value in fields.items():
            if isinstance(value, str):
                pairs.append((field, value))
            else:
                pairs.extend((field, v) for v in value)
        return cls(pairs)

    # Sequence protocol -------------------------------------------------------------
    @overload
    def __getitem__(self, index: int) -> Pair: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Pair]: ...
    def __getitem__(self, index: int | slice) -> Pair | Sequence[Pair]:
        return self._pairs[index]

    def __len__(self) -> int:
        return len(self._pairs)

    def __iter__(self) -> Iterator[Pair]:
        return iter(self._pairs)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Record):
            return self._pairs == other._pairs
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._pairs)

    def __repr__(self) -> str:
        return f"Record({list(self._pairs)!r})"

    # Field access ------------------------------------------------------------------
    @property
    def pairs(self) -> tuple[Pair, ...]:
        return self._pairs

    def get(self, field: str, default: str | None = None) -> str | None:
        """First value of ``field`` (case-insensitive), or ``default``."""
        if self._canonical:
            for f, v in self._pairs:
                if f == field:
                    return v
        key = field.lower()
        for f, v in self._pairs:
            if f.lower() == key:
                return v
        return default

    def get_all(self, field: str) -> list[str]:
        """Every value of ``field`` in order (case-insensitive)."""
        if self._canonical:
            # One spelling per field: an exact hit is the whole answer (hot path of every
            # backend's post-filter, without lower-casing every name).
            exact = [v for f, v in self._pairs if f == field]
            if exact:
                return exact
        key = field.lower()
        return [v for f, v in self._pairs if f.lower() == key]

    def __contains__(self, field: object) -> bool:
        if isinstance(field, tuple):
            return field in self._pairs
        if not isinstance(field, str):
            return False
        key = field.lower()
        return any(f.lower() == key for f, _ in self._pairs)

    def fields(self) -> list[str]:
        """Distinct field names in first-seen order."""
        seen: dict[str, str] = {}
        for f, _ in self._pairs:
            seen.setdefault(f.lower(), f)
        return list(seen.values())

    def grouped(self) -> dict[str, list[str]]:
        """``{field: [values]}`` keyed by the first spelling seen, in first-seen order."""
        out: dict[str, list[str]] = {}
        spelling: dict[str, str] = {}
        for f, v in self._pairs:
            name = spelling.setdefault(f.lower(), f)
            out.setdefault(name, []).append(v)
        return out

    def without_empty(self) -> Record:
        """Drop empty values, as ``ast_load_realtime`` does for its callers."""
        return Record((f, v) for f, v in self._pairs if v != "")

    def canonical(self) -> tuple[Pair, ...]:
        """Pairs sorted by field (values of one field keep their order): for comparisons
        where field order carries no meaning but value order does."""
        order = {name.lower(): i for i, name in enumerate(sorted(self.fields(), key=str.lower))}
        return tuple(sorted(self._pairs, key=lambda p: order[p[0].lower()]))
