"""Asterisk extension matching (curl-protocol.md §8, main/pbx.c _extension_match_core).

The corpus is table-driven: one list per rule of §8, one test function per list.  Each
case is (pattern, data, mode, expected).  Where §8 is terse, the comment cites the
pbx.c behaviour that decided the expected value.
"""

from __future__ import annotations

import logging
from functools import cmp_to_key

import pytest

from ara_ldap.dialplan import (
    MatchMode,
    MatchResult,
    asterisk_switch_close,
    extension_match,
    matches,
    pattern_specificity_key,
    realtime_order,
)

M = MatchMode.MATCH
C = MatchMode.CANMATCH
MM = MatchMode.MATCHMORE
Y = MatchResult.YES
N = MatchResult.NO
E = MatchResult.EARLY

Case = tuple[str, str, MatchMode, MatchResult]


def case(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult, why: str
) -> pytest.ParameterSet:
    """One corpus row; *why* becomes the test id."""
    return pytest.param(pattern, data, mode, expected, id=why)


PARAMS = ("pattern", "data", "mode", "expected")

# --------------------------------------------------------------------------------------
# Non-pattern (literal) extensions
# --------------------------------------------------------------------------------------

LITERAL_EXACT = [
    case("1234", "1234", M, Y, "literal equal"),
    case("1234", "1235", M, N, "literal last digit differs"),
    case("1234", "123", M, N, "literal data shorter is not exact"),
    case("abc", "ABC", M, N, "literal is case-sensitive"),
    case("ABC", "ABC", M, Y, "literal same case"),
    case("s", "s", M, Y, "literal s extension"),
    case("h", "H", M, N, "literal h vs H"),
    case("*97", "*97", M, Y, "literal star code"),
    case("+4930", "+4930", M, Y, "literal plus number"),
    case("", "", M, Y, "literal empty vs empty"),
    case("1234", "", M, N, "literal empty data is not exact"),
    case("x", "5", M, N, "literal x is not a wildcard without underscore"),
    case("1XX", "123", M, N, "literal 1XX is not a pattern"),
    case("1XX", "1XX", M, Y, "literal 1XX equals itself"),
    case("1.", "12", M, N, "literal dot is not a wildcard"),
]

LITERAL_DASHES = [
    case("555-1234", "5551234", M, Y, "dash in literal pattern"),
    case("5551234", "555-1234", M, Y, "dash in literal data"),
    case("5-5-5", "555", M, Y, "many dashes in literal pattern"),
    case("555", "--5-5-5--", M, Y, "leading and trailing dashes in data"),
    case("555-1234", "555", C, Y, "dashed literal canmatch prefix"),
    case("555-1234", "555-", MM, Y, "dashed literal matchmore, data ends in dash"),
    case("12-34", "1234", MM, N, "dashes do not count as length"),
    case("---", "", M, Y, "dash-only literal equals empty data"),
    case("-", "", C, Y, "dash-only literal canmatch empty"),
    case("-", "", MM, N, "dash-only literal has no more digits"),
]

LITERAL_SHORTER = [
    case("123", "1234", M, N, "literal shorter match"),
    case("123", "1234", C, N, "literal shorter canmatch"),
    case("123", "1234", MM, N, "literal shorter matchmore"),
    case("12-3", "1234", C, N, "literal shorter after dash removal"),
    case("", "1", C, N, "empty literal vs one digit canmatch"),
    case("", "1", M, N, "empty literal vs one digit match"),
    case("s", "s1", C, N, "s vs s1"),
]

LITERAL_CANMATCH_PREFIX = [
    case("1234", "12", C, Y, "literal canmatch prefix"),
    case("1234", "1234", C, Y, "literal canmatch complete"),
    case("1234", "13", C, N, "literal canmatch wrong prefix"),
    case("abc", "AB", C, N, "literal canmatch prefix is case-sensitive"),
    case("1234", "2", C, N, "literal canmatch first digit differs"),
    case("1234", "1-2", C, Y, "literal canmatch prefix with dash in data"),
]

LITERAL_CANMATCH_EMPTY = [
    case("1234", "", C, Y, "literal canmatch empty data"),
    case("", "", C, Y, "empty literal canmatch empty data"),
    case("s", "", C, Y, "s canmatch empty data"),
    case("1234", "---", C, Y, "literal canmatch dash-only data"),
]

LITERAL_MATCHMORE = [
    case("1234", "123", MM, Y, "literal matchmore prefix"),
    case("1234", "1234", MM, N, "literal matchmore complete is no"),
    case("1234", "", MM, Y, "literal matchmore empty data"),
    case("", "", MM, N, "empty literal matchmore empty data"),
    case("1234", "124", MM, N, "literal matchmore wrong prefix"),
    case("1234", "12-3", MM, Y, "literal matchmore dashed prefix"),
]

