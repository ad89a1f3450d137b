"""curl-protocol.md §15 replayed byte for byte: the requests an unmodified Asterisk 20.20.1
(libcurl 7.88.1) put on the wire, sent with a raw socket (request line, exactly the headers
listed there, CRLF), and the complete responses checked byte for byte against what the
fixtures in ldif/ imply.

Names are adapted to the fixtures: peer ``foo`` becomes ``alice`` (or ``carol``, the one
with a ``defaultuser``), the switch context with patterns is ``from-internal``, and the
static mapping is ``/ast_config``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ara_ldap.testing.curl_client import raw_request, read_raw_response

if TYPE_CHECKING:
    from conftest import Gateway

ALICE = (
    b"name=alice&host=dynamic&type=friend&context=from-internal"
    b"&permit=192.0.2.0%2F255.255.255.0&deny=0.0.0.0%2F0.0.0.0&secret=fake-alice-secret"
    b"&transport=udp&dtmfmode=rfc2833&directmedia=no&nat=force_rport%2Ccomedia&callgroup=1"
    b"&pickupgroup=1&language=en&disallow=all&allow=ulaw&allow=alaw&allow=g722&trustrpid=yes"
    b"&setvar=TENANT%3Dexample&setvar=CALLCLASS%3Dinternal"
    b"&callerid=%22Alice%20Example%22%20%3C1001%3E&mailbox=1001%40default&qualify=yes"
    b"&sendrpid=pai&qualifyfreq=60&fullname=Alice%20Example&cid_number=1001"
)

SIP_CONF = b"\n".join(
    [
        b"category=general&var_name=context&var_val=default&cat_metric=30",
        b"category=general&var_name=allowguest&var_val=no&cat_metric=30",
        b"category=general&var_name=udpbindaddr&var_val=0.0.0.0%3A5060&cat_metric=30",
        b"category=general&var_name=transport&var_val=udp&cat_metric=30",
        b"category=general&var_name=disallow&var_val=all&cat_metric=30",
        b"category=general&var_name=allow&var_val=ulaw&cat_metric=30",
        b"category=general&var_name=allow&var_val=alaw&cat_metric=30",
        b"category=general&var_name=language&var_val=en&cat_metric=30",
        b"category=authentication&var_name=auth"
        b"&var_val=alice%3Afake-auth-secret-1%40sip.example.org&cat_metric=20",
        b"category=authentication&var_name=auth"
        b"&var_val=bob%3Afake-auth-secret-2%40sip.example.net&cat_metric=20",
        b"category=alice&var_name=type&var_val=friend&cat_metric=10",
        b"category=alice&var_name=host&var_val=dynamic&cat_metric=10",
        b"category=alice&var_name=secret&var_val=fake-static-alice-secret&cat_metric=10",
        b"category=alice&var_name=context&var_val=from-internal&cat_metric=10",
        b"category=bob&var_name=type&var_val=friend&cat_metric=20",
        b"category=bob&var_name=host&var_val=dynamic&cat_metric=20",
        b"category=bob&var_name=secret&var_val=fake-static-bob-secret&cat_metric=20",
        b"category=bob&var_name=context&var_val=from-internal&cat_metric=20",
        b"category=carol&var_name=type&var_val=friend&cat_metric=10",
        b"category=carol&var_name=host&var_val=dynamic&cat_metric=10",
        b"category=carol&var_name=secret&var_val=fake-static-carol-secret&cat_metric=10",
    ]
)

PATTERNS = b"\n".join(
    [
        b"context=from-internal&exten=_1XX&priority=1&app=Playback&appdata=pbx-invalid",
        b"context=from-internal&exten=_1XXX&priority=1&app=Dial"
        b"&appdata=PJSIP%2F%24%7BEXTEN%7D%2C20",
        b"context=from-internal&exten=_9.&priority=1&app=Dial"
        b"&appdata=PJSIP%2F%24%7BEXTEN%3A1%7D%40trunk%2C60",
        b"context=from-internal&exten=_NXXNXXXXXX&priority=1&app=Dial"
        b"&appdata=PJSIP%2F%24%7BEXTEN%7D%40trunk%2C60",
    ]
)

REQUIRE_SIPREGS = (
    b"name=char%3A10&ipaddr=char%3A45&port=uinteger2%3A5&regseconds=integer4%3A11"
    b"&defaultuser=char%3A10&fullcontact=char%3A35&regserver=char%3A20&useragent=char%3A20"
    b"&lastms=integer4%3A11"
)


def asterisk_request(port: int, target: bytes, body: bytes | None) -> bytes:
    """The request exactly as libcurl 7.88.1 sent it for Asterisk 20.20.1 (§15)."""
    return raw_request(f"127.0.0.1:{port}", target, body)


def expected_response(body: bytes, status: bytes = b"200 OK") -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


def exchange(gw: Gateway, target: bytes, body: bytes | None) -> bytes:
    with gw.connect() as sock:
        sock.sendall(asterisk_request(gw.port, target, body))
        return read_raw_response(sock)


# Reads (shared directory) ----------------------------------------------------------------


def test_realtime_load_single(gateway: Gateway) -> None:
    assert exchange(gateway, b"/sippeers/single", b"name=alice") == expected_response(ALICE)


def test_chan_sip_multi_at_load_with_no_callbackextension_is_empty(gateway: Gateway) -> None:
    body = b"name%20LIKE=%25&callbackextension%20LIKE=%25"
    assert exchange(gateway, b"/sippeers/multi", body) == expected_response(b"")


def test_multi_like_rows_one_per_line(gateway: Gateway) -> None:
    expected = (
        b"name=trunk&port=5060&host=198.51.100.20&type=peer&context=from-trunk"
        b"&dtmfmode=rfc2833&directmedia=no&disallow=all&allow=alaw&allow=ulaw"
        b"&insecure=port%2Cinvite&fromdomain=sip.example.net&qualify=yes&trunkname=upstream\n"
        b"name=trunk%2Cprovider%2B1&defaultuser=4420001&host=203.0.113.5&type=peer"
        b"&context=from-trunk&secret=fake-provider-secret"
        b"&remotesecret=fake-provider-remote-secret&insecure=invite&fromuser=4420001"
    )
    assert exchange(gateway, b"/sippeers/multi", b"name%20LIKE=t%25") == expected_response(expected)


def test_require_for_sipregs_at_chan_sip_load(gateway: Gateway) -> None:
    assert exchange(gateway, b"/sipregs/require", REQUIRE_SIPREGS) == expected_response(b"0")


def test_static_get_of_sip_conf(gateway: Gateway) -> None:
    assert exchange(gateway, b"/ast_config/static?file=sip.conf", None) == expected_response(
        SIP_CONF
    )


def test_switch_exact_lookup_of_a_missing_extension_is_empty(gateway: Gateway) -> None:
    body = b"exten=1234&priority=1&context=default"
    assert exchange(gateway, b"/extensions/single", body) == expected_response(b"")


def test_switch_exact_lookup_of_an_existing_extension(gateway: Gateway) -> None:
    body = b"exten=1000&priority=1&context=default"
    assert exchange(gateway, b"/extensions/single", body) == expected_response(
        b"context=default&exten=1000&priority=1&app=Answer"
    )


def test_switch_pattern_fallback_in_a_context_without_patterns(gateway: Gateway) -> None:
    body = b"exten%20LIKE=%5C_%25&priority=1&context=default"
    assert exchange(gateway, b"/extensions/multi", body) == expected_response(b"")


def test_switch_pattern_fallback_returns_the_pattern_rows(gateway: Gateway) -> None:
    body = b"exten%20LIKE=%5C_%25&priority=1&context=from-internal"
    assert exchange(gateway, b"/extensions/multi", body) == expected_response(PATTERNS)


def test_chan_sip_peer_lookup_then_sipregs_lookup(gateway: Gateway) -> None:
    with gateway.connect() as sock:  # one keep-alive connection, as one Asterisk thread
        sock.sendall(
            asterisk_request(gateway.port, b"/sippeers/single", b"name=alice&host=dynamic")
        )
        assert read_raw_response(sock) == expected_response(ALICE)
        sock.sendall(asterisk_request(gateway.port, b"/sipregs/single", b"name=alice"))
        assert read_raw_response(sock) == expected_response(ALICE)


# Writes (fresh directory) -----------------------------------------------------------------


def test_realtime_update(writable: Gateway) -> None:
    assert exchange(writable, b"/sippeers/update?name=alice", b"host=127.0.0.2") == (
        expected_response(b"1")
    )
    alice = writable.realtime.single("sippeers", {"name": "alice"})
    assert alice is not None and alice.get("host") == "127.0.0.2"


def test_realtime_update2_with_one_lookup_field(writable: Gateway) -> None:
    writable.realtime.update("sippeers", "name", "alice", {"host": "127.0.0.2"})
    assert exchange(writable, b"/sippeers/update?&name=alice", b"&host=dynamic") == (
        expected_response(b"1")
    )
    alice = writable.realtime.single("sippeers", {"name": "alice"})
    assert alice is not None and alice.get("host") == "dynamic"


def test_realtime_update2_with_two_lookup_fields_run_together(writable: Gateway) -> None:
    target = b"/sippeers/update?&name=caroldefaultuser=carol"
    assert exchange(writable, target, b"&host=127.0.0.3") == expected_response(b"1")
    carol = writable.realtime.single("sippeers", {"name": "carol"})
    assert carol is not None and carol.get("host") == "127.0.0.3"


def test_realtime_store_then_destroy_with_trailing_ampersand(writable: Gateway) -> None:
    store = b"name=bar&secret=s3cret&host=dynamic"
    assert exchange(writable, b"/sippeers/store", store) == expected_response(b"1")
    assert exchange(writable, b"/sippeers/destroy", b"name=bar&") == expected_response(b"1")
    assert writable.realtime.single("sippeers", {"name": "bar"}) is None


def test_realtime_destroy_with_two_fields(writable: Gateway) -> None:
    exchange(writable, b"/sippeers/store", b"name=bar&secret=s3cret&host=dynamic")
    assert exchange(writable, b"/sippeers/destroy", b"name=bar&host=dynamic") == (
        expected_response(b"1")
    )


def test_chan_sip_register_update_on_sipregs(writable: Gateway) -> None:
    body = (
        b"ipaddr=127.0.0.1&fullcontact=sip%3Aalice%40127.0.0.1%3A15070&lastms=0"
        b"&useragent=sipphone%2F1.0&defaultuser=alice&regseconds=1795692048&port=15070"
    )
    assert exchange(writable, b"/sipregs/update?name=alice", body) == expected_response(b"1")
    alice = writable.realtime.single("sipregs", {"name": "alice"})
    assert alice is not None
    assert alice.get("fullcontact") == "sip:alice@127.0.0.1:15070"
    assert alice.get("regseconds") == "1795692048"


def test_chan_sip_unregister_clears_the_registration(writable: Gateway) -> None:
    body = b"fullcontact=&lastms=0&useragent=&regserver=&regseconds=0&port=0&ipaddr="
    assert exchange(writable, b"/sipregs/update?name=carol", body) == expected_response(b"1")
    carol = writable.realtime.single("sipregs", {"name": "carol"})
    assert carol is not None
    assert carol.get("fullcontact") is None and carol.get("ipaddr") is None
    assert (carol.get("port"), carol.get("regseconds"), carol.get("lastms")) == ("0", "0", "0")


@pytest.mark.parametrize(
    ("target", "body"),
    [(b"/sippeers/single", b"name=alice"), (b"/ast_config/static?file=sip.conf", None)],
)
def test_the_response_has_no_chunking_compression_or_extra_headers(
    gateway: Gateway, target: bytes, body: bytes | None
) -> None:
    response = exchange(gateway, target, body)
    head = response.split(b"\r\n\r\n", 1)[0].lower()
    assert head.split(b"\r\n")[1:] == [
        b"content-type: text/plain; charset=utf-8",
        head.split(b"\r\n")[2],
    ]
    assert b"transfer-encoding" not in head and b"content-encoding" not in head
