"""Criteria → LDAP search filters, with RFC 4515 (filter) and RFC 4514 (DN) escaping.

Every value that reaches a filter or a DN goes through :func:`escape_filter_value` or
:func:`escape_dn_value`; there is no other path.  A value such as ``*`` or ``a)(cn=*``
matches only itself.

LDAP cannot evaluate every SQL criterion exactly: it has no single-character wildcard,
most Asterisk attributes have no ORDERING rule, matching rules are case-insensitive and
space-insensitive, and ``!=`` on a case-insensitive rule would exclude values SQL keeps.
So each criterion becomes a *superset* component (it matches at least every entry the
criterion matches) and the backend finishes the job in Python with
:meth:`~ara_ldap.criteria.Criterion.matches`.  The server does the selective part; the
results are exactly SQL's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ara_ldap.criteria import Criterion, LikeToken, Operator, as_number, parse_like

_FILTER_SPECIAL = {"*": "\\2a", "(": "\\28", ")": "\\29", "\\": "\\5c", "\x00": "\\00"}


def escape_filter_value(value: str) -> str:
    """RFC 4515 assertion value: ``*()\\`` and NUL escaped, non-ASCII as escaped UTF-8 bytes."""
    out: list[str] = []
    for ch in value:
        special = _FILTER_SPECIAL.get(ch)
        if special is not None:
            out.append(special)
        elif ord(ch) < 0x20 or ord(ch) > 0x7E:
            out.extend(f"\\{b:02x}" for b in ch.encode("utf-8"))
        else:
            out.append(ch)
    return "".join(out)


_DN_SPECIAL = set(',+"\\<>;=')


def escape_dn_value(value: str) -> str:
    """RFC 4514 attribute value: specials backslash-escaped, leading ``#``/space and trailing
    space escaped, NUL and control characters hex-escaped."""
    if value == "":
        return ""
    out: list[str] = []
    last = len(value) - 1
    for i, ch in enumerate(value):
        if ch in _DN_SPECIAL:
            out.append("\\" + ch)
        elif ch == "\x00" or ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\{ord(ch):02x}")
        elif (i == 0 and ch in "# ") or (i == last and ch == " "):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


@dataclass(frozen=True)
class AttributeRules:
    """What the server can evaluate for one attribute (from its schema, read once)."""

    equality: bool = True
    substring: bool = True
    integer_ordering: bool = False
    #: Values carry a ``{n}`` position prefix (order-preserving multi-values), or another
    #: prefix the read strips (``{MD5}``): the value searched for may follow anything.
    prefixed: bool = False
    #: The value read back may sit anywhere inside a stored value (``split_semicolons``:
    #: ``ulaw;alaw`` reads as ``ulaw`` and ``alaw``).
    embedded: bool = False


DEFAULT_RULES = AttributeRules()


def _presence(attr: str) -> str:
    return f"({attr}=*)"


def _substring(attr: str, parts: Sequence[str | None]) -> str:
    """``parts``: literal chunks and ``None`` for "any run"; adjacent wildcards collapse."""
    pieces: list[str] = []
    for part in parts:
        if part is None:
            if not pieces or pieces[-1] != "*":
                pieces.append("*")
        else:
            # Trimming spaces keeps the component a superset under LDAP's space-insensitive
            # string preparation (RFC 4518), which could otherwise disagree on edges.
            chunk = part.strip()
            if chunk:
                pieces.append(escape_filter_value(chunk))
            elif not pieces or pieces[-1] != "*":
                pieces.append("*")
    body = "".join(pieces)
    if body in ("", "*"):
        return _presence(attr)
    return f"({attr}={body})"


def _needs_space_care(value: str) -> bool:
    return value != value.strip() or "  " in value or "\t" in value


def component(attr: str, criterion: Criterion, rules: AttributeRules = DEFAULT_RULES) -> str:
    """A filter component that matches a superset of what ``criterion`` matches."""
    op = criterion.op
    value = criterion.value
    if op.negative or (value == "" and op is not Operator.LIKE):
        # NULL never satisfies a comparison; everything else is decided in Python.
        return _presence(attr)
    if op is Operator.EQ:
        if rules.embedded:
            return (
                _substring(attr, [None, *_words(value), None])
                if rules.substring
                else _presence(attr)
            )
        if not rules.equality:
            return _presence(attr)
        if rules.prefixed:
            return _substring(attr, [None, value]) if rules.substring else _presence(attr)
        if _needs_space_care(value):
            return (
                _substring(attr, [None, *_words(value), None])
                if rules.substring
                else _presence(attr)
            )
        return f"({attr}={escape_filter_value(value)})"
    if op is Operator.LIKE:
        loose = rules.prefixed or rules.embedded
        parts: list[str | None] = [None] if loose else []
        for token in parse_like(value):
            if isinstance(token, LikeToken):
                parts.append(None)
            else:
                parts.append(token)
        if rules.embedded:
            parts.append(None)
        if all(p is not None for p in parts) and not loose:
            literal = "".join(p for p in parts if p is not None)
            return component(attr, Criterion(criterion.field, Operator.EQ, literal), rules)
        if not rules.substring:
            return _presence(attr)
        return _substring(attr, parts)
    # <, <=, >, >=: the server can help only with an integer ordering rule.
    number = as_number(value)
    if (
        rules.integer_ordering
        and number is not None
        and number.is_finite()
        and number.adjusted() < 40  # beyond any INTEGER an LDAP server stores
        and number == number.to_integral_value()
    ):
        bound = str(int(number))
        if op in (Operator.LT, Operator.LE):
            return f"({attr}<={bound})"
        return f"({attr}>={bound})"
    return _presence(attr)


def _words(value: str) -> list[str | None]:
    out: list[str | None] = []
    for word in value.split():
        if out:
            out.append(None)
        out.append(word)
    return out


def build_filter(base_filter: str | None, components: Sequence[str]) -> str:
    """``(&(family filter)(c1)(c2)...)``: the shape res_config_ldap uses (§5.1)."""
    parts = ([base_filter] if base_filter else []) + list(components)
    if not parts:
        return "(objectClass=*)"
    if len(parts) == 1:
        return parts[0]
    return "(&" + "".join(parts) + ")"
