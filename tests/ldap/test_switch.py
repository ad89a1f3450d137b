"""The Realtime switch on a real slapd: Asterisk's queries, Asterisk's row choice.

Fixtures (ldif/40-extensions.ldif): context ``default`` holds literal rows (1000, 100,
and 2000 with priorities 1, 2, 4); ``from-internal`` holds patterns only (_1XXX, _1XX,
_NXXNXXXXXX, _9.).  Crafted rows go into a fresh directory.  Reference:
curl-protocol.md §7.3 (queries and matching) and §7.4 (exec).
"""

from __future__ import annotations

import pytest

from ara_ldap.dialplan.switch import (
    RealtimeSwitch,
    StopReason,
    SwitchMode,
    SwitchQuery,
    SwitchTarget,
    app_of,
)
from ara_ldap.realtime import Realtime

DEFAULT = SwitchTarget("default")
INTERNAL = SwitchTarget("from-internal")
CRAFTED = SwitchTarget("crafted")


def store_rows(rt: Realtime, *rows: tuple[str, str, str, str]) -> None:
    """Store (exten, priority, app, appdata) rows in context ``crafted``."""
    for exten, priority, app, appdata in rows:
        fields = {"context": "crafted", "exten": exten, "priority": priority}
        if app:
            fields["app"] = app
        if appdata:
            fields["appdata"] = appdata
        rt.store("extensions", fields)


def single(fields: tuple[tuple[str, str], ...], rows: int) -> SwitchQuery:
    return SwitchQuery("single", "extensions", fields, rows)


def multi(fields: tuple[tuple[str, str], ...], rows: int) -> SwitchQuery:
    return SwitchQuery("multi", "extensions", fields, rows)


# Literal and pattern rows --------------------------------------------------------------


def test_a_literal_extension_exists_and_exec_gets_its_app(shared_rt: Realtime) -> None:
    switch = RealtimeSwitch(shared_rt)
    assert switch.exists(DEFAULT, "1000", 2)
    record = switch.exec_row(DEFAULT, "1000", 2)
    assert record is not None and app_of(record) == ("Playback", "hello-world")


def test_a_number_known_only_to_a_pattern_gets_the_pattern_row(shared_rt: Realtime) -> None:
    record = RealtimeSwitch(shared_rt).exec_row(INTERNAL, "1234", 1)
    assert record is not None
    assert record.get("exten") == "_1XXX"
    assert app_of(record) == ("Dial", "PJSIP/${EXTEN},20")


def test_a_dot_pattern_needs_at_least_one_more_digit(shared_rt: Realtime) -> None:
    switch = RealtimeSwitch(shared_rt)
    assert switch.exists(INTERNAL, "91", 1)
    assert not switch.exists(INTERNAL, "9", 1)


def test_an_unknown_number_does_not_exist(shared_rt: Realtime) -> None:
    assert not RealtimeSwitch(shared_rt).exists(DEFAULT, "5550001", 1)


def test_the_longest_matching_pattern_wins_over_a_shorter_one(rt: Realtime) -> None:
    store_rows(rt, ("_X.", "1", "NoOp", "catch-all"), ("_1XXX", "1", "NoOp", "four-digit"))
    record = RealtimeSwitch(rt).exec_row(CRAFTED, "1234", 1)
    assert record is not None and record.get("appdata") == "four-digit"


def test_equal_length_patterns_keep_backend_order_by_exten(rt: Realtime) -> None:
    # "_1X34" < "_1Z34": the switch tries _1X34 first although _1Z34 is more specific.
    store_rows(rt, ("_1Z34", "1", "NoOp", "z"), ("_1X34", "1", "NoOp", "x"))
    record = RealtimeSwitch(rt).exec_row(CRAFTED, "1234", 1)
    assert record is not None and record.get("exten") == "_1X34"


def test_specific_first_orders_equal_length_patterns_by_specificity(rt: Realtime) -> None:
    store_rows(rt, ("_1Z34", "1", "NoOp", "z"), ("_1X34", "1", "NoOp", "x"))
    record = RealtimeSwitch(rt, specific_first=True).exec_row(CRAFTED, "1234", 1)
    assert record is not None and record.get("exten") == "_1Z34"


