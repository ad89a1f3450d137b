"""The Realtime dialplan switch (``pbx/pbx_realtime.c``), query for query.

Why this exists: to explain and test what Asterisk does with dialplan rows stored here,
we must ask exactly what ``switch => Realtime/...`` asks (curl-protocol.md §7) and pick
rows exactly as it picks them.  :class:`RealtimeSwitch` issues the same queries, in the
same field order, through :class:`~ara_ldap.realtime.Realtime`, records them in a trace,
and then matches the pattern rows locally with :mod:`ara_ldap.dialplan.patterns`.

Per call (§7.3), with ``E`` the dialed extension, ``P`` the priority and ``C`` the
database context:

1. one ``single``: ``exten = E`` (exists/exec), ``exten LIKE 'E%'`` (canmatch) or
   ``exten LIKE 'E_%'`` (matchmore), then ``priority = P``, ``context = C``;
2. only if that found nothing and option ``p`` is absent: one ``multi``
   ``exten LIKE '\\_%'``, ``priority = P``, ``context = C`` (every pattern row);
3. the pattern rows are tried longest ``exten`` first (a stable sort, so rows of equal
   length keep the backend's order, which for ara-ldap is the documented result order:
   by ``exten``); the first row that matches wins.

Differences from Asterisk, all opt-in or documented:

* canmatch/matchmore on pattern rows are *correct* by default (``MatchMode.CANMATCH`` and
  ``MatchMode.MATCHMORE``; an ``!`` early match counts as yes).  Asterisk swaps them
  (§7.3); ``asterisk_compat=True`` reproduces the swap.
* ``specific_first=True`` breaks ties between equal-length patterns by static-context
  specificity (:func:`~ara_ldap.dialplan.patterns.pattern_specificity_key`) instead of
  backend order.  Asterisk never does this.

Label lookups: Asterisk resolves ``Goto(label)`` by calling exists with priority 0, so a
``priority=0`` query goes out; we simply issue it.  A priority-0 row would be *executed*
by the core instead of resolving a label (labels are unsupported).  Negative priorities
(hints are -1) are never queried, as in pbx_realtime.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from ara_ldap.dialplan.patterns import (
    MatchMode,
    MatchResult,
    asterisk_switch_close,
    extension_match,
    pattern_specificity_key,
    realtime_order,
)
from ara_ldap.errors import BadRequest
from ara_ldap.realtime import Realtime
from ara_ldap.record import Record

__all__ = [
    "PATTERN_QUERY",
    "Candidate",
    "RealtimeSwitch",
    "StopReason",
    "SwitchAnswer",
    "SwitchDataError",
    "SwitchMode",
    "SwitchQuery",
    "SwitchTarget",
    "Walk",
    "WalkStep",
    "app_of",
    "parse_switch",
    "parse_switch_data",
]

DEFAULT_FAMILY = "extensions"
PATTERN_QUERY = "\\_%"
"""The LIKE value of the pattern query: a literal ``_`` then anything."""
SWITCH_NAME = "realtime"


class SwitchDataError(BadRequest):
    """Switch data that Asterisk accepts but reads differently from what it says."""


@dataclass(frozen=True)
class SwitchTarget:
    """Where a switch looks: database context, realtime family and option letters."""

    context: str
    family: str = DEFAULT_FAMILY
    options: str = ""

    @property
    def no_patterns(self) -> bool:
        """Option ``p``: skip the pattern query (literal extensions only)."""
        return "p" in self.options

    def data(self) -> str:
        """The switch data that selects this target explicitly (``context@family[/opts]``)."""
        text = f"{self.context}@{self.family}"
        return f"{text}/{self.options}" if self.options else text


def parse_switch_data(data: str, current_context: str, strict: bool = False) -> SwitchTarget:
    """Parse the data of ``switch => Realtime/DATA`` as pbx_realtime does (§7.1).

    Text after the first ``/`` is the option string.  In the rest, ``@`` separates the
    database context (empty: *current_context*, the context holding the switch line)
    from the family (empty: ``extensions``).  Without an ``@`` Asterisk ignores the text
    entirely, so ``Realtime/myfamily`` queries family ``extensions``; with *strict* that
    case raises :class:`SwitchDataError` instead (the CLI turns it into a warning).
    """
    spec, slash, options = data.partition("/")
    if not slash:
        options = ""
    context, at, family = spec.partition("@")
    if not at:
        if strict and spec:
            raise SwitchDataError(
                f"switch data {data!r} has no '@', and Asterisk ignores such text: it queries "
                f"family {DEFAULT_FAMILY!r} in context {current_context!r}; write "
                f"'Realtime/@{spec}' to choose the family or 'Realtime/{spec}@' to choose "
                "the context"
            )
        context = family = ""
    return SwitchTarget(
        context=context or current_context,
        family=family or DEFAULT_FAMILY,
        options=options,
    )


def parse_switch(spec: str, current_context: str, strict: bool = False) -> SwitchTarget:
    """Like :func:`parse_switch_data`, also accepting the ``Realtime/...`` form."""
    head, slash, rest = spec.partition("/")
    if head.strip().lower() == SWITCH_NAME:
        return parse_switch_data(rest if slash else "", current_context, strict)
    return parse_switch_data(spec, current_context, strict)


class SwitchMode(enum.Enum):
    """The switch callback being served."""

    EXISTS = "exists"
    """exists, exec (spawn) and label lookups: an exact match."""
    CANMATCH = "canmatch"
    """Could this number match, now or with more digits?"""
    MATCHMORE = "matchmore"
    """Would more digits still match?"""

    @property
    def match_mode(self) -> MatchMode:
        return _MATCH_MODES[self]


_MATCH_MODES = {
    SwitchMode.EXISTS: MatchMode.MATCH,
    SwitchMode.CANMATCH: MatchMode.CANMATCH,
    SwitchMode.MATCHMORE: MatchMode.MATCHMORE,
}


@dataclass(frozen=True)
class SwitchQuery:
    """One realtime request the switch issued, fields in wire order, and its row count."""

    operation: str
    """``single`` or ``multi``."""
    family: str
    fields: tuple[tuple[str, str], ...]
    rows: int

    def body(self) -> str:
        """The request as in curl-protocol.md §7.3 (``exten LIKE=\\_%&priority=1&...``)."""
        return "&".join(f"{name}={value}" for name, value in self.fields)

    def wire(self) -> str:
        """The request body as res_config_curl encodes it (``exten%20LIKE=%5C_%25&...``)."""
        return "&".join(f"{_uri(name)}={_uri(value)}" for name, value in self.fields)

    def __str__(self) -> str:
        plural = "" if self.rows == 1 else "s"
        return f"{self.operation} {self.family}: {self.body()} -> {self.rows} row{plural}"


def _uri(text: str) -> str:
    """Asterisk's HTTP-mode URI encoder: unreserved characters stay, the rest is %XX."""
    return quote(text, safe="-_.!~*'()")


