"""Tables with case-insensitive, space-padding collations answer exactly too.

``init_schema`` creates binary tables, but a database populated for res_config_odbc often
has MySQL's default ``utf8mb4_general_ci`` (case-insensitive, PAD SPACE) or SQLite
``NOCASE`` columns.  The server's answer is then a superset and Python's post-filter makes
it exact.  (PostgreSQL's case-insensitive collations are nondeterministic, which LIKE does
not support; PostgreSQL tables are binary in practice.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ara_ldap.backends.sql import STANDARD_TABLES, standard_metadata
from ara_ldap.bootstrap import open_realtime
from ara_ldap.config import load_settings
from ara_ldap.errors import Conflict
from ara_ldap.realtime import Realtime
from ara_ldap.testing.databases import mariadb_url, sqlite_url, temporary_schema

CI_COLLATIONS = {"sqlite": "NOCASE", "mariadb": "utf8mb4_general_ci"}


@pytest.fixture(params=sorted(CI_COLLATIONS))
def ci_rt(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Realtime]:
    engine_name: str = request.param
    url = sqlite_url(tmp_path) if engine_name == "sqlite" else mariadb_url()
    with temporary_schema(url) as schema:
        md = standard_metadata(
            schema, text_collation=CI_COLLATIONS[engine_name], mysql_collate="utf8mb4_general_ci"
        )
        engine = sa.create_engine(url)
        md.create_all(
            engine, tables=[md.tables[t] for t in md.tables if t.split(".")[-1] in STANDARD_TABLES]
        )
        engine.dispose()
        spec: dict[str, object] = {"type": "sql", "url": url}
        if schema:
            spec["schema"] = schema
        realtime = open_realtime(load_settings({"backends": {"sql": spec}}))
        for i, (callerid, allow) in enumerate(
            [
                ("alice", "ulaw"),
                ("ALICE", "ULAW"),
                ("bob", None),
                ("bob ", None),
                ("émile", None),
                ("Bea", None),
            ]
        ):
            record = {"name": f"p{i}", "callerid": callerid}
            if allow:
                record["allow"] = allow
            realtime.store("sippeers", record)
        yield realtime
        realtime.close()


def names(rt: Realtime, criteria: dict[str, str]) -> list[str]:
    """The callerids of the matching rows (callerid has the table's collation)."""
    return sorted(r.get("callerid") or "" for r in rt.multi("sippeers", criteria))


def test_equality_is_case_sensitive_on_a_case_insensitive_table(ci_rt: Realtime) -> None:
    assert names(ci_rt, {"callerid": "alice"}) == ["alice"]


def test_equality_ignores_no_trailing_space_on_a_pad_space_table(ci_rt: Realtime) -> None:
    assert names(ci_rt, {"callerid": "bob"}) == ["bob"]


def test_like_is_case_sensitive_on_a_case_insensitive_table(ci_rt: Realtime) -> None:
    assert names(ci_rt, {"callerid LIKE": "A%"}) == ["ALICE"]


def test_like_does_not_fold_accents(ci_rt: Realtime) -> None:
    assert names(ci_rt, {"callerid LIKE": "emile"}) == []


def test_multi_valued_equality_is_case_sensitive(ci_rt: Realtime) -> None:
    assert names(ci_rt, {"allow": "ULAW"}) == ["ALICE"]


def test_order_is_code_point_order_not_the_collations(ci_rt: Realtime) -> None:
    assert names(ci_rt, {"callerid <": "a"}) == ["ALICE", "Bea"]


def test_not_equal_keeps_values_differing_only_in_case(ci_rt: Realtime) -> None:
    assert names(ci_rt, {"callerid !=": "alice"}) == ["ALICE", "Bea", "bob", "bob ", "émile"]


def test_update_counts_only_exact_matches(ci_rt: Realtime) -> None:
    assert ci_rt.update("sippeers", "callerid", "alice", {"host": "h"}) == 1
    assert names(ci_rt, {"host": "h"}) == ["alice"]


def test_destroy_deletes_only_exact_matches(ci_rt: Realtime) -> None:
    assert ci_rt.destroy("sippeers", {"callerid": "bob"}) == 1
    assert names(ci_rt, {"callerid LIKE": "bob%"}) == ["bob "]


def test_a_case_insensitive_unique_key_refuses_names_differing_in_case(ci_rt: Realtime) -> None:
    # The engine's unique index decides; documented in docs/backends.md.
    with pytest.raises(Conflict):
        ci_rt.store("sippeers", {"name": "P0"})
