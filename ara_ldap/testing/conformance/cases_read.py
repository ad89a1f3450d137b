"""Read cases: ``single``, ``multi``, every operator, LIKE, result order, special values,
errors and ``require``, against the loaded data set (see :mod:`.dataset` for the drawing).

Nothing here writes, so one load of the data set serves every case of a module.  Expected
results are spelled out in the tables (names in result order) so a case states its
behaviour; the tables follow the semantics of :mod:`ara_ldap.criteria`.
"""

from __future__ import annotations

from typing import Any

import pytest

from ara_ldap.backends.base import Capabilities, FieldType, Requirement
from ara_ldap.criteria import like_escape
from ara_ldap.errors import BadRequest, UnknownFamily, UnknownField
from ara_ldap.testing.conformance.checks import column, names, same_record, same_records
from ara_ldap.testing.conformance.dataset import (
    DATASET,
    DECOYS,
    FAMILIES,
    KEYS,
    PJSIP_FAMILIES,
    SPECIAL_VALUES,
    Dataset,
)
from ara_ldap.testing.conformance.requirements import (
    Cases,
    RealtimeLike,
    for_operation,
    requires,
)

__all__ = [
    "ErrorCases",
    "LikeCases",
    "LoadedRecordCases",
    "MultiCases",
    "OperatorCases",
    "OrderCases",
    "RequireCases",
    "SingleCases",
    "SpecialValueCases",
]

Criteria = list[tuple[str, str]]


def skip_unless(capabilities: Capabilities, flag: str, why: bool = True) -> None:
    """Per-parameter gating (``requires`` gates whole cases): skip with the flag's name."""
    if why and not getattr(capabilities, flag):
        pytest.skip(f"backend lacks capability {flag!r}")


class SingleCases(Cases):
    """``single``: one record or ``None``; the first record in ``multi`` order."""

    operation = "single"

    def test_single_returns_the_record_with_that_key(
        self, realtime: RealtimeLike, dataset: Dataset
    ) -> None:
        found = realtime.single("sippeers", [("name", "alice")])
        assert same_record(found, dataset.expected("sippeers", name="alice"))

    def test_single_returns_none_when_nothing_matches(self, realtime: RealtimeLike) -> None:
        assert realtime.single("sippeers", [("name", "nobody")]) is None

    def test_single_of_several_matches_is_the_first_in_multi_order(
        self, realtime: RealtimeLike
    ) -> None:
        criteria = [("context", "from-internal")]
        first = realtime.single("sippeers", criteria)
        assert same_record(first, realtime.multi("sippeers", criteria)[0])
        # Ties on the first field are broken by the whole record: the same row everywhere.
        assert first is not None and first.get("name") == "bob"

    def test_single_needs_every_criterion_to_match(
        self, realtime: RealtimeLike, dataset: Dataset
    ) -> None:
        box = realtime.single("voicemail", [("mailbox", "1001"), ("context", "sales")])
        assert same_record(box, dataset.expected("voicemail", context="sales", mailbox="1001"))

    def test_single_field_names_are_case_insensitive(self, realtime: RealtimeLike) -> None:
        found = realtime.single("sippeers", [("NAME", "alice")])
        assert found is not None and found.get("name") == "alice"

    def test_single_equality_is_case_sensitive(self, realtime: RealtimeLike) -> None:
        assert realtime.single("sippeers", [("name", "ALICE")]) is None

    def test_single_leaves_out_fields_loaded_empty(self, realtime: RealtimeLike) -> None:
        dave = realtime.single("sippeers", [("name", "dave")])
        assert dave is not None and dave.get("language") is None
        box = realtime.single("voicemail", [("context", "sales"), ("mailbox", "1001")])
        assert box is not None and box.get("pager") is None

    def test_single_leaves_out_fields_never_set(self, realtime: RealtimeLike) -> None:
        dave = realtime.single("sippeers", [("name", "dave")])
        assert dave is not None and dave.get("regseconds") is None and dave.get("port") is None

    def test_single_returns_secret_fields(self, realtime: RealtimeLike) -> None:
        # Secrets are masked in messages, never in results: Asterisk needs them.
        alice = realtime.single("sippeers", [("name", "alice")])
        assert alice is not None and alice.get("secret") == "fake-alice-secret"

    def test_single_keeps_a_value_with_semicolons_whole(self, realtime: RealtimeLike) -> None:
        carol = realtime.single("sippeers", [("name", "carol")])
        assert carol is not None
        assert carol.get_all("fullcontact") == ["sip:carol@192.0.2.10:5060;transport=udp"]

    @requires("unicode_values")
    def test_single_reads_non_ascii_values_as_text(self, realtime: RealtimeLike) -> None:
        bob = realtime.single("sippeers", [("name", "bob")])
        assert bob is not None and bob.get("callerid") == '"Bøb Ëxämple" <1002>'

    def test_single_reads_numbers_as_their_decimal_spelling(self, realtime: RealtimeLike) -> None:
        alice = realtime.single("sippeers", [("name", "alice")])
        assert alice is not None
        assert (alice.get("port"), alice.get("regseconds"), alice.get("busylevel")) == (
            "5060",
            "1700000000",
            "2",
        )

    def test_single_returns_the_configured_key_of_an_extension_row(
        self, realtime: RealtimeLike, dataset: Dataset
    ) -> None:
        row = realtime.single(
            "extensions", [("exten", "100"), ("priority", "2"), ("context", "from-internal")]
        )
        assert same_record(
            row, dataset.expected("extensions", context="from-internal", exten="100", priority="2")
        )


