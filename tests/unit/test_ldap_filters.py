"""Criteria → LDAP filters: RFC 4515/4514 escaping and superset components.

References: realtime-api.md §5 (filter assembly, escaping, LIKE), §11.5 (operators);
the contract of :mod:`ara_ldap.backends.ldap.filters`: every component matches a
*superset* of what its criterion matches, and Python finishes the filtering.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ara_ldap.backends.ldap.filters import (
    DEFAULT_RULES,
    AttributeRules,
    build_filter,
    component,
    escape_dn_value,
    escape_filter_value,
)
from ara_ldap.criteria import Criterion, Operator

EQ, NE, LT, LE = Operator.EQ, Operator.NE, Operator.LT, Operator.LE
GT, GE = Operator.GT, Operator.GE
LIKE, NOT_LIKE = Operator.LIKE, Operator.NOT_LIKE

NO_EQUALITY = AttributeRules(equality=False)
NO_SUBSTRING = AttributeRules(substring=False)
INTEGER = AttributeRules(integer_ordering=True)
PREFIXED = AttributeRules(prefixed=True)


def comp(op: Operator, value: str, rules: AttributeRules = DEFAULT_RULES) -> str:
    return component("cn", Criterion("name", op, value), rules)


def unescape_filter_value(escaped: str) -> str:
    """Decode RFC 4515 ``\\xx`` byte escapes (as UTF-8); everything else is literal."""
    out = bytearray()
    i = 0
    while i < len(escaped):
        if escaped[i] == "\\":
            out.append(int(escaped[i + 1 : i + 3], 16))
            i += 3
        else:
            out.extend(escaped[i].encode("utf-8"))
            i += 1
    return out.decode("utf-8")


def _prep(text: str) -> str:
    """A model of the server's caseIgnore string preparation (RFC 4518): case and
    insignificant spaces do not matter."""
    return " ".join(text.split()).casefold()


_COMPONENT_RE = re.compile(r"\(([A-Za-z][A-Za-z0-9-]*)(<=|>=|=)(.*)\)", re.DOTALL)


def server_admits(filter_component: str, stored: Sequence[str]) -> bool:
    """Whether a directory would return an entry holding ``stored`` for one component
    (presence, equality, substrings, integer ordering) under caseIgnore-style rules."""
    m = _COMPONENT_RE.fullmatch(filter_component)
    assert m, filter_component
    _, op, body = m.groups()
    if op == "<=":
        return any(Decimal(v) <= Decimal(body) for v in stored)
    if op == ">=":
        return any(Decimal(v) >= Decimal(body) for v in stored)
    if body == "*":
        return bool(stored)
    if "*" in body:
        chunks = [_prep(unescape_filter_value(p)) for p in body.split("*")]
        pattern = re.compile(".*".join(re.escape(c) for c in chunks), re.DOTALL)
        return any(pattern.fullmatch(_prep(v)) for v in stored)
    wanted = _prep(unescape_filter_value(body))
    return any(_prep(v) == wanted for v in stored)


# RFC 4515 filter value escaping (realtime-api.md §5.2) -----------------------------------


@pytest.mark.parametrize(
    ("char", "escaped"),
    [("*", "\\2a"), ("(", "\\28"), (")", "\\29"), ("\\", "\\5c"), ("\x00", "\\00")],
)
def test_filter_specials_are_hex_escaped(char: str, escaped: str) -> None:
    assert escape_filter_value(char) == escaped


def test_the_reference_example_is_escaped_as_documented() -> None:
    assert escape_filter_value("a*b(c)\\d") == "a\\2ab\\28c\\29\\5cd"


def test_non_ascii_is_escaped_as_utf8_bytes() -> None:
    assert escape_filter_value("é") == "\\c3\\a9"
    assert escape_filter_value("€") == "\\e2\\82\\ac"


def test_control_characters_are_hex_escaped() -> None:
    assert escape_filter_value("a\nb\x7f") == "a\\0ab\\7f"


def test_printable_ascii_other_than_specials_passes_through() -> None:
    text = "sip:alice@example.org;transport=udp, x=1 & y|z!~"
    assert escape_filter_value(text) == text


def test_the_empty_value_stays_empty() -> None:
    assert escape_filter_value("") == ""


@given(st.text())
def test_escaped_filter_values_hide_every_special_and_decode_back(text: str) -> None:
    escaped = escape_filter_value(text)
    assert not set(escaped) & {"*", "(", ")", "\x00"}
    assert re.fullmatch(r"(?:[^\\]|\\[0-9a-f]{2})*", escaped)
    assert unescape_filter_value(escaped) == text


# Injection: a value only ever matches itself ---------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("*", "(cn=\\2a)"),
        ("a)(cn=*", "(cn=a\\29\\28cn=\\2a)"),
        ("*)(|(objectClass=*)", "(cn=\\2a\\29\\28|\\28objectClass=\\2a\\29)"),
    ],
)
def test_injection_attempts_become_one_equality_component(value: str, expected: str) -> None:
    built = comp(EQ, value)
    assert built == expected
    inner = built[1:-1]
    assert "(" not in inner and ")" not in inner and "*" not in inner


def test_injection_through_like_stays_inside_one_substring_component() -> None:
    built = comp(LIKE, "a)(cn=*%")
    assert built == "(cn=a\\29\\28cn=\\2a*)"


# RFC 4514 DN value escaping ----------------------------------------------------------------


@pytest.mark.parametrize("char", list(',+"\\<>;='))
def test_dn_specials_are_backslash_escaped(char: str) -> None:
    assert escape_dn_value(f"a{char}b") == f"a\\{char}b"


def test_dn_leading_hash_is_escaped() -> None:
    assert escape_dn_value("#1") == "\\#1"


def test_dn_hash_elsewhere_is_not_escaped() -> None:
    assert escape_dn_value("a#1") == "a#1"


def test_dn_leading_and_trailing_spaces_are_escaped_but_inner_ones_are_not() -> None:
    assert escape_dn_value(" a b ") == "\\ a b\\ "


def test_dn_single_space_is_escaped() -> None:
    assert escape_dn_value(" ") == "\\ "


def test_dn_nul_and_control_characters_are_hex_escaped() -> None:
    assert escape_dn_value("a\x00b") == "a\\00b"
    assert escape_dn_value("a\nb") == "a\\0ab"


def test_dn_non_ascii_passes_through() -> None:
    assert escape_dn_value("José") == "José"


def test_dn_empty_value_stays_empty() -> None:
    assert escape_dn_value("") == ""


def test_dn_example_with_comma_and_plus() -> None:
    assert escape_dn_value("a,b+c") == "a\\,b\\+c"


# Components: equality -------------------------------------------------------------------


def test_plain_equality_is_an_escaped_equality_assertion() -> None:
    assert comp(EQ, "bob") == "(cn=bob)"
    assert comp(EQ, "b*b") == "(cn=b\\2ab)"


def test_equality_on_an_attribute_without_an_equality_rule_is_presence() -> None:
    assert comp(EQ, "bob", NO_EQUALITY) == "(cn=*)"


def test_equality_with_an_empty_value_is_presence() -> None:
    # NULL satisfies nothing; presence is the cheapest superset, Python rejects the rest.
    assert comp(EQ, "") == "(cn=*)"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" bob", "(cn=*bob*)"),
        ("bob ", "(cn=*bob*)"),
        ("a  b", "(cn=*a*b*)"),
        ("a\tb", "(cn=*a*b*)"),
    ],
)
def test_equality_with_irregular_spaces_becomes_a_substring_of_the_words(
    value: str, expected: str
) -> None:
    assert comp(EQ, value) == expected


def test_equality_with_one_inner_space_stays_an_equality() -> None:
    assert comp(EQ, "a b") == "(cn=a b)"


def test_equality_with_irregular_spaces_and_no_substring_rule_is_presence() -> None:
    assert comp(EQ, " bob", NO_SUBSTRING) == "(cn=*)"


def test_equality_on_prefixed_values_allows_any_position_prefix() -> None:
    assert comp(EQ, "ulaw", PREFIXED) == "(cn=*ulaw)"


def test_equality_on_prefixed_values_without_a_substring_rule_is_presence() -> None:
    assert comp(EQ, "ulaw", AttributeRules(prefixed=True, substring=False)) == "(cn=*)"


# Components: negative operators ----------------------------------------------------------


@pytest.mark.parametrize("op", [NE, NOT_LIKE])
@pytest.mark.parametrize("value", ["", "bob", "b%"])
def test_negative_operators_become_presence(op: Operator, value: str) -> None:
    assert comp(op, value) == "(cn=*)"


# Components: LIKE (realtime-api.md §5.3, but with SQL semantics kept) --------------------


def test_like_percent_becomes_star() -> None:
    assert comp(LIKE, "b%") == "(cn=b*)"
    assert comp(LIKE, "%ob%") == "(cn=*ob*)"


def test_like_underscore_becomes_star_because_ldap_has_no_single_character_wildcard() -> None:
    assert comp(LIKE, "10_") == "(cn=10*)"


def test_like_escaped_underscore_is_a_literal_underscore() -> None:
    assert comp(LIKE, "\\_%") == "(cn=_*)"
    assert comp(LIKE, "100\\_2") == "(cn=100_2)"


def test_like_percent_alone_is_presence() -> None:
    assert comp(LIKE, "%") == "(cn=*)"
    assert comp(LIKE, "%%") == "(cn=*)"


def test_like_without_wildcards_is_an_equality_assertion() -> None:
    assert comp(LIKE, "bob") == "(cn=bob)"


def test_like_escaped_percent_is_escaped_nothing_more() -> None:
    assert comp(LIKE, "100\\%") == "(cn=100%)"


def test_like_adjacent_wildcards_collapse_into_one_star() -> None:
    assert comp(LIKE, "a%_b") == "(cn=a*b)"


def test_like_literal_chunks_are_filter_escaped() -> None:
    assert comp(LIKE, "a*(%") == "(cn=a\\2a\\28*)"


def test_like_without_a_substring_rule_is_presence() -> None:
    assert comp(LIKE, "b%", NO_SUBSTRING) == "(cn=*)"


def test_like_on_prefixed_values_gets_a_leading_star() -> None:
    assert comp(LIKE, "ul%", PREFIXED) == "(cn=*ul*)"
    assert comp(LIKE, "ulaw", PREFIXED) == "(cn=*ulaw)"


def test_like_with_only_spaces_between_wildcards_collapses() -> None:
    assert comp(LIKE, "a% %b") == "(cn=a*b)"


# Components: ordering ---------------------------------------------------------------------


@pytest.mark.parametrize("op", [LT, LE, GT, GE])
def test_ordering_without_an_ordering_rule_is_presence(op: Operator) -> None:
    assert comp(op, "100") == "(cn=*)"


@pytest.mark.parametrize(("op", "expected"), [(LT, "(cn<=100)"), (LE, "(cn<=100)")])
def test_less_than_with_integer_ordering_is_a_less_or_equal_bound(
    op: Operator, expected: str
) -> None:
    assert comp(op, "100", INTEGER) == expected


@pytest.mark.parametrize(("op", "expected"), [(GT, "(cn>=100)"), (GE, "(cn>=100)")])
def test_greater_than_with_integer_ordering_is_a_greater_or_equal_bound(
    op: Operator, expected: str
) -> None:
    assert comp(op, "100", INTEGER) == expected


def test_integer_bounds_are_written_in_canonical_integer_form() -> None:
    assert comp(LE, "+007", INTEGER) == "(cn<=7)"
    assert comp(GE, "1e3", INTEGER) == "(cn>=1000)"
    assert comp(LE, "-5", INTEGER) == "(cn<=-5)"


def test_ordering_on_a_fraction_or_text_with_integer_ordering_is_presence() -> None:
    assert comp(LT, "1.5", INTEGER) == "(cn=*)"
    assert comp(GT, "abc", INTEGER) == "(cn=*)"


@pytest.mark.parametrize("bound", ["1e5000", "9" * 5000])
def test_a_huge_integral_bound_still_gives_a_superset_component(bound: str) -> None:
    criterion = Criterion("regseconds", LT, bound)
    assert criterion.matches(["5"])
    assert server_admits(component("a", criterion, INTEGER), ["5"])


def test_ordering_against_an_empty_value_is_presence() -> None:
    assert comp(LT, "", INTEGER) == "(cn=*)"


# Superset: whatever the criterion matches, the server returns ----------------------------

_SUPERSET_CASES = [
    (EQ, "Bob", ["Bob"]),
    (EQ, "a  b", ["a  b"]),
    (EQ, "é*", ["é*"]),
    (EQ, " bob", [" bob"]),
    (LIKE, "10_", ["101"]),
    (LIKE, "a_c", ["abc"]),
    (LIKE, "\\_%", ["_X."]),
    (LIKE, "%", ["x"]),
    (NE, "bob", ["alice"]),
    (NOT_LIKE, "b%", ["alice"]),
    (GT, "a", ["b"]),
]


@pytest.mark.parametrize(("op", "value", "stored"), _SUPERSET_CASES)
def test_the_component_admits_what_the_criterion_matches(
    op: Operator, value: str, stored: list[str]
) -> None:
    criterion = Criterion("name", op, value)
    assert criterion.matches(stored)
    assert server_admits(component("cn", criterion), stored)


def test_an_integer_bound_admits_what_the_criterion_matches() -> None:
    criterion = Criterion("regseconds", LT, "100")
    assert criterion.matches(["99"])
    assert server_admits(component("a", criterion, INTEGER), ["99"])
    assert not server_admits(component("a", criterion, INTEGER), ["101"])


_TEXT = st.text(alphabet="aB _%\\*()é\t", max_size=6)
_RULES = st.sampled_from([DEFAULT_RULES, PREFIXED, NO_SUBSTRING, NO_EQUALITY])


@given(op=st.sampled_from(list(Operator)), value=_TEXT, stored=_TEXT, rules=_RULES)
def test_every_text_component_is_a_superset_of_its_criterion(
    op: Operator, value: str, stored: str, rules: AttributeRules
) -> None:
    criterion = Criterion("name", op, value)
    if not criterion.matches([stored]):
        return
    raw = f"{{0}}{stored}" if rules.prefixed else stored
    assert server_admits(component("cn", criterion, rules), [raw])


@pytest.mark.parametrize("stored", ["010", "10.0", "1e1", "+10"])
def test_equality_is_textual_so_the_exact_assertion_is_a_superset(stored: str) -> None:
    criterion = Criterion("port", EQ, "10")
    assert not criterion.matches([stored])
    assert component("a", criterion) == "(a=10)"


# build_filter (realtime-api.md §5.1) -------------------------------------------------------


def test_build_filter_ands_the_family_filter_and_the_components_in_order() -> None:
    assert (
        build_filter("(objectClass=AsteriskSIPUser)", ["(cn=bob)", "(AstAccountHost=dynamic)"])
        == "(&(objectClass=AsteriskSIPUser)(cn=bob)(AstAccountHost=dynamic))"
    )


def test_build_filter_with_one_part_returns_it_unwrapped() -> None:
    assert build_filter("(objectClass=AsteriskSIPUser)", []) == "(objectClass=AsteriskSIPUser)"
    assert build_filter(None, ["(cn=bob)"]) == "(cn=bob)"


def test_build_filter_without_a_family_filter_ands_the_components() -> None:
    assert build_filter(None, ["(cn=bob)", "(cn=*)"]) == "(&(cn=bob)(cn=*))"
    assert build_filter("", ["(cn=bob)", "(cn=*)"]) == "(&(cn=bob)(cn=*))"


def test_build_filter_with_nothing_matches_every_entry() -> None:
    assert build_filter(None, []) == "(objectClass=*)"


def test_the_reference_worked_example() -> None:
    # realtime-api.md §5.6, with the escaping fix: name=b* is a literal.
    parts = [
        component("cn", Criterion("name", EQ, "b*")),
    ]
    assert (
        build_filter("(&(objectClass=AsteriskSIPUser)(!(pwdAccountLockedTime=*)))", parts)
        == "(&(&(objectClass=AsteriskSIPUser)(!(pwdAccountLockedTime=*)))(cn=b\\2a))"
    )
