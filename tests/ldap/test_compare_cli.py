"""``sql init``, ``copy`` and ``compare`` between the LDAP backend and SQLite, as an admin
moving from SQL to a directory would run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ara_ldap.backends.sql.tables import STANDARD_TABLES
from ara_ldap.testing.ldap import ldap_backend_config
from ara_ldap.testing.slapd import Slapd


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ARA_LDAP_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "ara_ldap.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )


@pytest.fixture
def config(fresh_slapd: Slapd, tmp_path: Path) -> Path:
    path = tmp_path / "ara-ldap.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "backends": {
                    "directory": ldap_backend_config(fresh_slapd),
                    "sqlite": {"type": "sql", "url": f"sqlite:///{tmp_path / 'rt.db'}"},
                }
            }
        )
    )
    return path


@pytest.fixture
def copied(config: Path) -> Path:
    assert run(config, "sql", "init").stdout.startswith("Created tables: sippeers")
    result = run(config, "copy", "--from", "directory", "--to", "sqlite", "--drop-unknown-fields")
    assert result.returncode == 0, result.stdout + result.stderr
    return config


def test_sql_init_creates_the_standard_tables_once(config: Path) -> None:
    first = run(config, "sql", "init")
    assert first.stdout == f"Created tables: {', '.join(STANDARD_TABLES)}.\n"
    assert run(config, "sql", "init").stdout.startswith("All standard tables already exist")


def test_copy_reports_what_it_copied_and_what_shared_storage_already_had(copied: Path) -> None:
    again = run(copied, "copy", "--from", "directory", "--to", "sqlite", "--family", "sippeers")
    assert again.stdout == "sippeers: 0 copied, 7 already present\n"


def test_copy_refuses_fields_the_target_lacks_unless_told(config: Path) -> None:
    run(config, "sql", "init")
    result = run(config, "copy", "--from", "directory", "--to", "sqlite", "--family", "iaxpeers")
    assert result.returncode == 1
    assert "not copied: iaxpeers name=branch1" in result.stdout and "permit" in result.stdout


def test_compare_load_shows_identical_answers_after_copy(copied: Path) -> None:
    result = run(copied, "compare", "load", "sippeers", "name", "carol")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("Identical answers.")
    assert "sip:carol@192.0.2.10:5060;transport=udp;ob" in result.stdout


def test_compare_masks_secret_fields(copied: Path) -> None:
    result = run(copied, "compare", "load", "sippeers", "name", "alice")
    assert "fake-alice-secret" not in result.stdout
    shown = run(copied, "compare", "--show-secrets", "load", "sippeers", "name", "alice")
    assert "fake-alice-secret" in shown.stdout


def test_compare_marks_a_difference_and_exits_1(copied: Path) -> None:
    import sqlite3

    db = yaml.safe_load(copied.read_text())["backends"]["sqlite"]["url"].removeprefix("sqlite:///")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE sippeers SET host = '192.0.2.99' WHERE name = 'alice'")
    result = run(copied, "compare", "load", "sippeers", "name", "alice")
    assert result.returncode == 1
    assert any(line.startswith("≠ host") for line in result.stdout.splitlines())
    assert "1 difference(s)." in result.stdout


def test_compare_multi_and_static_after_copy(copied: Path) -> None:
    multi = run(
        copied, "compare", "multi", "extensions", "context", "from-internal", "exten LIKE", "\\_%"
    )
    assert multi.returncode == 0, multi.stdout
    assert run(copied, "compare", "static", "sip.conf").returncode == 0


def test_compare_suite_prints_a_table_per_backend_and_operation(copied: Path) -> None:
    result = run(copied, "compare", "--suite", "--cases", "single and equality")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "single" in result.stdout
    assert "directory" in result.stdout and "sqlite" in result.stdout