# --------------------------------------------------------------------------------------
# Patterns: wildcard letters
# --------------------------------------------------------------------------------------

PATTERN_X = [
    case("_X", "0", M, Y, "X 0"),
    case("_X", "9", M, Y, "X 9"),
    case("_X", "a", M, N, "X letter"),
    case("_X", "*", M, N, "X star"),
    case("_X", "/", M, N, "X byte below 0"),
    case("_X", ":", M, N, "X byte above 9"),
    case("_XXX", "123", M, Y, "XXX three digits"),
    case("_XXX", "12a", M, N, "XXX letter at the end"),
    case("_x", "7", M, Y, "lowercase x 7"),
]

PATTERN_Z = [
    case("_Z", "0", M, N, "Z 0"),
    case("_Z", "1", M, Y, "Z 1"),
    case("_Z", "9", M, Y, "Z 9"),
    case("_z", "0", M, N, "lowercase z 0"),
    case("_z", "5", M, Y, "lowercase z 5"),
    case("_ZXX", "099", M, N, "ZXX leading zero"),
    case("_ZXX", "100", M, Y, "ZXX 100"),
]

PATTERN_N = [
    case("_N", "0", M, N, "N 0"),
    case("_N", "1", M, N, "N 1"),
    case("_N", "2", M, Y, "N 2"),
    case("_N", "9", M, Y, "N 9"),
    case("_n", "1", M, N, "lowercase n 1"),
    case("_n", "5", M, Y, "lowercase n 5"),
    case("_N", ":", M, N, "N byte above 9"),
]

PATTERN_LETTERS = [
    case("_x", "x", M, N, "x does not match a literal x"),
    case("_X", "X", M, N, "X does not match a literal X"),
    case("_nxz", "219", M, Y, "lowercase nxz"),
    case("_NXZ", "210", M, N, "NXZ trailing zero"),
    case("_[x]", "x", M, Y, "set x matches literal x"),
    case("_[X]", "x", M, N, "set X is case-sensitive"),
    case("_a", "a", M, Y, "other letters are literal"),
    case("_1Xb", "15b", M, Y, "literal letter after wildcard"),
]

PATTERN_LITERALS = [
    case("_s", "s", M, Y, "pattern literal s"),
    case("_s", "S", M, N, "pattern literal is case-sensitive"),
    case("_A", "a", M, N, "pattern literal A vs a"),
    case("_*X", "*5", M, Y, "pattern literal star"),
    case("_#", "#", M, Y, "pattern literal hash"),
    case("_1_2", "1_2", M, Y, "underscore after the first is literal"),
    case("_1_2", "132", M, N, "inner underscore is not a wildcard"),
    case("_1+", "1+", M, Y, "pattern literal plus"),
]

# --------------------------------------------------------------------------------------
# Patterns: character sets
# --------------------------------------------------------------------------------------

SET_MEMBERS = [
    case("_[123]", "2", M, Y, "set member"),
    case("_[123]", "4", M, N, "set non-member"),
    case("_[*#]", "#", M, Y, "set star-hash hash"),
    case("_[*#]", "5", M, N, "set star-hash digit"),
    case("_[abc]", "B", M, N, "set is case-sensitive"),
    case("_[aB]", "B", M, Y, "set upper member"),
    case("_[11]", "1", M, Y, "set duplicate member"),
    case("_[1]2", "12", M, Y, "single-member set then literal"),
    case("_[A-Z]", "Q", M, Y, "set upper range"),
    case("_[A-Z]", "q", M, N, "set range is case-sensitive"),
]

SET_RANGE = [
    case("_[1-5]", "1", M, Y, "range low end"),
    case("_[1-5]", "5", M, Y, "range high end"),
    case("_[1-5]", "6", M, N, "range above"),
    case("_[1-5]", "0", M, N, "range below"),
    case("_[0-9a-f]", "c", M, Y, "two ranges second"),
    case("_[0-9a-f]", "g", M, N, "two ranges miss"),
    case("_[a-c7]", "7", M, Y, "range then single"),
    case("_[a-c7]", "d", M, N, "range then single miss"),
    case("_[13-57]", "4", M, Y, "single range single: inside"),
    case("_[13-57]", "2", M, N, "single range single: gap"),
    case("_[13-57]", "7", M, Y, "single range single: last"),
    case("_[5-5]", "5", M, Y, "one-char range"),
    # pbx.c tests data >= a && data <= b, so a reversed range contains nothing.
    case("_[9-0]", "5", M, N, "reversed range matches nothing"),
    # A dash that opens a range with both ends inside is a range: '-'..'0'.
    case("_[--0]", "/", M, Y, "range from dash to 0 includes slash"),
    case("_[--0]", "0", M, Y, "range from dash to 0 includes 0"),
    case("_[--0]", "1", M, N, "range from dash to 0 excludes 1"),
]

