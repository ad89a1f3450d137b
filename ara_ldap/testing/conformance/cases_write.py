"""Write cases: ``store``, ``update``, ``update2``, ``destroy``, and what reads see after.

Every case takes the ``fresh`` fixture, which guarantees the data set is intact when the
case starts (the target reloads after any case that wrote), so cases never depend on each
other's leftovers.  Counts follow SQLAlchemy's rowcount cases: "WHERE matches 4, one
already held the value" still counts 4.
"""

from __future__ import annotations

from typing import Any

import pytest

from ara_ldap.backends.base import Capabilities
from ara_ldap.errors import AraError, BadRequest, Conflict, UnknownFamily, UnknownField
from ara_ldap.record import Record
from ara_ldap.testing.conformance.cases_read import skip_unless
from ara_ldap.testing.conformance.checks import column, names, same_record
from ara_ldap.testing.conformance.dataset import SPECIAL_NAMES, SPECIAL_VALUES, Dataset
from ara_ldap.testing.conformance.requirements import (
    Cases,
    RealtimeLike,
    for_operation,
    requires,
)

__all__ = [
    "DestroyCases",
    "StaticWriteCases",
    "StoreCases",
    "Update2Cases",
    "UpdateCases",
]

FI = "from-internal"


def _special_params() -> list[Any]:
    return [pytest.param(key, value, id=key) for key, value in SPECIAL_VALUES.items()]


def _name_params() -> list[Any]:
    return [pytest.param(value, id=key) for key, value in SPECIAL_NAMES.items()]


