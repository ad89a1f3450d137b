"""Static realtime from ``ast_config`` rows: the core builds the file (ara_ldap/static.py);
the backend only has to return the rows of one filename with all seven fields."""

from __future__ import annotations

import pytest

from ara_ldap.errors import NotFound
from ara_ldap.realtime import Realtime

ROWS = [
    # cat_metric, var_metric, category, var_name, var_val, commented
    ("0", "0", "general", "bindport", "5060", "0"),
    ("0", "1", "general", "context", "default", "0"),
    ("0", "2", "general", "disallowed", "yes", "1"),
    ("1", "0", "trunk", "type", "peer", "0"),
    ("1", "1", "trunk", "allow", "ulaw;alaw", "0"),
]


@pytest.fixture
def sip_conf(rt: Realtime) -> Realtime:
    for cat_metric, var_metric, category, name, value, commented in ROWS:
        rt.store(
            "ast_config",
            {
                "filename": "sip.conf",
                "cat_metric": cat_metric,
                "var_metric": var_metric,
                "category": category,
                "var_name": name,
                "var_val": value,
                "commented": commented,
            },
        )
    rt.store(
        "ast_config", {"filename": "other.conf", "category": "x", "var_name": "a", "var_val": "b"}
    )
    return rt


def test_rows_of_one_file_come_back_with_all_seven_fields(sip_conf: Realtime) -> None:
    rows = sip_conf.multi("ast_config", {"filename": "sip.conf"})
    assert len(rows) == 5
    assert all(
        r.fields()
        == ["cat_metric", "var_metric", "commented", "filename", "category", "var_name", "var_val"]
        for r in rows
    )


def test_commented_zero_is_returned_as_a_value(sip_conf: Realtime) -> None:
    rows = sip_conf.multi("ast_config", {"filename": "sip.conf", "var_name": "bindport"})
    assert [r.get("commented") for r in rows] == ["0"]


def test_the_core_builds_the_file_in_asterisk_order_without_commented_rows(
    sip_conf: Realtime,
) -> None:
    config = sip_conf.static("sip.conf")
    # cat_metric DESC, var_metric ASC (realtime-api.md §9)
    assert [(c.name, c.variables) for c in config.categories()] == [
        ("trunk", [("type", "peer"), ("allow", "ulaw;alaw")]),
        ("general", [("bindport", "5060"), ("context", "default")]),
    ]


def test_a_semicolon_in_var_val_is_not_split(sip_conf: Realtime) -> None:
    rows = sip_conf.multi("ast_config", {"filename": "sip.conf", "var_name": "allow"})
    assert [r.get_all("var_val") for r in rows] == [["ulaw;alaw"]]


def test_an_include_row_loads_the_named_file(sip_conf: Realtime) -> None:
    sip_conf.store(
        "ast_config",
        {
            "filename": "sip.conf",
            "cat_metric": "2",
            "category": "x",
            "var_name": "#include",
            "var_val": "other.conf",
        },
    )
    names = [c.name for c in sip_conf.static("sip.conf").categories()]
    assert names == ["x", "trunk", "general"]


def test_a_file_without_rows_is_not_found(sip_conf: Realtime) -> None:
    with pytest.raises(NotFound):
        sip_conf.static("missing.conf")