SET_DASH_LITERAL = [
    case("_[-1]", "1", M, Y, "leading dash: the other member"),
    # '-'..'1' as a range would contain '0'; a leading dash is literal.
    case("_[-1]", "0", M, N, "leading dash is not a range"),
    case("_[1-]", "1", M, Y, "trailing dash: the other member"),
    case("_[1-]", "5", M, N, "trailing dash is not a range"),
    # pbx.c: a range takes 3 chars; the next '-' has only ']' after it: literal.
    case("_[0-1-9]", "5", M, N, "dash after a range is literal"),
    case("_[0-1-9]", "9", M, Y, "dash after a range: last member"),
    case("_[0-1-9]", "1", M, Y, "dash after a range: range member"),
    case("_[-]", "5", M, N, "dash-only set"),
]

SET_EMPTY = [
    case("_[]1", "1", M, Y, "empty set at start"),
    case("_1[]2", "12", M, Y, "empty set in the middle"),
    case("_[][]X", "5", M, Y, "two empty sets"),
    case("_[]", "5", M, N, "empty set only: data left over"),
    # pbx.c skips "[]" only while data remains; at end of data it is "more pattern".
    case("_1[]", "1", M, N, "trailing empty set is more pattern for match"),
    case("_1[]", "1", C, Y, "trailing empty set is partial for canmatch"),
    case("_[]", "", C, Y, "empty set only, empty data, canmatch"),
]

SET_UNCLOSED = [
    case("_[12", "1", M, N, "unclosed set at start"),
    case("_1[2", "12", M, N, "unclosed set after literal"),
    case("_1[2", "12", C, N, "unclosed set canmatch"),
    case("_X[", "55", MM, N, "bare bracket matchmore"),
    case("_[", "1", C, N, "bracket only"),
    case("_[]1[", "12", M, N, "unclosed set after empty set"),
]

# pbx.c only looks for ']' when the walk reaches '[' with data left.
SET_UNCLOSED_NOT_REACHED = [
    case("_1[2", "1", C, Y, "unclosed set not reached: canmatch partial"),
    case("_1[2", "1", MM, Y, "unclosed set not reached: matchmore partial"),
    case("_1[2", "1", M, N, "unclosed set not reached: match needs more"),
    case("_9.[", "95", M, Y, "unclosed set after dot is never read"),
]

# --------------------------------------------------------------------------------------
# Patterns: '.', '!', '/'
# --------------------------------------------------------------------------------------

DOT = [
    case("_9.", "9", M, N, "dot needs one char"),
    case("_9.", "91", M, Y, "dot one char"),
    case("_9.", "9123456789", M, Y, "dot many chars"),
    case("_9.", "8", M, N, "dot prefix mismatch"),
    case("_.", "", M, N, "lone dot empty data"),
    case("_.", "x", M, Y, "lone dot any byte"),
    case("_X.", "1", M, N, "X dot one digit"),
    case("_X.", "12", M, Y, "X dot two digits"),
]

DOT_IGNORES_REST = [
    case("_9.1", "95", M, Y, "pattern after dot ignored"),
    case("_9.X", "9a", M, Y, "wildcard after dot ignored"),
    case("_9.!", "95", M, Y, "bang after dot ignored: yes not early"),
    case("_9.1", "9", C, Y, "dot with rest, no data for it: partial"),
    case("_9.1", "9", M, N, "dot with rest, no data for it: match no"),
]

DOT_EVERY_MODE = [
    case("_9.", "95", MM, Y, "dot reached with data: matchmore yes"),
    case("_9.", "95", C, Y, "dot reached with data: canmatch yes"),
    case("_9.", "9", MM, Y, "pattern at dot: matchmore partial"),
    case("_9.", "9", C, Y, "pattern at dot: canmatch partial"),
    case("_9.", "", MM, Y, "dot pattern empty data matchmore"),
]