def test_a_literal_row_beats_every_pattern(rt: Realtime) -> None:
    store_rows(rt, ("_1XXX", "1", "NoOp", "pattern"), ("1234", "1", "NoOp", "literal"))
    answer = RealtimeSwitch(rt).resolve(CRAFTED, "1234", 1)
    assert answer.record is not None and answer.record.get("appdata") == "literal"
    assert not answer.via_pattern


def test_the_pattern_query_returns_only_rows_starting_with_an_underscore(rt: Realtime) -> None:
    # The LIKE value is \_% : the backslash makes "_" literal, so 1000 is not a candidate.
    store_rows(rt, ("1000", "1", "NoOp", ""), ("_1XXX", "1", "NoOp", ""))
    answer = RealtimeSwitch(rt).resolve(CRAFTED, "1999", 1)
    assert [c.exten for c in answer.candidates] == ["_1XXX"]


# Execution ----------------------------------------------------------------------------------


def test_execution_walks_priorities_until_the_first_missing_one(shared_rt: Realtime) -> None:
    walk = RealtimeSwitch(shared_rt).walk(DEFAULT, "2000")
    assert [app_of(s.record)[0] for s in walk.steps] == ["Answer", "Playback"]
    assert (walk.stop, walk.stop_priority) == (StopReason.MISSING_PRIORITY, 3)


def test_a_pattern_extension_runs_its_rows_priority_by_priority(shared_rt: Realtime) -> None:
    walk = RealtimeSwitch(shared_rt).walk(INTERNAL, "1234")
    assert [s.record.get("exten") for s in walk.steps] == ["_1XXX", "_1XXX"]
    assert [app_of(s.record)[0] for s in walk.steps] == ["Dial", "VoiceMail"]


def test_a_row_without_application_stops_execution(rt: Realtime) -> None:
    store_rows(rt, ("500", "1", "Answer", ""), ("500", "2", "", ""), ("500", "3", "Hangup", ""))
    walk = RealtimeSwitch(rt).walk(CRAFTED, "500")
    assert len(walk.steps) == 1
    assert (walk.stop, walk.stop_priority) == (StopReason.NO_APPLICATION, 2)


def test_a_number_without_priority_1_does_not_exist(shared_rt: Realtime) -> None:
    walk = RealtimeSwitch(shared_rt).walk(DEFAULT, "3000")
    assert (walk.stop, walk.steps) == (StopReason.NO_EXTENSION, ())


# Option p -----------------------------------------------------------------------------------


def test_option_p_skips_the_pattern_query(shared_rt: Realtime) -> None:
    switch = RealtimeSwitch(shared_rt)
    assert not switch.exists(SwitchTarget("from-internal", options="p"), "1234", 1)
    assert [q.operation for q in switch.trace] == ["single"]


def test_option_p_still_finds_literal_rows(shared_rt: Realtime) -> None:
    assert RealtimeSwitch(shared_rt).exists(SwitchTarget("default", options="p"), "1000", 1)


# canmatch and matchmore: correct by default, Asterisk's swap on request -------------------------


def test_canmatch_on_a_complete_pattern_match_is_yes(shared_rt: Realtime) -> None:
    assert RealtimeSwitch(shared_rt).canmatch(INTERNAL, "1234")


def test_asterisk_canmatch_on_a_complete_pattern_match_is_no(shared_rt: Realtime) -> None:
    # pbx_realtime asks the core MATCHMORE for canmatch: _1XXX vs 1234 needs no more digits.
    assert not RealtimeSwitch(shared_rt, asterisk_compat=True).canmatch(INTERNAL, "1234")


def test_matchmore_on_a_complete_pattern_match_is_no(shared_rt: Realtime) -> None:
    assert not RealtimeSwitch(shared_rt).matchmore(INTERNAL, "1234")


def test_asterisk_matchmore_on_a_complete_pattern_match_is_yes(shared_rt: Realtime) -> None:
    # ... and CANMATCH for matchmore: the digit collector would wait for the timeout.
    assert RealtimeSwitch(shared_rt, asterisk_compat=True).matchmore(INTERNAL, "1234")


def test_the_answer_records_both_verdicts_and_that_they_differ(shared_rt: Realtime) -> None:
    answer = RealtimeSwitch(shared_rt).resolve(INTERNAL, "1234", 1, SwitchMode.MATCHMORE)
    assert answer.correct_record is None
    assert answer.asterisk_record is not None
    assert answer.asterisk_record.get("exten") == "_1XXX"
    assert answer.differs


