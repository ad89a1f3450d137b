"""pjsip.md §6 replayed through the res_config_curl gateway: the requests an unmodified
Asterisk 20.20.1 (res_pjsip, sorcery realtime over curl, no sorcery cache) sent while a
phone registered, byte for byte as libcurl put them on the wire (request line, Host,
User-Agent, Accept, Content-Length, Content-Type, CRLF), on one keep-alive connection,
and the answers read as res_config_curl reads them.

Names are adapted to the conformance data set (dataset_pjsip.py): the phone is endpoint
``1002`` (auth ``1002``, aor ``1002``) registering from domain ``example.org``, so the
``user@domain`` lookup is answered empty and the ``user`` one finds the endpoint, as in §6.
The gateway runs in front of LDAP and of SQLite, each loaded with the same data set.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ara_ldap.record import Record
from ara_ldap.testing.conformance import Target, ldap_target, sql_target
from ara_ldap.testing.conformance.checks import canonical
from ara_ldap.testing.conformance.curl import gateway_target
from ara_ldap.testing.conformance.dataset_pjsip import PJSIP_RECORDS, contact_id
from ara_ldap.testing.conformance.fixtures import running_slapd
from ara_ldap.testing.curl_client import (
    AsteriskCurlClient,
    ast_uri_decode,
    ast_uri_encode,
    raw_request,
    read_raw_response,
)
from ara_ldap.testing.databases import sqlite_url

#: The phone's new Contact (a REGISTER from 192.0.2.50:5070) and its sorcery id.
URI = "sip:1002@192.0.2.50:5070;transport=udp;rinstance=cc33;ob"
CONTACT_ID = contact_id("1002", URI)
ENCODED_ID = CONTACT_ID.replace(";", "%3B").replace("@", "%40").encode()
#: "now" of the replay: the contact expires 60 s later (the AOR's minimum_expiration).
NOW = 1764153600
EXPIRES = NOW + 60
USER_AGENT = b"Linphone%2F5.2%20%28X11%3B%20Linux%20x86_64%29%20belle-sip%2F5.2"
ENCODED_URI = b"sip%3A1002%40192.0.2.50%3A5070%3Btransport%3Dudp%3Brinstance%3Dcc33%3Bob"


def contact_fields(expiration_time: int, call_id: bytes = b"reg-1%40192.0.2.50") -> bytes:
    """The 15 fields after ``id`` in the fixed order §6 observed, empty ones included."""
    return (
        b"via_addr=192.0.2.50&qualify_timeout=3.000000&qualify_2xx_only=false&call_id="
        + call_id
        + b"&reg_server=&prune_on_boot=no&path=&endpoint=1002&via_port=5070"
        b"&authenticate_qualify=no&uri="
        + ENCODED_URI
        + b"&qualify_frequency=0&user_agent="
        + USER_AGENT
        + b"&expiration_time="
        + str(expiration_time).encode()
        + b"&outbound_proxy="
    )


STORE_BODY = b"id=" + ENCODED_ID + b"&" + contact_fields(EXPIRES)
REFRESH_BODY = contact_fields(EXPIRES + 60, call_id=b"reg-2%40192.0.2.50")


@pytest.fixture(scope="module", params=["ldap", "sqlite"])
def conformance_target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    if request.param == "ldap":
        with (
            running_slapd() as slapd,
            ldap_target(slapd, name="ldap") as inner,
            gateway_target(inner) as target,
        ):
            yield target
    else:
        url = sqlite_url(Path(tmp_path_factory.mktemp("pjsip-register-sqlite")))
        with sql_target(url, name="sqlite") as inner, gateway_target(inner) as target:
            yield target


class Asterisk:
    """One keep-alive connection sending §6's request bytes."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def post(self, family: str, operation: bytes, body: bytes) -> bytes:
        """The answer body of ``POST /<family>/<operation>`` (status must be 200)."""
        target = b"/" + family.encode() + b"/" + operation
        self.sock.sendall(raw_request(f"127.0.0.1:{self.port}", target, body))
        head, _, payload = read_raw_response(self.sock).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 "), head
        return payload

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def asterisk(conformance_target: Target) -> Iterator[Asterisk]:
    conformance_target.ensure_loaded()
    conformance_target.dirty = True  # the replay writes: reload before the next test
    client = Asterisk(conformance_target.extra["server"].port)
    try:
        yield client
    finally:
        client.close()