BANG = [
    case("_X!", "5", M, E, "bang zero more chars"),
    case("_X!", "55", M, E, "bang one more char"),
    case("_X!", "5", C, E, "bang canmatch"),
    case("_X!", "5", MM, E, "bang matchmore is still early"),
    case("_X!", "", M, N, "bang pattern, empty data, match"),
    case("_X!", "", C, Y, "bang pattern, empty data, canmatch"),
    case("_X!", "", MM, Y, "bang pattern, empty data, matchmore"),
    case("_X!", "a", M, N, "bang pattern prefix mismatch"),
    case("_!", "", M, E, "lone bang empty data"),
    case("_!", "", MM, E, "lone bang empty data matchmore"),
    case("_!", "123", M, E, "lone bang with data"),
    case("_1!2", "13", M, E, "pattern after bang ignored"),
]

SLASH = [
    case("_X/123", "5", M, Y, "slash ends the pattern: match"),
    case("_X/123", "5", MM, N, "slash ends the pattern: matchmore"),
    case("_X/123", "5", C, Y, "slash ends the pattern: canmatch"),
    case("_X/123", "56", M, N, "slash: data left over"),
    case("_X/123", "", C, Y, "slash: partial before it"),
    case("_X/", "5", M, Y, "trailing slash"),
    case("_/", "", M, Y, "slash only, empty data"),
    case("_/", "1", M, N, "slash only, data left"),
    case("_X-/1", "5", M, Y, "dash before slash"),
    case("_1/", "1/", M, N, "slash in data is left over"),
]

# --------------------------------------------------------------------------------------
# Patterns: dashes, after-walk rules
# --------------------------------------------------------------------------------------

PATTERN_DASHES = [
    case("_1-2", "12", M, Y, "dash in pattern"),
    case("_12", "1-2", M, Y, "dash in data"),
    case("_1-2", "1-2", M, Y, "dash in both"),
    case("_NXX-XXXX", "555-1234", M, Y, "dashed pattern, dashed data"),
    case("_NXX-XXXX", "5551234", M, Y, "dashed pattern, plain data"),
    case("_NXXXXXX", "555-1234", M, Y, "plain pattern, dashed data"),
    case("_1-", "1", M, Y, "trailing dash in pattern"),
    case("_-X", "5", M, Y, "leading dash in pattern"),
]

DASHES_IN_DATA = [
    case("_1[-]2", "1-2", M, N, "set with dash cannot match a data dash"),
    case("_X", "-", M, N, "data dash only: nothing consumed"),
    case("_X", "-", C, Y, "data dash only: partial"),
    case("_X", "5-", M, Y, "trailing data dash"),
    case("_[-]", "-", M, N, "dash set vs dash data"),
    case("_1-", "1-", MM, N, "dashes on both ends: exact, not more"),
]

DATA_LEFT_OVER = [
    case("_XX", "123", M, N, "data longer: match"),
    case("_XX", "123", C, N, "data longer: canmatch"),
    case("_XX", "123", MM, N, "data longer: matchmore"),
    case("_1", "12", C, N, "one literal, two digits"),
    case("_", "1", C, N, "empty pattern, one digit"),
]

MATCHMORE = [
    case("_1XX", "12", MM, Y, "matchmore partial"),
    case("_1XX", "123", MM, N, "matchmore complete"),
    case("_1XX", "", MM, Y, "matchmore empty data"),
    case("_1XX", "2", MM, N, "matchmore mismatch"),
    case("_X.", "1", MM, Y, "matchmore dot pending"),
    case("_X", "5", MM, N, "matchmore single wildcard complete"),
    case("_1XX", "1234", MM, N, "matchmore too long"),
]

CANMATCH = [
    case("_1XX", "1", C, Y, "canmatch one digit"),
    case("_1XX", "12", C, Y, "canmatch two digits"),
    case("_1XX", "123", C, Y, "canmatch complete"),
    case("_1XX", "", C, Y, "canmatch empty data"),
    case("_1XX", "2", C, N, "canmatch mismatch"),
    case("_1XX", "1234", C, N, "canmatch too long"),
    case("_NXXNXXXXXX", "212", C, Y, "canmatch NANP prefix"),
]

MATCH_NEEDS_WHOLE = [
    case("_1XX", "12", M, N, "match partial is no"),
    case("_1XX", "123", M, Y, "match complete"),
    case("_1XX", "", M, N, "match empty data"),
]

# --------------------------------------------------------------------------------------
# Pattern vs pattern (E_MATCH with data starting with '_')
# --------------------------------------------------------------------------------------