class StoreCases(Cases):
    """``store``: creates one record (count 1); a duplicate key is a Conflict."""

    operation = "store"
    __requires__ = ("store",)

    def test_store_returns_one_and_the_record_reads_back(self, fresh: RealtimeLike) -> None:
        zoe = Record(
            [
                ("name", "zoe"),
                ("type", "friend"),
                ("host", "dynamic"),
                ("context", FI),
                ("secret", "fake-zoe-secret"),
                ("port", "5070"),
                ("allow", "g729"),
                ("allow", "ulaw"),
            ]
        )
        assert fresh.store("sippeers", zoe) == 1
        assert same_record(fresh.single("sippeers", [("name", "zoe")]), zoe)

    def test_store_leaves_out_empty_values(self, fresh: RealtimeLike) -> None:
        fresh.store("sippeers", [("name", "yan"), ("callerid", ""), ("host", "dynamic")])
        yan = fresh.single("sippeers", [("name", "yan")])
        assert yan is not None and yan.get("callerid") is None and yan.get("host") == "dynamic"

    @requires("ordered_multi_values")
    def test_store_keeps_the_order_of_multi_valued_values(self, fresh: RealtimeLike) -> None:
        codecs = [("allow", "g729"), ("allow", "ulaw"), ("allow", "alaw")]
        fresh.store("sippeers", [("name", "codecs"), *codecs])
        peer = fresh.single("sippeers", [("name", "codecs")])
        assert peer is not None and peer.get_all("allow") == ["g729", "ulaw", "alaw"]

    @requires("repeated_values")
    def test_store_keeps_a_repeated_multi_value(self, fresh: RealtimeLike) -> None:
        fresh.store(
            "sippeers", [("name", "rep"), ("allow", "ulaw"), ("allow", "alaw"), ("allow", "ulaw")]
        )
        peer = fresh.single("sippeers", [("name", "rep")])
        assert peer is not None and peer.get_all("allow") == ["ulaw", "alaw", "ulaw"]

    @requires("!repeated_values")
    def test_store_of_a_repeated_multi_value_is_a_bad_request_and_writes_nothing(
        self, fresh: RealtimeLike
    ) -> None:
        with pytest.raises(BadRequest):
            fresh.store("sippeers", [("name", "rep"), ("allow", "ulaw"), ("allow", "ULAW")])
        assert fresh.single("sippeers", [("name", "rep")]) is None

    def test_store_of_a_duplicate_key_is_a_conflict_and_changes_nothing(
        self, fresh: RealtimeLike, dataset: Dataset
    ) -> None:
        with pytest.raises(Conflict):
            fresh.store("sippeers", [("name", "alice"), ("host", "198.51.100.1")])
        assert same_record(
            fresh.single("sippeers", [("name", "alice")]),
            dataset.expected("sippeers", name="alice"),
        )

    def test_store_of_a_duplicate_extension_row_is_a_conflict(self, fresh: RealtimeLike) -> None:
        with pytest.raises(Conflict):
            fresh.store(
                "extensions",
                [("context", FI), ("exten", "100"), ("priority", "1"), ("app", "Hangup")],
            )
        row = fresh.single("extensions", [("exten", "100"), ("priority", "1"), ("context", FI)])
        assert row is not None and row.get("app") == "Answer"

    @requires("unique_keys_all_families")
    def test_store_of_a_duplicate_voicemail_box_is_a_conflict(self, fresh: RealtimeLike) -> None:
        with pytest.raises(Conflict):
            fresh.store(
                "voicemail", [("context", "default"), ("mailbox", "1001"), ("password", "9")]
            )
        assert len(fresh.multi("voicemail", [("mailbox", "1001"), ("context", "default")])) == 1

    @requires("!unique_keys_all_families")
    def test_store_of_a_second_voicemail_box_with_the_same_key_adds_a_record(
        self, fresh: RealtimeLike
    ) -> None:
        box = [("context", "default"), ("mailbox", "1001"), ("password", "9")]
        assert fresh.store("voicemail", box) == 1
        assert len(fresh.multi("voicemail", [("mailbox", "1001"), ("context", "default")])) == 2

    @requires("exact_keys")
    @pytest.mark.parametrize(
        "name", [pytest.param("Alice", id="case"), pytest.param("alice ", id="trailing-space")]
    )
    def test_store_of_a_key_differing_only_in_case_or_space_is_another_record(
        self, fresh: RealtimeLike, name: str
    ) -> None:
        assert fresh.store("sippeers", [("name", name), ("host", "static")]) == 1
        peer = fresh.single("sippeers", [("name", name)])
        assert peer is not None and (peer.get("name"), peer.get("host")) == (name, "static")
        alice = fresh.single("sippeers", [("name", "alice")])
        assert alice is not None and alice.get("host") == "dynamic"

    @requires("!exact_keys")
    @pytest.mark.parametrize(
        "name", [pytest.param("Alice", id="case"), pytest.param("alice ", id="trailing-space")]
    )
    def test_store_of_a_key_differing_only_in_case_or_space_is_a_conflict(
        self, fresh: RealtimeLike, name: str
    ) -> None:
        with pytest.raises(Conflict):
            fresh.store("sippeers", [("name", name), ("host", "static")])
        assert fresh.single("sippeers", [("name", name)]) is None

    def test_store_of_text_in_an_integer_field_is_refused_and_writes_nothing(
        self, fresh: RealtimeLike
    ) -> None:
        with pytest.raises(AraError):
            fresh.store("sippeers", [("name", "yan"), ("busylevel", "many")])
        assert fresh.single("sippeers", [("name", "yan")]) is None

    def test_store_with_an_unknown_field_is_refused_and_writes_nothing(
        self, fresh: RealtimeLike
    ) -> None:
        with pytest.raises(BadRequest):
            fresh.store("sippeers", [("name", "yan"), ("nosuchfield", "1")])
        assert fresh.single("sippeers", [("name", "yan")]) is None

    @requires("detailed_errors")
    def test_store_with_an_unknown_field_is_unknown_field(self, fresh: RealtimeLike) -> None:
        with pytest.raises(UnknownField):
            fresh.store("sippeers", [("name", "yan"), ("nosuchfield", "1")])

    @requires("bounded_text")
    def test_store_of_a_value_longer_than_the_field_is_refused_and_writes_nothing(
        self, fresh: RealtimeLike
    ) -> None:
        with pytest.raises(AraError):
            fresh.store("sippeers", [("name", "yan"), ("callerid", "x" * 1000)])
        assert fresh.single("sippeers", [("name", "yan")]) is None

    @requires("!bounded_text")
    def test_store_of_a_value_longer_than_any_sql_column_round_trips(
        self, fresh: RealtimeLike
    ) -> None:
        # 200 characters: wider than callerid's VARCHAR(40), within Asterisk's 255-byte
        # request buffers.
        value = "x" * 200
        fresh.store("sippeers", [("name", "yan"), ("callerid", value)])
        yan = fresh.single("sippeers", [("name", "yan")])
        assert yan is not None and yan.get("callerid") == value

    def test_store_without_fields_is_a_bad_request(self, fresh: RealtimeLike) -> None:
        with pytest.raises(BadRequest):
            fresh.store("sippeers", [])

    def test_store_on_an_unknown_family_is_unknown_family(self, fresh: RealtimeLike) -> None:
        with pytest.raises(UnknownFamily):
            fresh.store("nosuchfamily", [("name", "yan")])

    def test_store_accepts_field_names_in_any_case(self, fresh: RealtimeLike) -> None:
        fresh.store("sippeers", [("NAME", "yan"), ("Host", "dynamic")])
        yan = fresh.single("sippeers", [("name", "yan")])
        assert yan is not None and yan.get("host") == "dynamic"

    def test_store_of_a_number_reads_back_its_spelling(self, fresh: RealtimeLike) -> None:
        fresh.store("sippeers", [("name", "yan"), ("busylevel", "7"), ("regseconds", "0")])
        yan = fresh.single("sippeers", [("name", "yan")])
        assert yan is not None and (yan.get("busylevel"), yan.get("regseconds")) == ("7", "0")

    def test_store_a_voicemail_box_in_a_second_context(self, fresh: RealtimeLike) -> None:
        box = Record([("context", "sales"), ("mailbox", "1002"), ("password", "2222")])
        assert fresh.store("voicemail", box) == 1
        boxes = fresh.multi("voicemail", [("mailbox", "1002")])
        assert column(boxes, "context") == ["default", "sales"]

    @for_operation("switch")
    def test_store_a_pattern_row_the_switch_then_finds(self, fresh: RealtimeLike) -> None:
        fresh.store(
            "extensions",
            [("context", FI), ("exten", "_2XX"), ("priority", "1"), ("app", "NoOp")],
        )
        rows = fresh.multi(
            "extensions", [("exten LIKE", "\\_%"), ("priority", "1"), ("context", FI)]
        )
        assert column(rows, "exten") == ["_1XX", "_2XX", "_X."]

    @pytest.mark.parametrize(("key", "value"), _special_params())
    def test_store_round_trips_a_special_value(
        self, fresh: RealtimeLike, capabilities: Capabilities, key: str, value: str
    ) -> None:
        skip_unless(capabilities, "unicode_values", not value.isascii())
        fresh.store("sippeers", [("name", f"new-{key}"), ("useragent", value)])
        peer = fresh.single("sippeers", [("name", f"new-{key}")])
        assert peer is not None and peer.get_all("useragent") == [value]
        found = fresh.multi("sippeers", [("useragent", value)])
        assert names(found) == [f"new-{key}", f"ua-{key}"]

    @requires("ordered_multi_values")
    @pytest.mark.parametrize(("key", "value"), _special_params())
    def test_store_round_trips_a_special_value_in_a_multi_valued_field(
        self, fresh: RealtimeLike, capabilities: Capabilities, key: str, value: str
    ) -> None:
        skip_unless(capabilities, "unicode_values", not value.isascii())
        fresh.store("sippeers", [("name", "multi"), ("setvar", value), ("setvar", "LAST=1")])
        peer = fresh.single("sippeers", [("name", "multi")])
        assert peer is not None and peer.get_all("setvar") == [value, "LAST=1"]
        assert names(fresh.multi("sippeers", [("setvar", value)])) == ["multi"]

    @requires("destroy")
    @pytest.mark.parametrize("name", _name_params())
    def test_store_find_and_destroy_a_name_that_needs_escaping(
        self, fresh: RealtimeLike, capabilities: Capabilities, name: str
    ) -> None:
        skip_unless(capabilities, "unicode_values", not name.isascii())
        assert fresh.store("sippeers", [("name", name), ("host", "dynamic")]) == 1
        peer = fresh.single("sippeers", [("name", name)])
        assert peer is not None and peer.get("name") == name
        assert fresh.destroy("sippeers", [("name", name)]) == 1
        assert fresh.single("sippeers", [("name", name)]) is None


