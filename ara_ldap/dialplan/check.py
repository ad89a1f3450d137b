"""``extensions-check``: dialplan rows that the Realtime switch can never run.

Why this exists: pbx_realtime fails silently.  A row at the wrong priority, a pattern
that a longer pattern always beats, a row with no application: Asterisk logs nothing
until a call hits it.  This module finds the rows that provably never run, reasoning
from exactly how the switch looks rows up (curl-protocol.md §7.3):

* lookups are per (dialed number, priority, context); the switch writes the priority
  as a decimal integer and compares it as text;
* the exact query ``exten = N`` comes first, so a **literal row always beats every
  pattern** for its own number: patterns never shadow literals;
* only when no literal row answers does the pattern query run, and the first pattern
  that matches, longest ``exten`` first (ties in backend order, i.e. by ``exten``),
  wins;
* execution walks priorities 1, 2, ... and stops at the first one nobody answers.

Everything reported is provable; where a case is undecidable with reasonable effort
we say nothing (conservative).  Findings, by kind:

``bad-priority``
    the priority is not written as the switch asks for it (``n``, ``01``, ``1.0``,
    missing): no lookup ever finds the row.
``negative-priority``
    the switch never queries priorities below 0 (hints are -1).
``priority-0``
    only label lookups (``Goto(label)``) query priority 0, and the core would then
    *execute* the row instead of resolving a label.
``no-exten``
    no ``exten``: never found.
``no-app``
    no application: exec logs "No application specified for realtime extension" and
    the call hangs up at this row.
``never-matches``
    a pattern that matches no number at all (an unclosed ``[``, a set such as
    ``[9-0]`` that holds nothing).
``duplicate``
    another row has the same context, exten and priority and comes first in result
    order: the lookup only ever returns that one.
``shadowed``
    a pattern for which every number it matches is answered first: by a single
    pattern tried before it whose numbers include all of its numbers, or (for patterns
    matching at most :data:`ENUMERATION_LIMIT` numbers) by literal rows and earlier
    patterns together, checked number by number.
``gap``
    for every number this row can serve, some lower priority has no row that could
    serve it: execution stops before reaching this row (only a ``Goto`` to this
    priority could).  Candidates at the missing priority are counted generously (any
    literal with a matching number, any pattern whose numbers overlap), so a gap is
    reported only when it is certain.

Assumptions: the context is served by the Realtime switch with pattern queries enabled
(no option ``p``), and nothing else in Asterisk's static dialplan answers first.
"""

from __future__ import annotations

import enum
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ara_ldap.dialplan.patterns import matches, realtime_order
from ara_ldap.realtime import Realtime, order_records
from ara_ldap.record import Record

__all__ = [
    "ENUMERATION_LIMIT",
    "Finding",
    "PatternShape",
    "Tail",
    "check_extensions",
    "check_rows",
    "pattern_shape",
]

ENUMERATION_LIMIT = 4096
"""Largest number of strings a pattern may match for the number-by-number shadow test."""

_CANONICAL_PRIORITY = re.compile(r"^(0|-?[1-9][0-9]*)$")
_WILDCARDS = {
    ord(letter): frozenset(range(ord(low), ord("9") + 1))
    for letters, low in (("Xx", "0"), ("Zz", "1"), ("Nn", "2"))
    for letter in letters
}


class Tail(enum.Enum):
    """What a pattern accepts after its fixed positions."""

    END = "end"
    """Nothing: the number has exactly as many characters as the pattern has positions."""
    ONE_OR_MORE = "."
    """``.``: one or more further characters."""
    ZERO_OR_MORE = "!"
    """``!``: zero or more further characters."""