@dataclass(frozen=True)
class Candidate:
    """A pattern row from the pattern query, in the order the switch tries it."""

    exten: str
    record: Record
    correct: bool
    """Whether it matches with correct canmatch/matchmore semantics."""
    asterisk: bool
    """Whether pbx_realtime (with its swap) says it matches."""


@dataclass(frozen=True)
class SwitchAnswer:
    """Everything one switch call did and decided."""

    target: SwitchTarget
    exten: str
    priority: int
    mode: SwitchMode
    asterisk_compat: bool
    literal: Record | None
    """The row found by the first (non-pattern) query, if any."""
    candidates: tuple[Candidate, ...]
    """The pattern rows in tried order (empty when the pattern query was not issued)."""
    queries: tuple[SwitchQuery, ...]

    @property
    def correct_record(self) -> Record | None:
        """The deciding row with correct canmatch/matchmore semantics."""
        if self.literal is not None:
            return self.literal
        return next((c.record for c in self.candidates if c.correct), None)

    @property
    def asterisk_record(self) -> Record | None:
        """The deciding row as pbx_realtime picks it (swapped canmatch/matchmore)."""
        if self.literal is not None:
            return self.literal
        return next((c.record for c in self.candidates if c.asterisk), None)

    @property
    def record(self) -> Record | None:
        """The deciding row under the semantics this switch uses."""
        return self.asterisk_record if self.asterisk_compat else self.correct_record

    @property
    def found(self) -> bool:
        return self.record is not None

    @property
    def differs(self) -> bool:
        """Whether a real Asterisk answers yes/no differently from the correct answer."""
        return (self.correct_record is None) != (self.asterisk_record is None)

    @property
    def via_pattern(self) -> bool:
        """Whether the deciding row came from the pattern query."""
        return self.literal is None and self.record is not None


