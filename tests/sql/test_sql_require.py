"""``require`` answers from the reflected table: column present, type, width.

Asterisk's callers (chan_sip, chan_iax2, logger) ask e.g. ``port uinteger2:5``,
``regseconds integer4:11``, ``useragent char:20`` (realtime-api.md §11.2).
"""

from __future__ import annotations

import pytest

from ara_ldap.backends.base import FieldType, Requirement
from ara_ldap.realtime import Realtime


def req(field: str, spec: str) -> Requirement:
    return Requirement.parse(field, spec)


CHAN_SIP = [
    req("name", "char:10"),
    req("ipaddr", "char:45"),
    req("port", "uinteger2:5"),
    req("regseconds", "integer4:11"),
    req("defaultuser", "char:10"),
    req("fullcontact", "char:35"),
    req("regserver", "char:20"),
    req("useragent", "char:20"),
    req("lastms", "integer4:11"),
]


def test_what_chan_sip_requires_of_sippeers_is_there(rt: Realtime) -> None:
    assert rt.require("sippeers", CHAN_SIP) == []


def test_a_char_column_narrower_than_required_is_a_problem(rt: Realtime) -> None:
    assert rt.require("sippeers", [req("name", "char:41")]) == [
        "name: column sippeers.name holds at most 40 characters, 41 required"
    ]


def test_a_missing_column_is_a_problem(rt: Realtime) -> None:
    assert rt.require("iaxusers", [req("regserver", "char:20")]) == [
        "regserver: table iaxfriends has no such column"
    ]


def test_a_hidden_column_counts_as_missing(rt: Realtime) -> None:
    assert rt.require("sippeers", [req("id", "integer4")]) == [
        "id: table sippeers has no such column"
    ]


def test_char_required_of_an_integer_column_is_a_problem(rt: Realtime) -> None:
    assert rt.require("sippeers", [req("port", "char:5")]) == [
        "port: column sippeers.port holds integers, not char"
    ]


def test_an_integer_wider_than_the_column_type_is_a_problem(rt: Realtime) -> None:
    problems = rt.require("sippeers", [req("regseconds", "uinteger8")])
    assert len(problems) == 1 and problems[0].startswith("regseconds: column sippeers.regseconds")


def test_an_integer_in_a_wide_enough_char_column_is_fine(rt: Realtime) -> None:
    assert rt.require("sippeers", [req("callerid", "integer4:11")]) == []


def test_an_integer_in_a_too_narrow_char_column_is_a_problem(rt: Realtime) -> None:
    assert rt.require("sippeers", [req("type", "integer4")]) == [
        "type: column sippeers.type holds at most 6 characters, 11 required"
    ]


def test_a_datetime_column_satisfies_datetime(rt: Realtime) -> None:
    assert rt.require("voicemail", [req("stamp", "datetime")]) == []


def test_unknown_type_only_checks_that_the_column_exists(rt: Realtime) -> None:
    assert rt.require("extensions", [Requirement("appdata", FieldType.UNKNOWN, 9999)]) == []


@pytest.mark.parametrize("field", ["filename", "category", "var_name", "var_val"])
def test_ast_config_text_columns_hold_128_characters(rt: Realtime, field: str) -> None:
    assert rt.require("ast_config", [req(field, "char:128")]) == []
