"""Criteria: Asterisk's "column operator" field names and their SQL semantics.

Asterisk puts the operator into the field name (``name LIKE``, ``regseconds <``,
``startTime<= ``) and every SQL driver pastes it into a WHERE clause, so callers assume
SQL semantics.  This module parses those names and evaluates a criterion in memory with
the same semantics; backends use it to finish filtering whatever their server cannot
evaluate exactly (LDAP has no single-character wildcard, no ORDERING rule on most
Asterisk attributes, and case-insensitive matching rules).

Semantics (documented in docs/ldap.md):

* A missing field and an empty value are both NULL; NULL satisfies no comparison, not
  even ``!=`` (so ``contact !=`` with ``''`` means "present and non-empty").
* ``=`` and ``!=``/``<>`` compare text exactly (case-sensitive).  They are not numeric:
  ``'10' = '010'`` is false, as on any text column, so an equality lookup is an indexed
  equality on every backend (a directory cannot look up every spelling of a number).
* ``<``, ``<=``, ``>``, ``>=`` compare numerically when both sides are numbers, otherwise
  as case-sensitive strings (code-point order).
* ``LIKE``/``NOT LIKE``: ``%`` any run, ``_`` exactly one character, ``\\`` makes the next
  character literal (a trailing lone ``\\`` is a literal backslash); case-sensitive.
* A multi-valued field satisfies a positive criterion when any value does, and a negative
  one (``!=``, ``NOT LIKE``) when it has values and none of them matches the positive form.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache

from ara_ldap.errors import BadRequest
from ara_ldap.record import Record


class Operator(enum.Enum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    LIKE = "LIKE"
    NOT_LIKE = "NOT LIKE"

    @property
    def negative(self) -> bool:
        return self in (Operator.NE, Operator.NOT_LIKE)


_OPERATOR_SPELLINGS = {
    "=": Operator.EQ,
    "!=": Operator.NE,
    "<>": Operator.NE,
    "<": Operator.LT,
    "<=": Operator.LE,
    ">": Operator.GT,
    ">=": Operator.GE,
    "LIKE": Operator.LIKE,
    "NOT LIKE": Operator.NOT_LIKE,
}

_NAME_RE = re.compile(
    r"^\s*([A-Za-z0-9_@-]+)\s*(NOT\s+LIKE|LIKE|<=|>=|<>|!=|=|<|>)?\s*$", re.IGNORECASE
)
_NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


def as_number(value: str) -> Decimal | None:
    """The value as a number if it is written as one (no spaces, no inf/nan)."""
    if not _NUMBER_RE.match(value):
        return None
    try:
        return Decimal(value)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid numbers
        return None


# LIKE patterns -----------------------------------------------------------------------


class LikeToken(enum.Enum):
    ANY = "%"
    ONE = "_"


LikePart = LikeToken | str


def parse_like(pattern: str) -> list[LikePart]:
    """Split a LIKE pattern into literal runs and wildcards (``\\`` escapes the next char)."""
    parts: list[LikePart] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            parts.append("".join(literal))
            literal.clear()

    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            literal.append(pattern[i + 1])
            i += 2
            continue
        if ch == "%":
            flush()
            if not parts or parts[-1] is not LikeToken.ANY:
                parts.append(LikeToken.ANY)
        elif ch == "_":
            flush()
            parts.append(LikeToken.ONE)
        else:
            literal.append(ch)
        i += 1
    flush()
    return parts


def like_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    for part in parse_like(pattern):
        if part is LikeToken.ANY:
            out.append(".*")
        elif part is LikeToken.ONE:
            out.append(".")
        else:
            out.append(re.escape(part))
    return re.compile("".join(out), re.DOTALL)


def like_escape(text: str) -> str:
    """Escape a literal for use inside a LIKE pattern (``%``, ``_`` and ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# Criteria -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Criterion:
    """One ``field <op> value`` condition."""

    field: str
    op: Operator
    value: str

    @property
    def key(self) -> str:
        """The field name lower-cased: Asterisk compares column names case-insensitively."""
        return self.field.lower()

    @cached_property
    def _like(self) -> re.Pattern[str]:
        return like_regex(self.value)

    @cached_property
    def _number(self) -> Decimal | None:
        return as_number(self.value)

    def matches_value(self, candidate: str) -> bool:
        """The positive form of the operator against one non-empty value."""
        op = self.op
        if op in (Operator.LIKE, Operator.NOT_LIKE):
            return self._like.fullmatch(candidate) is not None
        if op in (Operator.EQ, Operator.NE):
            return candidate == self.value
        right = self._number
        left = as_number(candidate) if right is not None else None
        if left is not None and right is not None:
            a: object = left
            b: object = right
        else:
            a, b = candidate, self.value
        if op is Operator.LT:
            return bool(a < b)  # type: ignore[operator]
        if op is Operator.LE:
            return bool(a <= b)  # type: ignore[operator]
        if op is Operator.GT:
            return bool(a > b)  # type: ignore[operator]
        return bool(a >= b)  # type: ignore[operator]

    def matches(self, values: Iterable[str]) -> bool:
        """SQL semantics over all values of the field (none or only empties = NULL)."""
        present = [v for v in values if v != ""]
        if not present:
            return False
        if self.op.negative:
            return not any(self.matches_value(v) for v in present)
        return any(self.matches_value(v) for v in present)

    def matches_record(self, record: Mapping[str, Sequence[str]] | object) -> bool:
        if isinstance(record, Record):
            return self.matches(record.get_all(self.field))
        if isinstance(record, Mapping):
            for name, vals in record.items():
                if name.lower() == self.key:
                    return self.matches([vals] if isinstance(vals, str) else vals)
            return False
        raise TypeError(f"cannot match against {type(record).__name__}")

    def __str__(self) -> str:
        return f"{self.field} {self.op.value} {self.value!r}"


@lru_cache(maxsize=4096)
def parse_field_name(name: str) -> tuple[str, Operator]:
    """Split ``"regseconds <"`` into ``("regseconds", Operator.LT)``.

    Accepts what Asterisk modules send: ``exten LIKE``, ``startTime<= ``, ``endtime >=``,
    column names with ``-``, a leading digit or ``@``.
    """
    m = _NAME_RE.match(name)
    if not m:
        raise BadRequest(
            f"invalid field name {name!r}: expected a column name "
            "(letters, digits, '_', '-', '@') optionally followed by one of "
            "=, !=, <>, <, <=, >, >=, LIKE, NOT LIKE"
        )
    column, op_text = m.group(1), m.group(2)
    if op_text is None:
        return column, Operator.EQ
    op_key = " ".join(op_text.upper().split())
    return column, _OPERATOR_SPELLINGS[op_key]


def parse_criterion(name: str, value: str) -> Criterion:
    column, op = parse_field_name(name)
    return Criterion(column, op, value)


def parse_criteria(pairs: Iterable[tuple[str, str]]) -> list[Criterion]:
    """Parse Asterisk ``(name, value)`` pairs; order is kept (the first names ``multi`` rows)."""
    return [parse_criterion(n, v) for n, v in pairs]


CriteriaLike = Sequence[Criterion] | Sequence[tuple[str, str]] | Mapping[str, str]


def as_criteria(criteria: CriteriaLike) -> list[Criterion]:
    """Accept criteria, ``(name, value)`` pairs or a mapping, as the public API does."""
    if isinstance(criteria, Mapping):
        return parse_criteria(criteria.items())
    out: list[Criterion] = []
    for item in criteria:
        if isinstance(item, Criterion):
            out.append(item)
        else:
            name, value = item
            out.append(parse_criterion(name, value))
    return out


def record_matches(record: object, criteria: Iterable[Criterion]) -> bool:
    return all(c.matches_record(record) for c in criteria)


def literal_like(criterion: Criterion) -> Criterion:
    """A LIKE pattern read as sorcery means it: a leading and a trailing ``%`` are the only
    wildcards, everything between is literal (``_``, ``%``, ``\\``).

    Sorcery sends ``%``, ``<prefix>%`` and ``%<text>%`` and escapes nothing (pjsip.md
    C6), so with SQL's reading AOR ``a_b`` would also own the contacts of ``axb``."""
    if criterion.op not in (Operator.LIKE, Operator.NOT_LIKE):
        return criterion
    value = criterion.value
    lead = value.startswith("%")
    body = value[1:] if lead else value
    trail = body.endswith("%")
    if trail:
        body = body[:-1]
    pattern = ("%" if lead else "") + like_escape(body) + ("%" if trail and body else "")
    if lead and not body:
        pattern = "%"
    return Criterion(criterion.field, criterion.op, pattern)


def literal_likes(criteria: Sequence[Criterion]) -> list[Criterion]:
    return [literal_like(c) for c in criteria]
