"""The in-memory replica of one family: its entries, kept by a syncrepl stream, with indexes.

A cache hit is answered on the gateway's event loop, so a search must cost microseconds
whatever the family's size.  Indexes are only accelerators: each one yields a SUPERSET of
the matching entries, and the answer is always filtered with the core's own
``record_matches``, so results are identical to a full scan by construction.

Indexes are built lazily, per field, the first time a query needs one (no configuration):

* ``=`` (and a LIKE without wildcards): a hash map ``value -> entry | set of entries``;
  a multi-valued field is indexed under each of its values.
* ``LIKE 'prefix%'`` and ``<``/``<=``/``>``/``>=`` with a text operand: the field's
  distinct values in a sorted list (code-point order, case-sensitive like LIKE itself),
  searched with ``bisect``.
* ``<``/``<=``/``>``/``>=`` with a numeric operand: the numeric values sorted by their
  float (rounding is monotonic, so a float range is a superset of the exact Decimal one),
  and the non-numeric values sorted as text (they compare textually, as in the core).

Among several indexable criteria the one with the fewest candidates wins; a scan happens
only when no criterion is indexable (``LIKE '%x%'``, ``!=``, ``NOT LIKE``).

Threads: one stream thread writes, many readers search.  A single short lock makes every
change atomic: a writer holds it while applying one entry; a reader holds it only while
collecting the candidate records (immutable ``Record`` objects), then filters outside it.
A reader therefore sees exactly the state between two changes.

Memory: the Record is kept, never the raw bytes.  Low-cardinality ``(field, value)`` pairs
(``type=friend``, ``allow=ulaw`` …) are shared between entries through a per-field intern
table, which a field leaves for good once it has too many distinct values (names, secrets,
timestamps); an unchanged pair is reused from the entry's previous version.
"""

from __future__ import annotations

import re
import sys
import threading
from bisect import bisect_left, bisect_right, insort
from collections.abc import Collection, Iterable, Mapping, Sequence
from functools import lru_cache

from ara_ldap.backends.ldap.mapping import FamilyMap
from ara_ldap.criteria import (
    Criterion,
    LikeToken,
    Operator,
    as_number,
    parse_like,
    record_matches,
)
from ara_ldap.record import Pair, Record

_EQ = Operator.EQ
_LIKE = Operator.LIKE
_LT = Operator.LT
_LE = Operator.LE
_GT = Operator.GT
_GE = Operator.GE
_RANGE = frozenset((_LT, _LE, _GT, _GE))

#: A field keeps sharing its pairs while it has at most this many distinct values
#: (plus one per 8 entries): enough for flags, codecs, contexts; not for names.
_INTERN_BASE = 256

_MAX_CHAR = "\U0010ffff"

#: Candidates few enough that filtering them beats building another field's index.
_ENOUGH = 8

_sizeof = sys.getsizeof
_FLOAT_BYTES = _sizeof(1.0)


class _Entry:
    """One entry: its DN and current record.  Indexes hold the entry object itself (an
    identity-hashed handle), so a replace that keeps a field's values touches no index."""

    __slots__ = ("cost", "dn", "record")

    def __init__(self, dn: str, record: Record, cost: int) -> None:
        self.dn = dn
        self.record = record
        #: Bytes this entry owns (see FamilyReplica.memory_bytes).
        self.cost = cost


Bucket = _Entry | set[_Entry]
#: Slices of sorted key lists whose buckets hold the candidates: ``(keys, lo, hi)``.
Spans = list[tuple[list[str], int, int]]