def _loaded_params() -> list[Any]:
    params = []
    for family in FAMILIES:
        if family in PJSIP_FAMILIES:  # cases_pjsip.py reads those back (gated on pjsip)
            continue
        for rec in DATASET.records(family):
            key = ":".join(rec.get(f) or "" for f in KEYS[family])
            params.append(pytest.param(family, rec, id=f"{family}:{key}"))
    return params


class LoadedRecordCases(Cases):
    """Every record of the data set reads back exactly as loaded (loader and read path)."""

    operation = "single"

    @pytest.mark.parametrize(("family", "rec"), _loaded_params())
    def test_single_reads_back_the_loaded_record(
        self, realtime: RealtimeLike, capabilities: Capabilities, family: str, rec: Any
    ) -> None:
        skip_unless(capabilities, "unicode_values", not all(v.isascii() for _, v in rec))
        lists = any(len(values) > 1 for values in rec.grouped().values())
        skip_unless(capabilities, "ordered_multi_values", lists)
        found = realtime.single(family, DATASET.key_criteria(family, rec))
        assert same_record(found, rec.without_empty())


class MultiCases(Cases):
    """``multi``: every matching record, ``[]`` when none."""

    operation = "multi"

    def test_multi_returns_every_match(self, realtime: RealtimeLike) -> None:
        boxes = realtime.multi("voicemail", [("mailbox", "1001")])
        assert column(boxes, "context") == ["default", "sales"]

    def test_multi_returns_an_empty_list_when_nothing_matches(self, realtime: RealtimeLike) -> None:
        assert realtime.multi("voicemail", [("mailbox", "9999")]) == []

    def test_multi_returns_whole_records(self, realtime: RealtimeLike, dataset: Dataset) -> None:
        (alice,) = realtime.multi("sippeers", [("name", "alice")])
        assert same_record(alice, dataset.expected("sippeers", name="alice"))

    def test_multi_returns_every_row_of_a_context(self, realtime: RealtimeLike) -> None:
        rows = realtime.multi("extensions", [("context", "from-internal")])
        assert len(rows) == 10

    @requires("ordered_multi_values")
    def test_multi_keeps_the_order_of_multi_valued_fields(self, realtime: RealtimeLike) -> None:
        peers = realtime.multi("sippeers", [("allow", "ulaw")])
        assert [p.get_all("allow") for p in peers] == [["g722", "ulaw"], ["ulaw", "alaw", "g722"]]

    @requires("ordered_multi_values")
    def test_multi_reads_values_in_the_written_order(self, realtime: RealtimeLike) -> None:
        (alice,) = realtime.multi("sippeers", [("name", "alice")])
        assert alice.get_all("setvar") == ["TENANT=example", "CALLCLASS=internal"]


