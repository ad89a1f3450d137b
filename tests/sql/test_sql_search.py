"""Criteria give exactly the core's in-memory semantics on every engine.

The server narrows (a superset on any collation), Python finishes with
``record_matches``; so case sensitivity, ``_``, escapes, NULLs, ``!=`` and numeric order
are the same on SQLite, PostgreSQL and MariaDB (criteria.py, curl-protocol.md §3.4).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ara_ldap.criteria import Criterion, Operator
from ara_ldap.errors import UnknownField
from ara_ldap.realtime import Realtime

RawInsert = Callable[..., None]  # the raw_insert fixture (conftest.py)


def names(rt: Realtime, family: str, criteria: dict[str, str]) -> list[str]:
    return sorted(r.get("name") or "" for r in rt.multi(family, criteria))


@pytest.fixture
def peers(rt: Realtime) -> Realtime:
    for name, callerid in [
        ("Alice", "Alice <100>"),
        ("alice", "alice <101>"),
        ("bob", "B"),
        ("bob ", "a"),
        ("a_c", "9"),
        ("abc", "10"),
        ("a%c", None),
        ("a\\c", "x"),
    ]:
        record = {"name": name}
        if callerid is not None:
            record["callerid"] = callerid
        rt.store("sippeers", record)
    return rt


def test_equality_is_case_sensitive(peers: Realtime) -> None:
    assert names(peers, "sippeers", {"name": "alice"}) == ["alice"]


def test_equality_does_not_ignore_trailing_spaces(peers: Realtime) -> None:
    assert names(peers, "sippeers", {"name": "bob"}) == ["bob"]


def test_like_is_case_sensitive(peers: Realtime) -> None:
    assert names(peers, "sippeers", {"name LIKE": "al%"}) == ["alice"]


def test_like_percent_matches_any_run(peers: Realtime) -> None:
    assert names(peers, "sippeers", {"callerid LIKE": "%<10%>"}) == ["Alice", "alice"]


def test_like_underscore_matches_exactly_one_character(peers: Realtime) -> None:
    assert names(peers, "sippeers", {"name LIKE": "a_c"}) == ["a%c", "a\\c", "a_c", "abc"]


def test_like_escaped_underscore_is_literal(peers: Realtime) -> None:
    assert names(peers, "sippeers", {"name LIKE": "a\\_c"}) == ["a_c"]


def test_like_escaped_percent_is_literal(peers: Realtime) -> None:
    assert names(peers, "sippeers", {"name LIKE": "a\\%%"}) == ["a%c"]


def test_like_escaped_backslash_is_literal(peers: Realtime) -> None:
    assert names(peers, "sippeers", {"name LIKE": "a\\\\c"}) == ["a\\c"]


def test_like_without_wildcards_is_whole_value_equality(peers: Realtime) -> None:
    assert names(peers, "sippeers", {"name LIKE": "bob"}) == ["bob"]


def test_not_equal_means_present_and_different(peers: Realtime) -> None:
    assert names(peers, "sippeers", {"callerid !=": "B"}) == [
        "Alice",
        "a\\c",
        "a_c",
        "abc",
        "alice",
        "bob ",
    ]


def test_not_equal_to_empty_means_present(peers: Realtime) -> None:
    assert "a%c" not in names(peers, "sippeers", {"callerid !=": ""})
    assert len(names(peers, "sippeers", {"callerid !=": ""})) == 7


def test_not_like_never_matches_null(peers: Realtime) -> None:
    assert "a%c" not in names(peers, "sippeers", {"callerid NOT LIKE": "zzz%"})


def test_equality_with_empty_value_matches_nothing(peers: Realtime) -> None:
    assert names(peers, "sippeers", {"callerid": ""}) == []


def test_text_order_is_code_point_order_not_collation_order(peers: Realtime) -> None:
    # "B" < "a" in code points (so are digits); a case-insensitive collation puts "B" after.
    assert names(peers, "sippeers", {"callerid <": "a"}) == ["Alice", "a_c", "abc", "bob"]


def test_text_order_is_numeric_when_both_sides_are_numbers(peers: Realtime) -> None:
    assert names(peers, "sippeers", {"callerid <": "10"}) == ["a_c"]


def test_equality_on_text_is_not_numeric(peers: Realtime) -> None:
    assert names(peers, "sippeers", {"callerid": "010"}) == []


@pytest.fixture
def timed(rt: Realtime) -> Realtime:
    for name, regseconds in [
        ("p9", "9"),
        ("p10", "10"),
        ("p100", "100"),
        ("pneg", "-5"),
        ("pnull", None),
    ]:
        record = {"name": name}
        if regseconds is not None:
            record["regseconds"] = regseconds
        rt.store("sippeers", record)
    return rt


def test_less_than_on_an_integer_column_is_numeric(timed: Realtime) -> None:
    assert names(timed, "sippeers", {"regseconds <": "10"}) == ["p9", "pneg"]


def test_greater_or_equal_on_an_integer_column_is_numeric(timed: Realtime) -> None:
    assert names(timed, "sippeers", {"regseconds >=": "10"}) == ["p10", "p100"]


def test_integer_comparison_with_a_fraction(timed: Realtime) -> None:
    assert names(timed, "sippeers", {"regseconds <=": "9.5"}) == ["p9", "pneg"]
    assert names(timed, "sippeers", {"regseconds >": "9.5"}) == ["p10", "p100"]


def test_integer_comparison_beyond_the_column_type_is_still_exact(timed: Realtime) -> None:
    assert names(timed, "sippeers", {"regseconds <": "99999999999999999999"}) == [
        "p10",
        "p100",
        "p9",
        "pneg",
    ]


@pytest.mark.parametrize("op", ["", " <", " >="])
def test_a_huge_number_against_an_integer_column_is_answered(timed: Realtime, op: str) -> None:
    found = names(timed, "sippeers", {f"regseconds{op}": "9" * 5000})
    assert found == (["p10", "p100", "p9", "pneg"] if op == " <" else [])


def test_integer_compared_with_text_uses_string_order(timed: Realtime) -> None:
    # "9" > "1x" as strings; 10 and 100 are not ("10" < "1x", "100" < "1x").
    assert names(timed, "sippeers", {"regseconds >": "1x"}) == ["p9"]


def test_equality_on_an_integer_column_compares_its_decimal_spelling(timed: Realtime) -> None:
    assert names(timed, "sippeers", {"regseconds": "10"}) == ["p10"]
    assert names(timed, "sippeers", {"regseconds": "010"}) == []


def test_like_on_an_integer_column_matches_its_decimal_spelling(timed: Realtime) -> None:
    assert names(timed, "sippeers", {"regseconds LIKE": "1%"}) == ["p10", "p100"]


@pytest.fixture
def codecs(rt: Realtime) -> Realtime:
    rt.store("sippeers", [("name", "a"), ("allow", "ulaw"), ("allow", "alaw")])
    rt.store("sippeers", [("name", "b"), ("allow", "g722"), ("allow", "x;y")])
    rt.store("sippeers", [("name", "c"), ("allow", "ULAW")])
    rt.store("sippeers", [("name", "d")])
    return rt


def test_multi_valued_equality_matches_any_value(codecs: Realtime) -> None:
    assert names(codecs, "sippeers", {"allow": "alaw"}) == ["a"]


def test_multi_valued_equality_is_whole_value_not_substring(codecs: Realtime) -> None:
    assert names(codecs, "sippeers", {"allow": "law"}) == []


def test_multi_valued_equality_finds_an_escaped_value(codecs: Realtime) -> None:
    assert names(codecs, "sippeers", {"allow": "x;y"}) == ["b"]


def test_multi_valued_not_equal_requires_that_no_value_equals(codecs: Realtime) -> None:
    assert names(codecs, "sippeers", {"allow !=": "ulaw"}) == ["b", "c"]


def test_multi_valued_like_matches_any_whole_value(codecs: Realtime) -> None:
    assert names(codecs, "sippeers", {"allow LIKE": "_law"}) == ["a"]


def test_multi_valued_like_does_not_match_across_values(codecs: Realtime) -> None:
    assert names(codecs, "sippeers", {"allow LIKE": "ulaw%alaw"}) == []


def test_multi_valued_not_like_requires_that_no_value_matches(codecs: Realtime) -> None:
    assert names(codecs, "sippeers", {"allow NOT LIKE": "%law"}) == ["b", "c"]


def test_several_criteria_are_and_ed(codecs: Realtime) -> None:
    assert names(codecs, "sippeers", {"allow": "ulaw", "name !=": "b"}) == ["a"]


def test_field_names_are_case_insensitive(codecs: Realtime) -> None:
    assert names(codecs, "sippeers", {"NAME": "a"}) == ["a"]


def test_an_unknown_criteria_field_is_refused(rt: Realtime) -> None:
    with pytest.raises(UnknownField, match="nosuchfield"):
        rt.multi("sippeers", {"nosuchfield": "x"})


def test_a_hidden_column_is_not_a_field(rt: Realtime) -> None:
    with pytest.raises(UnknownField, match="hidden"):
        rt.multi("sippeers", {"id": "1"})


def test_extension_lookup_by_context_exten_priority(rt: Realtime) -> None:
    for prio in ("1", "2", "10"):
        rt.store(
            "extensions",
            {"context": "c", "exten": "_1XX", "priority": prio, "app": "NoOp", "appdata": prio},
        )
    rt.store("extensions", {"context": "d", "exten": "_1XX", "priority": "1", "app": "NoOp"})
    record = rt.single("extensions", {"exten": "_1XX", "context": "c", "priority": "2"})
    assert record is not None and record.get("appdata") == "2"


def test_realtime_switch_style_exten_like_query(rt: Realtime) -> None:
    rt.store("extensions", {"context": "c", "exten": "_1XX", "priority": "1", "app": "NoOp"})
    rt.store("extensions", {"context": "c", "exten": "100", "priority": "1", "app": "NoOp"})
    found = rt.multi("extensions", {"exten LIKE": "\\_%", "context": "c", "priority": "1"})
    assert [r.get("exten") for r in found] == ["_1XX"]


def test_backend_search_applies_criteria_objects_directly(
    rt: Realtime, raw_insert: RawInsert
) -> None:
    raw_insert("sippeers", {"name": "a", "port": 5060}, {"name": "b", "port": 5061})
    backend = rt.backends["sql"]
    found = backend.search("sippeers", [Criterion("port", Operator.GT, "5060")])
    assert [r.get("name") for r in found] == ["b"]