class _FieldIndex:
    """The indexes of one field: hash buckets, and the ordered key lists once needed."""

    __slots__ = ("buckets", "nonnum", "num_f", "num_s", "set_bytes", "text")

    def __init__(self) -> None:
        self.buckets: dict[str, Bucket] = {}
        self.set_bytes = 0
        #: Every distinct value, sorted as text (LIKE prefix, text ranges).
        self.text: list[str] | None = None
        #: Numeric values sorted by float (parallel lists), non-numeric ones as text.
        self.num_f: list[float] | None = None
        self.num_s: list[str] = []
        self.nonnum: list[str] = []

    def add(self, entry: _Entry, value: str) -> None:
        buckets = self.buckets
        bucket = buckets.get(value)
        if bucket is None:
            buckets[value] = entry
            self._key_added(value)
        elif type(bucket) is _Entry:
            if bucket is not entry:
                pair = {bucket, entry}
                buckets[value] = pair
                self.set_bytes += _sizeof(pair)
        else:
            assert isinstance(bucket, set)
            before = _sizeof(bucket)
            bucket.add(entry)
            self.set_bytes += _sizeof(bucket) - before

    def remove(self, entry: _Entry, value: str) -> None:
        buckets = self.buckets
        bucket = buckets.get(value)
        if bucket is None:
            return
        if type(bucket) is _Entry:
            if bucket is entry:
                del buckets[value]
                self._key_removed(value)
            return
        assert isinstance(bucket, set)
        before = _sizeof(bucket)
        bucket.discard(entry)
        if len(bucket) == 1:
            (buckets[value],) = bucket
            self.set_bytes -= before
        else:
            self.set_bytes += _sizeof(bucket) - before

    def _key_added(self, value: str) -> None:
        if self.text is not None:
            insort(self.text, value)
        if self.num_f is not None:
            f = _float_of(value)
            if f is None:
                insort(self.nonnum, value)
            else:
                i = bisect_right(self.num_f, f)
                self.num_f.insert(i, f)
                self.num_s.insert(i, value)

    def _key_removed(self, value: str) -> None:
        if self.text is not None:
            _remove_sorted(self.text, value)
        if self.num_f is not None:
            f = _float_of(value)
            if f is None:
                _remove_sorted(self.nonnum, value)
                return
            floats, strs = self.num_f, self.num_s
            i = bisect_left(floats, f)
            while i < len(floats) and floats[i] == f:
                if strs[i] == value:
                    del floats[i]
                    del strs[i]
                    return
                i += 1

    def ensure_text(self) -> list[str]:
        if self.text is None:
            self.text = sorted(self.buckets)
        return self.text

    def ensure_numeric(self) -> list[float]:
        if self.num_f is None:
            numeric: list[tuple[float, str]] = []
            other: list[str] = []
            for value in self.buckets:
                f = _float_of(value)
                if f is None:
                    other.append(value)
                else:
                    numeric.append((f, value))
            numeric.sort()
            other.sort()
            self.num_s = [v for _, v in numeric]
            self.nonnum = other
            self.num_f = [f for f, _ in numeric]
        return self.num_f

    def memory_bytes(self) -> int:
        total = _sizeof(self.buckets) + self.set_bytes
        if self.text is not None:
            total += _sizeof(self.text)
        if self.num_f is not None:
            total += _sizeof(self.num_f) + _FLOAT_BYTES * len(self.num_f)
            total += _sizeof(self.num_s) + _sizeof(self.nonnum)
        return total