@dataclass(frozen=True)
class PatternShape:
    """The numbers an ``_`` pattern matches exactly (E_MATCH), as position sets.

    ``broken`` says why it matches nothing (then ``sets`` is meaningless).
    """

    sets: tuple[frozenset[int], ...]
    tail: Tail
    broken: str | None = None

    def min_length(self) -> int:
        return len(self.sets) + (1 if self.tail is Tail.ONE_OR_MORE else 0)

    def max_length(self) -> int | None:
        return len(self.sets) if self.tail is Tail.END else None

    def size(self) -> int | None:
        """How many numbers it matches, or ``None`` when unbounded."""
        if self.tail is not Tail.END:
            return None
        total = 1
        for members in self.sets:
            total *= len(members)
        return total

    def numbers(self) -> Iterable[bytes]:
        """Every number it matches (only for a finite shape)."""
        for combo in itertools.product(*(sorted(members) for members in self.sets)):
            yield bytes(combo)

    def includes(self, other: PatternShape) -> bool:
        """Whether every number *other* matches is matched by this shape too."""
        if self.broken or other.broken:
            return bool(other.broken)
        n, m = len(other.sets), len(self.sets)
        if self.tail is Tail.END:
            return other.tail is Tail.END and n == m and _covers(self.sets, other.sets)
        if n < m or not _covers(self.sets, other.sets[:m]):
            return False
        needed = m + 1 if self.tail is Tail.ONE_OR_MORE else m
        return other.min_length() >= needed

    def overlaps(self, other: PatternShape) -> bool:
        """Whether some number matches both shapes."""
        if self.broken or other.broken:
            return False
        low = max(self.min_length(), other.min_length())
        highs = [h for h in (self.max_length(), other.max_length()) if h is not None]
        if highs and min(highs) < low:
            return False
        for left, right in zip(self.sets[:low], other.sets[:low], strict=False):
            if not left & right:
                return False
        return True


def _covers(outer: Sequence[frozenset[int]], inner: Sequence[frozenset[int]]) -> bool:
    return all(i <= o for o, i in zip(outer, inner, strict=True))


def pattern_shape(pattern: str) -> PatternShape:
    """Model an ``_`` pattern the way ``_extension_match_core`` walks it in E_MATCH mode.

    Dashes are skipped; ``/`` ends the pattern (caller-id part); ``[]`` is skipped;
    ``.`` and ``!`` end the walk (what follows is never looked at).
    """
    raw = pattern.encode("utf-8", "surrogateescape").split(b"\0", 1)[0]
    sets: list[frozenset[int]] = []
    p = 1
    while p < len(raw):
        char = raw[p]
        if char == ord("-"):
            p += 1
            continue
        if char == ord("/"):
            break
        if char == ord("."):
            return PatternShape(tuple(sets), Tail.ONE_OR_MORE)
        if char == ord("!"):
            return PatternShape(tuple(sets), Tail.ZERO_OR_MORE)
        if char == ord("["):
            end = raw.find(b"]", p + 1)
            if end < 0:
                return PatternShape(tuple(sets), Tail.END, "it has a '[' without ']'")
            if end > p + 1:
                members = _set_members(raw[p + 1 : end])
                if not members:
                    text = raw[p : end + 1].decode("utf-8", "backslashreplace")
                    return PatternShape(tuple(sets), Tail.END, f"the set {text} holds nothing")
                sets.append(members)
            p = end + 1
            continue
        sets.append(_WILDCARDS.get(char, frozenset((char,))))
        p += 1
    return PatternShape(tuple(sets), Tail.END)


def _set_members(body: bytes) -> frozenset[int]:
    """Members of ``[body]`` as pbx.c tests them: ``a-b`` ranges, reversed ones empty."""
    members: set[int] = set()
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == ord("-"):
            members.update(range(body[i], body[i + 2] + 1))
            i += 3
        else:
            members.add(body[i])
            i += 1
    return frozenset(members)


@dataclass(frozen=True)
class Finding:
    """One row that never runs (or fails when it does), and why."""

    kind: str
    context: str
    exten: str
    priority: str
    message: str
    record: Record

    def __str__(self) -> str:
        where = f"{self.exten or '(no exten)'}@{self.context}"
        return f"{where} priority {self.priority or '(none)'} [{self.kind}]: {self.message}"