class OrderCases(Cases):
    """Result order: by the first criterion's field (numbers numerically and before text,
    text by code point), ties by the whole record, so every backend returns the same list."""

    operation = "multi"

    def test_multi_orders_by_the_first_field_numbers_first_then_code_points(
        self, realtime: RealtimeLike, dataset: Dataset
    ) -> None:
        everyone = [r.get("name") or "" for r in dataset.records("sippeers")]
        expected = ["1000", *sorted(n for n in everyone if n != "1000")]
        assert names(realtime.multi("sippeers", [("name LIKE", "%")])) == expected

    def test_multi_orders_numbers_numerically(self, realtime: RealtimeLike) -> None:
        # As text "999" would sort after "1800000000".
        peers = realtime.multi("sippeers", [("regseconds >", "0")])
        assert names(peers) == ["carol", "alice", "bob"]

    def test_multi_orders_numbers_before_text(self, realtime: RealtimeLike) -> None:
        peers = realtime.multi("sippeers", [("accountcode LIKE", "%")])
        assert column(peers, "accountcode") == ["9", "10", "100", "5x"]

    def test_multi_orders_by_the_first_criterion_not_the_key(self, realtime: RealtimeLike) -> None:
        peers = realtime.multi("sippeers", [("host LIKE", "%")])
        assert column(peers, "host") == ["192.0.2.10", "dynamic", "dynamic", "dynamic"]

    def test_multi_breaks_ties_by_the_whole_record(self, realtime: RealtimeLike) -> None:
        peers = realtime.multi("sippeers", [("host LIKE", "%")])
        assert names(peers) == ["carol", "bob", "alice", "dave"]

    def test_multi_orders_priorities_numerically(self, realtime: RealtimeLike) -> None:
        rows = realtime.multi(
            "extensions",
            [("priority >=", "1"), ("exten", "100"), ("context", "from-internal")],
        )
        assert column(rows, "priority") == ["1", "2", "3", "10"]

    def test_multi_orders_extensions_by_exten_first(self, realtime: RealtimeLike) -> None:
        rows = realtime.multi("extensions", [("exten LIKE", "%"), ("context", "default")])
        assert [(r.get("exten"), r.get("priority")) for r in rows] == [
            ("100", "1"),
            ("_9.", "1"),
            ("s", "1"),
            ("s", "2"),
        ]

    def test_multi_orders_by_a_multi_valued_field_by_its_first_value(
        self, realtime: RealtimeLike
    ) -> None:
        assert names(realtime.multi("sippeers", [("allow LIKE", "%")])) == [
            "carol",
            "bob",
            "alice",
        ]

    def test_multi_orders_voicemail_ties_by_context(self, realtime: RealtimeLike) -> None:
        boxes = realtime.multi("voicemail", [("mailbox LIKE", "%")])
        assert [(b.get("mailbox"), b.get("context")) for b in boxes] == [
            ("1001", "default"),
            ("1001", "sales"),
            ("1002", "default"),
            ("2000", "sales"),
        ]

    def test_multi_order_is_the_same_on_every_call(self, realtime: RealtimeLike) -> None:
        first = realtime.multi("extensions", [("context", "from-internal")])
        again = realtime.multi("extensions", [("context", "from-internal")])
        assert same_records(first, again)


OPERATOR_TABLE = [
    # id, criteria on sippeers, expected names in result order
    ("equals", [("name", "alice")], ["alice"]),
    ("equals-is-case-sensitive", [("name", "ALICE")], []),
    ("equals-is-textual-not-numeric", [("port", "05060")], []),
    ("equals-on-an-integer-field", [("busylevel", "10")], ["bob"]),
    ("equals-text-on-an-integer-field-finds-nothing", [("busylevel", "ten")], []),
    ("equals-empty-matches-nothing", [("fullcontact", "")], []),
    ("not-equal-skips-null-and-equal", [("host !=", "dynamic")], ["carol"]),
    ("angle-brackets-mean-not-equal", [("host <>", "dynamic")], ["carol"]),
    ("not-equal-empty-means-present", [("fullcontact !=", "")], ["carol"]),
    ("less-than-is-numeric-for-numbers", [("regseconds <", "1000000000")], ["carol"]),
    ("less-equal-includes-the-bound", [("regseconds <=", "1700000000")], ["carol", "alice"]),
    ("greater-than-excludes-the-bound", [("regseconds >", "1700000000")], ["bob"]),
    ("greater-equal-includes-the-bound", [("regseconds >=", "1700000000")], ["alice", "bob"]),
    ("less-than-on-an-integer-field", [("busylevel <", "10")], ["alice", "carol"]),
    ("greater-than-a-decimal", [("busylevel >", "2.5")], ["carol", "bob"]),
    ("less-than-a-negative-bound", [("busylevel <", "-1")], []),
    ("less-than-a-huge-bound", [("busylevel <", "9" * 20)], ["alice", "carol", "bob"]),
    ("numeric-order-on-a-text-field", [("accountcode <", "50")], ["alice", "bob"]),
    ("text-order-when-one-side-is-text", [("accountcode <", "5x")], ["bob", "carol"]),
    ("greater-than-on-a-text-field", [("accountcode >", "9")], ["bob", "carol"]),
    (
        "text-order-is-code-point-order",
        [("name <", "b")],
        ["1000", "100%", "Zed", "a_b", "alice", "axb"],
    ),
    ("uppercase-sorts-before-lowercase", [("name <", "a")], ["1000", "100%", "Zed"]),
    ("null-satisfies-no-ordering", [("qualifyfreq <", "1000")], ["alice", "bob"]),
    (
        "criteria-are-anded",
        [("context", "from-internal"), ("host", "dynamic"), ("busylevel >=", "2")],
        ["bob", "alice"],
    ),
    ("multi-valued-equals-any-value", [("allow", "ulaw")], ["bob", "alice"]),
    ("multi-valued-not-equal-no-value", [("allow !=", "ulaw")], ["carol"]),
    ("multi-valued-greater-than-any-value", [("allow >", "g")], ["bob", "alice"]),
    ("field-name-case-is-ignored", [("NAME", "alice")], ["alice"]),
]

