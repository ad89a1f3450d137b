"""Every realtime operation through the gateway, as an unmodified Asterisk issues and reads
it (AsteriskCurlClient), against a real slapd loaded with ldif/: the answers must be what
the Realtime core gives in-process."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ara_ldap.backends.base import Requirement
from ara_ldap.record import Record
from ara_ldap.testing.curl_client import AsteriskCurlClient

if TYPE_CHECKING:
    from conftest import Gateway

PEERS = ["alice", "bob", "carol", "dave", "trunk", "trunk,provider+1", "#tenant-a"]
PATTERN_QUERY = [("exten LIKE", "\\_%"), ("priority", "1"), ("context", "from-internal")]


# Reads ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PEERS)
def test_single_returns_what_the_core_returns_without_empty_values(
    gateway: Gateway, client: AsteriskCurlClient, name: str
) -> None:
    direct = gateway.realtime.single("sippeers", {"name": name})
    assert direct is not None
    assert client.single("sippeers", {"name": name}) == direct.without_empty()


def test_single_keeps_multi_valued_fields_in_order(client: AsteriskCurlClient) -> None:
    alice = client.single("sippeers", {"name": "alice"})
    assert alice is not None and alice.get_all("allow") == ["ulaw", "alaw", "g722"]


def test_single_of_a_missing_record_is_none(client: AsteriskCurlClient) -> None:
    assert client.single("sippeers", {"name": "nobody"}) is None
    assert client.last_status == 200 and client.last_body == b""


def test_single_with_several_matches_sends_the_cores_single_row(
    gateway: Gateway, client: AsteriskCurlClient
) -> None:
    direct = gateway.realtime.single("sippeers", {"host": "dynamic"})
    assert direct is not None
    assert client.single("sippeers", {"host": "dynamic"}) == direct.without_empty()
    assert b"\n" not in client.last_body


def test_single_with_several_criteria_matches_all_of_them(client: AsteriskCurlClient) -> None:
    box = client.single("voicemail", [("mailbox", "1001"), ("context", "sales")])
    assert box is not None and box.get("fullname") == "Sales Desk"


def test_multi_returns_the_cores_rows_in_order(
    gateway: Gateway, client: AsteriskCurlClient
) -> None:
    direct = gateway.realtime.multi("sippeers", {"name LIKE": "%"})
    assert client.multi("sippeers", {"name LIKE": "%"}) == [r.without_empty() for r in direct]


def test_multi_rows_are_named_by_the_first_fields_column(client: AsteriskCurlClient) -> None:
    rows = client.multi_named("sippeers", {"name LIKE": "%"})
    assert [name for name, _ in rows] == sorted(PEERS)


def test_switch_pattern_query_returns_only_pattern_rows_named_by_exten(
    client: AsteriskCurlClient,
) -> None:
    rows = client.multi_named("extensions", PATTERN_QUERY)
    assert [name for name, _ in rows] == ["_1XX", "_1XXX", "_9.", "_NXXNXXXXXX"]
    assert rows[2][1].get("appdata") == "PJSIP/${EXTEN:1}@trunk,60"


def test_switch_pattern_query_in_a_context_without_patterns_is_empty(
    client: AsteriskCurlClient,
) -> None:
    assert (
        client.multi(
            "extensions", [("exten LIKE", "\\_%"), ("priority", "1"), ("context", "default")]
        )
        == []
    )


def test_switch_exists_lookup_finds_the_priority_row(client: AsteriskCurlClient) -> None:
    row = client.single(
        "extensions", [("exten", "1000"), ("priority", "2"), ("context", "default")]
    )
    assert row is not None and (row.get("app"), row.get("appdata")) == ("Playback", "hello-world")


def test_switch_canmatch_and_matchmore_prefix_lookups(client: AsteriskCurlClient) -> None:
    canmatch = client.multi(
        "extensions", [("exten LIKE", "100%"), ("priority", "1"), ("context", "default")]
    )
    matchmore = client.multi(
        "extensions", [("exten LIKE", "100_%"), ("priority", "1"), ("context", "default")]
    )
    assert [r.get("exten") for r in canmatch] == ["100", "1000"]
    assert [r.get("exten") for r in matchmore] == ["1000"]


def test_multi_of_nothing_is_an_empty_list(client: AsteriskCurlClient) -> None:
    assert client.multi("sippeers", {"name LIKE": "zz%"}) == []


def test_callers_order_gives_the_same_answers(gateway: Gateway) -> None:
    query = [("exten", "1000"), ("priority", "1"), ("context", "default")]
    with gateway.client(order="given") as given, gateway.client() as asterisk:
        assert given.single("extensions", query) == asterisk.single("extensions", query)
        assert given.last_request_body == b"exten=1000&priority=1&context=default"
        assert asterisk.last_request_body == b"exten=1000&context=default&priority=1"


def test_family_names_in_the_path_are_case_insensitive(client: AsteriskCurlClient) -> None:
    assert client.single("SIPPeers", {"name": "bob"}) is not None


def test_require_of_storable_fields_is_zero(client: AsteriskCurlClient) -> None:
    reqs = [
        Requirement.parse("name", "char:10"),
        Requirement.parse("port", "uinteger2:5"),
        Requirement.parse("regseconds", "integer4:11"),
    ]
    assert client.require("sipregs", reqs) == 0
    assert client.last_request_body == b"name=char%3A10&port=uinteger2%3A5&regseconds=integer4%3A11"


def test_require_of_an_unknown_field_is_minus_one(client: AsteriskCurlClient) -> None:
    assert client.require("sippeers", [Requirement.parse("nosuch", "char:1")]) == -1


def test_static_file_arrives_as_the_core_builds_it(
    gateway: Gateway, client: AsteriskCurlClient
) -> None:
    direct = gateway.realtime.static("sip.conf").categories()
    got = client.static("sip.conf")
    assert [(c.name, c.metric, c.variables) for c in got] == [
        (c.name, c.metric, c.variables) for c in direct
    ]
    assert [c.name for c in got] == ["general", "authentication", "alice", "bob", "carol"]


def test_static_inlines_includes_and_sends_no_include_row(client: AsteriskCurlClient) -> None:
    categories = client.static("sip.conf")
    assert all(name != "#include" for c in categories for name, _ in c.variables)
    assert b"include" not in client.last_body


def test_static_of_a_file_not_stored_is_an_empty_config(client: AsteriskCurlClient) -> None:
    assert client.static("nosuch.conf") == []
    assert client.last_status == 200 and client.last_body == b""


# Writes -------------------------------------------------------------------------------


def test_update_changes_the_keyed_record_and_returns_one(writable: Gateway) -> None:
    with writable.client() as c:
        assert c.update("sippeers", "name", "alice", {"host": "192.0.2.99"}) == 1
        alice = c.single("sippeers", {"name": "alice"})
    assert alice is not None and alice.get("host") == "192.0.2.99"


def test_update_of_no_record_returns_zero(writable: Gateway) -> None:
    with writable.client() as c:
        assert c.update("sippeers", "name", "nobody", {"host": "dynamic"}) == 0


def test_update_with_empty_values_clears_fields(writable: Gateway) -> None:
    with writable.client() as c:
        assert c.update("sippeers", "name", "carol", {"fullcontact": "", "ipaddr": ""}) == 1
        carol = c.single("sippeers", {"name": "carol"}, keep_empty=True)
    assert carol is not None and "fullcontact" not in carol and "ipaddr" not in carol


def test_update_ignores_columns_the_family_lacks(writable: Gateway) -> None:
    with writable.client() as c:
        assert c.update("sippeers", "name", "bob", {"nosuchcolumn": "x", "host": "dynamic"}) == 1


def test_update2_with_two_lookup_fields_updates_the_match(writable: Gateway) -> None:
    with writable.client() as c:
        assert (
            c.update2(
                "sippeers", [("name", "carol"), ("defaultuser", "carol")], {"host": "192.0.2.11"}
            )
            == 1
        )
        assert c.last_target == "/sippeers/update?&name=caroldefaultuser=carol"
        carol = c.single("sippeers", {"name": "carol"})
    assert carol is not None and carol.get("host") == "192.0.2.11"


def test_update2_voicemail_password_change(writable: Gateway) -> None:
    with writable.client() as c:
        assert (
            c.update2(
                "voicemail", [("context", "sales"), ("mailbox", "1001")], {"password": "4321"}
            )
            == 1
        )
        sales = c.single("voicemail", [("mailbox", "1001"), ("context", "sales")])
        default = c.single("voicemail", [("mailbox", "1001"), ("context", "default")])
    assert sales is not None and sales.get("password") == "4321"
    assert default is not None and default.get("password") == "4242"


def test_update2_with_two_changes_run_together(writable: Gateway) -> None:
    with writable.client() as c:
        assert (
            c.update2("sippeers", [("name", "bob")], [("host", "192.0.2.12"), ("port", "5070")])
            == 1
        )
        assert c.last_request_body == b"&host=192.0.2.12port=5070"
        bob = c.single("sippeers", {"name": "bob"})
    assert bob is not None and (bob.get("host"), bob.get("port")) == ("192.0.2.12", "5070")


def test_store_creates_a_record_and_returns_one(writable: Gateway) -> None:
    with writable.client() as c:
        assert (
            c.store(
                "sippeers",
                [
                    ("name", "bar"),
                    ("host", "dynamic"),
                    ("secret", "s3cret"),
                    ("allow", "ulaw"),
                    ("allow", "alaw"),
                ],
            )
            == 1
        )
        bar = c.single("sippeers", {"name": "bar"})
    assert bar is not None and bar.get("secret") == "s3cret"


def test_store_of_an_existing_record_is_minus_one(writable: Gateway) -> None:
    with writable.client() as c:
        assert c.store("sippeers", {"name": "alice", "host": "dynamic"}) == -1
        assert c.last_body == b"-1"


def test_destroy_with_the_trailing_ampersand_deletes_the_record(writable: Gateway) -> None:
    with writable.client() as c:
        assert c.destroy("sippeers", [("name", "bob")]) == 1
        assert c.last_request_body == b"name=bob&"
        assert c.single("sippeers", {"name": "bob"}) is None
        assert c.destroy("sippeers", [("name", "bob")]) == 0


def test_destroy_with_extra_fields_matches_all_of_them(writable: Gateway) -> None:
    with writable.client() as c:
        assert c.destroy("sippeers", [("name", "trunk"), ("host", "dynamic")]) == 0
        assert c.destroy("sippeers", [("name", "trunk"), ("host", "198.51.100.20")]) == 1


def test_write_results_are_never_an_empty_body(writable: Gateway) -> None:
    with writable.client() as c:
        c.update("sippeers", "name", "alice", {"host": "dynamic"})
        assert not c.last_empty_write
        c.destroy("sippeers", [("name", "nobody")])
        assert c.last_body == b"0"


def test_a_stored_record_reads_back_identically(writable: Gateway) -> None:
    record = [
        ("name", "eve"),
        ("host", "dynamic"),
        ("context", "from-internal"),
        ("callerid", '"Eve & Co" <1009>'),
        ("setvar", "A=B;C"),
        ("allow", "g722"),
    ]
    with writable.client(order="given") as c:
        assert c.store("sippeers", record) == 1
        eve = c.single("sippeers", {"name": "eve"})
    assert eve is not None
    assert eve.canonical() == Record(record).canonical()