PATTERN_VS_PATTERN = [
    case("_1XX", "_1XX", M, Y, "same pattern"),
    case("_1xx", "_1XX", M, Y, "wildcard letter case"),
    case("_X", "_[0-9]", M, Y, "X equals [0-9]"),
    case("_N", "_[2-9]", M, Y, "N equals [2-9]"),
    case("_Z", "_[1-9]", M, Y, "Z equals [1-9]"),
    case("_[12]", "_[21]", M, Y, "set order is irrelevant"),
    case("_1", "_[1]", M, Y, "literal equals one-member set"),
    case("_1-XX", "_1XX", M, Y, "dashes ignored"),
    case("_X.", "_X.", M, Y, "same dot pattern"),
    # Equal as patterns -> 1, before the walk could return 2.
    case("_X!", "_X!", M, Y, "same bang pattern is yes not early"),
    case("_[]1", "_1", M, Y, "empty set skipped"),
    # ext_cmp_pattern_pos skips a reversed range like an empty set.
    case("_[9-0]1", "_1", M, Y, "reversed range skipped when comparing"),
    # Both score 0x40000 at '[' and the rest compares equal.
    case("_1[2", "_1[2", M, Y, "same unclosed set compares equal"),
    case("_1XX", "_1X", M, N, "different pattern, walk fails on underscore"),
    case("_.", "_X.", M, Y, "not equal, but the walk reaches the dot"),
    case("__1", "_1", M, Y, "not equal, walk matches the literal underscore"),
    case("_X", "_5", M, N, "not equal, X vs underscore"),
    case("_1XX", "_1XX", C, N, "only match mode compares patterns: canmatch"),
    case("_1XX", "_1XX", MM, N, "only match mode compares patterns: matchmore"),
    case("1XX", "_1XX", M, N, "literal extension is never compared as pattern"),
]

# --------------------------------------------------------------------------------------
# Realistic dialplans and edge cases
# --------------------------------------------------------------------------------------

REALISTIC = [
    case("_NXXNXXXXXX", "2125551234", M, Y, "NANP 10 digits"),
    case("_NXXNXXXXXX", "1125551234", M, N, "NANP area code starts with 1"),
    case("_NXXNXXXXXX", "2121551234", M, N, "NANP exchange starts with 1"),
    case("_NXXNXXXXXX", "212555123", M, N, "NANP 9 digits"),
    case("_NXXNXXXXXX", "212555123", MM, Y, "NANP 9 digits needs more"),
    case("_NXXNXXXXXX", "21255512345", C, N, "NANP 11 digits"),
    case("_1NXXNXXXXXX", "12125551234", M, Y, "NANP with 1"),
    case("_1NXXNXXXXXX", "2125551234", M, N, "NANP without 1"),
    case("_9.", "912125551234", M, Y, "outside line 9"),
    case("_0[1-9]X.", "0301234", M, Y, "national number"),
    case("_0[1-9]X.", "0012345", M, N, "international is not national"),
    case("_0[1-9]X.", "030", M, N, "national number too short"),
    case("_0[1-9]X.", "030", C, Y, "national number prefix"),
    case("_[*#]X.", "*123", M, Y, "feature code star"),
    case("_[*#]X.", "#12", M, Y, "feature code hash"),
    case("_[*#]X.", "123", M, N, "feature pattern without star"),
    case("_+X.", "+4930123", M, Y, "E.164"),
    case("_+X.", "4930123", M, N, "E.164 without plus"),
    case("_+X.", "+", C, Y, "E.164 plus only"),
    case("_X!", "911", M, E, "early match digits"),
    case("_00X.", "0049", M, Y, "international 00"),
    case("_*XX", "*97", M, Y, "voicemail code"),
    case("_NXX", "411", M, Y, "service code"),
]

EDGE_EMPTY_PATTERN = [
    case("_", "", M, Y, "underscore only, empty data, match"),
    case("_", "", C, Y, "underscore only, empty data, canmatch"),
    case("_", "", MM, N, "underscore only, empty data, matchmore"),
    case("_", "1", M, N, "underscore only, data left over"),
    case("_", "_", M, Y, "underscore only vs underscore: equal patterns"),
]

# Asterisk sees UTF-8 bytes: "é" is two positions, C3 A9.
EDGE_NON_ASCII = [
    case("_é", "é", M, Y, "non-ascii literal in pattern"),
    case("_é", "e", M, N, "non-ascii vs ascii"),
    case("_X", "é", M, N, "X vs non-ascii"),
    case("_.", "é", M, Y, "dot vs non-ascii"),
    case("é", "é", M, Y, "non-ascii literal extension"),
    case("ü", "u", M, N, "non-ascii literal mismatch"),
    case("_é", "é", MM, N, "non-ascii complete, matchmore"),
    case("_éX", "é", C, Y, "non-ascii prefix canmatch"),
    case("_[é]", "é", M, N, "set matches one byte, second byte left over"),
    case("_[é][é]", "é", M, Y, "two sets match the two bytes"),
    case("_XX", "1é", M, N, "second position is a lead byte"),
    case("_X", "٣", M, N, "arabic-indic digit is not X"),
]

