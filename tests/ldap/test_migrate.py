"""``ara-ldap migrate``: the standard SQL tables (SQLite, PostgreSQL, MariaDB) loaded with the
conformance data set, moved into a real slapd and back, as an admin would run it."""

from __future__ import annotations

import contextlib
import os
import pty
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ldap3
import pytest
import sqlalchemy as sa
import yaml

from ara_ldap.backends import create_backend
from ara_ldap.backends.ldap.backend import LdapBackend
from ara_ldap.config import load_settings
from ara_ldap.criteria import Criterion, Operator
from ara_ldap.testing.conformance.dataset import DATASET
from ara_ldap.testing.conformance.loaders import sql_target
from ara_ldap.testing.databases import mariadb_url, postgres_url, temporary_schema
from ara_ldap.testing.ldap import ldap_backend_config
from ara_ldap.testing.slapd import Slapd, find_fixture_ldifs
from ara_ldap.tools.compare import compare_call, sides

#: A field every record of the family has: ``compare multi FAMILY <field> LIKE %``.
LEAD = {"sippeers": "name", "voicemail": "context", "extensions": "context"}
LEAD_DEFAULT = {"ast_config": "filename"}


def lead(family: str) -> str:
    return LEAD.get(family) or LEAD_DEFAULT.get(family) or "id"


@dataclass
class Site:
    """A SQL source loaded with the data set, a directory, and a config naming both."""

    url: str
    schema: str | None
    slapd: Slapd
    config: Path
    engine: sa.Engine

    def run(self, *args: str, source: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "ARA_LDAP_CONFIG"}
        extra = ["--schema", self.schema] if self.schema else []
        command = [sys.executable, "-m", "ara_ldap.cli", "--config", str(self.config)]
        command += ["migrate", "--from", source or self.url, *extra, *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)

    def settings(self) -> Any:
        return load_settings(yaml.safe_load(self.config.read_text()))

    def sql(self, statement: str, **params: object) -> None:
        with self.engine.begin() as conn:
            if self.schema and self.engine.dialect.name == "postgresql":
                conn.execute(sa.text(f'SET search_path TO "{self.schema}"'))
            conn.execute(sa.text(statement), params)

    def differences(self, left: str, right: str, families: list[str]) -> dict[str, int]:
        """``compare multi FAMILY <lead> LIKE %`` on two backends: differing lines per family."""
        settings = self.settings()
        backends = {n: create_backend(n, s) for n, s in settings.backends.items()}
        try:
            a, b = sides(settings, backends, [left, right])
            return {
                f: compare_call(a, b, "multi", f, [(f"{lead(f)} LIKE", "%")]).differences
                for f in families
            }
        finally:
            for backend in backends.values():
                backend.close()

    def directory(self) -> LdapBackend:
        spec = self.settings().backends["directory"]
        return LdapBackend("directory", spec)


def loaded_families() -> list[str]:
    return [f for f, records in DATASET.families.items() if records]


def counts(stdout: str) -> dict[str, tuple[int, int, int]]:
    """``family: A added, U updated, N unchanged`` lines (or ``to add``/``to update``)."""
    out = {}
    for m in re.finditer(
        r"^(\w+): (\d+) (?:to add|added), (\d+) (?:to update|updated), (\d+) unchanged",
        stdout,
        re.M,
    ):
        out[m.group(1)] = (int(m.group(2)), int(m.group(3)), int(m.group(4)))
    return out


