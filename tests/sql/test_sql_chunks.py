"""The ``;``/``^XX`` multi-value convention of res_config_odbc/pgsql (no database needed).

Reference: realtime-api.md §11.6, curl-protocol.md §3.5: split on ``;``, trim each chunk,
drop empty ones, decode ``^XX``; on write encode ``;`` as ``^3B`` and ``^`` as ``^5E``.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ara_ldap.backends.sql.chunks import decode_chunk, encode_chunk, join_chunks, split_chunks


def test_split_trims_chunks_and_drops_empty_ones() -> None:
    assert split_chunks(" ulaw ; ;alaw;;  ") == ["ulaw", "alaw"]


def test_split_decodes_semicolon_and_caret_escapes() -> None:
    assert split_chunks("a^3Bb;c^5Ed") == ["a;b", "c^d"]


def test_any_two_hex_digits_decode_in_either_case() -> None:
    assert decode_chunk("^41^62^3b") == "Ab;"


def test_escaped_utf8_bytes_decode_to_one_character() -> None:
    assert decode_chunk("caf^C3^A9") == "café"


def test_caret_without_two_hex_digits_stays_literal() -> None:
    assert decode_chunk("a^G1^4") == "a^G1^4"


def test_escape_is_decoded_once_only() -> None:
    assert decode_chunk("^5E41") == "^41"


def test_split_trims_before_decoding_as_asterisk_does() -> None:
    assert split_chunks(" ^20x^20 ") == [" x "]


def test_encode_escapes_semicolon_and_caret_only_inside_a_value() -> None:
    assert encode_chunk("a;b^c d%_*()\\,=é") == "a^3Bb^5Ec d%_*()\\,=é"


def test_encode_escapes_whitespace_at_either_end_so_it_survives_trimming() -> None:
    assert encode_chunk(" ulaw\t") == "^20ulaw^09"


def test_encode_of_only_whitespace_escapes_every_character() -> None:
    assert encode_chunk("  ") == "^20^20"


def test_join_drops_empty_values_and_gives_null_when_none_remain() -> None:
    assert join_chunks(["", "ulaw", "", "alaw"]) == "ulaw;alaw"
    assert join_chunks(["", ""]) is None
    assert join_chunks([]) is None


@pytest.mark.parametrize("value", ["sip:x@h;transport=udp", "^5E", "a;;b", " x ", "\u00a0nbsp"])
def test_one_value_round_trips(value: str) -> None:
    assert split_chunks(join_chunks([value]) or "") == [value]


@given(st.lists(st.text(min_size=1)))
def test_any_list_of_non_empty_values_round_trips_in_order(values: list[str]) -> None:
    assert split_chunks(join_chunks(values) or "") == values