def rows(body: bytes) -> list[Record]:
    """A multi answer as res_config_curl reads it: one row per line, ``&``-split pairs."""
    out = []
    for line in body.replace(b"\r", b"\n").split(b"\n"):
        if line:
            pairs = [p.partition(b"=") for p in line.split(b"&")]
            out.append(
                Record(
                    (ast_uri_decode(k).decode(), ast_uri_decode(v).decode()) for k, _, v in pairs
                )
            )
    return out


def single(body: bytes) -> Record | None:
    """A single answer as ``ast_load_realtime`` reads it: the first line, empties dropped."""
    found = rows(body.split(b"\n", 1)[0]) if body.strip() else []
    return Record((f, v) for f, v in found[0] if v) if found else None


def loaded(family: str, id_: str) -> Record:
    (rec,) = (r for r in PJSIP_RECORDS[family] if r.get("id") == id_)
    return rec.without_empty()


def ids(records: list[Record]) -> list[str | None]:
    return sorted((r.get("id") for r in records), key=str)


def contacts_of(aor: str) -> list[str | None]:
    return ids([r for r in PJSIP_RECORDS["ps_contacts"] if r.get("endpoint") == aor])


# Start-up --------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["ps_endpoints", "ps_aors", "ps_contacts"])
def test_startup_unqualified_fetch_returns_every_object(asterisk: Asterisk, family: str) -> None:
    body = asterisk.post(family, b"multi", b"id%20LIKE=%25")
    assert ids(rows(body)) == ids(list(PJSIP_RECORDS[family]))


def test_startup_mwi_query_returns_the_endpoints_with_mailboxes(asterisk: Asterisk) -> None:
    body = asterisk.post("ps_endpoints", b"multi", b"mailboxes%20!%3D=")
    expected = [r for r in PJSIP_RECORDS["ps_endpoints"] if r.get("mailboxes")]
    assert ids(rows(body)) == ids(expected) and expected


# One REGISTER: identification and digest auth (run twice by the challenge) ---------------


def test_register_identify_fetch_returns_every_identify_row(asterisk: Asterisk) -> None:
    body = asterisk.post("ps_endpoint_id_ips", b"multi", b"id%20LIKE=%25")

    def by_id(records: list[Record]) -> list[Record]:
        return sorted(records, key=lambda r: str(r.get("id")))

    expected = [r.without_empty() for r in PJSIP_RECORDS["ps_endpoint_id_ips"]]
    assert [canonical(r) for r in by_id(rows(body))] == [canonical(r) for r in by_id(expected)]


def test_register_endpoint_by_user_at_domain_is_answered_empty(asterisk: Asterisk) -> None:
    assert asterisk.post("ps_endpoints", b"single", b"id=1002%40example.org") == b""


def test_register_endpoint_by_user_is_the_whole_endpoint(asterisk: Asterisk) -> None:
    body = asterisk.post("ps_endpoints", b"single", b"id=1002")
    assert canonical(single(body)) == canonical(loaded("ps_endpoints", "1002"))


def test_register_endpoint_by_user_at_domain_finds_a_domain_qualified_id(
    asterisk: Asterisk,
) -> None:
    body = asterisk.post("ps_endpoints", b"single", b"id=3000%40example.org")
    assert canonical(single(body)) == canonical(loaded("ps_endpoints", "3000@example.org"))


def test_register_domain_alias_by_id_names_the_real_domain(asterisk: Asterisk) -> None:
    body = asterisk.post("ps_domain_aliases", b"single", b"id=example.net")
    assert canonical(single(body)) == canonical(loaded("ps_domain_aliases", "example.net"))


def test_register_auth_by_id_holds_the_digest_credentials(asterisk: Asterisk) -> None:
    body = asterisk.post("ps_auths", b"single", b"id=1002")
    assert canonical(single(body)) == canonical(loaded("ps_auths", "1002"))


def test_register_unknown_auth_is_answered_empty(asterisk: Asterisk) -> None:
    assert asterisk.post("ps_auths", b"single", b"id=nope") == b""


# One REGISTER: binding ----------------------------------------------------------------


def test_register_aor_by_id_is_the_whole_aor(asterisk: Asterisk) -> None:
    body = asterisk.post("ps_aors", b"single", b"id=1002")
    assert canonical(single(body)) == canonical(loaded("ps_aors", "1002"))


def test_register_contact_prefix_returns_the_aor_contacts(asterisk: Asterisk) -> None:
    body = asterisk.post("ps_contacts", b"multi", b"id%20LIKE=1002%3B%40%25")
    assert ids(rows(body)) == contacts_of("1002")


