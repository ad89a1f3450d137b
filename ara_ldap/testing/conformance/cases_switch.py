"""The Realtime dialplan switch's queries (curl-protocol.md §7.3), exactly as
``pbx_realtime`` sends them: the first field, then ``priority``, then ``context``.

Per lookup the switch sends one ``single`` (exists/exec: ``exten = E``; canmatch:
``exten LIKE 'E%'``; matchmore: ``exten LIKE 'E_%'``) and, if that finds nothing, one
``multi`` for the pattern rows, ``exten LIKE '\\_%'``.  Asterisk tries every row of that
answer as a pattern, so it must hold pattern rows only.  The dialplan is drawn in
:mod:`.dataset`.
"""

from __future__ import annotations

import pytest

from ara_ldap.testing.conformance.checks import column, same_record
from ara_ldap.testing.conformance.dataset import Dataset
from ara_ldap.testing.conformance.requirements import Cases, RealtimeLike

__all__ = ["SwitchCases"]

FI = "from-internal"
PATTERNS = "\\_%"


def _query(first: tuple[str, str], priority: str, context: str) -> list[tuple[str, str]]:
    return [first, ("priority", priority), ("context", context)]


class SwitchCases(Cases):
    """The four queries of the Realtime switch, against the data set's dialplan."""

    operation = "switch"

    def test_switch_exists_finds_the_exact_row(
        self, realtime: RealtimeLike, dataset: Dataset
    ) -> None:
        row = realtime.single("extensions", _query(("exten", "100"), "1", FI))
        assert same_record(
            row, dataset.expected("extensions", context=FI, exten="100", priority="1")
        )

    def test_switch_exec_row_carries_app_and_appdata(self, realtime: RealtimeLike) -> None:
        row = realtime.single("extensions", _query(("exten", "1000"), "1", FI))
        assert row is not None
        assert (row.get("app"), row.get("appdata")) == ("Dial", "SIP/bob,20,tT")

    def test_switch_exists_with_a_missing_priority_finds_nothing(
        self, realtime: RealtimeLike
    ) -> None:
        # The end of an extension: the first priority with no row.
        assert realtime.single("extensions", _query(("exten", "100"), "4", FI)) is None

    def test_switch_exists_in_another_context_finds_that_contexts_row(
        self, realtime: RealtimeLike
    ) -> None:
        row = realtime.single("extensions", _query(("exten", "100"), "1", "default"))
        assert row is not None and row.get("appdata") == "default context"

    def test_switch_exists_does_not_treat_a_pattern_as_a_wildcard(
        self, realtime: RealtimeLike
    ) -> None:
        # "123" matches _1XX in Asterisk, but only via the pattern query: never by equality.
        assert realtime.single("extensions", _query(("exten", "123"), "1", FI)) is None

    def test_switch_label_lookup_at_priority_zero_finds_nothing(
        self, realtime: RealtimeLike
    ) -> None:
        assert realtime.single("extensions", _query(("exten", "100"), "0", FI)) is None

    def test_switch_canmatch_prefix_finds_longer_literals(self, realtime: RealtimeLike) -> None:
        rows = realtime.multi("extensions", _query(("exten LIKE", "100%"), "1", FI))
        assert column(rows, "exten") == ["100", "1000"]

    def test_switch_canmatch_single_returns_the_first_candidate(
        self, realtime: RealtimeLike
    ) -> None:
        row = realtime.single("extensions", _query(("exten LIKE", "10%"), "1", FI))
        assert row is not None and row.get("exten") == "100"

    def test_switch_canmatch_excludes_pattern_rows(self, realtime: RealtimeLike) -> None:
        rows = realtime.multi("extensions", _query(("exten LIKE", "1%"), "1", FI))
        assert column(rows, "exten") == ["100", "101", "1000", "1_0"]

    def test_switch_matchmore_needs_at_least_one_more_character(
        self, realtime: RealtimeLike
    ) -> None:
        rows = realtime.multi("extensions", _query(("exten LIKE", "100_%"), "1", FI))
        assert column(rows, "exten") == ["1000"]

    def test_switch_matchmore_of_a_complete_extension_finds_nothing(
        self, realtime: RealtimeLike
    ) -> None:
        assert realtime.single("extensions", _query(("exten LIKE", "1000_%"), "1", FI)) is None

    def test_switch_pattern_query_returns_only_pattern_rows(self, realtime: RealtimeLike) -> None:
        rows = realtime.multi("extensions", _query(("exten LIKE", PATTERNS), "1", FI))
        assert column(rows, "exten") == ["_1XX", "_X."]

    def test_switch_pattern_query_skips_literals_containing_underscore(
        self, realtime: RealtimeLike
    ) -> None:
        rows = realtime.multi("extensions", _query(("exten LIKE", PATTERNS), "1", FI))
        assert "1_0" not in column(rows, "exten")

    def test_switch_pattern_query_is_per_priority(self, realtime: RealtimeLike) -> None:
        rows = realtime.multi("extensions", _query(("exten LIKE", PATTERNS), "2", FI))
        assert [(r.get("exten"), r.get("app")) for r in rows] == [("_1XX", "Dial")]

    def test_switch_pattern_query_is_per_context(self, realtime: RealtimeLike) -> None:
        rows = realtime.multi("extensions", _query(("exten LIKE", PATTERNS), "1", "default"))
        assert column(rows, "exten") == ["_9."]

    def test_switch_pattern_query_with_no_patterns_is_empty(self, realtime: RealtimeLike) -> None:
        assert realtime.multi("extensions", _query(("exten LIKE", PATTERNS), "3", FI)) == []

    @pytest.mark.parametrize(
        ("dialed", "expected"),
        [
            pytest.param("10", ["100", "101", "1000"], id="digits"),
            pytest.param("1_0", ["100", "1000", "1_0"], id="dialed-underscore-is-a-wildcard"),
        ],
    )
    def test_switch_canmatch_sends_the_dialed_string_unescaped(
        self, realtime: RealtimeLike, dialed: str, expected: list[str]
    ) -> None:
        # pbx_realtime does not escape E: a '_' in the dialed string matches any character.
        rows = realtime.multi("extensions", _query(("exten LIKE", f"{dialed}%"), "1", FI))
        assert column(rows, "exten") == expected