SPELLING_TABLE = [
    # Operator spellings real Asterisk modules send (curl-protocol.md §3.4).
    ("two-spaces-before-like", [("name  LIKE", "ali%")], ["alice"]),
    ("lower-case-like", [("name like", "ali%")], ["alice"]),
    ("no-space-before-operator", [("regseconds<", "1000000000")], ["carol"]),
    ("trailing-space-after-operator", [("regseconds <= ", "999")], ["carol"]),
    ("mixed-case-field-and-no-space", [("BusyLevel>=", "10")], ["bob"]),
    ("not-like-with-two-spaces", [("context NOT  LIKE", "from-%")], ["100%", "1000", "a_b", "axb"]),
]

LIKE_TABLE = [
    ("percent-matches-any-run", [("name LIKE", "a%")], ["a_b", "alice", "axb"]),
    ("underscore-matches-one-character", [("name LIKE", "a_b")], ["a_b", "axb"]),
    ("escaped-underscore-is-literal", [("name LIKE", "a\\_b")], ["a_b"]),
    ("unescaped-percent-matches-longer-values", [("name LIKE", "100%")], ["1000", "100%"]),
    ("escaped-percent-is-literal", [("name LIKE", "100\\%")], ["100%"]),
    ("percent-alone-matches-every-present-value", [("fullcontact LIKE", "%")], ["carol"]),
    ("no-wildcard-is-exact", [("name LIKE", "alice")], ["alice"]),
    ("like-is-case-sensitive", [("name LIKE", "A%")], []),
    ("like-is-anchored", [("name LIKE", "lic")], []),
    ("percent-both-sides-finds-inner-text", [("name LIKE", "%lic%")], ["alice"]),
    ("underscores-count-characters", [("name LIKE", "___")], ["Zed", "a_b", "axb", "bob"]),
    ("not-like-excludes-null", [("context NOT LIKE", "from-%")], ["100%", "1000", "a_b", "axb"]),
    ("star-is-not-a-wildcard", [("useragent LIKE", "a*b")], ["ua-star"]),
    ("escaped-backslash-is-literal", [("useragent LIKE", "C:\\\\dir")], ["ua-backslash"]),
    ("parentheses-are-literal", [("useragent LIKE", "f(%)")], ["ua-parens"]),
    ("percent-finds-a-semicolon-inside", [("useragent LIKE", "%;%")], ["ua-mixed", "ua-semicolon"]),
    ("like-on-multi-valued-any-value", [("allow LIKE", "g7%")], ["bob", "alice"]),
    ("not-like-on-multi-valued-no-value", [("allow NOT LIKE", "g7%")], ["carol"]),
    ("like-on-a-numeric-field", [("regseconds LIKE", "17%")], ["alice"]),
    ("like-on-an-integer-field", [("busylevel LIKE", "1_")], ["bob"]),
]


def _table(rows: list[tuple[str, Criteria, list[str]]]) -> list[Any]:
    return [pytest.param(criteria, expected, id=case_id) for case_id, criteria, expected in rows]


class OperatorCases(Cases):
    """Every operator with SQL semantics; NULL (absent) satisfies nothing."""

    operation = "multi"

    @pytest.mark.parametrize(("criteria", "expected"), _table(OPERATOR_TABLE))
    def test_multi_operator(
        self, realtime: RealtimeLike, criteria: Criteria, expected: list[str]
    ) -> None:
        assert names(realtime.multi("sippeers", criteria)) == expected

    @pytest.mark.parametrize(("criteria", "expected"), _table(SPELLING_TABLE))
    def test_multi_operator_spelling(
        self, realtime: RealtimeLike, criteria: Criteria, expected: list[str]
    ) -> None:
        assert names(realtime.multi("sippeers", criteria)) == expected


