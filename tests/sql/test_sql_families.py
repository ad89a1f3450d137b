"""The shipped SQL family map and the SQL backend settings (no database needed)."""

from __future__ import annotations

from typing import Any

import pytest

from ara_ldap.backends.sql import SqlBackend
from ara_ldap.config import (
    SqlBackendSettings,
    load_settings,
    shipped_ldap_families,
    shipped_sql_families,
)
from ara_ldap.errors import ConfigError
from ara_ldap.pjsip_columns import COLUMNS, GENERIC_TABLES

FAMILIES = [
    "sippeers",
    "sipusers",
    "sipregs",
    "iaxpeers",
    "iaxusers",
    "voicemail",
    "extensions",
    "ast_config",
]
PJSIP = [*COLUMNS, *GENERIC_TABLES]


def sql_settings(**spec: Any) -> SqlBackendSettings:
    settings = load_settings({"backends": {"db": {"type": "sql", "url": "sqlite:///x.db", **spec}}})
    backend = settings.backends["db"]
    assert isinstance(backend, SqlBackendSettings)
    return backend


def resolved(families: dict[str, Any], name: str, key: str) -> list[str]:
    """A list key of a shipped family, following ``extends``."""
    spec = families[name] or {}
    if key in spec:
        return list(spec[key])
    return resolved(families, spec["extends"], key) if "extends" in spec else []


def test_the_shipped_sql_map_has_every_classic_and_pjsip_family() -> None:
    assert sorted(sql_settings().families) == sorted([*FAMILIES, *PJSIP])


@pytest.mark.parametrize("family", PJSIP)
def test_pjsip_repeated_fields_equal_the_ldap_multi_values_that_are_not_joined(
    family: str,
) -> None:
    sql, ldap = shipped_sql_families()[family], shipped_ldap_families()[family]
    ldap_repeated = set(ldap.get("multi_valued", [])) - set(ldap.get("joined", []))
    assert set(sql.get("multi_valued", [])) == ldap_repeated


@pytest.mark.parametrize("family", PJSIP)
@pytest.mark.parametrize("key", ["joined", "secret_fields", "store_existing", "literal_like"])
def test_pjsip_joined_secret_and_sorcery_keys_equal_the_ldap_defaults(
    family: str, key: str
) -> None:
    sql, ldap = shipped_sql_families()[family], shipped_ldap_families()[family]
    assert sql.get(key) == ldap.get(key)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("key", ["multi_valued", "secret_fields"])
def test_multi_valued_and_secret_lists_equal_the_ldap_defaults(family: str, key: str) -> None:
    sql, ldap = shipped_sql_families(), shipped_ldap_families()
    assert sorted(resolved(sql, family, key)) == sorted(resolved(ldap, family, key))


@pytest.mark.parametrize(
    ("family", "table", "hidden"),
    [
        ("sippeers", "sippeers", ["id"]),
        ("sipusers", "sippeers", ["id"]),
        ("sipregs", "sippeers", ["id"]),
        ("iaxpeers", "iaxfriends", ["id"]),
        ("iaxusers", "iaxfriends", ["id"]),
        ("voicemail", "voicemail", ["uniqueid"]),
        ("extensions", "extensions", ["id"]),
        ("ast_config", "ast_config", ["id"]),
    ],
)
def test_each_family_names_its_table_and_hides_the_surrogate_key(
    family: str, table: str, hidden: list[str]
) -> None:
    spec = sql_settings().families[family]
    assert (spec.table, spec.hidden) == (table, hidden)


def test_a_site_override_replaces_only_the_keys_it_names() -> None:
    spec = sql_settings(families={"sippeers": {"table": "sip_buddies"}}).families["sippeers"]
    assert spec.table == "sip_buddies"
    assert "allow" in spec.multi_valued and spec.hidden == ["id"]


def test_extending_families_follow_an_overridden_parent() -> None:
    settings = sql_settings(families={"sippeers": {"table": "sip_buddies"}})
    assert settings.families["sipusers"].table == "sip_buddies"


def test_default_families_false_serves_only_the_sites_families() -> None:
    settings = sql_settings(default_families=False, families={"queues": {"table": "queues"}})
    assert list(settings.families) == ["queues"]


def test_tables_lists_family_to_table_for_routing() -> None:
    settings = load_settings({"backends": {"db": {"type": "sql", "url": "sqlite:///x.db"}}})
    assert settings.routes()["iaxusers"].backends == ["db"]
    backend = settings.backends["db"]
    assert isinstance(backend, SqlBackendSettings)
    assert backend.tables["iaxusers"] == "iaxfriends"


def test_unknown_key_in_a_family_is_a_config_error_with_its_path() -> None:
    with pytest.raises(ConfigError, match=r"backends\.db\.families\.sippeers\.tabel"):
        sql_settings(families={"sippeers": {"tabel": "x"}})


def test_extends_of_an_unknown_family_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="extends unknown family"):
        sql_settings(default_families=False, families={"a": {"extends": "nope"}})


def test_a_table_name_with_sql_in_it_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a table name"):
        sql_settings(families={"sippeers": {"table": "sippeers; DROP TABLE x"}})


def test_a_url_that_is_not_a_sqlalchemy_url_is_refused() -> None:
    with pytest.raises(ConfigError, match="SQLAlchemy URL"):
        load_settings({"backends": {"db": {"type": "sql", "url": "localhost:5432"}}})


def test_the_repr_of_the_settings_never_shows_a_password() -> None:
    settings = load_settings(
        {
            "backends": {
                "db": {
                    "type": "sql",
                    "url": "postgresql+psycopg://u:hunter2@h/db",
                    "password": None,
                }
            }
        }
    )
    assert "hunter2" not in repr(settings)


def test_only_one_password_source_may_be_given() -> None:
    with pytest.raises(ConfigError, match="only one of"):
        sql_settings(password="a", password_env="B")


def test_password_env_supplies_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARA_TEST_SQL_PW", "pw1")
    assert sql_settings(password_env="ARA_TEST_SQL_PW").connect_password() == "pw1"


def test_a_schema_with_sqlite_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"backends\.db\.schema: SQLite has no schemas"):
        SqlBackend("db", sql_settings(schema="s"))


def test_an_unknown_driver_is_a_config_error_that_says_what_to_install() -> None:
    settings = load_settings({"backends": {"db": {"type": "sql", "url": "nosuch+drv://h/db"}}})
    spec = settings.backends["db"]
    assert isinstance(spec, SqlBackendSettings)
    with pytest.raises(ConfigError, match=r"backends\.db\.url: cannot load the driver"):
        SqlBackend("db", spec)