class UpdateCases(Cases):
    """``update(family, keyfield, lookup, changes)``: the count of records that matched
    ``keyfield = lookup`` and now hold the changes; an empty value deletes the field."""

    operation = "update"

    def test_update_returns_the_number_of_matching_records(self, fresh: RealtimeLike) -> None:
        assert fresh.update("sippeers", "context", FI, [("language", "fr")]) == 4
        peers = fresh.multi("sippeers", [("language", "fr")])
        assert sorted(names(peers), key=str) == ["Zed", "alice", "bob", "dave"]

    def test_update_counts_records_that_already_hold_the_value(self, fresh: RealtimeLike) -> None:
        # alice, bob and dave already have host=dynamic; Zed has no host: still 4.
        assert fresh.update("sippeers", "context", FI, [("host", "dynamic")]) == 4

    def test_update_of_nothing_returns_zero(self, fresh: RealtimeLike) -> None:
        assert fresh.update("sippeers", "name", "nobody", [("host", "dynamic")]) == 0

    def test_update_keyfield_match_is_case_sensitive(self, fresh: RealtimeLike) -> None:
        assert fresh.update("sippeers", "name", "ALICE", [("host", "static")]) == 0

    def test_update_changes_only_the_named_fields(
        self, fresh: RealtimeLike, dataset: Dataset
    ) -> None:
        assert fresh.update("sippeers", "name", "alice", [("callerid", "Alice <1001>")]) == 1
        expected = [
            (f, "Alice <1001>" if f == "callerid" else v)
            for f, v in dataset.expected("sippeers", name="alice")
        ]
        assert same_record(fresh.single("sippeers", [("name", "alice")]), Record(expected))

    def test_update_to_empty_deletes_the_field(self, fresh: RealtimeLike) -> None:
        assert fresh.update("sippeers", "name", "alice", [("callerid", "")]) == 1
        alice = fresh.single("sippeers", [("name", "alice")])
        assert alice is not None and alice.get("callerid") is None
        assert fresh.multi("sippeers", [("callerid !=", ""), ("name", "alice")]) == []

    def test_update_to_empty_of_an_absent_field_is_a_match(self, fresh: RealtimeLike) -> None:
        assert fresh.update("sippeers", "name", "dave", [("callerid", "")]) == 1
        dave = fresh.single("sippeers", [("name", "dave")])
        assert dave is not None and dave.get("callerid") is None

    @requires("ordered_multi_values")
    def test_update_replaces_a_multi_valued_field_in_the_given_order(
        self, fresh: RealtimeLike
    ) -> None:
        changes = [("allow", "alaw"), ("allow", "g729"), ("allow", "ulaw")]
        assert fresh.update("sippeers", "name", "alice", changes) == 1
        alice = fresh.single("sippeers", [("name", "alice")])
        assert alice is not None and alice.get_all("allow") == ["alaw", "g729", "ulaw"]

    @requires("ordered_multi_values")
    def test_update_reverses_a_multi_valued_field(self, fresh: RealtimeLike) -> None:
        fresh.update(
            "sippeers", "name", "alice", [("allow", "g722"), ("allow", "alaw"), ("allow", "ulaw")]
        )
        alice = fresh.single("sippeers", [("name", "alice")])
        assert alice is not None and alice.get_all("allow") == ["g722", "alaw", "ulaw"]

    def test_update_to_empty_deletes_a_multi_valued_field(self, fresh: RealtimeLike) -> None:
        assert fresh.update("sippeers", "name", "alice", [("allow", "")]) == 1
        alice = fresh.single("sippeers", [("name", "alice")])
        assert alice is not None and alice.get("allow") is None

    def test_update_renames_the_key(self, fresh: RealtimeLike, dataset: Dataset) -> None:
        assert fresh.update("sippeers", "name", "alice", [("name", "alicia")]) == 1
        assert fresh.single("sippeers", [("name", "alice")]) is None
        renamed = [
            (f, "alicia" if f == "name" else v)
            for f, v in dataset.expected("sippeers", name="alice")
        ]
        assert same_record(fresh.single("sippeers", [("name", "alicia")]), Record(renamed))

    def test_update_renaming_onto_an_existing_key_is_a_conflict(
        self, fresh: RealtimeLike, dataset: Dataset
    ) -> None:
        with pytest.raises(Conflict):
            fresh.update("sippeers", "name", "alice", [("name", "bob")])
        assert same_record(
            fresh.single("sippeers", [("name", "bob")]), dataset.expected("sippeers", name="bob")
        )
        assert fresh.single("sippeers", [("name", "alice")]) is not None

    def test_update_ignores_unknown_fields_beside_known_ones(self, fresh: RealtimeLike) -> None:
        # chan_iax2 sends regserver, which some tables lack: the SQL drivers ignore it.
        changes = [("callerid", "x <1>"), ("nosuchfield", "y")]
        assert fresh.update("sippeers", "name", "alice", changes) == 1
        alice = fresh.single("sippeers", [("name", "alice")])
        assert alice is not None and alice.get("callerid") == "x <1>"

    def test_update_with_only_unknown_fields_is_a_bad_request(self, fresh: RealtimeLike) -> None:
        with pytest.raises(BadRequest):
            fresh.update("sippeers", "name", "alice", [("nosuchfield", "y")])

    @requires("detailed_errors")
    def test_update_with_only_unknown_fields_is_unknown_field(self, fresh: RealtimeLike) -> None:
        with pytest.raises(UnknownField):
            fresh.update("sippeers", "name", "alice", [("nosuchfield", "y")])

    def test_update_without_changes_is_a_bad_request(self, fresh: RealtimeLike) -> None:
        with pytest.raises(BadRequest):
            fresh.update("sippeers", "name", "alice", [])

    def test_update_on_an_unknown_family_is_unknown_family(self, fresh: RealtimeLike) -> None:
        with pytest.raises(UnknownFamily):
            fresh.update("nosuchfamily", "name", "alice", [("host", "x")])

    def test_update_of_a_numeric_field_is_read_back(self, fresh: RealtimeLike) -> None:
        assert fresh.update("sippeers", "name", "carol", [("regseconds", "2000000000")]) == 1
        assert names(fresh.multi("sippeers", [("regseconds >", "1900000000")])) == ["carol"]

    def test_update_of_voicemail_boxes_in_two_contexts(self, fresh: RealtimeLike) -> None:
        assert fresh.update("voicemail", "mailbox", "1001", [("fullname", "Shared")]) == 2

    @pytest.mark.parametrize(("key", "value"), _special_params())
    def test_update_sets_a_special_value(
        self, fresh: RealtimeLike, capabilities: Capabilities, key: str, value: str
    ) -> None:
        skip_unless(capabilities, "unicode_values", not value.isascii())
        assert fresh.update("sippeers", "name", "dave", [("useragent", value)]) == 1
        assert names(fresh.multi("sippeers", [("useragent", value)])) == ["dave", f"ua-{key}"]