# C strings end at the first NUL byte.
EDGE_NUL = [
    case("_1X", "1\x00", M, N, "data cut at NUL"),
    case("_1X", "1\x005", C, Y, "data cut at NUL canmatch"),
    case("123\x00abc", "123", M, Y, "pattern cut at NUL"),
]

GROUPS: list[list[pytest.ParameterSet]] = [
    LITERAL_EXACT,
    LITERAL_DASHES,
    LITERAL_SHORTER,
    LITERAL_CANMATCH_PREFIX,
    LITERAL_CANMATCH_EMPTY,
    LITERAL_MATCHMORE,
    PATTERN_X,
    PATTERN_Z,
    PATTERN_N,
    PATTERN_LETTERS,
    PATTERN_LITERALS,
    SET_MEMBERS,
    SET_RANGE,
    SET_DASH_LITERAL,
    SET_EMPTY,
    SET_UNCLOSED,
    SET_UNCLOSED_NOT_REACHED,
    DOT,
    DOT_IGNORES_REST,
    DOT_EVERY_MODE,
    BANG,
    SLASH,
    PATTERN_DASHES,
    DASHES_IN_DATA,
    DATA_LEFT_OVER,
    MATCHMORE,
    CANMATCH,
    MATCH_NEEDS_WHOLE,
    PATTERN_VS_PATTERN,
    REALISTIC,
    EDGE_EMPTY_PATTERN,
    EDGE_NON_ASCII,
    EDGE_NUL,
]
CORPUS = [param for group in GROUPS for param in group]


def _check(pattern: str, data: str, mode: MatchMode, expected: MatchResult) -> None:
    result = extension_match(pattern, data, mode)
    assert type(result) is MatchResult
    assert result == expected


def test_corpus_is_large_and_ids_are_unique() -> None:
    assert len(CORPUS) >= 150
    ids = [param.id for param in CORPUS]
    assert len(ids) == len(set(ids))


# ---- literal extensions --------------------------------------------------------------


