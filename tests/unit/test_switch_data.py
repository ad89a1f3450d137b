"""The Realtime switch's data string (curl-protocol.md §7.1), its query rendering, and the
pattern shapes extensions-check reasons with.

§7.1: text after the first ``/`` is options; ``@`` splits database context and family;
an empty context is the switch's own context, an empty family is ``extensions``; text
without ``@`` is ignored entirely (the 2004 quirk).
"""

from __future__ import annotations

import pytest

from ara_ldap.dialplan.check import PatternShape, Tail, pattern_shape
from ara_ldap.dialplan.patterns import matches
from ara_ldap.dialplan.switch import (
    SwitchDataError,
    SwitchQuery,
    SwitchTarget,
    parse_switch,
    parse_switch_data,
)

# parse_switch_data ---------------------------------------------------------------------


def test_empty_data_means_the_current_context_and_family_extensions() -> None:
    assert parse_switch_data("", "from-internal") == SwitchTarget("from-internal", "extensions")


def test_context_and_family_are_split_at_the_at_sign() -> None:
    assert parse_switch_data("sales@dialplan", "x") == SwitchTarget("sales", "dialplan")


def test_empty_context_before_the_at_sign_means_the_current_context() -> None:
    assert parse_switch_data("@dialplan", "from-internal") == SwitchTarget(
        "from-internal", "dialplan"
    )


def test_empty_family_after_the_at_sign_means_extensions() -> None:
    assert parse_switch_data("sales@", "x") == SwitchTarget("sales", "extensions")


def test_text_after_the_slash_is_the_option_string() -> None:
    target = parse_switch_data("default@extensions/p", "x")
    assert target == SwitchTarget("default", "extensions", "p")
    assert target.no_patterns


def test_options_without_p_keep_pattern_queries() -> None:
    assert not parse_switch_data("@extensions/q", "x").no_patterns


def test_only_the_first_slash_starts_the_options() -> None:
    assert parse_switch_data("a@b/p/x", "x").options == "p/x"


def test_options_alone_keep_the_defaults() -> None:
    assert parse_switch_data("/p", "ctx") == SwitchTarget("ctx", "extensions", "p")


def test_text_without_at_sign_is_ignored_like_asterisk_does() -> None:
    # Realtime/myfamily: Asterisk queries family "extensions" in the current context.
    assert parse_switch_data("myfamily", "from-internal") == SwitchTarget(
        "from-internal", "extensions"
    )


def test_text_without_at_sign_keeps_its_options() -> None:
    assert parse_switch_data("myfamily/p", "c") == SwitchTarget("c", "extensions", "p")


def test_strict_parse_refuses_text_without_at_sign_and_says_what_to_write() -> None:
    with pytest.raises(SwitchDataError, match=r"Realtime/@myfamily") as info:
        parse_switch_data("myfamily", "from-internal", strict=True)
    assert "'extensions'" in str(info.value) and "'from-internal'" in str(info.value)


def test_strict_parse_accepts_empty_data() -> None:
    assert parse_switch_data("", "c", strict=True) == SwitchTarget("c")


def test_strict_parse_accepts_data_with_at_sign() -> None:
    assert parse_switch_data("@fam/p", "c", strict=True) == SwitchTarget("c", "fam", "p")


def test_parse_switch_accepts_the_realtime_prefix() -> None:
    assert parse_switch("Realtime/sales@dialplan/p", "x") == SwitchTarget("sales", "dialplan", "p")


def test_parse_switch_accepts_a_bare_realtime() -> None:
    assert parse_switch("Realtime", "ctx") == SwitchTarget("ctx")


def test_parse_switch_without_prefix_is_plain_switch_data() -> None:
    assert parse_switch("@dialplan", "ctx") == SwitchTarget("ctx", "dialplan")


def test_target_data_round_trips_through_the_parser() -> None:
    target = SwitchTarget("sales", "dialplan", "p")
    assert parse_switch_data(target.data(), "other") == target


