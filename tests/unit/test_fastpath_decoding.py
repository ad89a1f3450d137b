"""The fast path's reply decoder: entries, results, split and merged reads, surprises."""

from __future__ import annotations

import socket
import ssl
from types import SimpleNamespace
from typing import Any

import pytest
from ldap3.core.exceptions import LDAPSessionTerminatedByServerError
from ldap3.operation.search import search_result_entry_response_to_dict_fast
from ldap3.utils.asn1 import decode_message_fast, ldap_result_to_dict_fast

from ara_ldap.backends.ldap.fastpath import (
    Decoder,
    FastPathSurprise,
    ber_integer,
    tlv,
    usable,
)


def message(message_id: int, op: bytes) -> bytes:
    return tlv(0x30, tlv(0x02, ber_integer(message_id)) + op)


def entry(message_id: int, dn: str, attrs: dict[str, list[bytes]]) -> bytes:
    body = b"".join(
        tlv(0x30, tlv(0x04, name.encode()) + tlv(0x31, b"".join(tlv(0x04, v) for v in values)))
        for name, values in attrs.items()
    )
    return message(message_id, tlv(0x64, tlv(0x04, dn.encode()) + tlv(0x30, body)))


def done(message_id: int, code: int = 0, text: str = "", controls: bytes = b"") -> bytes:
    result = tlv(0x0A, bytes((code,))) + tlv(0x04, b"") + tlv(0x04, text.encode())
    return tlv(0x30, tlv(0x02, ber_integer(message_id)) + tlv(0x65, result) + controls)


ATTRS = {
    "objectClass": [b"top", b"AsteriskSIPUser"],
    "cn": ["ünï".encode()],
    "AstAccountSecret": [b"\x00\xff" * 200],  # long form lengths, any bytes
    "AstAccountAllowedCodec": [b"ulaw", b"alaw", b"g722"],
}
REPLY = entry(4, "cn=a,ou=sip,dc=example", ATTRS) + entry(4, "cn=b,ou=sip", {"cn": [b"b"]})
REPLY += done(4)


def test_entries_and_result_match_ldap3_decoder() -> None:
    decoder = Decoder(4)
    assert decoder.feed(REPLY)
    first = decode_message_fast(REPLY)
    expected = search_result_entry_response_to_dict_fast(first["payload"], None, None, False)
    assert decoder.entries[0] == (expected["dn"], dict(expected["raw_attributes"]))
    assert decoder.entries[1] == ("cn=b,ou=sip", {"cn": [b"b"]})
    last = decode_message_fast(done(4))
    want = ldap_result_to_dict_fast(last["payload"])
    assert decoder.result is not None
    assert {k: decoder.result[k] for k in want} == want


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 500])
def test_reply_split_across_reads_decodes_the_same(chunk: int) -> None:
    decoder = Decoder(4)
    finished = [decoder.feed(REPLY[i : i + chunk]) for i in range(0, len(REPLY), chunk)]
    assert finished[-1] and not any(finished[:-1])
    whole = Decoder(4)
    whole.feed(REPLY)
    assert decoder.entries == whole.entries and decoder.result == whole.result


def test_reference_is_skipped() -> None:
    ref = message(4, tlv(0x73, tlv(0x04, b"ldap://elsewhere/dc=x")))
    decoder = Decoder(4)
    assert decoder.feed(ref + done(4))
    assert decoder.entries == []


def test_result_code_and_message_are_kept() -> None:
    decoder = Decoder(9)
    assert decoder.feed(entry(9, "cn=a", {"cn": [b"a"]}) + done(9, 4, "size limit"))
    assert decoder.result is not None
    assert (decoder.result["result"], decoder.result["description"]) == (4, "sizeLimitExceeded")
    assert decoder.result["message"] == "size limit"
    assert len(decoder.entries) == 1


def test_controls_on_the_result_are_skipped() -> None:
    control = tlv(0xA0, tlv(0x30, tlv(0x04, b"1.2.840.113556.1.4.319")))
    decoder = Decoder(2)
    assert decoder.feed(done(2, controls=control))
    assert decoder.result is not None and decoder.result["result"] == 0


def test_notice_of_disconnection_is_a_communication_error() -> None:
    notice = message(0, tlv(0x78, tlv(0x0A, b"\x34") + tlv(0x04, b"") + tlv(0x04, b"bye")))
    with pytest.raises(LDAPSessionTerminatedByServerError):
        Decoder(3).feed(notice)


@pytest.mark.parametrize(
    "reply",
    [
        done(5),  # another message's reply
        message(3, tlv(0x79, b"")),  # intermediate response
        done(3) + b"\x30\x00",  # bytes after the end
        b"\x31\x03\x02\x01\x03",  # not an LDAPMessage
        b"\x30\x80\x02\x01\x03",  # indefinite length
        message(3, tlv(0x64, tlv(0x02, b"\x01"))),  # entry without a DN
    ],
    ids=["other-id", "intermediate", "trailing", "not-message", "indefinite", "bad-entry"],
)
def test_unexpected_replies_are_surprises(reply: bytes) -> None:
    with pytest.raises(FastPathSurprise):
        Decoder(3).feed(reply)


def _conn(sock: socket.socket, **extra: object) -> Any:
    return SimpleNamespace(socket=sock, sasl_in_progress=False, _digest_md5_kis=None, **extra)


def test_plain_sockets_are_used() -> None:
    with socket.socket() as sock:
        assert usable(_conn(sock))


def test_tls_sockets_are_left_to_ldap3() -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    with context.wrap_socket(socket.socket(), do_handshake_on_connect=False) as sock:
        assert not usable(_conn(sock))


def test_sasl_signed_connections_are_left_to_ldap3() -> None:
    with socket.socket() as sock:
        conn = _conn(sock)
        conn._digest_md5_kis = b"key"
        assert not usable(conn)