@contextlib.contextmanager
def _source(engine_name: str, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    if engine_name == "sqlite":
        yield f"sqlite:///{tmp_path / 'realtime.db'}", None
        return
    url = postgres_url() if engine_name == "postgresql" else mariadb_url()
    with temporary_schema(url) as schema:
        yield url, schema


def _site(engine_name: str, slapd: Slapd, tmp_path: Path) -> Iterator[Site]:
    with _source(engine_name, tmp_path) as (url, schema), sql_target(url, schema):
        sql_spec: dict[str, Any] = {"type": "sql", "url": url}
        if schema:
            sql_spec["schema"] = schema
        config = tmp_path / "ara-ldap.yaml"
        config.write_text(
            yaml.safe_dump({"backends": {"directory": ldap_backend_config(slapd), "sql": sql_spec}})
        )
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            yield Site(url, schema, slapd, config, engine)
        finally:
            engine.dispose()


@pytest.fixture
def site(ara_slapd_empty: Slapd, tmp_path: Path) -> Iterator[Site]:
    """SQLite tables with the data set; a directory holding only its suffix."""
    yield from _site("sqlite", ara_slapd_empty, tmp_path)


@pytest.fixture
def migrated(site: Site) -> Site:
    result = site.run()
    assert result.returncode == 0, result.stdout + result.stderr
    return site


@pytest.mark.parametrize("engine_name", ["sqlite", "postgresql", "mariadb"])
def test_migrate_moves_the_sql_tables_into_the_directory_and_compare_is_identical(
    engine_name: str, ara_slapd_empty: Slapd, tmp_path: Path
) -> None:
    for s in _site(engine_name, ara_slapd_empty, tmp_path):
        result = s.run()
        assert result.returncode == 0, result.stdout + result.stderr
        families = loaded_families()
        expected = {f: (len(DATASET.records(f)), 0, 0) for f in families}
        assert {f: c for f, c in counts(result.stdout).items() if f in families} == expected
        assert s.differences("sql", "directory", families) == {f: 0 for f in families}


def test_compare_cli_says_identical_after_migrate(migrated: Site) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ARA_LDAP_CONFIG"}
    result = subprocess.run(
        [sys.executable, "-m", "ara_ldap.cli", "--config", str(migrated.config), "compare",
         "--backends", "sql,directory", "multi", "sippeers", "name LIKE", "%"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("Identical answers.")


def test_a_second_run_leaves_every_record_unchanged(migrated: Site) -> None:
    again = migrated.run()
    assert again.returncode == 0, again.stdout + again.stderr
    families = loaded_families()
    wanted = {f: (0, 0, len(DATASET.records(f))) for f in families}
    assert {f: c for f, c in counts(again.stdout).items() if f in families} == wanted


def test_shared_storage_families_are_migrated_once(migrated: Site) -> None:
    again = migrated.run("--dry-run")
    assert "sipusers: skipped (same records as sippeers)" in again.stdout
    assert "sipregs: skipped (same records as sippeers)" in again.stdout


def test_semicolon_joined_sql_values_become_ordered_ldap_values(migrated: Site) -> None:
    directory = migrated.directory()
    try:
        fmap = directory.family_map("sippeers")
        attr = fmap.attribute("allow")
        conn = ldap3.Connection(
            migrated.slapd.url.rstrip("/"),
            migrated.slapd.admin_dn,
            migrated.slapd.admin_password,
            auto_bind=True,
        )
        conn.search(fmap.dn_for("alice"), "(objectClass=*)", ldap3.BASE, attributes=[attr])
        stored = [v.decode() for v in conn.response[0]["raw_attributes"][attr]]
        conn.unbind()
    finally:
        directory.close()
    assert stored == DATASET.find("sippeers", name="alice").get_all("allow")
    assert len(stored) > 1 and not any(";" in v for v in stored)


def test_dry_run_shows_the_changed_fields_and_writes_nothing(migrated: Site) -> None:
    migrated.sql("UPDATE sippeers SET allow = 'g722;alaw', callerid = NULL WHERE name = 'alice'")
    before = _alice(migrated)
    result = migrated.run("--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "~ sippeers name=alice" in result.stdout
    old_allow = ", ".join(repr(v) for v in before.get_all("allow"))
    assert f"    allow: {old_allow} -> 'g722', 'alaw'" in result.stdout
    assert counts(result.stdout)["sippeers"][:2] == (0, 1)
    assert result.stdout.rstrip().endswith("Dry run: nothing was written.")
    assert _alice(migrated) == before


def test_a_changed_row_is_updated_and_a_cleared_field_removed(migrated: Site) -> None:
    migrated.sql("UPDATE sippeers SET allow = 'g722;alaw', callerid = NULL WHERE name = 'alice'")
    result = migrated.run()
    assert result.returncode == 0, result.stdout + result.stderr
    peers = len(DATASET.records("sippeers"))
    assert counts(result.stdout)["sippeers"] == (0, 1, peers - 1)
    alice = _alice(migrated)
    assert alice.get_all("allow") == ["g722", "alaw"]
    assert alice.get("callerid") is None
    assert migrated.differences("sql", "directory", ["sippeers"]) == {"sippeers": 0}


def _alice(site: Site) -> Any:
    directory = site.directory()
    try:
        (record,) = directory.search("sippeers", [Criterion("name", Operator.EQ, "alice")])
        return record
    finally:
        directory.close()


def test_bad_rows_are_reported_with_family_and_key_and_skipped(site: Site) -> None:
    # Each row is wrong for the directory in its own way; SQLite stores them as given.
    site.sql("INSERT INTO sippeers (name, allow) VALUES ('twice', 'ulaw;ulaw')")
    site.sql("INSERT INTO sippeers (name, context) VALUES ('ALICE', 'elsewhere')")
    site.sql("INSERT INTO sippeers (name, busylevel) VALUES ('busy', 'lots')")
    site.sql("INSERT INTO ast_config (filename, var_name, var_val) VALUES ('', 'a', 'b')")
    result = site.run()
    assert result.returncode == 1
    bad = [line for line in result.stdout.splitlines() if line.startswith("bad row: ")]
    assert len(bad) == 4, result.stdout
    assert any(b.startswith("bad row: sippeers name=twice: ") and "repeats" in b for b in bad)
    assert any(b.startswith("bad row: sippeers name=alice: ") and "ALICE" in b for b in bad)
    assert any(b.startswith("bad row: sippeers name=busy: ") for b in bad)
    assert any(b.startswith("bad row: ast_config ") and "filename" in b for b in bad)
    peers = len(DATASET.records("sippeers"))
    assert counts(result.stdout)["sippeers"] == (peers, 0, 0)


def test_full_ldif_loads_with_ldapadd_and_compares_identical(site: Site, tmp_path: Path) -> None:
    out = tmp_path / "migrate.ldif"
    result = site.run("--ldif", str(out), "--full")
    assert result.returncode == 0, result.stdout + result.stderr
    site.slapd.ldapadd(out)
    families = loaded_families()
    assert site.differences("sql", "directory", families) == {f: 0 for f in families}
    again = site.run("--dry-run")
    assert all(c[:2] == (0, 0) for c in counts(again.stdout).values()), again.stdout


def test_ldif_against_the_directory_holds_only_the_changes(migrated: Site, tmp_path: Path) -> None:
    migrated.sql("UPDATE sippeers SET allow = 'alaw' WHERE name = 'alice'")
    out = tmp_path / "changes.ldif"
    result = migrated.run("--ldif", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    text = out.read_text()
    assert text.count("dn: ") == 1 and "changetype: modify" in text
    migrated.slapd.ldapmodify_text(text)
    assert _alice(migrated).get_all("allow") == ["alaw"]
    assert counts(migrated.run("--dry-run").stdout)["sippeers"][:2] == (0, 0)


def test_directory_back_to_sql_round_trips(migrated: Site, tmp_path: Path) -> None:
    back = f"sqlite:///{tmp_path / 'back.db'}"
    result = migrated.run("--to", back, "--create-tables", source="directory")
    assert result.returncode == 0, result.stdout + result.stderr
    data = yaml.safe_load(migrated.config.read_text())
    data["backends"]["back"] = {"type": "sql", "url": back}
    migrated.config.write_text(yaml.safe_dump(data))
    families = loaded_families()
    assert migrated.differences("directory", "back", families) == {f: 0 for f in families}


def test_progress_bar_is_drawn_on_a_terminal(site: Site) -> None:
    """click draws bars only on a terminal: stderr is a pseudo-terminal here."""
    master, slave = pty.openpty()
    try:
        env = {k: v for k, v in os.environ.items() if k != "ARA_LDAP_CONFIG"}
        command = [sys.executable, "-m", "ara_ldap.cli", "--config", str(site.config)]
        command += ["migrate", "--from", site.url, "--progress", "--family", "sippeers"]
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=slave, timeout=300, env=env)
        os.close(slave)
        slave = -1
        drawn = b""
        with contextlib.suppress(OSError):
            while chunk := os.read(master, 65536):
                drawn += chunk
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert proc.returncode == 0
    assert b"sippeers" in drawn and b"100%" in drawn


def test_rerun_on_a_production_directory_reads_past_its_size_limit(
    production_slapd_factory: Any, tmp_path: Path
) -> None:
    """As the service account (writes the Asterisk subtrees only) under a size limit of 3:
    the second run sees every entry it wrote (paged reads) and changes nothing."""
    slapd = production_slapd_factory(size_limit=3, paged_unlimited=True)
    blocks = find_fixture_ldifs()[0].read_text().split("\n\n")  # the suffix and containers
    slapd.ldapadd_text("\n\n".join(b for b in blocks if f"dn: {slapd.suffix}\n" not in b))
    # The account may not create ou=pjsip below the suffix: the classic families only.
    classic = ["--family", "sippeers", "--family", "voicemail", "--family", "extensions"]
    for s in _site("sqlite", slapd, tmp_path):
        first = s.run(*classic)
        assert first.returncode == 0, first.stdout + first.stderr
        again = s.run(*classic)
        assert again.returncode == 0, again.stdout + again.stderr
        peers = len(DATASET.records("sippeers"))
        assert peers > 3
        assert counts(again.stdout)["sippeers"] == (0, 0, peers)
        assert s.differences("sql", "directory", ["sippeers"]) == {"sippeers": 0}


def test_a_container_the_account_may_not_create_is_reported(
    production_slapd_factory: Any, tmp_path: Path
) -> None:
    slapd = production_slapd_factory()
    for s in _site("sqlite", slapd, tmp_path):
        result = s.run("--family", "ps_endpoints")
        assert result.returncode == 1
        assert f"error: containers: cannot create ou=pjsip,{slapd.suffix}: " in result.stdout
        assert "insufficientAccessRights" in result.stdout
