"""``ara-ldap static-import``: a .conf file into static realtime and back, on a real slapd
(and on SQLite through the SQL backend).

Equivalence is judged on parsed structures, not text: the same categories in the same
order with the same variables in the same order, and the ``#include`` lines where
Asterisk would load them (:meth:`ConfFile.outline`).  tests/data/sip.conf includes
``sip-users.conf``, which the LDAP fixtures already hold (ldif/50-config.ldif), as they
hold a ``sip.conf`` of their own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ara_ldap.cli import main
from ara_ldap.realtime import Realtime
from ara_ldap.static import atoi
from ara_ldap.testing.ldap import write_config
from ara_ldap.testing.slapd import Slapd
from ara_ldap.tools.conf_parser import (
    import_static,
    outline_of_config,
    parse_conf,
    parse_conf_file,
)

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sip.conf"


@pytest.fixture
def config(fresh_slapd: Slapd, tmp_path: Path) -> Path:
    return write_config(tmp_path / "ara-ldap.yaml", fresh_slapd)


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(config), *args])


def expected_outline() -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    return parse_conf_file(SAMPLE).outline()


# Round trip --------------------------------------------------------------------------------


def test_import_reports_categories_and_rows(config: Path) -> None:
    result = run(
        config, "static-import", str(SAMPLE), "--filename", "sample.conf", "--expand-templates"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "Imported sample.conf into family ast_config: 6 categories, 66 rows.\n"


def test_imported_file_reads_back_as_the_same_structure(config: Path, rt: Realtime) -> None:
    run(config, "static-import", str(SAMPLE), "--filename", "sample.conf", "--expand-templates")
    assert outline_of_config(rt.static("sample.conf")) == expected_outline()


def test_rendered_file_parses_to_the_same_structure(config: Path) -> None:
    run(config, "static-import", str(SAMPLE), "--filename", "sample.conf", "--expand-templates")
    result = run(config, "static", "sample.conf", "--no-follow-includes")
    assert result.exit_code == 0, result.output
    assert parse_conf(result.stdout).outline() == expected_outline()


def test_the_include_loads_the_stored_included_file(config: Path, rt: Realtime) -> None:
    run(config, "static-import", str(SAMPLE), "--filename", "sample.conf", "--expand-templates")
    names = [c.name for c in rt.static("sample.conf").categories()]
    assert names[:3] == ["general", "bob", "carol"]  # sip-users.conf from the fixtures


def test_stored_metrics_follow_the_documented_scheme(config: Path, rt: Realtime) -> None:
    run(config, "static-import", str(SAMPLE), "--filename", "sample.conf", "--expand-templates")
    rows = rt.multi("ast_config", [("filename", "sample.conf")])
    by_var = sorted(rows, key=lambda r: atoi(r.get("var_metric")))
    assert [atoi(r.get("var_metric")) for r in by_var] == list(range(66))
    firsts: dict[str, int] = {}
    for r in by_var:
        firsts.setdefault(r.get("category") or "", atoi(r.get("cat_metric")))
    assert list(firsts.items()) == [
        ("general", 5),
        ("authentication", 4),
        ("2001", 3),
        ("2002", 2),
        ("2003", 1),
        ("provider-trunk", 0),
    ]
    include = next(r for r in rows if r.get("var_name") == "#include")
    assert (include.get("category"), include.get("cat_metric")) == ("general", "5")
    assert {r.get("commented") for r in rows} == {"0"}


def test_the_realtime_api_imports_without_the_cli(rt: Realtime) -> None:
    conf = parse_conf("[a]\nx = 1\n[a]\ny = 2\n", "twice.conf")
    result = import_static(rt, conf, "twice.conf")
    assert (result.categories, result.rows, result.removed) == (2, 2, 0)
    assert outline_of_config(rt.static("twice.conf")) == conf.outline()


# Existing files ------------------------------------------------------------------------------


def test_importing_over_a_stored_file_is_refused(config: Path) -> None:
    # The fixtures already hold sip.conf.
    result = run(config, "static-import", str(SAMPLE), "--expand-templates")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "ara-ldap: error: sip.conf is already stored in family 'ast_config'"
    )
    assert result.stderr.rstrip().endswith("use --replace")


def test_a_second_import_of_the_same_name_is_refused(config: Path, tmp_path: Path) -> None:
    conf = tmp_path / "small.conf"
    conf.write_text("[a]\nx = 1\n", encoding="utf-8")
    assert run(config, "static-import", str(conf)).exit_code == 0
    result = run(config, "static-import", str(conf))
    assert result.exit_code == 1
    assert "already stored" in result.stderr and "use --replace" in result.stderr


def test_replace_swaps_the_stored_file_for_the_new_one(config: Path, rt: Realtime) -> None:
    result = run(config, "static-import", str(SAMPLE), "--expand-templates", "--replace")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Replaced (removed 16 rows) sip.conf into family ast_config")
    assert outline_of_config(rt.static("sip.conf")) == expected_outline()


def test_replace_leaves_no_row_of_the_old_version(
    config: Path, rt: Realtime, tmp_path: Path
) -> None:
    conf = tmp_path / "small.conf"
    conf.write_text("[a]\nx = 1\ny = 2\n[b]\nz = 3\n", encoding="utf-8")
    run(config, "static-import", str(conf))
    conf.write_text("[c]\nw = 4\n", encoding="utf-8")
    assert run(config, "static-import", str(conf), "--replace").exit_code == 0
    assert len(rt.multi("ast_config", [("filename", "small.conf")])) == 1
    assert outline_of_config(rt.static("small.conf")) == [("category", "c", (("w", "4"),))]


def test_replace_of_a_file_not_yet_stored_just_imports(config: Path, tmp_path: Path) -> None:
    conf = tmp_path / "new.conf"
    conf.write_text("[a]\nx = 1\n", encoding="utf-8")
    result = run(config, "static-import", str(conf), "--replace")
    assert result.stdout.startswith("Imported new.conf")


# Templates ---------------------------------------------------------------------------------


def test_templates_are_refused_by_default_naming_the_line(config: Path, rt: Realtime) -> None:
    result = run(config, "static-import", str(SAMPLE), "--filename", "sample.conf")
    assert result.exit_code == 1
    assert result.stderr == (
        "ara-ldap: error: sip.conf line 35: templates are not supported by static realtime "
        "(Asterisk creates realtime categories without templates); use --expand-templates\n"
    )
    assert rt.multi("ast_config", [("filename", "sample.conf")]) == []


def test_expanded_templates_are_not_stored_and_children_hold_their_variables(
    config: Path, rt: Realtime
) -> None:
    run(config, "static-import", str(SAMPLE), "--filename", "sample.conf", "--expand-templates")
    categories = {c.name: c.variables for c in rt.static("sample.conf").categories()}
    assert "phone-defaults" not in categories and "office-phone" not in categories
    assert categories["2001"][:2] == [("type", "friend"), ("host", "dynamic")]
    assert ("callgroup", "1") in categories["2001"]
    assert ("callgroup", "1") not in categories["2003"]


def test_a_failed_parse_names_file_and_line_and_stores_nothing(
    config: Path, tmp_path: Path, rt: Realtime
) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text("[a]\nx = 1\nx += 2\n", encoding="utf-8")
    result = run(config, "static-import", str(conf))
    assert result.exit_code == 1
    assert result.stderr.startswith("ara-ldap: error: bad.conf line 3: '+=' appends")
    assert rt.multi("ast_config", [("filename", "bad.conf")]) == []


def test_parser_warnings_go_to_stderr(config: Path, tmp_path: Path) -> None:
    conf = tmp_path / "warn.conf"
    conf.write_text("[a]\njunk\nx = 1\n[empty]\n", encoding="utf-8")
    result = run(config, "static-import", str(conf))
    assert result.exit_code == 0
    assert "ara-ldap: warning: warn.conf line 2: no '=' in the line" in result.stderr
    assert "ara-ldap: warning: warn.conf line 4: [empty] has no variables" in result.stderr


# SQLite ----------------------------------------------------------------------------------


def test_round_trip_on_sqlite(tmp_path: Path) -> None:
    """The same import through the SQL backend (another engineer's; skips without it)."""
    pytest.importorskip("sqlalchemy")
    sql = pytest.importorskip("ara_ldap.backends.sql")
    import sqlalchemy as sa

    from ara_ldap.bootstrap import open_realtime
    from ara_ldap.config import load_settings
    from ara_ldap.testing.databases import sqlite_url

    url = sqlite_url(tmp_path)
    engine = sa.create_engine(url)
    sql.init_schema(engine)
    engine.dispose()
    settings = load_settings({"backends": {"sql": {"type": "sql", "url": url}}})
    with open_realtime(settings) as rt:
        users = parse_conf("[bob]\ntype = friend\n[carol]\ntype = friend\n", "sip-users.conf")
        import_static(rt, users, "sip-users.conf")
        import_static(rt, parse_conf_file(SAMPLE), "sip.conf", expand_templates=True)
        config = rt.static("sip.conf")
        assert outline_of_config(config) == expected_outline()
        assert [c.name for c in config.categories()][:3] == ["general", "bob", "carol"]