# SwitchQuery ----------------------------------------------------------------------------

PATTERN_QUERY = SwitchQuery(
    "multi",
    "extensions",
    (("exten LIKE", "\\_%"), ("priority", "1"), ("context", "from-internal")),
    4,
)


def test_query_body_reads_like_the_reference() -> None:
    assert PATTERN_QUERY.body() == "exten LIKE=\\_%&priority=1&context=from-internal"


def test_query_wire_form_is_what_res_config_curl_sends() -> None:
    # curl-protocol.md §7.3: exten%20LIKE=%5C_%25&priority=P&context=C
    assert PATTERN_QUERY.wire() == "exten%20LIKE=%5C_%25&priority=1&context=from-internal"


def test_query_text_names_operation_family_and_row_count() -> None:
    assert str(PATTERN_QUERY).startswith("multi extensions: exten LIKE=")
    assert str(PATTERN_QUERY).endswith("-> 4 rows")


# Pattern shapes (extensions-check) ----------------------------------------------------------


def test_shape_of_a_fixed_pattern_has_one_set_per_position() -> None:
    shape = pattern_shape("_1[23]X")
    assert shape.tail is Tail.END
    assert shape.sets == (frozenset(b"1"), frozenset(b"23"), frozenset(b"0123456789"))


def test_shape_skips_dashes_and_empty_sets_and_stops_at_the_callerid_slash() -> None:
    assert pattern_shape("_1-[]2/100").sets == (frozenset(b"1"), frozenset(b"2"))


def test_shape_of_dot_and_bang_patterns_records_the_tail() -> None:
    assert pattern_shape("_9.").tail is Tail.ONE_OR_MORE
    assert pattern_shape("_9!").tail is Tail.ZERO_OR_MORE


def test_unclosed_bracket_makes_a_pattern_that_matches_nothing() -> None:
    assert pattern_shape("_1[23").broken


def test_reversed_range_makes_a_pattern_that_matches_nothing() -> None:
    shape = pattern_shape("_1[9-0]")
    assert shape.broken and "[9-0]" in shape.broken
    assert not matches("_1[9-0]", "15")


@pytest.mark.parametrize(
    ("outer", "inner", "expected"),
    [
        ("_1XXX", "_12XX", True),
        ("_12XX", "_1XXX", False),
        ("_1XXX", "_1XX", False),
        ("_1.", "_1XX", True),
        ("_1.", "_1", False),
        ("_1!", "_1", True),
        ("_1!", "_1.", True),
        ("_1.", "_1!", False),
        ("_1XX", "_1X.", False),
        ("_X.", "_1[2-5]9.", True),
    ],
)
def test_includes_is_set_inclusion_of_matched_numbers(
    outer: str, inner: str, expected: bool
) -> None:
    assert pattern_shape(outer).includes(pattern_shape(inner)) is expected


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("_1XXX", "_1XX", False),
        ("_1XX", "_NXX", False),
        ("_1XX", "_X2X", True),
        ("_9.", "_9", False),
        ("_9!", "_9", True),
        ("_9.", "_XX", True),
        ("_9.", "_8X", False),
        ("_1XXX", "_1!", True),
    ],
)
def test_overlaps_tells_whether_some_number_matches_both(
    left: str, right: str, expected: bool
) -> None:
    assert pattern_shape(left).overlaps(pattern_shape(right)) is expected


def test_finite_shape_lists_exactly_the_numbers_the_matcher_accepts() -> None:
    shape = pattern_shape("_1[2-3]Z")
    numbers = list(shape.numbers())
    assert shape.size() == len(numbers) == 18
    assert all(matches("_1[2-3]Z", n.decode()) for n in numbers)
    assert not matches("_1[2-3]Z", "120")


def test_unbounded_shape_has_no_size() -> None:
    assert PatternShape((), Tail.ONE_OR_MORE).size() is None