def app_of(record: Record) -> tuple[str, str]:
    """``(app, appdata)`` of an extension row, as exec reads them (case-insensitive)."""
    return record.get("app") or "", record.get("appdata") or ""


@dataclass(frozen=True)
class WalkStep:
    """One executed priority: the row that runs."""

    priority: int
    answer: SwitchAnswer

    @property
    def record(self) -> Record:
        record = self.answer.record
        assert record is not None  # a step exists only for a found row
        return record


class StopReason(enum.Enum):
    NO_EXTENSION = "no-extension"
    """Priority 1 is missing: the extension does not exist here."""
    MISSING_PRIORITY = "missing-priority"
    """The first missing priority ends execution."""
    NO_APPLICATION = "no-application"
    """The row has no app: exec logs "No application specified" and returns -1."""
    LIMIT = "limit"
    """The walk reached its priority limit (not an Asterisk rule)."""


@dataclass(frozen=True)
class Walk:
    """Priorities 1, 2, ... as a call executes them, and where and why it stops."""

    exten: str
    target: SwitchTarget
    steps: tuple[WalkStep, ...]
    stop: StopReason
    stop_priority: int
    final: SwitchAnswer | None
    """The answer at ``stop_priority`` (the missing lookup, or the app-less row)."""


@dataclass
class RealtimeSwitch:
    """``switch => Realtime/...`` over a :class:`Realtime`: same queries, same choices.

    ``asterisk_compat`` reproduces pbx_realtime's swapped canmatch/matchmore for pattern
    rows; ``specific_first`` orders equal-length patterns most specific first instead of
    in backend order.  Every query lands in :attr:`trace` (the most recent
    ``trace_limit``).
    """

    realtime: Realtime
    asterisk_compat: bool = False
    specific_first: bool = False
    trace_limit: int = 256
    trace: deque[SwitchQuery] = field(init=False)

    def __post_init__(self) -> None:
        self.trace = deque(maxlen=self.trace_limit)

    # The switch callbacks ------------------------------------------------------------
    def exists(self, target: SwitchTarget, exten: str, priority: int) -> bool:
        return self.resolve(target, exten, priority, SwitchMode.EXISTS).found

    def canmatch(self, target: SwitchTarget, exten: str, priority: int = 1) -> bool:
        return self.resolve(target, exten, priority, SwitchMode.CANMATCH).found

    def matchmore(self, target: SwitchTarget, exten: str, priority: int = 1) -> bool:
        return self.resolve(target, exten, priority, SwitchMode.MATCHMORE).found

    def lookup(
        self,
        target: SwitchTarget,
        exten: str,
        priority: int,
        mode: SwitchMode = SwitchMode.EXISTS,
    ) -> Record | None:
        """The row the switch's lookup returns (Asterisk's variable list), or ``None``."""
        return self.resolve(target, exten, priority, mode).record

    def exec_row(self, target: SwitchTarget, exten: str, priority: int) -> Record | None:
        """The row exec runs for ``exten`` at ``priority`` (its app/appdata: :func:`app_of`)."""
        return self.lookup(target, exten, priority, SwitchMode.EXISTS)

    # The work -------------------------------------------------------------------------
    def resolve(
        self,
        target: SwitchTarget,
        exten: str,
        priority: int,
        mode: SwitchMode = SwitchMode.EXISTS,
    ) -> SwitchAnswer:
        """One switch call: the queries of §7.3, then local pattern matching."""
        mode = SwitchMode(mode)
        queries: list[SwitchQuery] = []
        literal: Record | None = None
        candidates: tuple[Candidate, ...] = ()
        if priority >= 0:  # pbx_realtime never asks about hints (priority -1)
            first_field, first_value = _first_field(mode, exten)
            fields = (
                (first_field, first_value),
                ("priority", str(priority)),
                ("context", target.context),
            )
            literal = self.realtime.single(target.family, list(fields))
            queries.append(self._note("single", target.family, fields, int(literal is not None)))
            if literal is None and not target.no_patterns:
                fields = (
                    ("exten LIKE", PATTERN_QUERY),
                    ("priority", str(priority)),
                    ("context", target.context),
                )
                rows = self.realtime.multi(target.family, list(fields))
                queries.append(self._note("multi", target.family, fields, len(rows)))
                candidates = self._candidates(rows, exten, mode)
        return SwitchAnswer(
            target=target,
            exten=exten,
            priority=priority,
            mode=mode,
            asterisk_compat=self.asterisk_compat,
            literal=literal,
            candidates=candidates,
            queries=tuple(queries),
        )

    def walk(self, target: SwitchTarget, exten: str, limit: int = 1000) -> Walk:
        """Execute ``exten`` as Asterisk would: priority 1, 2, ... until one is missing
        or has no application (exec fails and the call hangs up)."""
        steps: list[WalkStep] = []
        priority = 1
        while True:
            if priority > limit:
                return Walk(exten, target, tuple(steps), StopReason.LIMIT, priority, None)
            answer = self.resolve(target, exten, priority, SwitchMode.EXISTS)
            record = answer.record
            if record is None:
                reason = StopReason.NO_EXTENSION if priority == 1 else StopReason.MISSING_PRIORITY
                return Walk(exten, target, tuple(steps), reason, priority, answer)
            if not app_of(record)[0]:
                return Walk(
                    exten, target, tuple(steps), StopReason.NO_APPLICATION, priority, answer
                )
            steps.append(WalkStep(priority, answer))
            priority += 1

    def clear_trace(self) -> None:
        self.trace.clear()

    # Helpers ---------------------------------------------------------------------------
    def _note(
        self, operation: str, family: str, fields: tuple[tuple[str, str], ...], rows: int
    ) -> SwitchQuery:
        query = SwitchQuery(operation, family, fields, rows)
        self.trace.append(query)
        return query

    def _candidates(
        self, rows: Sequence[Record], exten: str, mode: SwitchMode
    ) -> tuple[Candidate, ...]:
        extens = [row.get("exten") for row in rows]
        order = realtime_order(extens)
        if self.specific_first:
            rank = {index: position for position, index in enumerate(order)}
            lengths = {index: len(_c_bytes(extens[index] or "")) for index in order}
            order = sorted(
                order,
                key=lambda i: (-lengths[i], pattern_specificity_key(extens[i] or ""), rank[i]),
            )
        out: list[Candidate] = []
        for index in order:
            pattern = extens[index] or ""
            correct = extension_match(pattern, exten, mode.match_mode) != MatchResult.NO
            asterisk = asterisk_switch_close(pattern, exten, mode.match_mode)
            out.append(Candidate(pattern, rows[index], correct, asterisk))
        return tuple(out)


def _first_field(mode: SwitchMode, exten: str) -> tuple[str, str]:
    """The first query field by mode (§7.3); ``exten`` is not escaped, as in Asterisk."""
    if mode is SwitchMode.CANMATCH:
        return "exten LIKE", f"{exten}%"
    if mode is SwitchMode.MATCHMORE:
        return "exten LIKE", f"{exten}_%"
    return "exten", exten


def _c_bytes(text: str) -> bytes:
    """The C string Asterisk measures with ``strlen``: UTF-8, cut at the first NUL."""
    raw = text.encode("utf-8", "surrogateescape")
    nul = raw.find(b"\0")
    return raw if nul < 0 else raw[:nul]
