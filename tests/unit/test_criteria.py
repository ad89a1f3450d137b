"""Criteria: Asterisk's "column operator" field names and their SQL semantics.

References: curl-protocol.md §3.4 (spellings modules send, the gateway parsing rule, SQL
semantics), §3.5 (NULLs), realtime-api.md §5.3 (LIKE) and §11.5 (operators).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ara_ldap.criteria import (
    Criterion,
    LikeToken,
    Operator,
    as_criteria,
    as_number,
    like_escape,
    parse_criteria,
    parse_criterion,
    parse_field_name,
    parse_like,
    record_matches,
)
from ara_ldap.errors import BadRequest
from ara_ldap.record import Record

EQ, NE, LT, LE = Operator.EQ, Operator.NE, Operator.LT, Operator.LE
GT, GE = Operator.GT, Operator.GE
LIKE, NOT_LIKE = Operator.LIKE, Operator.NOT_LIKE


def crit(op: Operator, value: str, field: str = "f") -> Criterion:
    return Criterion(field, op, value)


# Parsing field names (curl-protocol.md §3.4) ---------------------------------------------


@pytest.mark.parametrize(
    ("name", "column", "op"),
    [
        pytest.param("name", "name", EQ, id="plain column is equality"),
        pytest.param("name LIKE", "name", LIKE, id="name LIKE"),
        pytest.param("exten LIKE", "exten", LIKE, id="exten LIKE"),
        pytest.param("regseconds <", "regseconds", LT, id="regseconds <"),
        pytest.param("expiration_time <=", "expiration_time", LE, id="expiration_time <="),
        pytest.param("position >=", "position", GE, id="position >="),
        pytest.param("x >", "x", GT, id="x >"),
        pytest.param("contact !=", "contact", NE, id="contact !="),
        pytest.param("x <>", "x", NE, id="<> is !="),
        pytest.param("x =", "x", EQ, id="explicit ="),
        pytest.param("startTime<= ", "startTime", LE, id="no space before op, trailing space"),
        pytest.param("starttime <= ", "starttime", LE, id="space before op, trailing space"),
        pytest.param("endtime>= ", "endtime", GE, id="endtime>= "),
        pytest.param("session-timers", "session-timers", EQ, id="dash in column"),
        pytest.param("call-limit", "call-limit", EQ, id="call-limit"),
        pytest.param("100rel", "100rel", EQ, id="leading digit"),
        pytest.param("@foo", "@foo", EQ, id="sorcery extended field"),
        pytest.param("a NOT LIKE", "a", NOT_LIKE, id="NOT LIKE"),
        pytest.param("a  not   like", "a", NOT_LIKE, id="not like with extra spaces"),
        pytest.param("name like", "name", LIKE, id="lowercase like"),
        pytest.param("name Like", "name", LIKE, id="mixed case like"),
        pytest.param("  name  ", "name", EQ, id="surrounding whitespace stripped"),
    ],
)
def test_parse_field_name_accepts_every_spelling_asterisk_sends(
    name: str, column: str, op: Operator
) -> None:
    assert parse_field_name(name) == (column, op)


def test_parse_field_name_keeps_the_column_spelling() -> None:
    assert parse_field_name("startTime<= ")[0] == "startTime"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("name; DROP", id="sql injection"),
        pytest.param("a b", id="two words"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="only spaces"),
        pytest.param("x regex", id="regex operator"),
        pytest.param("x IS NULL", id="IS NULL"),
        pytest.param("a=b", id="text after the operator"),
        pytest.param("a LIKE LIKE", id="operator twice"),
        pytest.param("na.me", id="dot in column"),
        pytest.param("<", id="operator without column"),
    ],
)
def test_parse_field_name_rejects_invalid_names_with_bad_request(name: str) -> None:
    with pytest.raises(BadRequest):
        parse_field_name(name)


def test_the_rejection_message_quotes_the_name_and_lists_the_operators() -> None:
    with pytest.raises(BadRequest) as info:
        parse_field_name("x regex")
    message = str(info.value)
    assert "'x regex'" in message
    assert "LIKE" in message and "<=" in message


def test_parse_criterion_builds_a_criterion_with_column_operator_and_value() -> None:
    assert parse_criterion("regseconds <", "1700000000") == Criterion(
        "regseconds", LT, "1700000000"
    )


def test_parse_criteria_keeps_the_order_of_the_pairs() -> None:
    parsed = parse_criteria([("name LIKE", "b%"), ("host", "dynamic"), ("port >", "0")])
    assert [(c.field, c.op) for c in parsed] == [("name", LIKE), ("host", EQ), ("port", GT)]


def test_as_criteria_accepts_criteria_pairs_and_mappings() -> None:
    c = Criterion("name", EQ, "bob")
    assert as_criteria([c]) == [c]
    assert as_criteria([("name", "bob")]) == [c]
    assert as_criteria({"name": "bob"}) == [c]
    assert as_criteria([]) == []


def test_as_criteria_rejects_an_invalid_name() -> None:
    with pytest.raises(BadRequest):
        as_criteria({"name; DROP": "x"})


def test_criterion_key_is_the_lowercased_field() -> None:
    assert Criterion("startTime", LE, "x").key == "starttime"


def test_str_of_a_criterion_shows_field_operator_and_quoted_value() -> None:
    assert str(Criterion("name", LIKE, "b%")) == "name LIKE 'b%'"


def test_only_ne_and_not_like_are_negative_operators() -> None:
    assert {op for op in Operator if op.negative} == {NE, NOT_LIKE}


# Numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0", "10", "-3", "+4", "1.5", ".5", "5.", "1e3", "-2.5E-2"])
def test_as_number_accepts_numbers(text: str) -> None:
    assert as_number(text) is not None


@pytest.mark.parametrize("text", ["", " 1", "1 ", "abc", "12abc", "inf", "nan", "0x10", "1,5"])
def test_as_number_rejects_non_numbers(text: str) -> None:
    assert as_number(text) is None


# Comparison operators: numeric when both sides are numbers, else strings ------------------


def test_greater_than_is_numeric_when_both_sides_are_numbers() -> None:
    assert crit(GT, "9").matches(["10"])  # as strings '10' < '9'


def test_less_than_is_numeric_when_both_sides_are_numbers() -> None:
    assert not crit(LT, "9").matches(["10"])
    assert crit(LT, "10").matches(["9"])


def test_greater_than_compares_strings_when_neither_side_is_a_number() -> None:
    assert crit(GT, "a").matches(["b"])
    assert not crit(GT, "b").matches(["a"])


def test_a_text_value_against_a_number_compares_as_strings() -> None:
    # 'abc' < '9' is false in code-point order ('a' > '9').
    assert not crit(LT, "9").matches(["abc"])
    assert crit(GT, "9").matches(["abc"])


def test_string_comparison_is_code_point_order_so_upper_case_sorts_first() -> None:
    assert crit(LT, "a").matches(["Z"])


def test_meetme_datetimes_compare_lexically() -> None:
    assert crit(LE, "2024-05-01 12:00:00").matches(["2024-05-01 11:59:59"])
    assert not crit(LE, "2024-05-01 12:00:00").matches(["2024-05-01 12:00:01"])
    assert crit(GE, "2024-05-01 12:00:00").matches(["2024-05-01 12:00:00"])


@pytest.mark.parametrize(
    ("op", "stored", "value", "expected"),
    [
        (LT, "5", "6", True),
        (LT, "6", "6", False),
        (LE, "6", "6", True),
        (LE, "7", "6", False),
        (GT, "7", "6", True),
        (GT, "6", "6", False),
        (GE, "6", "6", True),
        (GE, "5", "6", False),
        (EQ, "6", "6", True),
        (EQ, "5", "6", False),
        (NE, "5", "6", True),
        (NE, "6", "6", False),
        (LE, "1699999999", "1700000000", True),
        (GE, "-1", "0", False),
        (GT, "1.5", "1.25", True),
    ],
)
def test_every_comparison_operator_on_numbers(
    op: Operator, stored: str, value: str, expected: bool
) -> None:
    assert crit(op, value).matches([stored]) is expected


def test_equality_of_numbers_is_textual() -> None:
    # Not numeric: an equality lookup must stay an indexed equality on every backend.
    assert not crit(EQ, "10").matches(["10.0"])
    assert not crit(EQ, "10").matches(["010"])
    assert crit(NE, "10").matches(["10.0"])
    assert crit(EQ, "10").matches(["10"])


def test_equality_is_case_sensitive() -> None:
    assert crit(EQ, "Bob").matches(["Bob"])
    assert not crit(EQ, "Bob").matches(["bob"])


def test_not_equal_is_case_sensitive() -> None:
    assert crit(NE, "Bob").matches(["bob"])


def test_equality_does_not_trim_spaces() -> None:
    assert not crit(EQ, "bob").matches(["bob "])


# NULL: a missing field and an empty value satisfy nothing (curl-protocol.md §3.4-3.5) ----


@pytest.mark.parametrize("op", list(Operator))
def test_a_missing_field_satisfies_no_operator(op: Operator) -> None:
    assert not crit(op, "x").matches([])


@pytest.mark.parametrize("op", list(Operator))
def test_an_empty_value_satisfies_no_operator(op: Operator) -> None:
    assert not crit(op, "x").matches([""])


def test_not_equal_empty_means_present_and_non_empty() -> None:
    contact = crit(NE, "", field="contact")
    assert contact.matches(["sip:alice@10.0.0.1"])
    assert not contact.matches([""])
    assert not contact.matches([])


def test_equal_empty_matches_nothing() -> None:
    assert not crit(EQ, "").matches([""])
    assert not crit(EQ, "").matches(["x"])


def test_empty_values_among_others_are_ignored() -> None:
    assert crit(EQ, "ulaw").matches(["", "ulaw"])
    assert crit(NE, "ulaw").matches(["", "alaw"])


# LIKE (curl-protocol.md §3.4: % any run, _ one character, \ escapes) --------------------


def test_like_percent_matches_any_run_including_none() -> None:
    c = crit(LIKE, "b%")
    assert c.matches(["b"])
    assert c.matches(["bob"])
    assert not c.matches(["abob"])


def test_like_percent_alone_matches_every_non_empty_value() -> None:
    assert crit(LIKE, "%").matches(["anything"])
    assert not crit(LIKE, "%").matches([""])


def test_like_underscore_matches_exactly_one_character() -> None:
    c = crit(LIKE, "10_")
    assert c.matches(["101"])
    assert not c.matches(["10"])
    assert not c.matches(["1012"])


def test_like_backslash_underscore_is_a_literal_underscore() -> None:
    c = crit(LIKE, "\\_%")
    assert c.matches(["_X."])
    assert not c.matches(["100"])


def test_like_backslash_percent_is_a_literal_percent() -> None:
    c = crit(LIKE, "100\\%")
    assert c.matches(["100%"])
    assert not c.matches(["1000"])


def test_like_double_backslash_is_a_literal_backslash() -> None:
    c = crit(LIKE, "a\\\\b")
    assert c.matches(["a\\b"])
    assert not c.matches(["a\\\\b"])


def test_like_trailing_lone_backslash_is_a_literal_backslash() -> None:
    c = crit(LIKE, "a\\")
    assert c.matches(["a\\"])
    assert not c.matches(["a"])


def test_like_without_wildcards_is_exact_equality() -> None:
    c = crit(LIKE, "bob")
    assert c.matches(["bob"])
    assert not c.matches(["bobby"])


def test_like_is_anchored_at_both_ends() -> None:
    assert not crit(LIKE, "ob").matches(["bob"])
    assert crit(LIKE, "%ob").matches(["bob"])


def test_like_is_case_sensitive() -> None:
    assert crit(LIKE, "B%").matches(["Bob"])
    assert not crit(LIKE, "B%").matches(["bob"])


def test_like_treats_regex_metacharacters_literally() -> None:
    c = crit(LIKE, "a.c(d)*%")
    assert c.matches(["a.c(d)*e"])
    assert not c.matches(["abc(d)*e"])


def test_like_wildcards_span_newlines() -> None:
    assert crit(LIKE, "a%b").matches(["a\nb"])
    assert crit(LIKE, "a_b").matches(["a\nb"])


def test_not_like_is_the_negation_for_present_values() -> None:
    c = crit(NOT_LIKE, "b%")
    assert c.matches(["alice"])
    assert not c.matches(["bob"])
    assert not c.matches([])


def test_parse_like_splits_literals_and_wildcards() -> None:
    assert parse_like("a%b_c") == ["a", LikeToken.ANY, "b", LikeToken.ONE, "c"]


def test_parse_like_collapses_consecutive_percents() -> None:
    assert parse_like("a%%b") == ["a", LikeToken.ANY, "b"]


def test_parse_like_unescapes_into_the_literal_run() -> None:
    assert parse_like("a\\%b\\_c") == ["a%b_c"]


# Multi-valued fields: any for positive, none for negative --------------------------------


def test_a_positive_criterion_matches_when_any_value_does() -> None:
    assert crit(EQ, "alaw", field="allow").matches(["ulaw", "alaw"])
    assert crit(LIKE, "g7%", field="allow").matches(["ulaw", "g722"])
    assert not crit(EQ, "gsm", field="allow").matches(["ulaw", "alaw"])


def test_a_negative_criterion_matches_only_when_no_value_matches_the_positive_form() -> None:
    assert not crit(NE, "alaw", field="allow").matches(["ulaw", "alaw"])
    assert crit(NE, "gsm", field="allow").matches(["ulaw", "alaw"])
    assert not crit(NOT_LIKE, "%law", field="allow").matches(["g722", "ulaw"])
    assert crit(NOT_LIKE, "%law", field="allow").matches(["g722", "gsm"])


def test_matches_record_looks_the_field_up_case_insensitively() -> None:
    record = Record([("Name", "bob"), ("allow", "ulaw"), ("allow", "alaw")])
    assert Criterion("name", EQ, "bob").matches_record(record)
    assert Criterion("ALLOW", EQ, "alaw").matches_record(record)
    assert not Criterion("host", NE, "").matches_record(record)


def test_matches_record_accepts_mappings_of_strings_or_lists() -> None:
    assert Criterion("name", EQ, "bob").matches_record({"NAME": "bob"})
    assert Criterion("allow", EQ, "alaw").matches_record({"allow": ["ulaw", "alaw"]})
    assert not Criterion("host", EQ, "x").matches_record({"name": "bob"})


def test_matches_record_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        Criterion("name", EQ, "bob").matches_record(42)


def test_record_matches_requires_every_criterion() -> None:
    record = Record([("name", "bob"), ("host", "dynamic")])
    assert record_matches(record, [Criterion("name", EQ, "bob"), Criterion("host", NE, "")])
    assert not record_matches(record, [Criterion("name", EQ, "bob"), Criterion("port", NE, "")])
    assert record_matches(record, [])


# like_escape ------------------------------------------------------------------------------


def test_like_escape_escapes_percent_underscore_and_backslash() -> None:
    assert like_escape("a%b_c\\d") == "a\\%b\\_c\\\\d"


def test_like_escape_round_trips_through_parse_like() -> None:
    text = "100%_\\done"
    assert parse_like(like_escape(text)) == [text]


@given(st.text(min_size=1))
def test_an_escaped_literal_like_pattern_matches_exactly_itself(text: str) -> None:
    # min_size=1: the empty string is NULL, which matches nothing.
    c = Criterion("f", LIKE, like_escape(text))
    assert c.matches([text])
    assert not c.matches([text + "x"])