@dataclass(frozen=True)
class _Row:
    record: Record
    context: str
    exten: str
    priority_text: str
    priority: int | None
    app: str

    @property
    def is_pattern(self) -> bool:
        return self.exten.startswith("_")

    def describe(self) -> str:
        return f"pattern {self.exten}" if self.is_pattern else f"literal {self.exten}"


def _as_row(record: Record) -> _Row:
    text = record.get("priority") or ""
    priority = int(text) if _CANONICAL_PRIORITY.match(text) else None
    return _Row(
        record=record,
        context=record.get("context") or "",
        exten=record.get("exten") or "",
        priority_text=text,
        priority=priority,
        app=record.get("app") or "",
    )


def check_extensions(
    realtime: Realtime, family: str = "extensions", context: str | None = None
) -> tuple[list[Finding], int]:
    """Check every row of *family* (or of one *context*): the findings and the row count.

    Rows without a ``context`` are not fetched (the switch cannot find them either).
    """
    criteria = [("context", context)] if context is not None else [("context LIKE", "%")]
    records = realtime.multi(family, criteria)
    return check_rows(records), len(records)


def check_rows(records: Sequence[Record]) -> list[Finding]:
    """Findings for extension rows (any mix of contexts), sorted by context, exten, priority."""
    findings: list[Finding] = []
    by_context: dict[str, list[_Row]] = defaultdict(list)
    for row in map(_as_row, records):
        by_context[row.context].append(row)
    for rows in by_context.values():
        findings.extend(_check_context(rows))
    findings.sort(key=lambda f: (f.context, f.exten, _priority_sort(f.priority), f.kind))
    return findings


def _priority_sort(text: str) -> tuple[int, int, str]:
    return (0, int(text), "") if _CANONICAL_PRIORITY.match(text) else (1, 0, text)


def _finding(row: _Row, kind: str, message: str) -> Finding:
    return Finding(kind, row.context, row.exten, row.priority_text, message, row.record)


def _check_context(rows: list[_Row]) -> list[Finding]:
    out: list[Finding] = []
    live: list[_Row] = []
    shapes: dict[int, PatternShape] = {}
    for row in rows:
        if row.priority is None:
            shown = repr(row.priority_text) if row.priority_text else "missing"
            out.append(
                _finding(
                    row,
                    "bad-priority",
                    f"priority {shown} is not a decimal integer as the switch writes it "
                    "(priority=1, 2, ...): no lookup finds this row",
                )
            )
            continue
        if not row.exten:
            out.append(_finding(row, "no-exten", "the row has no exten: no lookup finds it"))
            continue
        if row.priority < 0:
            out.append(
                _finding(
                    row,
                    "negative-priority",
                    "the switch never queries priorities below 0 (hints are -1 and unsupported)",
                )
            )
            continue
        if row.priority == 0:
            out.append(
                _finding(
                    row,
                    "priority-0",
                    "only label lookups (Goto to a label) query priority 0, and the core "
                    "would then execute this row instead of resolving the label; labels "
                    "are unsupported",
                )
            )
            continue
        if not row.app:
            out.append(
                _finding(
                    row,
                    "no-app",
                    'no application: Asterisk logs "No application specified for realtime '
                    'extension" and the call hangs up here',
                )
            )
        if row.is_pattern:
            shape = pattern_shape(row.exten)
            if shape.broken:
                out.append(
                    _finding(row, "never-matches", f"the pattern matches nothing: {shape.broken}")
                )
                continue
            shapes[id(row)] = shape
        live.append(row)
    by_priority: dict[int, list[_Row]] = defaultdict(list)
    for row in live:
        assert row.priority is not None
        by_priority[row.priority].append(row)
    for group in by_priority.values():
        out.extend(_check_priority(group, shapes))
    out.extend(_check_gaps(live, by_priority, shapes))
    return out