class LikeCases(Cases):
    """LIKE and NOT LIKE: ``%`` any run, ``_`` one character, ``\\`` escapes; exact case."""

    operation = "multi"

    @pytest.mark.parametrize(("criteria", "expected"), _table(LIKE_TABLE))
    def test_multi_like(
        self, realtime: RealtimeLike, criteria: Criteria, expected: list[str]
    ) -> None:
        assert names(realtime.multi("sippeers", criteria)) == expected

    @requires("unicode_values")
    def test_multi_like_finds_non_ascii_text(self, realtime: RealtimeLike) -> None:
        assert names(realtime.multi("sippeers", [("callerid LIKE", "%Bøb%")])) == ["bob"]

    @requires("unicode_values")
    def test_multi_like_underscore_matches_one_non_ascii_character(
        self, realtime: RealtimeLike
    ) -> None:
        # One character, not one byte: "ø" is two bytes in UTF-8.
        assert names(realtime.multi("sippeers", [("callerid LIKE", '"B_b %')])) == ["bob"]


def _special_params() -> list[Any]:
    return [pytest.param(key, value, id=key) for key, value in SPECIAL_VALUES.items()]


def _decoy_params() -> list[Any]:
    return [pytest.param(i, value, id=f"decoy-{i}") for i, value in enumerate(DECOYS)]


class SpecialValueCases(Cases):
    """Values with ``; ^ % _ * ( ) \\ , =``, spaces and non-ASCII text are data, never
    syntax: each is found by itself and by nothing else (decoys are loaded beside them)."""

    operation = "multi"

    @pytest.mark.parametrize(("key", "value"), _special_params())
    def test_multi_equality_finds_only_the_special_value(
        self, realtime: RealtimeLike, capabilities: Capabilities, key: str, value: str
    ) -> None:
        skip_unless(capabilities, "unicode_values", not value.isascii())
        assert names(realtime.multi("sippeers", [("useragent", value)])) == [f"ua-{key}"]

    @pytest.mark.parametrize(("key", "value"), _special_params())
    def test_multi_escaped_like_finds_only_the_special_value(
        self, realtime: RealtimeLike, capabilities: Capabilities, key: str, value: str
    ) -> None:
        skip_unless(capabilities, "unicode_values", not value.isascii())
        found = realtime.multi("sippeers", [("useragent LIKE", like_escape(value))])
        assert names(found) == [f"ua-{key}"]

    @pytest.mark.parametrize(("index", "value"), _decoy_params())
    def test_multi_equality_finds_only_the_decoy(
        self, realtime: RealtimeLike, capabilities: Capabilities, index: int, value: str
    ) -> None:
        skip_unless(capabilities, "unicode_values", not value.isascii())
        assert names(realtime.multi("sippeers", [("useragent", value)])) == [f"ua-decoy-{index}"]

    @for_operation("single")
    @pytest.mark.parametrize(("key", "value"), _special_params())
    def test_single_returns_the_special_value_unchanged(
        self, realtime: RealtimeLike, capabilities: Capabilities, key: str, value: str
    ) -> None:
        skip_unless(capabilities, "unicode_values", not value.isascii())
        peer = realtime.single("sippeers", [("name", f"ua-{key}")])
        assert peer is not None and peer.get_all("useragent") == [value]


