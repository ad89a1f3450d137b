"""``write_urls`` on an LDAP backend: same syntax and checks as ``urls``, unset by default."""

from __future__ import annotations

from typing import Any

import pytest

from ara_ldap.config import LdapBackendSettings, load_settings
from ara_ldap.errors import ConfigError


def _backend(**fields: Any) -> LdapBackendSettings:
    settings = load_settings(
        {
            "backends": {
                "d": {
                    "type": "ldap",
                    "urls": ["ldap://127.0.0.1:389"],
                    "base_dn": "dc=example,dc=org",
                    **fields,
                }
            }
        }
    )
    backend = settings.backends["d"]
    assert isinstance(backend, LdapBackendSettings)
    return backend


def test_write_urls_are_unset_by_default() -> None:
    assert _backend().write_urls is None


def test_write_urls_accept_a_space_separated_string_and_drop_trailing_slashes() -> None:
    backend = _backend(write_urls="ldap://127.0.0.1:1/ ldaps://127.0.0.1:2")
    assert backend.write_urls == ["ldap://127.0.0.1:1", "ldaps://127.0.0.1:2"]


def test_a_malformed_write_url_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="write_urls") as info:
        _backend(write_urls=["http://ldap.example.org"])
    assert "ldap://host[:port]" in str(info.value)


def test_an_empty_write_urls_list_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="at least one write server"):
        _backend(write_urls=[])


def test_a_cleartext_bind_to_a_remote_write_server_is_refused() -> None:
    with pytest.raises(ConfigError, match="cleartext"):
        _backend(
            write_urls=["ldap://ldap-provider.example.org"],
            start_tls=False,
            bind_dn="cn=asterisk,dc=example,dc=org",
            password="x",
        )
