"""Static realtime: stored config rows assembled into a config file.

References: realtime-api.md §9 (the LDAP driver: atoi metrics, sort, category rule,
``#include``), curl-protocol.md §9 (ODBC/PgSQL order ``cat_metric DESC, var_metric ASC,
category, var_name``; a new category whenever the name or ``cat_metric`` changes).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from ara_ldap.errors import BadRequest, NotFound
from ara_ldap.record import Record
from ara_ldap.static import (
    Category,
    Include,
    StaticConfig,
    StaticRow,
    atoi,
    build_static,
    is_commented,
    sort_rows,
)


def row(
    category: str,
    var_name: str,
    var_val: str,
    cat_metric: int | str = 0,
    var_metric: int | str = 0,
    commented: str | None = None,
    filename: str = "sip.conf",
) -> Record:
    pairs = [
        ("filename", filename),
        ("category", category),
        ("cat_metric", str(cat_metric)),
        ("var_metric", str(var_metric)),
        ("var_name", var_name),
        ("var_val", var_val),
    ]
    if commented is not None:
        pairs.append(("commented", commented))
    return Record(pairs)


def layout(config: StaticConfig) -> list[tuple[str, list[tuple[str, str]]]]:
    """Categories (included files inlined) as ``(name, variables)``."""
    return [(c.name, c.variables) for c in config.categories()]


def loader(files: dict[str, list[Record]]) -> Callable[[str], StaticConfig | None]:
    """An include loader over stored rows that passes the include stack on."""

    def load(name: str, stack: tuple[str, ...] = ()) -> StaticConfig | None:
        if name not in files:
            return None
        return build_static(
            name,
            files[name],
            lambda inner: load(inner, (*stack, name)),
            _stack=stack,
        )

    return load


# atoi and commented ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("12", 12),
        ("12abc", 12),
        ("abc", 0),
        ("", 0),
        (None, 0),
        (" 7", 7),
        ("-3", -3),
        ("+4", 4),
        ("1.9", 1),
    ],
)
def test_metrics_are_read_like_c_atoi(text: str | None, number: int) -> None:
    assert atoi(text) == number


@pytest.mark.parametrize("value", ["1", "true", "yes", "TRUE", " Yes ", "on", "2"])
def test_commented_values_that_mean_true(value: str) -> None:
    assert is_commented(value)


@pytest.mark.parametrize("value", ["0", "false", "FALSE", "no", "off", "", "  ", None])
def test_commented_values_that_mean_false(value: str | None) -> None:
    assert not is_commented(value)


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_from_record_skips_commented_rows(value: str) -> None:
    assert StaticRow.from_record(row("general", "context", "default", commented=value)) is None


def test_from_record_keeps_rows_commented_false() -> None:
    parsed = StaticRow.from_record(row("general", "context", "default", commented="0"))
    assert parsed == StaticRow("general", 0, 0, "context", "default")


def test_from_record_reads_metrics_with_atoi() -> None:
    parsed = StaticRow.from_record(row("general", "a", "1", cat_metric="12abc", var_metric="abc"))
    assert parsed is not None
    assert (parsed.cat_metric, parsed.var_metric) == (12, 0)


def test_from_record_without_metrics_uses_zero() -> None:
    record = Record([("category", "general"), ("var_name", "a"), ("var_val", "1")])
    assert StaticRow.from_record(record) == StaticRow("general", 0, 0, "a", "1")


def test_from_record_without_a_value_uses_the_empty_string() -> None:
    record = Record([("category", "general"), ("var_name", "a")])
    parsed = StaticRow.from_record(record)
    assert parsed is not None and parsed.var_val == ""


def test_from_record_rejects_rows_without_category_or_variable_name() -> None:
    assert StaticRow.from_record(Record([("var_name", "a"), ("var_val", "1")])) is None
    assert StaticRow.from_record(Record([("category", "g"), ("var_val", "1")])) is None
    assert StaticRow.from_record(row("g", "", "1")) is None


def test_from_record_reads_field_names_case_insensitively() -> None:
    record = Record([("Category", "g"), ("VAR_NAME", "a"), ("Var_Val", "1"), ("CAT_METRIC", "3")])
    assert StaticRow.from_record(record) == StaticRow("g", 3, 0, "a", "1")


def test_commented_rows_are_left_out_of_the_file_and_not_counted_as_skipped() -> None:
    config = build_static(
        "sip.conf",
        [row("general", "a", "1"), row("general", "b", "2", commented="1")],
    )
    assert layout(config) == [("general", [("a", "1")])]
    assert config.skipped == 0


def test_rows_that_cannot_be_used_are_counted_as_skipped() -> None:
    config = build_static(
        "sip.conf", [row("general", "a", "1"), Record([("category", "general")])]
    )
    assert layout(config) == [("general", [("a", "1")])]
    assert config.skipped == 1


# Order -------------------------------------------------------------------------------------


def test_asterisk_order_is_cat_metric_desc_then_var_metric_category_var_name() -> None:
    rows = [
        StaticRow("b", 0, 0, "x", "1"),
        StaticRow("a", 0, 1, "x", "2"),
        StaticRow("a", 0, 0, "y", "3"),
        StaticRow("a", 0, 0, "x", "4"),
        StaticRow("z", 5, 9, "x", "5"),
    ]
    assert [r.var_val for r in sort_rows(rows, "asterisk")] == ["5", "4", "3", "1", "2"]


def test_asterisk_order_is_the_default() -> None:
    rows = [StaticRow("a", 0, 0, "x", "1"), StaticRow("b", 1, 0, "x", "2")]
    assert sort_rows(rows) == sort_rows(rows, "asterisk")
    assert [r.category for r in sort_rows(rows)] == ["b", "a"]


def test_ldap_order_is_cat_metric_asc_then_category_then_var_metric() -> None:
    rows = [
        StaticRow("b", 0, 0, "x", "1"),
        StaticRow("a", 0, 1, "x", "2"),
        StaticRow("a", 0, 0, "y", "3"),
        StaticRow("z", -1, 9, "x", "4"),
        StaticRow("a", 1, 0, "x", "5"),
    ]
    assert [r.var_val for r in sort_rows(rows, "ldap")] == ["4", "3", "2", "1", "5"]


def test_ldap_order_does_not_sort_by_variable_name() -> None:
    rows = [StaticRow("a", 0, 0, "z", "1"), StaticRow("a", 0, 0, "a", "2")]
    assert [r.var_val for r in sort_rows(rows, "ldap")] == ["1", "2"]


@pytest.mark.parametrize("order", ["asterisk", "ldap"])
def test_rows_with_equal_keys_keep_their_stored_order(order: str) -> None:
    rows = [StaticRow("general", 0, 0, "allow", codec) for codec in ("g722", "ulaw", "alaw")]
    assert [r.var_val for r in sort_rows(rows, order)] == ["g722", "ulaw", "alaw"]  # type: ignore[arg-type]


def test_metrics_compare_as_numbers_not_text() -> None:
    config = build_static(
        "sip.conf",
        [row("g", "a", "10", var_metric="10"), row("g", "a", "9", var_metric="9")],
    )
    assert layout(config) == [("g", [("a", "9"), ("a", "10")])]


def test_build_static_uses_the_requested_order() -> None:
    rows = [row("low", "a", "1", cat_metric=0), row("high", "b", "2", cat_metric=1)]
    assert [c.name for c in build_static("x.conf", rows).categories()] == ["high", "low"]
    assert [c.name for c in build_static("x.conf", rows, order="ldap").categories()] == [
        "low",
        "high",
    ]


# Categories ---------------------------------------------------------------------------------


def test_consecutive_rows_of_one_category_share_it() -> None:
    config = build_static(
        "sip.conf",
        [row("general", "a", "1", var_metric=0), row("general", "b", "2", var_metric=1)],
    )
    assert layout(config) == [("general", [("a", "1"), ("b", "2")])]


def test_a_new_category_starts_when_the_name_changes() -> None:
    config = build_static(
        "sip.conf", [row("a", "x", "1", cat_metric=1), row("b", "y", "2", cat_metric=0)]
    )
    assert layout(config) == [("a", [("x", "1")]), ("b", [("y", "2")])]


def test_the_same_name_with_another_cat_metric_is_a_second_category() -> None:
    config = build_static(
        "sip.conf",
        [row("peer", "type", "friend", cat_metric=1), row("peer", "host", "dynamic", cat_metric=0)],
    )
    assert layout(config) == [("peer", [("type", "friend")]), ("peer", [("host", "dynamic")])]
    assert [c.metric for c in config.categories()] == [1, 0]


def test_interleaved_var_metrics_split_a_category_as_odbc_does() -> None:
    # cat_metric DESC, var_metric ASC, category: rows of two categories with one cat_metric
    # interleave by var_metric, and each change of name starts a new category.
    config = build_static(
        "sip.conf",
        [
            row("general", "a", "1", var_metric=0),
            row("general", "b", "2", var_metric=2),
            row("peer", "c", "3", var_metric=1),
        ],
    )
    assert [c.name for c in config.categories()] == ["general", "peer", "general"]


def test_categories_record_the_file_they_come_from() -> None:
    config = build_static("sip.conf", [row("general", "a", "1")])
    assert config.categories()[0].source == "sip.conf"


def test_a_file_whose_rows_are_all_commented_is_empty_but_exists() -> None:
    config = build_static("sip.conf", [row("general", "a", "1", commented="1")])
    assert config.categories() == []
    assert config.filename == "sip.conf"


# #include -----------------------------------------------------------------------------------


def test_an_include_row_inlines_the_included_file_and_creates_no_variable() -> None:
    files = {
        "sip.conf": [
            row("general", "context", "default", cat_metric=1, var_metric=0),
            row("general", "#include", "peers.conf", cat_metric=1, var_metric=1),
            row("trunk", "type", "peer", cat_metric=0),
        ],
        "peers.conf": [row("alice", "type", "friend", filename="peers.conf")],
    }
    config = loader(files)("sip.conf")
    assert config is not None
    assert layout(config) == [
        ("general", [("context", "default")]),
        ("alice", [("type", "friend")]),
        ("trunk", [("type", "peer")]),
    ]
    assert all(name != "#include" for c in config.categories() for name, _ in c.variables)
    assert config.categories()[1].source == "peers.conf"


def test_an_include_is_kept_as_an_item_with_its_loaded_config() -> None:
    included = StaticConfig("peers.conf", [Category("alice", 0, [("type", "friend")])])
    config = build_static(
        "sip.conf",
        [row("general", "#include", '"peers.conf"')],
        lambda name: included if name == "peers.conf" else None,
    )
    assert config.items == [Include("peers.conf", included)]


def test_an_include_target_is_unquoted_and_trimmed() -> None:
    seen: list[str] = []

    def load(name: str) -> StaticConfig:
        seen.append(name)
        return StaticConfig(name)

    build_static("sip.conf", [row("general", "#include", ' "peers.conf" ')], load)
    assert seen == ["peers.conf"]


def test_a_missing_include_is_not_found_naming_the_file() -> None:
    with pytest.raises(NotFound) as info:
        build_static("sip.conf", [row("general", "#include", "gone.conf")], lambda name: None)
    assert "gone.conf" in str(info.value)
    assert "sip.conf" in str(info.value)


def test_an_include_without_a_loader_is_not_found() -> None:
    with pytest.raises(NotFound, match=r"gone\.conf"):
        build_static("sip.conf", [row("general", "#include", "gone.conf")])


def test_a_file_including_itself_is_a_bad_request() -> None:
    files = {"sip.conf": [row("general", "#include", "sip.conf")]}
    with pytest.raises(BadRequest, match="loop"):
        loader(files)("sip.conf")


def test_an_include_loop_through_another_file_is_a_bad_request() -> None:
    files = {
        "a.conf": [row("a", "#include", "b.conf", filename="a.conf")],
        "b.conf": [row("b", "#include", "a.conf", filename="b.conf")],
    }
    with pytest.raises(BadRequest, match=r"a\.conf -> b\.conf -> a\.conf"):
        loader(files)("a.conf")


def test_a_file_may_be_included_twice_without_a_loop() -> None:
    files = {
        "sip.conf": [
            row("general", "#include", "common.conf", var_metric=0),
            row("general", "#include", "common.conf", var_metric=1),
        ],
        "common.conf": [row("common", "a", "1", filename="common.conf")],
    }
    config = loader(files)("sip.conf")
    assert config is not None
    assert [c.name for c in config.categories()] == ["common", "common"]


# Rendering -------------------------------------------------------------------------------------


def _with_include() -> StaticConfig:
    files = {
        "sip.conf": [
            row("general", "context", "default", cat_metric=1, var_metric=0),
            row("general", "#include", "peers.conf", cat_metric=1, var_metric=1),
            row("trunk", "type", "peer", cat_metric=0),
        ],
        "peers.conf": [row("alice", "type", "friend", filename="peers.conf")],
    }
    config = loader(files)("sip.conf")
    assert config is not None
    return config


def test_render_follows_includes_between_marker_comments() -> None:
    assert _with_include().render() == (
        "[general]\n"
        "context = default\n"
        '; >>> #include "peers.conf"\n'
        "\n"
        "[alice]\n"
        "type = friend\n"
        '; <<< #include "peers.conf"\n'
        "\n"
        "[trunk]\n"
        "type = peer\n"
    )


def test_render_without_following_includes_keeps_include_lines() -> None:
    assert _with_include().render(follow_includes=False) == (
        "[general]\n"
        "context = default\n"
        '#include "peers.conf"\n'
        "\n"
        "[trunk]\n"
        "type = peer\n"
    )


def test_render_of_an_empty_file_is_empty() -> None:
    assert StaticConfig("empty.conf").render() == ""


def test_render_keeps_repeated_variables_in_order() -> None:
    config = build_static(
        "sip.conf",
        [row("g", "allow", "g722"), row("g", "allow", "ulaw"), row("g", "allow", "alaw")],
    )
    assert config.render() == "[g]\nallow = g722\nallow = ulaw\nallow = alaw\n"


def test_render_escapes_semicolons_so_the_text_reads_back_as_the_same_value() -> None:
    config = build_static("sip.conf", [row("g", "setvar", "A=1;B=2")])
    assert config.render() == "[g]\nsetvar = A=1\\;B=2\n"


def test_to_json_lists_categories_with_metric_file_and_variables() -> None:
    data = json.loads(_with_include().to_json())
    assert data == {
        "filename": "sip.conf",
        "categories": [
            {"name": "general", "metric": 1, "file": "sip.conf",
             "variables": [["context", "default"]]},
            {"name": "alice", "metric": 0, "file": "peers.conf",
             "variables": [["type", "friend"]]},
            {"name": "trunk", "metric": 0, "file": "sip.conf",
             "variables": [["type", "peer"]]},
        ],
    }


def test_to_json_keeps_non_ascii_text_readable() -> None:
    config = build_static("sip.conf", [row("général", "callerid", "José")])
    assert "José" in config.to_json()
    assert "général" in config.to_json()