class Update2Cases(Cases):
    """``update2(family, criteria, changes)``: criteria are ANDed and may use operators."""

    operation = "update2"

    def test_update2_changes_only_records_matching_every_criterion(
        self, fresh: RealtimeLike
    ) -> None:
        criteria = [("context", "sales"), ("mailbox", "1001")]
        assert fresh.update2("voicemail", criteria, [("password", "9999")]) == 1
        default = fresh.single("voicemail", [("context", "default"), ("mailbox", "1001")])
        assert default is not None and default.get("password") == "1234"
        sales = fresh.single("voicemail", criteria)
        assert sales is not None and sales.get("password") == "9999"

    def test_update2_of_nothing_returns_zero(self, fresh: RealtimeLike) -> None:
        criteria = [("context", "sales"), ("mailbox", "1002")]
        assert fresh.update2("voicemail", criteria, [("password", "9999")]) == 0

    def test_update2_with_an_ordering_operator(self, fresh: RealtimeLike) -> None:
        assert (
            fresh.update2("sippeers", [("regseconds <", "1750000000")], [("qualifyfreq", "30")])
            == 2
        )
        assert names(fresh.multi("sippeers", [("qualifyfreq", "30")])) == ["carol", "alice"]

    def test_update2_with_like(self, fresh: RealtimeLike) -> None:
        assert fresh.update2("sippeers", [("name LIKE", "a\\_%")], [("language", "de")]) == 1
        assert names(fresh.multi("sippeers", [("language", "de")])) == ["a_b"]

    def test_update2_of_an_extension_row(self, fresh: RealtimeLike) -> None:
        criteria = [("context", FI), ("exten", "100"), ("priority", "10")]
        assert fresh.update2("extensions", criteria, [("appdata", "eleven")]) == 1
        row = fresh.single("extensions", criteria)
        assert row is not None and row.get("appdata") == "eleven"

    def test_update2_to_empty_deletes_the_field(self, fresh: RealtimeLike) -> None:
        criteria = [("context", FI), ("exten", "100"), ("priority", "10")]
        assert fresh.update2("extensions", criteria, [("appdata", "")]) == 1
        row = fresh.single("extensions", criteria)
        assert row is not None and row.get("appdata") is None

    def test_update2_without_criteria_is_a_bad_request(self, fresh: RealtimeLike) -> None:
        with pytest.raises(BadRequest):
            fresh.update2("sippeers", [], [("host", "x")])