class FamilyReplica:
    """In-memory copy of one family's entries (fed by a syncrepl stream), answering
    criteria exactly as the core's record_matches would over the whole family."""

    def __init__(self, fmap: FamilyMap) -> None:
        self.fmap = fmap
        self._lock = threading.Lock()
        # Criterion spelling -> canonical field (exact spellings first: no lower() on hits).
        self._canon: dict[str, str] = {f.lower(): f for f in fmap.fields}
        self._canon.update({f: f for f in fmap.fields})
        self._entries: dict[bytes, _Entry] = {}
        self._by_dn: dict[str, bytes] = {}
        self._indexes: dict[str, _FieldIndex] = {}
        # field -> shared pairs, or None once the field has too many distinct values.
        self._intern: dict[str, dict[Pair, Pair] | None] = {}
        self._intern_bytes = 0
        self._entry_bytes = 0

    # Changes (the stream thread) --------------------------------------------------------
    def upsert(self, uuid: bytes, dn: str, raw: Mapping[str, Sequence[bytes]]) -> None:
        """Add or replace the entry with this entryUUID (a rename arrives as an upsert with
        a new dn).  The record is fmap.to_record(raw)."""
        self.upsert_record(uuid, dn, self.fmap.to_record(raw))  # mapping: outside the lock

    def upsert_record(self, uuid: bytes, dn: str, fresh: Record) -> None:
        """:meth:`upsert` of an already mapped record (a saved state being loaded)."""
        dn_key = _dn_key(dn)
        with self._lock:
            entry = self._entries.get(uuid)
            old = entry.record if entry is not None else None
            pairs, owned = self._share(fresh.pairs, old)
            record = Record._trusted(pairs)
            if entry is None:
                cost = owned + _sizeof(uuid) + _dn_bytes(dn, dn_key)
                entry = _Entry(dn, record, 0)
                entry.cost = cost + _fixed_entry_bytes(entry, record)
                self._entries[uuid] = entry
                for fld, index in self._indexes.items():
                    for value in _values(pairs, fld):
                        index.add(entry, value)
                self._by_dn[dn_key] = uuid
                self._entry_bytes += entry.cost
                return
            assert old is not None
            for fld, index in self._indexes.items():
                before = _values(old.pairs, fld)
                after = _values(pairs, fld)
                if before != after:
                    for value in before:
                        if value not in after:
                            index.remove(entry, value)
                    for value in after:
                        if value not in before:
                            index.add(entry, value)
            cost = owned + _sizeof(uuid) + _dn_bytes(dn, dn_key)
            cost += _fixed_entry_bytes(entry, record)
            self._entry_bytes += cost - entry.cost
            entry.cost = cost
            entry.record = record
            if dn != entry.dn:
                old_key = _dn_key(entry.dn)
                if self._by_dn.get(old_key) == uuid:
                    del self._by_dn[old_key]
                entry.dn = dn
                self._by_dn[dn_key] = uuid

    def delete(self, uuid: bytes) -> None:
        """Forget the entry with this entryUUID (an unknown one is a no-op)."""
        with self._lock:
            self._delete(uuid)

    def clear(self) -> None:
        """Forget every entry; the fields indexed so far stay indexed (empty)."""
        with self._lock:
            indexes: dict[str, _FieldIndex] = {}
            for fld, old in self._indexes.items():
                index = indexes[fld] = _FieldIndex()
                if old.text is not None:
                    index.ensure_text()
                if old.num_f is not None:
                    index.ensure_numeric()
            self._indexes = indexes
            self._entries = {}
            self._by_dn = {}
            self._intern = {}
            self._intern_bytes = 0
            self._entry_bytes = 0

    def retain(self, uuids: Collection[bytes]) -> int:
        """Drop every entry whose entryUUID is not in ``uuids`` (the present phase's or a
        syncIdSet's survivors); returns how many were dropped.  Atomic for readers."""
        keep = uuids if isinstance(uuids, set | frozenset) else set(uuids)
        with self._lock:
            gone = [u for u in self._entries if u not in keep]
            for uuid in gone:
                self._delete(uuid)
        return len(gone)

    def ensure_index(self, field: str, ordered: bool = False, numeric: bool = False) -> None:
        """Build a field's index now rather than on its first query (e.g. after the refresh,
        so that the first lookup on the event loop does not pay for it)."""
        fld = self.fmap.field(field)
        with self._lock:
            index = self._index(fld)
            if ordered:
                index.ensure_text()
            if numeric:
                index.ensure_numeric()

    def indexed(self) -> dict[str, bool]:
        """``{field: has its sorted list}`` of the fields indexed so far."""
        with self._lock:
            return {f: i.text is not None for f, i in self._indexes.items()}

    # Reads (any thread) -----------------------------------------------------------------
    def search(self, criteria: Sequence[Criterion]) -> list[Record]:
        """Records matching ALL criteria, identical to [r for r in all records if
        record_matches(r, criteria)] (in no particular order: the core orders)."""
        canon = self._canon
        if len(criteria) == 1 and criteria[0].op is _LIKE:
            found = self._like_only(criteria[0])
            if found is not None:
                return found
        with self._lock:
            best_n = -1
            best_bucket: Bucket | None = None
            best_spans: Spans | None = None
            best_index: _FieldIndex | None = None
            if len(criteria) > 1:  # equalities first: the likeliest to be selective
                criteria = sorted(criteria, key=_not_equality)
            for c in criteria:
                op = c.op
                if op is _EQ:
                    value = c.value
                elif op is _LIKE:
                    literal, prefix = _like_plan(c.value)
                    if literal is None:
                        continue
                    value = literal
                    if prefix:
                        fld = canon.get(c.field) or canon.get(c.field.lower())
                        if fld is None:
                            continue
                        index = self._indexes.get(fld)
                        if index is None:
                            if 0 <= best_n <= _ENOUGH:
                                continue  # selective enough: not worth building another index
                            index = self._index(fld)
                        text = index.ensure_text()
                        lo = bisect_left(text, value)
                        hi = _prefix_end(text, value, lo)
                        spans = [(text, lo, hi)]
                        n = _span_entries(index.buckets, spans, best_n)
                        if best_n < 0 or n < best_n:
                            best_n, best_bucket, best_index = n, None, index
                            best_spans = spans
                        if not best_n:
                            return []
                        continue
                elif op in _RANGE:
                    fld = canon.get(c.field) or canon.get(c.field.lower())
                    if fld is None:
                        continue
                    index = self._indexes.get(fld)
                    if index is None:
                        if 0 <= best_n <= _ENOUGH:
                            continue  # selective enough: not worth building another index
                        index = self._index(fld)
                    spans = _range_spans(index, op, c.value)
                    n = _span_entries(index.buckets, spans, best_n)
                    if best_n < 0 or n < best_n:
                        best_n, best_bucket, best_spans, best_index = n, None, spans, index
                    if not best_n:
                        return []
                    continue
                else:
                    continue
                # Equality (or a LIKE without wildcards): one bucket.
                fld = canon.get(c.field) or canon.get(c.field.lower())
                if fld is None:
                    continue
                index = self._indexes.get(fld)
                if index is None:
                    if 0 <= best_n <= _ENOUGH:
                        continue  # selective enough: not worth building another index
                    index = self._index(fld)
                bucket = index.buckets.get(value)
                if bucket is None:
                    return []
                n = 1 if type(bucket) is _Entry else len(bucket)  # type: ignore[arg-type]
                if best_n < 0 or n < best_n:
                    best_n, best_bucket, best_spans = n, bucket, None
            if best_bucket is not None:
                if type(best_bucket) is _Entry:
                    candidates = [best_bucket.record]
                else:
                    candidates = [e.record for e in best_bucket]  # type: ignore[union-attr]
            elif best_spans is not None:
                assert best_index is not None
                candidates = _collect(best_index.buckets, best_spans)
            else:
                candidates = [e.record for e in self._entries.values()]
        if len(criteria) == 1:
            matches = criteria[0].matches_record
            return [r for r in candidates if matches(r)]
        return [r for r in candidates if record_matches(r, criteria)]

    def _like_only(self, c: Criterion) -> list[Record] | None:
        """A lone ``LIKE '%'`` or ``LIKE 'literal%'`` answered from the sorted keys alone:
        every entry under those keys matches by construction (LIKE is case-sensitive and
        ``%`` matches any non-empty value), so nothing is filtered.  PJSIP sends ``id
        LIKE '%'`` on every out-of-dialog request; ``None`` for any other pattern."""
        literal = _like_shape(c.value)
        if literal is None:
            return None
        fld = self._canon.get(c.field) or self._canon.get(c.field.lower())
        if fld is None:
            return None
        with self._lock:
            index = self._index(fld)
            text = index.ensure_text()
            if literal:
                lo = bisect_left(text, literal)
                hi = _prefix_end(text, literal, lo)
            else:  # '%': every non-empty value ("" sorts first)
                lo, hi = (1 if text and text[0] == "" else 0), len(text)
            return _collect(index.buckets, [(text, lo, hi)])

    def dn_of(self, uuid: bytes) -> str | None:
        entry = self._entries.get(uuid)
        return entry.dn if entry is not None else None

    def entry_of(self, uuid: bytes) -> tuple[str, Record] | None:
        """``(dn, record)`` of an entry: the "before" a change listener is given."""
        entry = self._entries.get(uuid)
        return (entry.dn, entry.record) if entry is not None else None

    def has_dn(self, dn: str) -> bool:
        """Whether an entry has this DN (case-insensitive; spaces around ``,``/``=``
        ignored): what a read-your-writes wait polls for."""
        return _dn_key(dn) in self._by_dn

    def uuids(self) -> set[bytes]:
        with self._lock:
            return set(self._entries)

    def snapshot(self) -> list[tuple[bytes, str, Record]]:
        """Every entry as ``(entryUUID, dn, record)``, consistent (what a state saves)."""
        with self._lock:
            return [(u, e.dn, e.record) for u, e in self._entries.items()]

    def records(self) -> list[Record]:
        """Every record (a consistent snapshot)."""
        with self._lock:
            return [e.record for e in self._entries.values()]

    def __len__(self) -> int:
        return len(self._entries)

    def memory_bytes(self) -> int:
        """Estimated bytes held by this store, records and indexes (O(fields) to call).

        Sum of: each entry's owned objects (entry, Record, pairs tuple, the pairs and
        value strings it does not share, uuid, DN), counted with ``sys.getsizeof`` when
        the entry is stored; the intern tables' shared pairs; the container sizes
        (``sys.getsizeof`` of the dicts, sets and sorted lists, floats of numeric
        indexes).  Index keys are counted as shared with the records.  Pairs a field
        shared before leaving its intern table are under-counted until replaced.
        """
        with self._lock:
            total = self._entry_bytes + self._intern_bytes
            total += _sizeof(self._entries) + _sizeof(self._by_dn) + _sizeof(self._intern)
            for table in self._intern.values():
                if table is not None:
                    total += _sizeof(table)
            for index in self._indexes.values():
                total += index.memory_bytes()
            return total

    # Internals (callers hold the lock) --------------------------------------------------
    def _index(self, fld: str) -> _FieldIndex:
        """The field's index, built from every entry on first use."""
        index = self._indexes.get(fld)
        if index is None:
            index = _FieldIndex()
            for entry in self._entries.values():
                for value in _values(entry.record.pairs, fld):
                    index.add(entry, value)
            self._indexes[fld] = index
        return index

    def _delete(self, uuid: bytes) -> None:
        entry = self._entries.pop(uuid, None)
        if entry is None:
            return
        pairs = entry.record.pairs
        for fld, index in self._indexes.items():
            for value in _values(pairs, fld):
                index.remove(entry, value)
        key = _dn_key(entry.dn)
        if self._by_dn.get(key) == uuid:
            del self._by_dn[key]
        self._entry_bytes -= entry.cost

    def _share(self, pairs: tuple[Pair, ...], old: Record | None) -> tuple[tuple[Pair, ...], int]:
        """The pairs with shared objects substituted, and the bytes the entry owns."""
        previous = {p: p for p in old.pairs} if old is not None else None
        intern = self._intern
        cap = _INTERN_BASE + len(self._entries) // 8
        out: list[Pair] = []
        owned = 0
        for pair in pairs:
            fld = pair[0]
            table = intern.get(fld, _MISSING)
            if table is _MISSING:
                table = intern[fld] = {}
            if table is not None:
                assert isinstance(table, dict)
                shared = table.get(pair)
                if shared is None:
                    if len(table) < cap:
                        table[pair] = pair
                        self._intern_bytes += _pair_bytes(pair)
                        out.append(pair)
                        continue
                    intern[fld] = None  # too many distinct values: stop sharing
                    self._intern_bytes -= sum(_pair_bytes(p) for p in table)
                else:
                    out.append(shared)
                    continue
            if previous is not None:
                pair = previous.get(pair, pair)
            out.append(pair)
            owned += _pair_bytes(pair)
        return tuple(out), owned


