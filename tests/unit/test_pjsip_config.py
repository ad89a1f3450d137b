"""The PJSIP family keys are checked at load (field_slot, joined, derived, constants,
store_existing), so a mistake fails at start-up with its YAML path."""

from __future__ import annotations

from typing import Any

import pytest

from ara_ldap.config import LdapBackendSettings, SqlBackendSettings, load_settings
from ara_ldap.errors import ConfigError
from ara_ldap.pjsip_columns import COLUMNS, GENERIC_TABLES

PLAIN: dict[str, Any] = {
    "base_dn": "ou=x,dc=example,dc=org",
    "object_classes": ["top"],
    "rdn": "id",
    "attributes": {"id": "cn", "name": "sn"},
}


def ldap(**family: Any) -> LdapBackendSettings:
    backend = {
        "type": "ldap",
        "urls": ["ldap://127.0.0.1:9"],
        "base_dn": "dc=example,dc=org",
        "default_families": False,
        "families": {"things": {**PLAIN, **family}},
    }
    settings = load_settings({"backends": {"d": backend}}).backends["d"]
    assert isinstance(settings, LdapBackendSettings)
    return settings


def test_a_field_slot_mapped_from_a_field_is_refused() -> None:
    with pytest.raises(ConfigError, match="field_slot"):
        ldap(field_slot="sn")


def test_slot_fields_without_a_slot_are_refused() -> None:
    with pytest.raises(ConfigError, match="slot_fields needs a field_slot"):
        ldap(slot_fields=["extra"])


def test_a_joined_field_must_be_a_field() -> None:
    with pytest.raises(ConfigError, match="joined"):
        ldap(joined=["nosuch"])


def test_a_joined_slot_field_is_accepted() -> None:
    spec = ldap(field_slot="description", slot_fields=["auths"], joined=["auths"])
    assert spec.families["things"].joined == ["auths"]


def test_a_derived_attribute_needs_a_known_source_field() -> None:
    with pytest.raises(ConfigError, match="derived"):
        ldap(derived={"ou": {"field": "nosuch", "before": ";@"}})


def test_a_derived_attribute_cannot_be_a_mapped_one() -> None:
    with pytest.raises(ConfigError, match="derived"):
        ldap(derived={"sn": {"field": "id", "before": ";@"}})


def test_a_constant_cannot_overwrite_a_mapped_attribute() -> None:
    with pytest.raises(ConfigError, match="constants"):
        ldap(constants={"cn": "x"})


def test_store_existing_accepts_only_error_or_replace() -> None:
    with pytest.raises(ConfigError, match="store_existing"):
        ldap(store_existing="merge")


def test_store_existing_defaults_to_error() -> None:
    assert ldap().families["things"].store_existing == "error"


@pytest.mark.parametrize("family", [*COLUMNS, *GENERIC_TABLES])
def test_every_shipped_pjsip_family_names_its_sorcery_object(family: str) -> None:
    settings = load_settings({"backends": {"s": {"type": "sql", "url": "sqlite:///x.db"}}})
    backend = settings.backends["s"]
    assert isinstance(backend, SqlBackendSettings)
    assert backend.families[family].sorcery
