"""What a row reads as, and what a record is stored as, on every engine.

Records must equal the LDAP backend's: table column order, no surrogate key, NULL and
empty columns omitted, multi-valued fields as repeated fields (stored ``;``-joined with
``^3B``/``^5E`` escapes, curl-protocol.md §3.5), single-valued columns raw.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ara_ldap.realtime import Realtime
from ara_ldap.record import Record

RawInsert = Callable[..., None]  # the raw_insert fixture (conftest.py)
RawSelect = Callable[[str, str], list[object]]  # the raw_column fixture

SPECIALS = [
    "semi;colon",
    "caret^5E",
    "per%cent",
    "under_score",
    "star*",
    "(paren)",
    "back\\slash",
    "com,ma",
    "equ=als",
    "two words",
    "ünïcödé ☎",
    "'quote\"",
    "tab\there",
]


def test_store_returns_one_and_single_reads_the_record_back(rt: Realtime) -> None:
    assert rt.store("sippeers", {"name": "alice", "host": "dynamic", "context": "from-int"}) == 1
    assert rt.single("sippeers", {"name": "alice"}) == Record(
        [("name", "alice"), ("host", "dynamic"), ("context", "from-int")]
    )


def test_record_has_no_hidden_surrogate_key(rt: Realtime, raw_column: RawSelect) -> None:
    rt.store("sippeers", {"name": "alice"})
    assert raw_column("sippeers", "id") != [None]
    record = rt.single("sippeers", {"name": "alice"})
    assert record is not None and "id" not in record.fields()


def test_fields_come_in_table_column_order(rt: Realtime) -> None:
    rt.store("sippeers", [("secret", "s"), ("port", "5060"), ("host", "h"), ("name", "alice")])
    record = rt.single("sippeers", {"name": "alice"})
    assert record is not None and record.fields() == ["name", "port", "host", "secret"]


def test_null_and_empty_columns_are_omitted(rt: Realtime, raw_insert: RawInsert) -> None:
    raw_insert("sippeers", {"name": "alice", "host": "", "context": None, "callerid": "A"})
    assert rt.single("sippeers", {"name": "alice"}) == Record(
        [("name", "alice"), ("callerid", "A")]
    )


def test_a_single_space_is_a_value_not_an_empty_column(rt: Realtime, raw_insert: RawInsert) -> None:
    raw_insert("sippeers", {"name": "alice", "callerid": " "})
    record = rt.single("sippeers", {"name": "alice"})
    assert record is not None and record.get_all("callerid") == [" "]


def test_multi_valued_values_round_trip_in_order(rt: Realtime) -> None:
    rt.store("sippeers", [("name", "a"), ("allow", "g722"), ("allow", "ulaw"), ("allow", "alaw")])
    record = rt.single("sippeers", {"name": "a"})
    assert record is not None and record.get_all("allow") == ["g722", "ulaw", "alaw"]


def test_multi_valued_values_are_stored_semicolon_joined(
    rt: Realtime, raw_column: RawSelect
) -> None:
    rt.store("sippeers", [("name", "a"), ("allow", "ulaw"), ("allow", "alaw")])
    assert raw_column("sippeers", "allow") == ["ulaw;alaw"]


def test_semicolon_and_caret_in_a_multi_value_are_escaped_on_write(
    rt: Realtime, raw_column: RawSelect
) -> None:
    rt.store("sippeers", [("name", "a"), ("setvar", "A=1;B"), ("setvar", "x^y")])
    assert raw_column("sippeers", "setvar") == ["A=1^3BB;x^5Ey"]


def test_escaped_multi_values_read_back_decoded(rt: Realtime) -> None:
    rt.store("sippeers", [("name", "a"), ("setvar", "A=1;B"), ("setvar", "x^y")])
    record = rt.single("sippeers", {"name": "a"})
    assert record is not None and record.get_all("setvar") == ["A=1;B", "x^y"]


def test_a_column_written_by_odbc_is_split_trimmed_and_decoded(
    rt: Realtime, raw_insert: RawInsert
) -> None:
    raw_insert("sippeers", {"name": "a", "allow": " ulaw ; ;alaw^3bx ;^5E41;caf^C3^A9;"})
    record = rt.single("sippeers", {"name": "a"})
    assert record is not None and record.get_all("allow") == ["ulaw", "alaw;x", "^41", "café"]


def test_whitespace_at_the_ends_of_a_multi_value_round_trips(rt: Realtime) -> None:
    rt.store("sippeers", [("name", "a"), ("setvar", " padded ")])
    record = rt.single("sippeers", {"name": "a"})
    assert record is not None and record.get_all("setvar") == [" padded "]


def test_a_single_valued_column_is_returned_raw_not_split_or_decoded(
    rt: Realtime, raw_insert: RawInsert
) -> None:
    raw_insert("sippeers", {"name": "a", "fullcontact": "sip:x@h;transport=udp^3B"})
    record = rt.single("sippeers", {"name": "a"})
    assert record is not None and record.get_all("fullcontact") == ["sip:x@h;transport=udp^3B"]


@pytest.mark.parametrize("value", SPECIALS)
def test_special_characters_round_trip_in_a_single_valued_field(rt: Realtime, value: str) -> None:
    rt.store("sippeers", {"name": "a", "callerid": value})
    record = rt.single("sippeers", {"callerid": value})
    assert record is not None and record.get_all("callerid") == [value]


def test_special_characters_round_trip_in_a_multi_valued_field(rt: Realtime) -> None:
    rt.store("sippeers", [("name", "a"), *(("setvar", v) for v in SPECIALS)])
    record = rt.single("sippeers", {"name": "a"})
    assert record is not None and record.get_all("setvar") == SPECIALS


@pytest.mark.parametrize("value", SPECIALS)
def test_each_special_value_is_found_by_equality_in_a_multi_valued_field(
    rt: Realtime, value: str
) -> None:
    rt.store("sippeers", [("name", "a"), ("setvar", "other"), ("setvar", value)])
    assert len(rt.multi("sippeers", {"setvar": value})) == 1


def test_an_integer_column_reads_as_its_decimal_spelling(rt: Realtime) -> None:
    rt.store("sippeers", {"name": "a", "port": "+05060"})
    record = rt.single("sippeers", {"name": "a"})
    assert record is not None and record.get("port") == "5060"


def test_a_numeric_column_reads_with_its_declared_scale(rt: Realtime) -> None:
    rt.store("voicemail", {"context": "default", "mailbox": "100", "volgain": "1.5"})
    record = rt.single("voicemail", {"mailbox": "100"})
    assert record is not None and record.get("volgain") == "1.50"


def test_a_datetime_column_reads_as_date_space_time(rt: Realtime) -> None:
    rt.store("voicemail", {"context": "default", "mailbox": "100", "stamp": "2024-02-03T04:05:06"})
    record = rt.single("voicemail", {"mailbox": "100"})
    assert record is not None and record.get("stamp") == "2024-02-03 04:05:06"


def test_a_not_null_text_column_left_out_reads_as_absent(rt: Realtime) -> None:
    rt.store("voicemail", {"context": "default", "mailbox": "100"})
    assert rt.single("voicemail", {"mailbox": "100"}) == Record(
        [("context", "default"), ("mailbox", "100")]
    )


def test_an_ast_config_row_reads_with_its_defaults_and_commented_zero(rt: Realtime) -> None:
    rt.store(
        "ast_config",
        {"filename": "sip.conf", "category": "general", "var_name": "bind", "var_val": "0.0.0.0"},
    )
    assert rt.single("ast_config", {"filename": "sip.conf"}) == Record(
        [
            ("cat_metric", "0"),
            ("var_metric", "0"),
            ("commented", "0"),
            ("filename", "sip.conf"),
            ("category", "general"),
            ("var_name", "bind"),
            ("var_val", "0.0.0.0"),
        ]
    )


def test_families_sharing_a_table_read_the_same_rows(rt: Realtime) -> None:
    rt.store("sippeers", {"name": "a", "host": "dynamic"})
    assert rt.single("sipusers", {"name": "a"}) == rt.single("sipregs", {"name": "a"})
    assert rt.single("sipusers", {"name": "a"}) == rt.single("sippeers", {"name": "a"})


def test_iax_families_read_the_iaxfriends_table(rt: Realtime) -> None:
    rt.store("iaxpeers", {"name": "trunk1", "allow": "ulaw"})
    record = rt.single("iaxusers", {"name": "trunk1"})
    assert record == Record([("name", "trunk1"), ("allow", "ulaw")])


def test_extensions_read_context_exten_priority_app_appdata(rt: Realtime) -> None:
    rt.store(
        "extensions",
        {"context": "c", "exten": "100", "priority": "1", "app": "Dial", "appdata": "PJSIP/100,30"},
    )
    record = rt.single("extensions", {"context": "c", "exten": "100", "priority": "1"})
    assert record is not None and record.fields() == [
        "context",
        "exten",
        "priority",
        "app",
        "appdata",
    ]