_MISSING: dict[Pair, Pair] = {}


#: Without a competing candidate count, a span's entries are counted up to this many.
_COUNT_CAP = 1024


def _span_entries(buckets: dict[str, Bucket], spans: Spans, best: int) -> int:
    """Entries under ``spans`` (not keys: three pattern keys such as ``_X.`` may hold
    hundreds of rows), counted only until they exceed ``best`` (or ``_COUNT_CAP``)."""
    limit = best if best >= 0 else _COUNT_CAP
    n = 0
    for keys, lo, hi in spans:
        for i in range(lo, hi):
            bucket = buckets[keys[i]]
            n += 1 if type(bucket) is _Entry else len(bucket)  # type: ignore[arg-type]
            if n > limit:
                return n
    return n


def _not_equality(criterion: Criterion) -> bool:
    return criterion.op is not _EQ


def _values(pairs: Iterable[Pair], fld: str) -> list[str]:
    """The field's distinct values in a record (records hold no empty values)."""
    values = [v for f, v in pairs if f == fld]
    if len(values) > 1:
        return list(dict.fromkeys(values))
    return values


def _remove_sorted(keys: list[str], value: str) -> None:
    i = bisect_left(keys, value)
    if i < len(keys) and keys[i] == value:
        del keys[i]


def _collect(buckets: dict[str, Bucket], spans: Spans) -> list[Record]:
    """The records of every bucket in the spans, each entry once."""
    found: list[_Entry] = []
    for keys, lo, hi in spans:
        for key in keys[lo:hi]:
            bucket = buckets[key]
            if type(bucket) is _Entry:
                found.append(bucket)
            else:
                found.extend(bucket)  # type: ignore[arg-type]
    if len(found) > 1:
        found = list(dict.fromkeys(found))
    return [e.record for e in found]


