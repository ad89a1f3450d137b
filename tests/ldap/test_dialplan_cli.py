"""``ara-ldap dialplan`` and ``ara-ldap extensions-check`` on a real slapd.

The fixtures (ldif/40-extensions.ldif) give a pattern-only context (from-internal) and a
literal one with a priority gap (2000: 1, 2, 4).  extensions-check rules are exercised
on crafted rows (stored in a fresh directory, or plain records where LDAP cannot hold
them).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ara_ldap.cli import main
from ara_ldap.dialplan.check import check_extensions, check_rows
from ara_ldap.realtime import Realtime
from ara_ldap.record import Record
from ara_ldap.testing.ldap import write_config
from ara_ldap.testing.slapd import Slapd


@pytest.fixture(scope="module")
def shared_config(ara_slapd: Slapd, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A configuration for the shared, read-only directory."""
    return write_config(tmp_path_factory.mktemp("cli") / "ara-ldap.yaml", ara_slapd)


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), *args])


def store_rows(rt: Realtime, *rows: tuple[str, str, str]) -> None:
    """Store (exten, priority, app) rows in context ``crafted``."""
    for exten, priority, app in rows:
        fields = {"context": "crafted", "exten": exten, "priority": priority}
        if app:
            fields["app"] = app
        rt.store("extensions", fields)


def kinds(rt: Realtime) -> list[tuple[str, str, str]]:
    findings, _ = check_extensions(rt, context="crafted")
    return [(f.exten, f.priority, f.kind) for f in findings]


# dialplan -----------------------------------------------------------------------------------


def test_dialplan_shows_the_pattern_row_at_each_priority(shared_config: Path) -> None:
    result = run(shared_config, "dialplan", "1234@from-internal")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Executing 1234 via switch => Realtime/from-internal@extensions",
        "  priority 1: Dial(PJSIP/${EXTEN},20)  [pattern _1XXX]",
        "  priority 2: VoiceMail(${EXTEN}@default,u)  [pattern _1XXX]",
        "  priority 3: no row: execution stops here (the first missing priority); "
        "the call ends after priority 2",
    ]


def test_dialplan_stops_at_the_gap_although_a_later_priority_exists(shared_config: Path) -> None:
    lines = run(shared_config, "dialplan", "2000@default").stdout.splitlines()
    assert lines[1:3] == [
        "  priority 1: Answer()  [literal 2000]",
        "  priority 2: Playback(demo-congrats)  [literal 2000]",
    ]
    assert lines[3].startswith("  priority 3: no row: execution stops here")
    assert "Hangup" not in "".join(lines)


def test_dialplan_of_an_unknown_number_exits_1(shared_config: Path) -> None:
    result = run(shared_config, "dialplan", "5550001@default")
    assert result.exit_code == 1
    assert "5550001 does not exist in context default" in result.stdout


def test_dialplan_trace_shows_the_queries_of_each_priority(shared_config: Path) -> None:
    lines = run(shared_config, "dialplan", "1234@from-internal", "--trace").stdout.splitlines()
    assert lines[2:4] == [
        "      single extensions: exten=1234&priority=1&context=from-internal -> 0 rows",
        "      multi extensions: exten LIKE=\\_%&priority=1&context=from-internal -> 4 rows",
    ]


def test_dialplan_no_patterns_finds_no_pattern_extension(shared_config: Path) -> None:
    result = run(shared_config, "dialplan", "1234@from-internal", "--no-patterns")
    assert result.exit_code == 1
    assert result.stdout.startswith(
        "Executing 1234 via switch => Realtime/from-internal@extensions/p"
    )


def test_dialplan_canmatch_lists_the_pattern_rows_and_the_deciding_one(shared_config: Path) -> None:
    result = run(shared_config, "dialplan", "1234@from-internal", "--mode", "canmatch")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert "    _1XXX        yes" in lines
    assert lines[-1] == "answer: yes (pattern _1XXX)"
    assert "Asterisk" not in result.stdout


def test_dialplan_asterisk_compat_shows_where_asterisk_differs(shared_config: Path) -> None:
    result = run(
        shared_config, "dialplan", "1234@from-internal", "--mode", "canmatch", "--asterisk-compat"
    )
    lines = result.stdout.splitlines()
    assert "    _1XXX        yes      no" in lines
    assert "answer: yes (pattern _1XXX)" in lines
    assert "Asterisk answers: no (no row matches)" in lines
    assert any(
        line.startswith("  differs: pbx_realtime swaps canmatch and matchmore") for line in lines
    )
    assert result.exit_code == 1  # the exit status follows the simulated (Asterisk) answer