@pytest.mark.parametrize(PARAMS, LITERAL_EXACT)
def test_literal_match_is_case_sensitive_byte_equality(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, LITERAL_DASHES)
def test_literal_dashes_are_ignored_in_both_strings(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, LITERAL_SHORTER)
def test_literal_shorter_pattern_never_matches(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, LITERAL_CANMATCH_PREFIX)
def test_literal_canmatch_accepts_prefix(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, LITERAL_CANMATCH_EMPTY)
def test_literal_canmatch_accepts_empty_data(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, LITERAL_MATCHMORE)
def test_literal_matchmore_needs_longer_pattern(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


# ---- wildcards and literals in patterns ----------------------------------------------


@pytest.mark.parametrize(PARAMS, PATTERN_X)
def test_pattern_x_matches_any_digit(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, PATTERN_Z)
def test_pattern_z_excludes_zero(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, PATTERN_N)
def test_pattern_n_excludes_zero_and_one(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, PATTERN_LETTERS)
def test_pattern_letters_are_case_insensitive_wildcards(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, PATTERN_LITERALS)
def test_pattern_other_bytes_are_case_sensitive_literals(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


# ---- sets ----------------------------------------------------------------------------


@pytest.mark.parametrize(PARAMS, SET_MEMBERS)
def test_set_matches_its_bytes_case_sensitively(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, SET_RANGE)
def test_set_range(pattern: str, data: str, mode: MatchMode, expected: MatchResult) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, SET_DASH_LITERAL)
def test_set_dash_first_or_last_is_literal(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, SET_EMPTY)
def test_empty_set_consumes_nothing(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, SET_UNCLOSED)
def test_unclosed_set_never_matches(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, SET_UNCLOSED_NOT_REACHED)
def test_unclosed_set_is_only_checked_when_reached(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


def test_unclosed_set_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ara_ldap.dialplan"):
        assert extension_match("_1[23", "12") == N
    records = [r for r in caplog.records if r.name == "ara_ldap.dialplan"]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert "_1[23" in records[0].getMessage()


def test_unclosed_set_not_reached_logs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="ara_ldap.dialplan"):
        assert extension_match("_1[2", "1", C) == Y
    assert not [r for r in caplog.records if r.name == "ara_ldap.dialplan"]


# ---- '.', '!', '/' -------------------------------------------------------------------


@pytest.mark.parametrize(PARAMS, DOT)
def test_dot_needs_at_least_one_more_char(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, DOT_IGNORES_REST)
def test_dot_ignores_the_rest_of_the_pattern(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, DOT_EVERY_MODE)
def test_dot_with_data_left_is_yes_in_every_mode(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, BANG)
def test_bang_is_early_match(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, SLASH)
def test_slash_ends_the_pattern(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


# ---- dashes and after-walk rules -----------------------------------------------------


@pytest.mark.parametrize(PARAMS, PATTERN_DASHES)
def test_pattern_dashes_are_skipped_in_both_strings(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, DASHES_IN_DATA)
def test_dashes_in_data_never_match(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, DATA_LEFT_OVER)
def test_data_left_over_never_matches(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, MATCHMORE)
def test_matchmore_needs_more_digits(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, CANMATCH)
def test_canmatch_partial(pattern: str, data: str, mode: MatchMode, expected: MatchResult) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, MATCH_NEEDS_WHOLE)
def test_match_needs_the_whole_pattern(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, PATTERN_VS_PATTERN)
def test_pattern_vs_pattern_in_match_mode(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


# ---- realistic and edge cases --------------------------------------------------------


@pytest.mark.parametrize(PARAMS, REALISTIC)
def test_realistic_dialplan_patterns(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, EDGE_EMPTY_PATTERN)
def test_empty_pattern_after_underscore(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, EDGE_NON_ASCII)
def test_non_ascii_is_matched_as_utf8_bytes(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


@pytest.mark.parametrize(PARAMS, EDGE_NUL)
def test_strings_end_at_nul_like_c_strings(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    _check(pattern, data, mode, expected)


# ---- API details ---------------------------------------------------------------------


def test_enum_values_are_asterisks() -> None:
    assert (MM, C, M) == (0, 1, 2)
    assert (N, Y, E) == (0, 1, 2)


def test_mode_defaults_to_match() -> None:
    assert extension_match("_1XX", "12") == N
    assert extension_match("_1XX", "123") == Y


@pytest.mark.parametrize(PARAMS, [p for p in CORPUS if p.values[2] == M])
def test_matches_is_match_mode_with_early_as_yes(
    pattern: str, data: str, mode: MatchMode, expected: MatchResult
) -> None:
    assert matches(pattern, data) is (expected != N)


def test_matches_counts_early_match_as_yes() -> None:
    assert matches("_X!", "5") is True
    assert matches("_X!", "") is False
    assert matches("_X.", "5") is False


# ---- static-context ordering ---------------------------------------------------------


def _sorted(extens: list[str]) -> list[str]:
    return sorted(extens, key=pattern_specificity_key)


def test_specificity_literals_sort_before_patterns() -> None:
    assert _sorted(["_X", "_1", "s", "1", "_."]) == ["1", "s", "_1", "_X", "_."]


def test_specificity_literals_sort_by_bytes_ignoring_dashes() -> None:
    assert _sorted(["2", "12", "1"]) == ["1", "12", "2"]
    assert pattern_specificity_key("12-3") == pattern_specificity_key("123")


def test_specificity_smaller_sets_first() -> None:
    # sizes 1, 2, 8, 9, 10
    extens = ["_X", "_Z", "_N", "_[12]", "_1"]
    assert _sorted(extens) == ["_1", "_[12]", "_N", "_Z", "_X"]


def test_specificity_ties_broken_by_lowest_char() -> None:
    assert _sorted(["_[23]", "_[12]"]) == ["_[12]", "_[23]"]
    assert _sorted(["_2", "_1"]) == ["_1", "_2"]
    # Same size and lowest char: pbx.c compares the member bitmaps, lower chars first.
    assert _sorted(["_[19]", "_[13]"]) == ["_[13]", "_[19]"]


def test_specificity_compares_position_by_position() -> None:
    extens = ["_1X", "_XX", "_11", "_X1"]
    assert _sorted(extens) == ["_11", "_1X", "_X1", "_XX"]


def test_specificity_dot_after_any_set_bang_after_dot_end_last() -> None:
    extens = ["_1", "_1!", "_1.", "_1X", "_1[0-9a-z]"]
    assert _sorted(extens) == ["_1X", "_1[0-9a-z]", "_1.", "_1!", "_1"]


def test_specificity_equal_keys_for_equivalent_patterns() -> None:
    key = pattern_specificity_key
    assert key("_x") == key("_X") == key("_[0-9]") == key("_[9876543210]")
    assert key("_1-X") == key("_1X")
    assert key("_[]1") == key("_1")
    assert key("_[1]") == key("_1")
    assert key("_[12]") != key("_[13]")


def test_specificity_unclosed_set_sorts_after_end_of_pattern(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="ara_ldap.dialplan"):
        assert _sorted(["_1[2", "_1"]) == ["_1", "_1[2"]
    assert any(r.name == "ara_ldap.dialplan" for r in caplog.records)


def test_specificity_realistic_context() -> None:
    # Order checked against pbx.c's ext_cmp.
    extens = [
        "_X.",
        "_9.",
        "_NXXNXXXXXX",
        "_1NXXNXXXXXX",
        "_0[1-9]X.",
        "_X!",
        "_[*#]X.",
        "_+X.",
        "100",
        "_1XX",
        "s",
    ]
    assert _sorted(extens) == [
        "100",
        "s",
        "_+X.",
        "_0[1-9]X.",
        "_1NXXNXXXXXX",
        "_1XX",
        "_9.",
        "_[*#]X.",
        "_NXXNXXXXXX",
        "_X.",
        "_X!",
    ]


def test_specificity_key_is_a_total_order_consistent_with_cmp() -> None:
    extens = ["_X.", "_X!", "_1", "1", "_[12]", "_N"]

    def cmp(a: str, b: str) -> int:
        ka, kb = pattern_specificity_key(a), pattern_specificity_key(b)
        return (ka > kb) - (ka < kb)

    assert sorted(extens, key=cmp_to_key(cmp)) == _sorted(extens)


# ---- pbx_realtime row order ----------------------------------------------------------


def test_realtime_order_longest_pattern_string_first() -> None:
    extens = ["_X.", "_1XX", "_NXXNXXXXXX", "_9."]
    assert realtime_order(extens) == [2, 1, 0, 3]


def test_realtime_order_ties_keep_backend_order() -> None:
    assert realtime_order(["_1X", "_2X", "_3X"]) == [0, 1, 2]
    assert realtime_order(["_3X", "_X!", "_1X", "_XXX"]) == [3, 0, 1, 2]


def test_realtime_order_is_not_specificity_order() -> None:
    # "_X." (3 bytes) is tried before "_1" (2 bytes), although "_1" is more specific.
    assert realtime_order(["_1", "_X."]) == [1, 0]


def test_realtime_order_counts_utf8_bytes() -> None:
    # strlen() counts bytes: "_é" is 3 bytes long, longer than "_X".
    assert realtime_order(["_X", "_é"]) == [1, 0]


def test_realtime_order_missing_exten_is_empty() -> None:
    assert realtime_order([None, "_X", ""]) == [1, 0, 2]


def test_realtime_order_empty() -> None:
    assert realtime_order([]) == []


# ---- pbx_realtime's swapped canmatch/matchmore (§7.3) --------------------------------

SWITCH_CASES = [
    # The §7.3 examples.
    pytest.param("_1XX", "123", MM, True, id="matchmore says yes to a complete match"),
    pytest.param("_1XX", "123", C, False, id="canmatch says no to a complete match"),
    pytest.param("_1X.", "123", C, True, id="canmatch yes when more can follow"),
    pytest.param("_1X.", "12", C, True, id="canmatch yes at a pending dot"),
    pytest.param("_1XX", "12", C, True, id="canmatch yes for a partial match"),
    pytest.param("_1XX", "12", MM, True, id="matchmore yes for a partial match"),
    pytest.param("_1XX", "1234", MM, False, id="matchmore no when too long"),
    pytest.param("_1XX", "1234", C, False, id="canmatch no when too long"),
    pytest.param("_1XX", "2", MM, False, id="matchmore no on mismatch"),
    pytest.param("_X!", "5", M, True, id="early match is yes for exists"),
    pytest.param("_X!", "5", C, True, id="early match is yes for canmatch"),
    pytest.param("_X!", "5", MM, True, id="early match is yes for matchmore"),
    pytest.param("_1XX", "123", M, True, id="exists is a plain match"),
    pytest.param("_1XX", "12", M, False, id="exists needs the whole pattern"),
    pytest.param("_1XX", "_1XX", M, True, id="exists compares patterns too"),
]


@pytest.mark.parametrize(PARAMS, SWITCH_CASES)
def test_asterisk_switch_close_swaps_canmatch_and_matchmore(
    pattern: str, data: str, mode: MatchMode, expected: bool
) -> None:
    assert asterisk_switch_close(pattern, data, mode) is expected


def test_asterisk_switch_close_differs_from_static_semantics() -> None:
    # Static MATCHMORE says no for a complete match and treats '!' as no.
    assert extension_match("_1XX", "123", MM) == N
    assert asterisk_switch_close("_1XX", "123", MM) is True
    assert extension_match("_1XX", "123", C) == Y
    assert asterisk_switch_close("_1XX", "123", C) is False