def _range_spans(index: _FieldIndex, op: Operator, operand: str) -> Spans:
    """Key slices holding every value that can satisfy ``value <op> operand`` (core
    semantics: numerically when both are numbers, otherwise as text)."""
    bound = _float_of(operand)
    if bound is None:
        text = index.ensure_text()
        return [_text_span(text, op, operand)]
    floats = index.ensure_numeric()
    if op is _LT or op is _LE:
        numeric = (index.num_s, 0, bisect_right(floats, bound))
    else:
        numeric = (index.num_s, bisect_left(floats, bound), len(floats))
    return [numeric, _text_span(index.nonnum, op, operand)]


def _text_span(keys: list[str], op: Operator, operand: str) -> tuple[list[str], int, int]:
    if op is _LT:
        return keys, 0, bisect_left(keys, operand)
    if op is _LE:
        return keys, 0, bisect_right(keys, operand)
    if op is _GT:
        return keys, bisect_right(keys, operand), len(keys)
    return keys, bisect_left(keys, operand), len(keys)


def _prefix_end(keys: list[str], prefix: str, lo: int) -> int:
    """End of the run of keys starting with ``prefix`` (keys from ``lo`` on are >= it)."""
    stem = prefix.rstrip(_MAX_CHAR)
    if not stem:
        i = lo
        while i < len(keys) and keys[i].startswith(prefix):
            i += 1
        return i
    return bisect_left(keys, stem[:-1] + chr(ord(stem[-1]) + 1), lo)


