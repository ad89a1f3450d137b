"""The RFC 4533 control values: byte-exact encoding of the request, decoding of what
slapd sends (values built from the RFC's ASN.1 by hand, not by our own encoder)."""

from __future__ import annotations

from ara_ldap.backends.ldap.syncrepl import (
    ADD,
    DELETE,
    cookie_csns,
    decode_sync_done,
    decode_sync_info,
    decode_sync_state,
    encode_sync_request,
)

UUID = bytes(range(16))


def test_sync_request_refresh_and_persist_without_cookie() -> None:
    # SEQUENCE { ENUMERATED 3 }
    assert encode_sync_request() == bytes.fromhex("30030a0103")


def test_sync_request_carries_the_cookie() -> None:
    assert encode_sync_request(b"rid=000") == bytes.fromhex("300c0a0103") + b"\x04\x07rid=000"


def test_sync_state_add_with_cookie() -> None:
    data = b"\x30\x1b\x0a\x01\x01\x04\x10" + UUID + b"\x04\x04csn1"
    state = decode_sync_state(data)
    assert (state.state, state.uuid, state.cookie) == (ADD, UUID, b"csn1")


def test_sync_state_delete_without_cookie() -> None:
    state = decode_sync_state(b"\x30\x15\x0a\x01\x03\x04\x10" + UUID)
    assert (state.state, state.cookie) == (DELETE, None)


def test_sync_info_newcookie() -> None:
    info = decode_sync_info(b"\x80\x03abc")
    assert (info.kind, info.cookie) == ("newcookie", b"abc")


def test_sync_info_refresh_present_defaults_to_done() -> None:
    info = decode_sync_info(b"\xa2\x05\x04\x03abc")
    assert (info.kind, info.cookie, info.refresh_done) == ("refreshPresent", b"abc", True)


def test_sync_info_refresh_delete_not_done() -> None:
    info = decode_sync_info(b"\xa1\x03\x01\x01\x00")
    assert (info.kind, info.refresh_done) == ("refreshDelete", False)


def test_sync_info_id_set_of_deleted_uuids() -> None:
    body = b"\x01\x01\xff" + b"\x31\x12\x04\x10" + UUID
    info = decode_sync_info(b"\xa3" + bytes([len(body)]) + body)
    assert (info.kind, info.refresh_deletes, info.uuids) == ("syncIdSet", True, (UUID,))


def test_sync_done_with_cookie() -> None:
    done = decode_sync_done(b"\x30\x05\x04\x03abc")
    assert (done.cookie, done.refresh_deletes) == (b"abc", False)


def test_cookie_csns_lists_every_csn() -> None:
    csn = b"20260101000000.000000Z#000000#00%d#000000"
    cookie = b"rid=000,csn=" + csn % 0 + b";" + csn % 1
    assert len(cookie_csns(cookie)) == 2
