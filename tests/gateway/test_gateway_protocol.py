"""The wire codec on its own (no network): curl-protocol.md §3-§5 rule by rule."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ara_ldap.backends.base import FieldType, Requirement
from ara_ldap.criteria import Criterion, Operator
from ara_ldap.errors import BadRequest
from ara_ldap.gateway import protocol
from ara_ldap.gateway.protocol import ProtocolError
from ara_ldap.record import Record
from ara_ldap.static import Category

SIP_FIELDS = ["name", "host", "defaultuser", "ipaddr", "port", "secret", "context"]
VOICEMAIL_FIELDS = ["context", "mailbox", "password", "fullname", "email"]


# Decoding ------------------------------------------------------------------------------


def test_percent_escapes_decode_to_bytes_read_as_utf8() -> None:
    assert protocol.decode_component(b"D%C3%B6rte%20M%C3%BCller") == "Dörte Müller"


def test_encoded_plus_is_a_plus() -> None:
    assert protocol.decode_component(b"trunk%2Cprovider%2B1") == "trunk,provider+1"


def test_raw_plus_is_read_as_a_space_as_in_form_encoding() -> None:
    assert protocol.decode_component(b"Alice+Example") == "Alice Example"


@pytest.mark.parametrize("raw", [b"%", b"abc%", b"%4", b"%4g", b"%G1", b"%%41"])
def test_a_percent_without_two_hex_digits_is_refused(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        protocol.decode_component(raw)


@pytest.mark.parametrize("raw", [b"%FF", b"%C3", b"\xff", b"a\xc3"])
def test_invalid_utf8_is_refused(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        protocol.decode_component(raw)


def test_protocol_errors_are_bad_requests_and_do_not_quote_the_value() -> None:
    with pytest.raises(BadRequest) as info:
        protocol.decode_component(b"s3cret%ZZ", "value")
    assert "s3cret" not in str(info.value)


def test_empty_segments_are_skipped() -> None:
    assert protocol.split_pairs(b"&name=bar&&host=dynamic&") == [
        (b"name", b"bar"),
        (b"host", b"dynamic"),
    ]


def test_a_pair_splits_at_its_first_equals_sign() -> None:
    assert protocol.decode_pairs(b"setvar=A=B") == [("setvar", "A=B")]


def test_a_pair_without_equals_sign_has_an_empty_value() -> None:
    assert protocol.decode_pairs(b"name") == [("name", "")]


def test_a_pair_without_a_name_is_refused() -> None:
    with pytest.raises(ProtocolError):
        protocol.decode_pairs(b"=value")


def test_lookup_parses_operators_in_field_names() -> None:
    criteria = protocol.parse_lookup(b"exten%20LIKE=%5C_%25&priority=1&context=default")
    assert criteria == [
        Criterion("exten", Operator.LIKE, "\\_%"),
        Criterion("priority", Operator.EQ, "1"),
        Criterion("context", Operator.EQ, "default"),
    ]


def test_lookup_accepts_meetme_operator_spellings() -> None:
    criteria = protocol.parse_lookup(b"confno=1&startTime%3C%3D%20=2024&endtime%20%3E%3D=2024")
    assert [(c.field, c.op) for c in criteria] == [
        ("confno", Operator.EQ),
        ("startTime", Operator.LE),
        ("endtime", Operator.GE),
    ]


def test_destroy_body_with_trailing_ampersand_is_one_criterion() -> None:
    assert protocol.parse_lookup(b"name=bar&") == [Criterion("name", Operator.EQ, "bar")]


def test_an_empty_lookup_is_refused() -> None:
    with pytest.raises(ProtocolError):
        protocol.parse_lookup(b"&")


def test_an_invalid_field_name_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        protocol.parse_lookup(b"name%3Bdrop=1")


# update / update2 ------------------------------------------------------------------------


def test_update_takes_the_key_from_the_query_and_changes_from_the_body() -> None:
    request = protocol.parse_update(b"name=foo", b"host=127.0.0.2")
    assert request.criteria == [Criterion("name", Operator.EQ, "foo")]
    assert request.changes == Record([("host", "127.0.0.2")])
    assert not request.update2


def test_update_keeps_a_body_field_that_renames_the_key() -> None:
    request = protocol.parse_update(b"filename=old", b"filename=new&dir=x")
    assert request.changes == Record([("filename", "new"), ("dir", "x")])


def test_update_keeps_empty_values_to_clear_fields() -> None:
    request = protocol.parse_update(
        b"name=foo", b"fullcontact=&lastms=0&useragent=&regserver=&regseconds=0&port=0&ipaddr="
    )
    assert request.changes.get("fullcontact") == ""
    assert len(request.changes) == 7


def test_update_without_key_is_refused() -> None:
    with pytest.raises(ProtocolError):
        protocol.parse_update(b"", b"host=x")


def test_update_without_changes_is_refused() -> None:
    with pytest.raises(ProtocolError):
        protocol.parse_update(b"name=foo", b"")


def test_a_leading_ampersand_marks_update2() -> None:
    assert protocol.is_update2(b"&name=foo")
    assert not protocol.is_update2(b"name=foo")


def test_update2_with_one_pair_per_group_needs_no_column_list() -> None:
    request = protocol.parse_update(b"&name=foo", b"&host=dynamic")
    assert request.update2
    assert request.criteria == [Criterion("name", Operator.EQ, "foo")]
    assert request.changes == Record([("host", "dynamic")])


def test_update2_run_together_lookup_is_split_on_known_columns() -> None:
    splitter = protocol.name_splitter(SIP_FIELDS)
    request = protocol.parse_update(b"&name=foodefaultuser=foo", b"&host=dynamic", splitter)
    assert request.criteria == [
        Criterion("name", Operator.EQ, "foo"),
        Criterion("defaultuser", Operator.EQ, "foo"),
    ]


def test_update2_voicemail_password_change_as_app_voicemail_sends_it() -> None:
    splitter = protocol.name_splitter(VOICEMAIL_FIELDS)
    request = protocol.parse_update(b"&context=defaultmailbox=1234", b"&password=4321", splitter)
    assert [(c.field, c.value) for c in request.criteria] == [
        ("context", "default"),
        ("mailbox", "1234"),
    ]
    assert request.changes == Record([("password", "4321")])


def test_update2_run_together_body_is_split_too() -> None:
    splitter = protocol.name_splitter(VOICEMAIL_FIELDS)
    request = protocol.parse_update(
        b"&mailbox=1001", b"&password=4321fullname=Alice%20Example", splitter
    )
    assert request.changes == Record([("password", "4321"), ("fullname", "Alice Example")])


def test_update2_prefers_the_longest_known_column_suffix() -> None:
    splitter = protocol.name_splitter(["name", "user", "defaultuser"])
    assert splitter(b"foodefaultuser") == (b"foo", b"defaultuser")


def test_update2_split_matches_column_names_case_insensitively() -> None:
    splitter = protocol.name_splitter(SIP_FIELDS)
    request = protocol.parse_update(b"&NAME=fooDefaultUser=foo", b"&host=x", splitter)
    assert [c.field for c in request.criteria] == ["NAME", "DefaultUser"]


def test_update2_split_never_cuts_a_percent_escape() -> None:
    splitter = protocol.name_splitter(["dmailbox", "mailbox"])
    assert splitter(b"ab%6Dmailbox") == (b"ab%6D", b"mailbox")


def test_update2_split_allows_an_empty_value() -> None:
    splitter = protocol.name_splitter(SIP_FIELDS)
    request = protocol.parse_update(b"&name=fooipaddr=", b"&host=x", splitter)
    assert [(c.field, c.value) for c in request.criteria] == [("name", "foo"), ("ipaddr", "")]


def test_update2_split_keeps_an_operator_after_the_column() -> None:
    splitter = protocol.name_splitter(VOICEMAIL_FIELDS)
    request = protocol.parse_update(
        b"&context=defaultmailbox%20LIKE=10%25", b"&password=1", splitter
    )
    assert request.criteria[1] == Criterion("mailbox", Operator.LIKE, "10%")


def test_update2_that_cannot_be_split_is_refused() -> None:
    splitter = protocol.name_splitter(SIP_FIELDS)
    with pytest.raises(ProtocolError):
        protocol.parse_update(b"&name=foonosuchcolumn=foo", b"&host=x", splitter)


def test_update2_without_column_list_cannot_split() -> None:
    with pytest.raises(ProtocolError):
        protocol.parse_update(b"&name=foodefaultuser=foo", b"&host=x")


# require, store, static -------------------------------------------------------------------


def test_require_reads_type_and_size() -> None:
    assert protocol.parse_require(b"name=char%3A10&port=uinteger2%3A5") == [
        Requirement("name", FieldType.CHAR, 10),
        Requirement("port", FieldType.UINTEGER2, 5),
    ]


def test_require_with_an_unknown_type_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        protocol.parse_require(b"name=varchar%3A10")


def test_store_keeps_repeated_fields_in_order() -> None:
    assert protocol.parse_store(b"name=bar&allow=ulaw&allow=alaw") == Record(
        [("name", "bar"), ("allow", "ulaw"), ("allow", "alaw")]
    )


def test_static_query_names_the_file() -> None:
    assert protocol.parse_static_query(b"file=sip-users.conf") == "sip-users.conf"
    assert protocol.parse_static_query(b"file=my%20file.conf") == "my file.conf"


def test_static_without_file_is_refused() -> None:
    with pytest.raises(ProtocolError):
        protocol.parse_static_query(b"name=sip.conf")


# Encoding -------------------------------------------------------------------------------


def test_spaces_are_encoded_as_percent20_never_plus() -> None:
    assert protocol.encode_component("Alice Example") == "Alice%20Example"


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("a+b", "a%2Bb"),
        ("a&b=c", "a%26b%3Dc"),
        ("100%", "100%25"),
        ("x\r\ny", "x%0D%0Ay"),
        ("~_.-", "~_.-"),
        ("ö", "%C3%B6"),
        ("(x)", "%28x%29"),
    ],
)
def test_everything_but_unreserved_is_percent_encoded(text: str, encoded: str) -> None:
    assert protocol.encode_component(text) == encoded


def test_single_is_one_line_without_empty_values_with_repeats_in_order() -> None:
    record = Record([("name", "alice"), ("ipaddr", ""), ("allow", "ulaw"), ("allow", "alaw")])
    assert protocol.encode_single(record) == b"name=alice&allow=ulaw&allow=alaw"


def test_single_not_found_is_an_empty_body() -> None:
    assert protocol.encode_single(None) == b""


def test_multi_is_one_line_per_record() -> None:
    rows = [
        Record([("exten", "_1XX"), ("app", "Playback")]),
        Record([("exten", "_9."), ("appdata", "PJSIP/${EXTEN:1}@trunk,60")]),
    ]
    assert protocol.encode_multi(rows) == (
        b"exten=_1XX&app=Playback\nexten=_9.&appdata=PJSIP%2F%24%7BEXTEN%3A1%7D%40trunk%2C60"
    )


def test_multi_drops_rows_with_nothing_to_send() -> None:
    assert protocol.encode_multi([Record([("name", "")]), Record([("name", "x")])]) == b"name=x"


def test_counts_are_decimal_integers() -> None:
    assert protocol.encode_count(0) == b"0"
    assert protocol.encode_count(12) == b"12"


def test_require_answers_zero_or_minus_one() -> None:
    assert protocol.encode_require([]) == b"0"
    assert protocol.encode_require(["port: too small"]) == b"-1"


def test_write_and_require_failures_are_minus_one_reads_empty() -> None:
    for op in ("update", "store", "destroy", "require"):
        assert protocol.FAILURE_BODY[op] == b"-1"
    for op in ("single", "multi", "static"):
        assert protocol.FAILURE_BODY[op] == b""


def test_static_lines_carry_all_four_keys_even_when_empty() -> None:
    categories = [
        Category("general", 30, [("context", "default"), ("note", "")]),
        Category("a b", 10, [("x", "1:2")]),
    ]
    assert protocol.encode_static(categories).split(b"\n") == [
        b"category=general&var_name=context&var_val=default&cat_metric=30",
        b"category=general&var_name=note&var_val=&cat_metric=30",
        b"category=a%20b&var_name=x&var_val=1%3A2&cat_metric=10",
    ]


# Asterisk's encoder (used by the test client) ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("exten LIKE", "exten%20LIKE"),
        ("\\_%", "%5C_%25"),
        ("sip:foo@127.0.0.1:15070", "sip%3Afoo%40127.0.0.1%3A15070"),
        ("(x)*'!~", "(x)*'!~"),
        ("char:10", "char%3A10"),
        ("a+b", "a%2Bb"),
    ],
)
def test_asterisk_encoder_keeps_only_its_unreserved_set(text: str, encoded: str) -> None:
    assert protocol.asterisk_encode(text) == encoded


def test_asterisk_encoder_truncates_at_an_escape_boundary() -> None:
    encoded = protocol.asterisk_encode("a" * 253 + "::", buflen=256)
    assert encoded == "a" * 253  # the first %3A would need 256 characters


@settings(deadline=None)
@given(st.text())
def test_anything_asterisk_encodes_decodes_back(text: str) -> None:
    assert protocol.decode_component(protocol.asterisk_encode(text).encode("ascii")) == text


@settings(deadline=None)
@given(st.text())
def test_anything_we_encode_decodes_back(text: str) -> None:
    assert protocol.decode_component(quote(text, safe="").encode("ascii")) == text


@settings(deadline=None)
@given(st.lists(st.tuples(st.sampled_from(SIP_FIELDS), st.text()), min_size=1, max_size=5))
def test_a_record_round_trips_through_asterisks_parser(pairs: list[tuple[str, str]]) -> None:
    from ara_ldap.testing.curl_client import _parse_pairs

    line = protocol.encode_single(Record(pairs))
    expected = [(n, v) for n, v in pairs if v]
    assert [(n, v) for n, v in _parse_pairs(line)] == [
        (n, v.split("\x00", 1)[0]) for n, v in expected
    ]