def test_dialplan_asterisk_compat_says_nothing_when_answers_agree(shared_config: Path) -> None:
    result = run(
        shared_config, "dialplan", "12@from-internal", "--mode", "matchmore", "--asterisk-compat"
    )
    assert result.exit_code == 0
    assert "differs" not in result.stdout


def test_dialplan_literal_answer_names_the_first_query(shared_config: Path) -> None:
    result = run(shared_config, "dialplan", "100@default", "--mode", "matchmore")
    assert result.stdout.splitlines()[-1] == (
        "answer: yes (literal 1000, found by the first query; the swap does not affect it)"
    )


def test_dialplan_warns_about_switch_data_without_at_sign(shared_config: Path) -> None:
    result = run(shared_config, "dialplan", "1234@from-internal", "--switch", "Realtime/myfamily")
    assert result.exit_code == 0
    assert "ara-ldap: warning: switch data 'myfamily' has no '@'" in result.stderr
    assert "Realtime/from-internal@extensions" in result.stdout


def test_dialplan_switch_data_chooses_context_and_options(shared_config: Path) -> None:
    result = run(shared_config, "dialplan", "1000@anything", "--switch", "Realtime/default@/p")
    assert result.exit_code == 0
    assert result.stdout.startswith("Executing 1000 via switch => Realtime/default@extensions/p")


def test_dialplan_refuses_an_argument_without_context(shared_config: Path) -> None:
    result = run(shared_config, "dialplan", "1234")
    assert result.exit_code == 1
    assert result.stderr == "ara-ldap: error: expected NUMBER@CONTEXT, got '1234'\n"


def test_dialplan_refuses_family_together_with_switch(shared_config: Path) -> None:
    result = run(shared_config, "dialplan", "1@c", "--family", "x", "--switch", "@y")
    assert result.exit_code == 1
    assert "--family and --switch" in result.stderr


# extensions-check on the fixtures -------------------------------------------------------------


def test_extensions_check_reports_the_gap_in_2000_and_nothing_else(shared_config: Path) -> None:
    result = run(shared_config, "extensions-check")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("2000@default priority 4 [gap]: no row at priority 3 can answer")
    assert "execution ends after priority 2" in lines[0]
    assert lines[1:] == ["1 problem in 1 context (16 rows checked in family extensions)."]


def test_extensions_check_of_a_clean_context_exits_0(shared_config: Path) -> None:
    result = run(shared_config, "extensions-check", "--context", "from-internal")
    assert result.exit_code == 0
    assert result.stdout == "No problems (8 rows checked in context from-internal).\n"


# extensions-check rules on crafted rows -------------------------------------------------------


def test_an_equal_length_catch_all_shadows_a_later_pattern(rt: Realtime) -> None:
    # "_XXXX" < "_ZXXX" in result order, and X includes Z: _ZXXX never runs.
    store_rows(rt, ("_ZXXX", "1", "NoOp"), ("_XXXX", "1", "NoOp"))
    assert kinds(rt) == [("_ZXXX", "1", "shadowed")]


def test_a_longer_pattern_shadows_a_shorter_one_it_contains(rt: Realtime) -> None:
    store_rows(rt, ("_1XXX", "1", "NoOp"), ("_[0-9]XXX", "1", "NoOp"))
    assert kinds(rt) == [("_1XXX", "1", "shadowed")]


def test_a_more_specific_pattern_tried_first_shadows_nothing(rt: Realtime) -> None:
    store_rows(rt, ("_12XX", "1", "NoOp"), ("_1XXX", "1", "NoOp"))
    assert kinds(rt) == []


def test_literal_rows_covering_every_number_shadow_a_pattern(rt: Realtime) -> None:
    store_rows(rt, ("_100[01]", "1", "NoOp"), ("1000", "1", "NoOp"), ("1001", "1", "NoOp"))
    findings, _ = check_extensions(rt, context="crafted")
    assert [(f.exten, f.kind) for f in findings] == [("_100[01]", "shadowed")]
    assert "literal 1000, literal 1001" in findings[0].message