class DestroyCases(Cases):
    """``destroy``: deletes every match and returns how many."""

    operation = "destroy"
    __requires__ = ("destroy",)

    def test_destroy_returns_the_number_deleted(self, fresh: RealtimeLike) -> None:
        assert fresh.destroy("voicemail", [("mailbox", "1001")]) == 2
        assert fresh.multi("voicemail", [("mailbox", "1001")]) == []

    def test_destroy_of_nothing_returns_zero(self, fresh: RealtimeLike) -> None:
        assert fresh.destroy("voicemail", [("mailbox", "9999")]) == 0

    def test_destroy_deletes_only_records_matching_every_criterion(
        self, fresh: RealtimeLike
    ) -> None:
        assert fresh.destroy("voicemail", [("context", "sales"), ("mailbox", "1001")]) == 1
        assert column(fresh.multi("voicemail", [("mailbox", "1001")]), "context") == ["default"]

    @for_operation("switch")
    def test_destroy_of_the_pattern_rows_leaves_the_literals(self, fresh: RealtimeLike) -> None:
        assert fresh.destroy("extensions", [("exten LIKE", "\\_%"), ("context", FI)]) == 3
        rows = fresh.multi("extensions", [("exten LIKE", "%"), ("priority", "1"), ("context", FI)])
        assert column(rows, "exten") == ["100", "101", "1000", "1_0"]

    def test_destroy_with_an_ordering_operator(self, fresh: RealtimeLike) -> None:
        assert fresh.destroy("sippeers", [("busylevel >=", "9")]) == 2
        assert names(fresh.multi("sippeers", [("busylevel LIKE", "%")])) == ["alice"]

    @requires("store")
    def test_destroy_then_store_of_the_same_key_succeeds(self, fresh: RealtimeLike) -> None:
        assert fresh.destroy("sippeers", [("name", "alice")]) == 1
        assert fresh.store("sippeers", [("name", "alice"), ("host", "dynamic")]) == 1
        alice = fresh.single("sippeers", [("name", "alice")])
        assert alice is not None and alice.get_all("allow") == []

    def test_destroy_without_criteria_is_a_bad_request_and_deletes_nothing(
        self, fresh: RealtimeLike
    ) -> None:
        with pytest.raises(BadRequest):
            fresh.destroy("voicemail", [])
        assert len(fresh.multi("voicemail", [("mailbox LIKE", "%")])) == 4

    def test_destroy_with_an_unknown_field_is_refused_and_deletes_nothing(
        self, fresh: RealtimeLike
    ) -> None:
        with pytest.raises(BadRequest):
            fresh.destroy("voicemail", [("mailbox", "1001"), ("nosuchfield", "x")])
        assert len(fresh.multi("voicemail", [("mailbox", "1001")])) == 2

    def test_destroy_on_an_unknown_family_is_unknown_family(self, fresh: RealtimeLike) -> None:
        with pytest.raises(UnknownFamily):
            fresh.destroy("nosuchfamily", [("name", "alice")])