class ErrorCases(Cases):
    """Not found is ``None`` / ``[]``; a request that cannot be right is an error."""

    operation = "single"

    def test_single_without_criteria_is_a_bad_request(self, realtime: RealtimeLike) -> None:
        with pytest.raises(BadRequest):
            realtime.single("sippeers", [])

    @for_operation("multi")
    def test_multi_without_criteria_is_a_bad_request(self, realtime: RealtimeLike) -> None:
        with pytest.raises(BadRequest):
            realtime.multi("sippeers", [])

    def test_single_on_an_unknown_family_is_unknown_family(self, realtime: RealtimeLike) -> None:
        with pytest.raises(UnknownFamily):
            realtime.single("nosuchfamily", [("name", "alice")])

    @for_operation("multi")
    def test_multi_on_an_unknown_family_is_unknown_family(self, realtime: RealtimeLike) -> None:
        with pytest.raises(UnknownFamily):
            realtime.multi("nosuchfamily", [("name LIKE", "%")])

    def test_single_on_an_unknown_field_is_a_bad_request(self, realtime: RealtimeLike) -> None:
        with pytest.raises(BadRequest):
            realtime.single("sippeers", [("nosuchfield", "x")])

    @requires("detailed_errors")
    def test_single_on_an_unknown_field_is_unknown_field(self, realtime: RealtimeLike) -> None:
        with pytest.raises(UnknownField):
            realtime.single("sippeers", [("nosuchfield", "x")])

    @for_operation("multi")
    def test_multi_on_an_unknown_field_is_a_bad_request(self, realtime: RealtimeLike) -> None:
        with pytest.raises(BadRequest):
            realtime.multi("sippeers", [("name LIKE", "%"), ("nosuchfield LIKE", "%")])

    @for_operation("multi")
    @requires("detailed_errors")
    def test_multi_on_an_unknown_field_is_unknown_field(self, realtime: RealtimeLike) -> None:
        with pytest.raises(UnknownField):
            realtime.multi("sippeers", [("name LIKE", "%"), ("nosuchfield LIKE", "%")])

    @requires("detailed_errors")
    def test_single_on_a_surrogate_key_is_unknown_field(self, realtime: RealtimeLike) -> None:
        # SQL's id column is hidden, LDAP has none: neither is a realtime field.
        with pytest.raises(UnknownField):
            realtime.single("sippeers", [("id", "1")])

    def test_single_with_a_malformed_field_name_is_a_bad_request(
        self, realtime: RealtimeLike
    ) -> None:
        with pytest.raises(BadRequest):
            realtime.single("sippeers", [("name ~", "alice")])

    @for_operation("require")
    def test_require_on_an_unknown_family_is_unknown_family(self, realtime: RealtimeLike) -> None:
        with pytest.raises(UnknownFamily):
            realtime.require("nosuchfamily", [Requirement("name", FieldType.CHAR, 10)])


class RequireCases(Cases):
    """``require``: the problems that stop a family from holding such data."""

    operation = "require"

    def test_require_of_fields_that_fit_reports_nothing(self, realtime: RealtimeLike) -> None:
        problems = realtime.require(
            "sippeers",
            [
                Requirement("name", FieldType.CHAR, 10),
                Requirement("context", FieldType.CHAR, 20),
                Requirement("regseconds", FieldType.INTEGER4, 11),
                Requirement("port", FieldType.UINTEGER2, 5),
                Requirement("busylevel", FieldType.INTEGER4, 11),
            ],
        )
        assert problems == []

    def test_require_of_voicemail_and_extension_fields_reports_nothing(
        self, realtime: RealtimeLike
    ) -> None:
        assert realtime.require("voicemail", [Requirement("mailbox", FieldType.CHAR, 10)]) == []
        assert (
            realtime.require(
                "extensions",
                [Requirement("exten", FieldType.CHAR, 20), Requirement("app", FieldType.CHAR, 20)],
            )
            == []
        )

    def test_require_of_an_unknown_field_is_a_problem(self, realtime: RealtimeLike) -> None:
        assert realtime.require("sippeers", [Requirement("nosuchfield", FieldType.CHAR, 1)])

    def test_require_of_text_in_an_integer_field_is_a_problem(self, realtime: RealtimeLike) -> None:
        assert realtime.require("sippeers", [Requirement("busylevel", FieldType.CHAR, 10)])

    @requires("detailed_errors")
    def test_require_names_the_field_of_each_problem(self, realtime: RealtimeLike) -> None:
        (unknown,) = realtime.require("sippeers", [Requirement("nosuchfield", FieldType.CHAR, 1)])
        (numeric,) = realtime.require("sippeers", [Requirement("busylevel", FieldType.CHAR, 10)])
        assert "nosuchfield" in unknown and "busylevel" in numeric

    @requires("detailed_errors")
    def test_require_reports_every_problem(self, realtime: RealtimeLike) -> None:
        problems = realtime.require(
            "sippeers",
            [
                Requirement("nosuchfield", FieldType.CHAR, 1),
                Requirement("name", FieldType.CHAR, 10),
                Requirement("busylevel", FieldType.CHAR, 10),
            ],
        )
        assert len(problems) == 2

    @requires("bounded_text")
    def test_require_of_text_wider_than_the_field_is_a_problem(
        self, realtime: RealtimeLike
    ) -> None:
        assert realtime.require("sippeers", [Requirement("name", FieldType.CHAR, 1000)])