def test_register_contact_prefix_rows_keep_semicolons_unsplit(asterisk: Asterisk) -> None:
    body = asterisk.post("ps_contacts", b"multi", b"id%20LIKE=1001%3B%40%25")
    found = sorted(rows(body), key=lambda r: str(r.get("id")))
    expected = sorted(
        (r.without_empty() for r in PJSIP_RECORDS["ps_contacts"] if r.get("endpoint") == "1001"),
        key=lambda r: str(r.get("id")),
    )
    assert [canonical(r) for r in found] == [canonical(r) for r in expected]


def test_register_new_contact_store_answers_one(asterisk: Asterisk) -> None:
    assert asterisk.post("ps_contacts", b"store", STORE_BODY) == b"1"


def test_register_stored_contact_is_in_the_prefix_answer_for_the_200_ok(
    asterisk: Asterisk,
) -> None:
    asterisk.post("ps_contacts", b"store", STORE_BODY)
    assert asterisk.post("ps_aors", b"single", b"id=1002") != b""
    body = asterisk.post("ps_contacts", b"multi", b"id%20LIKE=1002%3B%40%25")
    assert ids(rows(body)) == sorted([*contacts_of("1002"), CONTACT_ID], key=str)


def test_register_stored_contact_reads_back_without_its_empty_fields(
    asterisk: Asterisk,
) -> None:
    asterisk.post("ps_contacts", b"store", STORE_BODY)
    body = asterisk.post("ps_contacts", b"multi", b"id%20LIKE=1002%3B%40%25")
    (row,) = (r for r in rows(body) if r.get("id") == CONTACT_ID)
    assert [f for f, v in row if v == ""] == []
    assert (row.get("uri"), row.get("expiration_time")) == (URI, str(EXPIRES))


def test_register_same_contact_stored_again_answers_one(asterisk: Asterisk) -> None:
    asterisk.post("ps_contacts", b"store", STORE_BODY)
    assert asterisk.post("ps_contacts", b"store", STORE_BODY) == b"1"


def test_register_refresh_update_answers_one_and_moves_the_expiry(asterisk: Asterisk) -> None:
    asterisk.post("ps_contacts", b"store", STORE_BODY)
    assert asterisk.post("ps_contacts", b"update?id=" + ENCODED_ID, REFRESH_BODY) == b"1"
    body = asterisk.post("ps_contacts", b"multi", b"id%20LIKE=1002%3B%40%25")
    (row,) = (r for r in rows(body) if r.get("id") == CONTACT_ID)
    assert (row.get("expiration_time"), row.get("call_id")) == (
        str(EXPIRES + 60),
        "reg-2@192.0.2.50",
    )


def test_register_refresh_of_a_missing_contact_answers_zero(asterisk: Asterisk) -> None:
    assert asterisk.post("ps_contacts", b"update?id=" + ENCODED_ID, REFRESH_BODY) == b"0"


def test_refresh_miss_then_store_recreates_the_contact_as_update_or_create_does(
    asterisk: Asterisk,
) -> None:
    # sorcery.conf update_or_create_on_update_miss=yes: a 0 from update makes sorcery store
    # [id] + the same objectset (pjsip.md 2.2).
    assert asterisk.post("ps_contacts", b"update?id=" + ENCODED_ID, REFRESH_BODY) == b"0"
    body = b"id=" + ENCODED_ID + b"&" + REFRESH_BODY
    assert asterisk.post("ps_contacts", b"store", body) == b"1"
    found = rows(asterisk.post("ps_contacts", b"multi", b"id%20LIKE=1002%3B%40%25"))
    (row,) = (r for r in found if r.get("id") == CONTACT_ID)
    assert row.get("call_id") == "reg-2@192.0.2.50"


def test_unregister_destroy_with_the_trailing_ampersand_answers_one(asterisk: Asterisk) -> None:
    asterisk.post("ps_contacts", b"store", STORE_BODY)
    assert asterisk.post("ps_contacts", b"destroy", b"id=" + ENCODED_ID + b"&") == b"1"
    body = asterisk.post("ps_contacts", b"multi", b"id%20LIKE=1002%3B%40%25")
    assert ids(rows(body)) == contacts_of("1002")


def test_unregister_destroy_of_a_missing_contact_answers_zero(asterisk: Asterisk) -> None:
    assert asterisk.post("ps_contacts", b"destroy", b"id=" + ENCODED_ID + b"&") == b"0"


# Expiry thread (every 30 s) and CLI ------------------------------------------------------