def _check_priority(group: list[_Row], shapes: dict[int, PatternShape]) -> list[Finding]:
    """Duplicates and shadowed patterns among the rows of one context and priority."""
    out: list[Finding] = []
    literals: dict[str, list[_Row]] = defaultdict(list)
    patterns: list[_Row] = []
    for row in group:
        (patterns if row.is_pattern else literals[row.exten]).append(row)
    for same in literals.values():
        if len(same) > 1:
            first, *rest = _result_order(same)
            for row in rest:
                out.append(
                    _finding(
                        row,
                        "duplicate",
                        f"another row has the same exten, context and priority "
                        f"({first.app or 'no app'}) and the lookup returns only that one",
                    )
                )
    ordered = _tried_order(patterns)
    literal_numbers = {exten.encode("utf-8", "surrogateescape") for exten in literals}
    for position, row in enumerate(ordered):
        earlier = ordered[:position]
        message = _shadow_message(row, earlier, literal_numbers, shapes)
        if message is not None:
            kind = "duplicate" if any(e.exten == row.exten for e in earlier) else "shadowed"
            out.append(_finding(row, kind, message))
    return out


def _result_order(rows: Sequence[_Row]) -> list[_Row]:
    """The rows in ara-ldap's result order for a lookup by exten (what ``single`` picks)."""
    by_record = {id(row.record): row for row in rows}
    return [by_record[id(r)] for r in order_records([row.record for row in rows], "exten")]


def _tried_order(patterns: Sequence[_Row]) -> list[_Row]:
    """Pattern rows in the order pbx_realtime tries them: result order, then longest first."""
    in_result_order = _result_order(patterns)
    return [in_result_order[i] for i in realtime_order([row.exten for row in in_result_order])]


def _shadow_message(
    row: _Row, earlier: Sequence[_Row], literal_numbers: set[bytes], shapes: dict[int, PatternShape]
) -> str | None:
    shape = shapes[id(row)]
    for other in earlier:
        if shapes[id(other)].includes(shape):
            if other.exten == row.exten:
                return (
                    f"another row with the same pattern comes first in result order "
                    f"({other.app or 'no app'}) and always wins"
                )
            return (
                f"{other.describe()} is tried first (longest first, then result order) and "
                "matches every number this pattern matches"
            )
    size = shape.size()
    if size is None or size > ENUMERATION_LIMIT:
        return None
    deciders: dict[str, None] = {}
    for number in shape.numbers():
        if number in literal_numbers:
            deciders.setdefault(f"literal {number.decode('utf-8', 'backslashreplace')}")
            continue
        dialed = number.decode("utf-8", "surrogateescape")
        winner = next((o for o in earlier if matches(o.exten, dialed)), None)
        if winner is None:
            return None
        deciders.setdefault(winner.describe())
    names = list(deciders)
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return f"every number it matches is answered first by another row ({shown})"


def _check_gaps(
    live: Sequence[_Row], by_priority: dict[int, list[_Row]], shapes: dict[int, PatternShape]
) -> list[Finding]:
    """Rows that execution can never fall through to (see the module docstring)."""
    out: list[Finding] = []
    for row in live:
        assert row.priority is not None
        for missing in range(1, row.priority):
            if not any(_could_serve(other, row, shapes) for other in by_priority.get(missing, ())):
                out.append(_finding(row, "gap", _gap_message(row, missing)))
                break
    return out


def _could_serve(server: _Row, row: _Row, shapes: dict[int, PatternShape]) -> bool:
    """Whether *server* could answer the lookup for some number that *row* serves."""
    if not row.is_pattern and not server.is_pattern:
        return server.exten == row.exten
    if not row.is_pattern:
        return matches(server.exten, row.exten)
    if not server.is_pattern:
        return matches(row.exten, server.exten)
    return shapes[id(row)].overlaps(shapes[id(server)])


def _gap_message(row: _Row, missing: int) -> str:
    who = f"number {row.exten}" if not row.is_pattern else f"any number {row.exten} matches"
    if missing == 1:
        stop = "the extension does not exist (exists fails at priority 1)"
    else:
        stop = f"execution ends after priority {missing - 1}"
    return (
        f"no row at priority {missing} can answer for {who}, so {stop}: this row "
        "never runs (only a Goto to this priority could reach it)"
    )