@lru_cache(maxsize=4096)
@lru_cache(maxsize=4096)
def _like_shape(pattern: str) -> str | None:
    """``""`` for ``%``, the literal for ``literal%``, else ``None``."""
    parts = parse_like(pattern)
    if parts == [LikeToken.ANY]:
        return ""
    if len(parts) == 2 and isinstance(parts[0], str) and parts[1] is LikeToken.ANY:
        return parts[0]
    return None


def _like_plan(pattern: str) -> tuple[str | None, bool]:
    """How a LIKE pattern can use an index: ``(literal, False)`` when it has no wildcard
    (an equality), ``(prefix, True)`` when it starts with a literal, ``(None, False)``
    when only a scan can answer (a leading ``%`` or ``_``)."""
    parts = parse_like(pattern)
    if not parts:
        return "", False
    head = parts[0]
    if isinstance(head, LikeToken):
        return None, False
    if len(parts) == 1:
        return head, False
    return head, True


@lru_cache(maxsize=4096)
def _float_of(value: str) -> float | None:
    """The value's float if the core treats it as a number (monotonic in its Decimal)."""
    if as_number(value) is None:
        return None
    return float(value)


_DN_SPACES = re.compile(r"\s*([,=+])\s*")


def _dn_key(dn: str) -> str:
    key = dn.lower()
    if " " in key:
        key = _DN_SPACES.sub(r"\1", key.strip())
    return key if key != dn else dn


def _dn_bytes(dn: str, key: str) -> int:
    return _sizeof(dn) + (_sizeof(key) if key is not dn else 0)


def _pair_bytes(pair: Pair) -> int:
    return _sizeof(pair) + _sizeof(pair[1])


def _fixed_entry_bytes(entry: _Entry, record: Record) -> int:
    return _sizeof(entry) + _sizeof(record) + _sizeof(record.pairs) + 32  # + the cost int
