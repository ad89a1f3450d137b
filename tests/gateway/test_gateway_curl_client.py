"""The Asterisk-faithful test client's own encoding and decoding (no network)."""

from __future__ import annotations

import pytest

from ara_ldap.testing.curl_client import (
    AsteriskCurlClient,
    ast_uri_decode,
    ast_uri_encode,
    asterisk_order,
)


def test_encoder_keeps_asterisks_unreserved_set_and_uppercases_escapes() -> None:
    assert ast_uri_encode("A-z_0.!~*'() ,:/@ö") == "A-z_0.!~*'()%20%2C%3A%2F%40%C3%B6"


def test_encoder_truncates_to_255_characters() -> None:
    assert ast_uri_encode("a" * 300) == "a" * 255


def test_encoder_truncates_to_199_characters_for_200_byte_buffers() -> None:
    assert ast_uri_encode("b" * 300, 200) == "b" * 199


def test_encoder_never_splits_an_escape_when_truncating() -> None:
    encoded = ast_uri_encode("ü" * 100)
    assert len(encoded) == 255 and encoded.endswith("%C3")  # a UTF-8 sequence cut in two


def test_decoder_leaves_plus_alone() -> None:
    assert ast_uri_decode(b"a+b%20c") == b"a+b c"


def test_decoder_reproduces_the_one_hex_digit_misdecode() -> None:
    # "%4g" is read by sscanf("%2x") as 0x4 and both characters are consumed.
    assert ast_uri_decode(b"%4gX") == b"\x04X"


def test_decoder_copies_a_lone_percent() -> None:
    assert ast_uri_decode(b"100%") == b"100%"


def test_variadic_order_keeps_the_first_pair_and_reverses_the_rest() -> None:
    pairs = [("name", "bar"), ("host", "dynamic"), ("secret", "s3cret")]
    assert asterisk_order(pairs) == [("name", "bar"), ("secret", "s3cret"), ("host", "dynamic")]


@pytest.mark.parametrize(
    ("body", "count"),
    [
        (b"1", 1),
        (b"  7\n", 7),
        (b"0", 0),
        (b"-1", -1),
        (b"abc", -1),
        (b"\x80\x902", 2),
        (b"3 rows", 3),
    ],
)
def test_write_results_are_read_like_sscanf_after_skipping_low_bytes(
    body: bytes, count: int
) -> None:
    client = AsteriskCurlClient("http://127.0.0.1:9")
    assert client._rowcount(body) == count
    assert not client.last_empty_write


def test_an_empty_write_body_is_flagged_as_asterisks_undefined_behaviour() -> None:
    client = AsteriskCurlClient("http://127.0.0.1:9")
    assert client._rowcount(b"") == -1
    assert client.last_empty_write


def test_a_transport_error_reads_as_an_empty_body() -> None:
    from ara_ldap.testing.slapd import free_port

    client = AsteriskCurlClient(f"http://127.0.0.1:{free_port()}", timeout=1)
    assert client.single("sippeers", {"name": "alice"}) is None
    assert client.last_status is None
    assert client.store("sippeers", {"name": "x"}) == -1
    assert client.last_empty_write


def test_a_base_url_must_be_http() -> None:
    with pytest.raises(ValueError):
        AsteriskCurlClient("ftp://example.org/")
