"""``secret_fields``: a site's list adds to the shipped one (a typo cannot unmask
``secret``), ``{replace: [...]}`` replaces it explicitly, and a name that is not a field
is a configuration error with its YAML path (LDAP at load, SQL once the table is read)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ara_ldap.backends.sql import SqlBackend, init_schema
from ara_ldap.config import LdapBackendSettings, SqlBackendSettings, load_settings
from ara_ldap.errors import ConfigError
from ara_ldap.testing.databases import sqlite_url

SHIPPED_SIP = ["secret", "md5secret", "remotesecret"]


def ldap_secrets(families: dict[str, Any], family: str = "sippeers") -> list[str]:
    backend = {"type": "ldap", "urls": ["ldap://127.0.0.1"], "base_dn": "dc=example,dc=org"}
    settings = load_settings({"backends": {"d": {**backend, "families": families}}})
    spec = settings.backends["d"]
    assert isinstance(spec, LdapBackendSettings)
    return spec.families[family].secret_fields


def test_a_sites_list_adds_to_the_shipped_secrets() -> None:
    assert ldap_secrets({"sippeers": {"secret_fields": ["fromuser"]}}) == [
        *SHIPPED_SIP,
        "fromuser",
    ]


def test_a_sites_list_reaches_families_extending_it() -> None:
    secrets = ldap_secrets({"sippeers": {"secret_fields": ["fromuser"]}}, "sipusers")
    assert secrets == [*SHIPPED_SIP, "fromuser"]


def test_replace_replaces_the_shipped_secrets() -> None:
    assert ldap_secrets({"sippeers": {"secret_fields": {"replace": ["secret"]}}}) == ["secret"]


def test_a_misspelt_ldap_secret_is_a_config_error_with_its_path() -> None:
    with pytest.raises(ConfigError) as caught:
        ldap_secrets({"sippeers": {"secret_fields": ["secrte"]}})
    assert caught.value.path == "backends.d.families.sippeers.secret_fields"
    assert "'secrte'" in caught.value.message


def test_a_mapping_other_than_replace_is_a_config_error_with_its_path() -> None:
    with pytest.raises(ConfigError) as caught:
        ldap_secrets({"sippeers": {"secret_fields": {"add": ["fromuser"]}}})
    assert caught.value.path == "backends.d.families.sippeers.secret_fields"


def test_a_misspelt_sql_secret_is_a_config_error_with_its_path(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    engine = sa.create_engine(url)
    init_schema(engine)
    engine.dispose()
    settings = load_settings(
        {
            "backends": {
                "s": {
                    "type": "sql",
                    "url": url,
                    "families": {"sippeers": {"secret_fields": ["x1"]}},
                }
            }
        }
    )
    spec = settings.backends["s"]
    assert isinstance(spec, SqlBackendSettings)
    backend = SqlBackend("s", spec)
    try:
        with pytest.raises(ConfigError) as caught:
            backend.search("sippeers", [])
        assert caught.value.path == "families.sippeers.secret_fields"
    finally:
        backend.close()