def test_expiry_query_returns_the_contacts_expired_at_now_numerically(
    asterisk: Asterisk,
) -> None:
    asterisk.post("ps_contacts", b"store", STORE_BODY)
    body = asterisk.post("ps_contacts", b"multi", b"expiration_time%20%3C%3D=" + str(NOW).encode())
    expected = [
        r for r in PJSIP_RECORDS["ps_contacts"] if int(r.get("expiration_time") or 0) <= NOW
    ]
    assert ids(rows(body)) == ids(expected) and 0 < len(expected) < len(
        PJSIP_RECORDS["ps_contacts"]
    )


def test_expiry_destroys_each_expired_row_then_the_query_is_empty(asterisk: Asterisk) -> None:
    query = b"expiration_time%20%3C%3D=" + str(NOW).encode()
    for row in rows(asterisk.post("ps_contacts", b"multi", query)):
        encoded = str(row.get("id")).replace(";", "%3B").replace("@", "%40").encode()
        assert asterisk.post("ps_contacts", b"destroy", b"id=" + encoded + b"&") == b"1"
    assert asterisk.post("ps_contacts", b"multi", query) == b""


def test_show_endpoint_identify_by_endpoint_returns_its_rows(asterisk: Asterisk) -> None:
    body = asterisk.post("ps_endpoint_id_ips", b"multi", b"endpoint=trunk")
    assert ids(rows(body)) == ["trunk-a", "trunk-b"]


# The conformance front door sends these same bytes ---------------------------------------


def test_the_asterisk_curl_client_sends_the_observed_bytes(conformance_target: Target) -> None:
    client = AsteriskCurlClient(conformance_target.extra["server"].url, order="given")
    sent: list[tuple[str, bytes | None]] = []
    try:
        client.multi("ps_endpoint_id_ips", [("id LIKE", "%")])
        sent.append((client.last_target, client.last_request_body))
        client.single("ps_endpoints", [("id", "1002@example.org")])
        sent.append((client.last_target, client.last_request_body))
        client.multi("ps_contacts", [("id LIKE", "1002;@%")])
        sent.append((client.last_target, client.last_request_body))
        client.multi("ps_endpoints", [("mailboxes !=", "")])
        sent.append((client.last_target, client.last_request_body))
        client.multi("ps_contacts", [("expiration_time <=", "1")])
        sent.append((client.last_target, client.last_request_body))
    finally:
        client.close()
    assert sent == [
        ("/ps_endpoint_id_ips/multi", b"id%20LIKE=%25"),
        ("/ps_endpoints/single", b"id=1002%40example.org"),
        ("/ps_contacts/multi", b"id%20LIKE=1002%3B%40%25"),
        ("/ps_endpoints/multi", b"mailboxes%20!%3D="),
        ("/ps_contacts/multi", b"expiration_time%20%3C%3D=1"),
    ]


# res_config_curl's 255-byte cut (pjsip.md §3.1 C1/C2; docs/pjsip.md §5) ------------------

#: An RFC 8599 push contact: 257 characters raw, far more than 255 once encoded.
PUSH_URI = (
    "sip:1002@198.51.100.77:50712;transport=tls;ob;pn-provider=apns"
    ";pn-prid=" + "0123456789abcdef" * 8 + ";pn-param=ABCD1234.org.example.phone.voip"
)


def test_a_push_contact_uri_arrives_cut_at_255_encoded_bytes(conformance_target: Target) -> None:
    conformance_target.ensure_loaded()
    conformance_target.dirty = True
    cid = contact_id("1002", PUSH_URI)
    client = AsteriskCurlClient(conformance_target.extra["server"].url, order="given")
    try:
        assert client.store("ps_contacts", [("id", cid), ("uri", PUSH_URI), ("endpoint", "1002")])
        stored = client.single("ps_contacts", [("id", cid)])
    finally:
        client.close()
    assert stored is not None
    uri = stored.get("uri") or ""
    assert PUSH_URI.startswith(uri) and len(uri) < len(PUSH_URI)
    assert len(ast_uri_encode(uri)) <= 255 < len(ast_uri_encode(PUSH_URI, 10_000))


def test_a_cut_contact_stored_again_under_its_id_answers_one(conformance_target: Target) -> None:
    conformance_target.ensure_loaded()
    conformance_target.dirty = True
    cid = contact_id("1002", PUSH_URI)
    fields = [("id", cid), ("uri", PUSH_URI), ("endpoint", "1002")]
    client = AsteriskCurlClient(conformance_target.extra["server"].url, order="given")
    try:
        assert client.store("ps_contacts", fields) == 1
        assert client.store("ps_contacts", fields) == 1
        assert len(client.multi("ps_contacts", [("id LIKE", "1002;@%")])) == 2
    finally:
        client.close()