def test_partial_pattern_matches_agree_in_both_semantics(shared_rt: Realtime) -> None:
    for asterisk_compat in (False, True):
        switch = RealtimeSwitch(shared_rt, asterisk_compat=asterisk_compat)
        assert switch.canmatch(INTERNAL, "12") and switch.matchmore(INTERNAL, "12")


def test_literal_rows_are_unaffected_by_the_swap(shared_rt: Realtime) -> None:
    # exten LIKE '100_%' finds 1000 in the first query: no pattern matching happens.
    switch = RealtimeSwitch(shared_rt, asterisk_compat=True)
    assert switch.matchmore(DEFAULT, "100")
    assert not switch.matchmore(DEFAULT, "1000")


def test_an_early_match_counts_as_yes_for_matchmore(rt: Realtime) -> None:
    store_rows(rt, ("_12!", "1", "NoOp", ""))
    assert RealtimeSwitch(rt).matchmore(CRAFTED, "12")
    assert RealtimeSwitch(rt, asterisk_compat=True).matchmore(CRAFTED, "12")


# The exact queries --------------------------------------------------------------------------


def test_exists_on_a_pattern_number_issues_one_single_then_one_multi(shared_rt: Realtime) -> None:
    switch = RealtimeSwitch(shared_rt)
    switch.exists(INTERNAL, "1234", 1)
    assert list(switch.trace) == [
        single((("exten", "1234"), ("priority", "1"), ("context", "from-internal")), 0),
        multi((("exten LIKE", "\\_%"), ("priority", "1"), ("context", "from-internal")), 4),
    ]


def test_a_literal_hit_issues_only_the_single_query(shared_rt: Realtime) -> None:
    switch = RealtimeSwitch(shared_rt)
    switch.exists(DEFAULT, "1000", 1)
    assert list(switch.trace) == [
        single((("exten", "1000"), ("priority", "1"), ("context", "default")), 1)
    ]


def test_canmatch_asks_exten_like_number_percent(shared_rt: Realtime) -> None:
    switch = RealtimeSwitch(shared_rt)
    switch.canmatch(DEFAULT, "10")
    assert switch.trace[0].fields == (
        ("exten LIKE", "10%"),
        ("priority", "1"),
        ("context", "default"),
    )


def test_matchmore_asks_for_at_least_one_more_character(shared_rt: Realtime) -> None:
    switch = RealtimeSwitch(shared_rt)
    switch.matchmore(DEFAULT, "10")
    assert switch.trace[0].fields[0] == ("exten LIKE", "10_%")


def test_the_dialed_number_is_not_escaped_in_the_query(shared_rt: Realtime) -> None:
    switch = RealtimeSwitch(shared_rt)
    switch.canmatch(DEFAULT, "1_0")
    assert switch.trace[0].fields[0] == ("exten LIKE", "1_0%")


def test_a_label_lookup_queries_priority_0(shared_rt: Realtime) -> None:
    switch = RealtimeSwitch(shared_rt)
    assert not switch.exists(DEFAULT, "1000", 0)
    assert switch.trace[0].fields[1] == ("priority", "0")


def test_hints_are_never_queried(shared_rt: Realtime) -> None:
    switch = RealtimeSwitch(shared_rt)
    assert not switch.exists(DEFAULT, "1000", -1)
    assert list(switch.trace) == []


def test_the_database_context_and_family_come_from_the_target(shared_rt: Realtime) -> None:
    switch = RealtimeSwitch(shared_rt)
    assert switch.exists(SwitchTarget("default", "extensions"), "100", 1)
    assert switch.trace[0].family == "extensions"
    assert switch.trace[0].fields[2] == ("context", "default")


def test_the_trace_keeps_only_the_most_recent_queries(shared_rt: Realtime) -> None:
    switch = RealtimeSwitch(shared_rt, trace_limit=3)
    switch.walk(INTERNAL, "1234")
    assert len(switch.trace) == 3
    assert switch.trace[-1].fields[1] == ("priority", "3")


@pytest.mark.parametrize("mode", list(SwitchMode))
def test_every_mode_sends_exten_then_priority_then_context(
    shared_rt: Realtime, mode: SwitchMode
) -> None:
    switch = RealtimeSwitch(shared_rt)
    switch.resolve(INTERNAL, "55", 1, mode)
    for query in switch.trace:
        assert [name.split()[0] for name, _ in query.fields] == ["exten", "priority", "context"]