def test_a_pattern_is_not_shadowed_while_one_number_remains(rt: Realtime) -> None:
    store_rows(rt, ("_100[012]", "1", "NoOp"), ("1000", "1", "NoOp"), ("1001", "1", "NoOp"))
    assert kinds(rt) == []


def test_patterns_never_shadow_literals(rt: Realtime) -> None:
    store_rows(rt, ("_XXXX", "1", "NoOp"), ("1234", "1", "NoOp"))
    assert kinds(rt) == []


def test_a_pattern_that_matches_nothing_is_reported(rt: Realtime) -> None:
    store_rows(rt, ("_1[9-0]", "1", "NoOp"))
    assert kinds(rt) == [("_1[9-0]", "1", "never-matches")]


def test_a_gap_in_a_pattern_extension_is_reported(rt: Realtime) -> None:
    store_rows(rt, ("_5XX", "1", "Answer"), ("_5XX", "3", "Hangup"))
    assert kinds(rt) == [("_5XX", "3", "gap")]


def test_a_gap_another_pattern_might_fill_is_not_reported(rt: Realtime) -> None:
    store_rows(rt, ("_5XX", "1", "Answer"), ("_X.", "2", "NoOp"), ("_5XX", "3", "Hangup"))
    assert kinds(rt) == []


def test_a_pattern_filling_a_literal_gap_closes_it(rt: Realtime) -> None:
    store_rows(rt, ("2000", "1", "Answer"), ("_2XXX", "2", "NoOp"), ("2000", "3", "Hangup"))
    assert kinds(rt) == []


def test_a_missing_priority_1_makes_the_later_rows_unreachable(rt: Realtime) -> None:
    store_rows(rt, ("600", "2", "Answer"))
    findings, _ = check_extensions(rt, context="crafted")
    assert [(f.exten, f.kind) for f in findings] == [("600", "gap")]
    assert "the extension does not exist" in findings[0].message


def test_priority_0_rows_are_reported(rt: Realtime) -> None:
    store_rows(rt, ("700", "0", "NoOp"), ("700", "1", "Answer"))
    assert kinds(rt) == [("700", "0", "priority-0")]


@pytest.mark.parametrize("priority", ["n", "01", "1.0", "+1"])
def test_priorities_not_written_as_the_switch_asks_are_reported(
    rt: Realtime, priority: str
) -> None:
    store_rows(rt, ("800", "1", "Answer"), ("800", priority, "NoOp"))
    assert kinds(rt) == [("800", priority, "bad-priority")]


def test_negative_priorities_are_reported(rt: Realtime) -> None:
    store_rows(rt, ("800", "1", "Answer"), ("800", "-1", "NoOp"))
    assert kinds(rt) == [("800", "-1", "negative-priority")]


def test_rows_without_application_are_reported(rt: Realtime) -> None:
    store_rows(rt, ("900", "1", ""))
    assert kinds(rt) == [("900", "1", "no-app")]


def test_extensions_check_exits_1_on_crafted_problems(
    rt: Realtime, fresh_slapd: Slapd, tmp_path: Path
) -> None:
    store_rows(rt, ("900", "1", ""))
    result = run(
        write_config(tmp_path / "ara-ldap.yaml", fresh_slapd),
        "extensions-check",
        "--context",
        "crafted",
    )
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0].startswith(
        "900@crafted priority 1 [no-app]: no application"
    )


def test_duplicate_literal_rows_report_the_one_never_returned() -> None:
    # LDAP cannot hold two rows with one DN; an SQL table can.
    rows = [
        Record([("context", "c"), ("exten", "1"), ("priority", "1"), ("app", "B")]),
        Record([("context", "c"), ("exten", "1"), ("priority", "1"), ("app", "A")]),
    ]
    findings = check_rows(rows)
    assert [(f.kind, f.record.get("app")) for f in findings] == [("duplicate", "B")]


def test_duplicate_pattern_rows_report_the_one_tried_second() -> None:
    rows = [
        Record([("context", "c"), ("exten", "_1X"), ("priority", "1"), ("app", "B")]),
        Record([("context", "c"), ("exten", "_1X"), ("priority", "1"), ("app", "A")]),
    ]
    assert [(f.kind, f.record.get("app")) for f in check_rows(rows)] == [("duplicate", "B")]


def test_rows_without_exten_are_reported() -> None:
    rows = [Record([("context", "c"), ("priority", "1"), ("app", "A")])]
    assert [f.kind for f in check_rows(rows)] == ["no-exten"]
