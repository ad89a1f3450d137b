"""The Asterisk .conf parser behind ``static-import`` and its static-row scheme.

The rules are main/config.c's (comments, headers, templates, directives) and the row
scheme is the one that makes the default static order (``cat_metric DESC, var_metric
ASC``) give the file back; see ara_ldap/tools/conf_parser.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ara_ldap.record import Record
from ara_ldap.static import atoi
from ara_ldap.tools.conf_parser import (
    TEMPLATE_MESSAGE,
    ConfInclude,
    ConfParseError,
    check_importable,
    empty_categories,
    outline_of_rows,
    parse_conf,
    parse_conf_file,
    static_rows,
)

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sip.conf"


def variables(text: str, category: int = 0) -> list[tuple[str, str]]:
    conf = parse_conf(text)
    return [(v.name, v.value) for v in conf.categories[category].variables()]


# Comments --------------------------------------------------------------------------------


def test_a_semicolon_starts_a_comment() -> None:
    assert variables("[a]\nx = 1 ; note\n; y = 2\n") == [("x", "1")]


def test_backslash_semicolon_is_a_literal_semicolon() -> None:
    assert variables("[a]\nua = PBX\\; build 1 ; comment\n") == [("ua", "PBX; build 1")]


def test_other_backslashes_are_kept_as_they_are() -> None:
    assert variables("[a]\npath = C:\\dir\\n\n") == [("path", "C:\\dir\\n")]


def test_block_comment_spans_lines() -> None:
    text = "[a]\nx = 1\n;-- start\ny = 2\n; z = 3\nend --;\nw = 4\n"
    assert variables(text) == [("x", "1"), ("w", "4")]


def test_text_before_and_after_a_block_comment_keeps_its_line() -> None:
    assert variables("[a]\nx = 1 ;-- ignored --; 2\n") == [("x", "1  2")]


def test_text_after_a_block_comment_end_on_a_later_line_is_parsed() -> None:
    assert variables("[a]\n;-- start\nmiddle\n--; x = 1\n") == [("x", "1")]


def test_block_comments_nest() -> None:
    text = "[a]\n;-- outer ;-- inner --; still a comment\nx = 1\n--;\ny = 2\n"
    assert variables(text) == [("y", "2")]


def test_three_dashes_after_the_semicolon_start_a_plain_comment() -> None:
    assert variables("[a]\nx = 1 ;--- not a block\ny = 2\n") == [("x", "1"), ("y", "2")]


def test_block_comment_end_outside_a_comment_is_refused() -> None:
    with pytest.raises(ConfParseError, match=r"line 2: '--;' outside a block comment"):
        parse_conf("[a]\nx = 1--; oops\n")


def test_unterminated_block_comment_is_a_warning() -> None:
    conf = parse_conf("[a]\nx = 1\n;-- never closed\ny = 2\n")
    assert [(v.name, v.value) for v in conf.categories[0].variables()] == [("x", "1")]
    assert any("line 3" in w and "unterminated" in w for w in conf.warnings)


# Categories --------------------------------------------------------------------------------


def test_category_names_are_not_trimmed() -> None:
    assert [c.name for c in parse_conf("[ spaced ]\nx = 1\n").categories] == [" spaced "]


def test_text_after_the_header_is_ignored_unless_it_is_an_option_list() -> None:
    assert parse_conf("[a] trailing\nx = 1\n").categories[0].name == "a"


def test_header_without_closing_bracket_is_refused() -> None:
    with pytest.raises(ConfParseError, match=r"line 1: no closing '\]'"):
        parse_conf("[broken\n")


def test_option_list_without_closing_parenthesis_is_refused() -> None:
    with pytest.raises(ConfParseError, match=r"line 1: no closing '\)'"):
        parse_conf("[a](!\n")


def test_a_repeated_category_name_stays_two_categories() -> None:
    conf = parse_conf("[a]\nx = 1\n[b]\ny = 2\n[a]\nz = 3\n")
    assert [c.name for c in conf.categories] == ["a", "b", "a"]


def test_a_variable_before_any_category_is_refused() -> None:
    with pytest.raises(ConfParseError, match=r"line 2: a line before any \[category\]"):
        parse_conf("; header\nx = 1\n")


# Templates ---------------------------------------------------------------------------------


def test_bang_marks_a_template_that_modules_do_not_see() -> None:
    conf = parse_conf("[t](!)\nx = 1\n[a](t)\ny = 2\n")
    assert conf.categories[0].template
    assert [c.name for c in conf.stored_categories()] == ["a"]


def test_inheriting_category_gets_the_base_variables_first() -> None:
    assert variables("[t](!)\nx = 1\n[a](t)\ny = 2\n", 1) == [("x", "1"), ("y", "2")]


def test_several_bases_are_inherited_in_the_order_listed() -> None:
    text = "[t1](!)\nx = 1\n[t2](!)\nx = 2\n[a](t2,t1)\n"
    assert variables(text, 2) == [("x", "2"), ("x", "1")]


def test_a_template_can_inherit_from_a_template() -> None:
    text = "[t1](!)\nx = 1\n[t2](!,t1)\ny = 2\n[a](t2)\nz = 3\n"
    assert variables(text, 2) == [("x", "1"), ("y", "2"), ("z", "3")]


def test_a_plain_category_can_be_a_base_and_stays_visible() -> None:
    conf = parse_conf("[a]\nx = 1\n[b](a)\ny = 2\n")
    assert [c.name for c in conf.stored_categories()] == ["a", "b"]


def test_a_base_must_be_defined_above() -> None:
    with pytest.raises(ConfParseError, match=r"line 1: \[a\] inherits from 't'"):
        parse_conf("[a](t)\nx = 1\n[t](!)\ny = 2\n")


def test_base_names_are_not_trimmed_like_in_asterisk() -> None:
    with pytest.raises(ConfParseError, match=r"inherits from ' t'"):
        parse_conf("[t](!)\nx = 1\n[a](!, t)\n")


def test_category_addition_with_plus_is_refused() -> None:
    with pytest.raises(ConfParseError, match=r"line 3: \[a\]\(\+\) adds to an earlier"):
        parse_conf("[a]\nx = 1\n[a](+)\ny = 2\n")


def test_templates_are_refused_for_import_naming_the_line() -> None:
    conf = parse_conf("[g]\nx = 1\n\n[t](!)\ny = 2\n")
    with pytest.raises(ConfParseError) as info:
        check_importable(conf)
    assert str(info.value) == f"<text> line 4: {TEMPLATE_MESSAGE}"


def test_inheritance_alone_is_refused_too() -> None:
    conf = parse_conf("[a]\nx = 1\n[b](a)\ny = 2\n")
    with pytest.raises(ConfParseError, match=r"line 3: templates are not supported"):
        check_importable(conf)


def test_templates_are_accepted_when_they_are_to_be_expanded() -> None:
    check_importable(parse_conf("[t](!)\nx = 1\n[a](t)\n"), expand_templates=True)


# Variables ---------------------------------------------------------------------------------


def test_arrow_lines_are_variables_marked_as_objects() -> None:
    conf = parse_conf("[a]\nexten => 100,1,Answer()\n")
    variable = conf.categories[0].variables()[0]
    assert (variable.name, variable.value, variable.object) == ("exten", "100,1,Answer()", True)


def test_repeated_keys_are_kept_in_order() -> None:
    text = "[a]\ndisallow = all\nallow = ulaw\nallow = alaw\n"
    assert variables(text) == [("disallow", "all"), ("allow", "ulaw"), ("allow", "alaw")]


def test_names_and_values_are_trimmed_and_may_contain_equals() -> None:
    assert variables("[a]\n  setvar =  A=1  \n") == [("setvar", "A=1")]


def test_an_empty_value_is_kept() -> None:
    assert variables("[a]\nx =\n") == [("x", "")]


def test_plus_equals_is_refused() -> None:
    with pytest.raises(ConfParseError, match=r"line 3: '\+=' appends"):
        parse_conf("[a]\nx = 1\nx += 2\n")


def test_a_line_without_equals_is_skipped_with_a_warning() -> None:
    conf = parse_conf("[a]\njunk\nx = 1\n")
    assert [(v.name, v.value) for v in conf.categories[0].variables()] == [("x", "1")]
    assert conf.warnings == ["<text> line 2: no '=' in the line; Asterisk ignores it"]


def test_a_line_without_a_name_is_skipped_with_a_warning() -> None:
    conf = parse_conf("[a]\n= 1\n")
    assert conf.categories[0].variables() == []
    assert "no variable name" in conf.warnings[0]


# Directives --------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ['"users.conf"', "<users.conf>", "users.conf"])
def test_include_is_recorded_with_its_quotes_removed(spelling: str) -> None:
    conf = parse_conf(f"[a]\nx = 1\n#include {spelling}\n")
    assert conf.categories[0].items[-1] == ConfInclude("users.conf", 3)


def test_include_before_any_category_goes_to_the_preamble() -> None:
    conf = parse_conf('#include "first.conf"\n[a]\nx = 1\n')
    assert conf.preamble == [ConfInclude("first.conf", 1)]


def test_directive_names_are_case_insensitive() -> None:
    assert parse_conf("#INCLUDE x.conf\n").preamble == [ConfInclude("x.conf", 1)]


def test_tryinclude_is_refused() -> None:
    with pytest.raises(ConfParseError, match=r"line 1: #tryinclude has no static realtime"):
        parse_conf("#tryinclude maybe.conf\n")


def test_exec_is_refused() -> None:
    with pytest.raises(ConfParseError, match=r"line 1: #exec cannot be stored"):
        parse_conf("#exec /bin/true\n")


def test_an_unknown_directive_is_skipped_with_a_warning() -> None:
    conf = parse_conf("#frobnicate x\n[a]\nx = 1\n")
    assert conf.warnings == [
        "<text> line 1: unknown directive '#frobnicate'; Asterisk ignores the line"
    ]


def test_include_without_a_file_is_skipped_with_a_warning() -> None:
    conf = parse_conf("#include\n")
    assert conf.preamble == [] and "needs a file name" in conf.warnings[0]


# Outline: the file as Asterisk reads it ------------------------------------------------------


def test_outline_hides_templates_and_expands_inheritance() -> None:
    conf = parse_conf("[t](!)\nx = 1\n[a](t)\ny = 2\n")
    assert conf.outline() == [("category", "a", (("x", "1"), ("y", "2")))]


def test_outline_puts_an_include_after_the_category_it_appears_in() -> None:
    # Asterisk keeps adding the category's later lines to it after loading the include.
    conf = parse_conf("[a]\nx = 1\n#include b.conf\ny = 2\n[c]\nz = 3\n")
    assert conf.outline() == [
        ("category", "a", (("x", "1"), ("y", "2"))),
        ("include", "b.conf", ()),
        ("category", "c", (("z", "3"),)),
    ]


# Static rows ---------------------------------------------------------------------------------


def metrics(rows: list[Record]) -> list[tuple[str | None, int, int, str | None]]:
    """(category, cat_metric, var_metric, var_name) per row."""
    return [
        (r.get("category"), atoi(r.get("cat_metric")), atoi(r.get("var_metric")), r.get("var_name"))
        for r in rows
    ]


def test_first_category_gets_the_highest_cat_metric_and_var_metric_counts_over_the_file() -> None:
    rows = static_rows(parse_conf("[a]\nx = 1\ny = 2\n[b]\nz = 3\n"), "f.conf")
    assert metrics(rows) == [("a", 1, 0, "x"), ("a", 1, 1, "y"), ("b", 0, 2, "z")]


def test_rows_carry_filename_value_and_commented_zero() -> None:
    row = static_rows(parse_conf("[a]\nx = 1\n"), "f.conf")[0]
    assert (row.get("filename"), row.get("var_val"), row.get("commented")) == ("f.conf", "1", "0")


def test_a_repeated_category_name_gets_its_own_cat_metric() -> None:
    rows = static_rows(parse_conf("[a]\nx = 1\n[a]\ny = 2\n"), "f.conf")
    assert [m[1] for m in metrics(rows)] == [1, 0]


def test_an_include_row_takes_the_metrics_of_the_category_it_follows() -> None:
    rows = static_rows(parse_conf("[a]\nx = 1\n#include b.conf\n[c]\nz = 3\n"), "f.conf")
    assert metrics(rows) == [("a", 1, 0, "x"), ("a", 1, 1, "#include"), ("c", 0, 2, "z")]
    assert rows[1].get("var_val") == "b.conf"


def test_an_include_before_the_first_category_sorts_before_its_variables() -> None:
    rows = static_rows(parse_conf("#include first.conf\n[a]\nx = 1\n"), "f.conf")
    assert metrics(rows) == [("a", 0, 0, "#include"), ("a", 0, 1, "x")]


def test_an_include_only_file_files_its_includes_under_general() -> None:
    rows = static_rows(parse_conf("#include a.conf\n#include b.conf\n"), "f.conf")
    assert metrics(rows) == [("general", 0, 0, "#include"), ("general", 0, 1, "#include")]


def test_expanded_templates_are_not_stored_and_children_get_their_variables_first() -> None:
    rows = static_rows(parse_conf("[t](!)\nx = 1\n[a](t)\ny = 2\n"), "f.conf")
    assert metrics(rows) == [("a", 0, 0, "x"), ("a", 0, 1, "y")]


def test_an_empty_category_cannot_be_stored_and_is_reported() -> None:
    conf = parse_conf("[empty]\n[a]\nx = 1\n")
    assert [c.name for c in empty_categories(conf)] == ["empty"]
    assert [m[0] for m in metrics(static_rows(conf, "f.conf"))] == ["a"]


def test_assembling_the_rows_gives_the_outline_back() -> None:
    text = "#include p.conf\n[a]\nx = 1\n#include b.conf\ny = 2\n[a]\nz = 3\n[c]\nw = 4\n"
    conf = parse_conf(text)
    assert outline_of_rows(static_rows(conf, "f.conf")) == conf.outline()


# The sample file -----------------------------------------------------------------------------


def test_sample_sip_conf_parses_to_the_categories_asterisk_shows() -> None:
    conf = parse_conf_file(SAMPLE)
    names = [item[1] for item in conf.outline()]
    assert names == [
        "general",
        "sip-users.conf",
        "authentication",
        "2001",
        "2002",
        "2003",
        "provider-trunk",
    ]
    assert conf.warnings == []


def test_sample_escaped_semicolon_and_inherited_variables_come_through() -> None:
    outline = {item[1]: item[2] for item in parse_conf_file(SAMPLE).outline()}
    assert ("useragent", "ara-ldap test PBX; build 1") in outline["general"]
    assert [v for k, v in outline["2002"] if k == "allow"] == ["ulaw", "g722", "gsm"]
    assert outline["2001"][0] == ("type", "friend")
    assert ("bindport", "5070") not in outline["general"]


def test_sample_round_trips_through_static_rows() -> None:
    conf = parse_conf_file(SAMPLE)
    assert outline_of_rows(static_rows(conf, "sip.conf")) == conf.outline()


def test_for_the_ldap_order_cat_metric_counts_up_and_still_round_trips() -> None:
    conf = parse_conf("#include p.conf\n[a]\nx = 1\n#include b.conf\n[b]\ny = 2\n")
    rows = static_rows(conf, "f.conf", order="ldap")
    assert [m[1] for m in metrics(rows)] == [0, 0, 0, 1]
    assert outline_of_rows(rows, order="ldap") == conf.outline()
