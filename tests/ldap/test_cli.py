"""The ara-ldap command against a real slapd: Asterisk's output strings, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ara_ldap.testing.ldap import write_config
from ara_ldap.testing.slapd import Slapd


def run(
    config: Path | None, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "ara_ldap.cli"]
    if config is not None:
        cmd += ["--config", str(config)]
    full_env = {k: v for k, v in os.environ.items() if k != "ARA_LDAP_CONFIG"}
    full_env.update(env or {})
    return subprocess.run(
        [*cmd, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=full_env,
        cwd=config.parent if config else None,
    )


@pytest.fixture
def config(fresh_slapd: Slapd, tmp_path: Path) -> Path:
    return write_config(tmp_path / "ara-ldap.yaml", fresh_slapd)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ara-ldap: error: ")
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0]


def test_load_prints_asterisk_realtime_load_format(config: Path) -> None:
    result = run(config, "load", "sippeers", "name", "alice")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{'Column Name':>30}  {'Column Value':<30}"
    assert lines[1] == f"{'-' * 20:>30}  {'-' * 20:<30}"
    assert lines[2] == f"{'name':>30}  {'alice':<30}"
    assert [ln.split()[1] for ln in lines if ln.split()[0] == "allow"] == ["ulaw", "alaw", "g722"]


def test_load_of_nothing_prints_asterisks_no_rows_line(config: Path) -> None:
    result = run(config, "load", "sippeers", "name", "nobody")
    assert result.returncode == 0
    assert result.stdout == "No rows found matching search criteria.\n"


def test_update_prints_the_count_with_asterisks_plural_rule(config: Path) -> None:
    assert run(config, "update", "sippeers", "name", "alice", "host", "192.0.2.5").stdout == (
        "Updated 1 RealTime record.\n"
    )
    assert run(config, "update", "sippeers", "name", "nobody", "host", "x").stdout == (
        "Updated 0 RealTime records.\n"
    )


def test_update2_takes_lookup_pairs_then_null_then_one_update(config: Path) -> None:
    result = run(
        config,
        "update2",
        "voicemail",
        "context",
        "sales",
        "mailbox",
        "1001",
        "NULL",
        "password",
        "1111",
    )
    assert result.stdout == "Updated 1 RealTime record.\n", result.stderr


def test_update2_without_null_shows_usage(config: Path) -> None:
    result = run(config, "update2", "voicemail", "context", "sales", "password", "1111")
    assert_one_line_error(result, "usage")


def test_store_and_destroy_print_asterisks_strings(config: Path) -> None:
    assert run(config, "store", "sippeers", "name", "zed", "host", "dynamic").stdout == (
        "Stored RealTime record.\n"
    )
    assert (
        run(config, "destroy", "sippeers", "name", "zed").stdout == "Removed 1 RealTime record.\n"
    )


def test_duplicate_store_prints_asterisks_failure_and_one_error_line(config: Path) -> None:
    result = run(config, "store", "sippeers", "name", "alice")
    assert result.stdout.startswith("Failed to store record.")
    assert_one_line_error(result, "already exists")


def test_store_with_an_unknown_field_is_one_error_line(config: Path) -> None:
    assert_one_line_error(run(config, "store", "sippeers", "name", "x", "bogus", "1"), "bogus")


def test_unknown_family_is_one_error_line(config: Path) -> None:
    assert_one_line_error(run(config, "load", "nosuchfamily", "name", "x"), "nosuchfamily")


def test_static_prints_the_file_as_conf_text(config: Path) -> None:
    result = run(config, "static", "sip.conf")
    assert result.returncode == 0
    assert result.stdout.startswith("[general]\n")
    assert "[carol]" in result.stdout


def test_static_json_lists_categories_in_order(config: Path) -> None:
    import json

    result = run(config, "static", "sip.conf", "--format", "json")
    data = json.loads(result.stdout)
    assert [c["name"] for c in data["categories"]][:3] == ["general", "authentication", "alice"]


def test_multi_prints_every_record_and_a_count(config: Path) -> None:
    result = run(config, "multi", "voicemail", "mailbox", "1001")
    assert result.stdout.rstrip().endswith("2 records.")


def test_require_reports_fields_the_directory_cannot_hold(config: Path) -> None:
    ok = run(config, "require", "sippeers", "name", "char:10", "port", "uinteger2:5")
    assert ok.returncode == 0, ok.stderr
    bad = run(config, "require", "sippeers", "nosuch", "char:10")
    assert bad.returncode == 1 and "nosuch" in bad.stdout


def test_bad_yaml_is_one_error_line_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("backends: [unclosed\n")
    assert_one_line_error(run(bad, "load", "sippeers", "name", "x"), "bad.yaml", "line")


def test_invalid_key_is_one_error_line_naming_its_yaml_path(
    tmp_path: Path, fresh_slapd: Slapd
) -> None:
    cfg = write_config(tmp_path / "c.yaml", fresh_slapd, pool_size="many")
    assert_one_line_error(run(cfg, "load", "sippeers", "name", "x"), "backends.directory.pool_size")


def test_missing_config_file_is_one_error_line(tmp_path: Path) -> None:
    assert_one_line_error(run(tmp_path / "nope.yaml", "load", "sippeers", "name", "x"), "nope.yaml")


def test_unreachable_directory_is_one_error_line_without_the_password(
    tmp_path: Path, fresh_slapd: Slapd
) -> None:
    cfg = write_config(tmp_path / "c.yaml", fresh_slapd)
    fresh_slapd.stop()
    result = run(cfg, "load", "sippeers", "name", "alice")
    assert_one_line_error(result, "unreachable")
    assert fresh_slapd.admin_password not in result.stderr + result.stdout