class StaticWriteCases(Cases):
    """Static files follow their rows: written rows appear, deleted rows vanish."""

    operation = "static"

    @requires("store")
    def test_static_shows_a_stored_row_in_its_category(self, fresh: RealtimeLike) -> None:
        fresh.store(
            "ast_config",
            [
                ("filename", "sip-users.conf"),
                ("category", "bob"),
                ("cat_metric", "0"),
                ("var_metric", "1"),
                ("var_name", "host"),
                ("var_val", "dynamic"),
                ("commented", "0"),
            ],
        )
        bob = fresh.static("sip-users.conf").categories()[1]
        assert (bob.name, bob.variables) == ("bob", [("type", "friend"), ("host", "dynamic")])

    def test_static_shows_an_updated_value(self, fresh: RealtimeLike) -> None:
        criteria = [("filename", "sip.conf"), ("var_name", "context")]
        assert fresh.update2("ast_config", criteria, [("var_val", "from-sip")]) == 1
        general = fresh.static("sip.conf").categories()[0]
        assert general.variables[0] == ("context", "from-sip")

    def test_static_hides_a_row_commented_by_update(self, fresh: RealtimeLike) -> None:
        criteria = [("filename", "sip.conf"), ("var_name", "useragent")]
        assert fresh.update2("ast_config", criteria, [("commented", "1")]) == 1
        general = fresh.static("sip.conf").categories()[0]
        assert "useragent" not in [k for k, _ in general.variables]

    @requires("destroy")
    def test_static_drops_a_destroyed_row(self, fresh: RealtimeLike) -> None:
        criteria = [("filename", "sip.conf"), ("var_name", "callcounter")]
        assert fresh.destroy("ast_config", criteria) == 1
        assert [c.name for c in fresh.static("sip.conf").categories()] == [
            "general",
            "alice",
            "bob",
            "authentication",
        ]
