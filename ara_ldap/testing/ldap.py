"""Wire ara-ldap to a throwaway :class:`~ara_ldap.testing.slapd.Slapd` (tests, demos, CI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ara_ldap.backends.ldap.backend import LdapBackend
from ara_ldap.backends.ldap.cache import DirectoryCache
from ara_ldap.config import Settings, load_settings
from ara_ldap.realtime import Realtime
from ara_ldap.testing.slapd import ProductionSlapd, Slapd


def ldap_backend_config(slapd: Slapd, **overrides: Any) -> dict[str, Any]:
    """The ``backends.<name>`` mapping for ``slapd`` (fast retry, short timeouts); on a
    :class:`ProductionSlapd` it binds as the service account, as a site would."""
    bind_dn, password_file = slapd.admin_dn, slapd.password_file
    if isinstance(slapd, ProductionSlapd):
        bind_dn, password_file = slapd.service_dn, slapd.service_password_file
    config: dict[str, Any] = {
        "type": "ldap",
        "urls": [slapd.url],
        "base_dn": slapd.suffix,
        "bind_dn": bind_dn,
        "password_file": str(password_file),
        "retry_interval": 0,
        "connect_timeout": 2,
        "timeout": 5,
        # Off unless a test asks: tests that write with ldapmodify and read at once stay
        # deterministic (the product default is "auto"; docs/cache.md).
        "cache": {"enabled": False},
    }
    config.update(overrides)
    return config


def ldap_settings(slapd: Slapd, **overrides: Any) -> Settings:
    """Settings with one LDAP backend named ``directory`` on ``slapd``."""
    return load_settings({"backends": {"directory": ldap_backend_config(slapd, **overrides)}})


def write_config(path: Path, slapd: Slapd, **overrides: Any) -> Path:
    """Write an ``ara-ldap.yaml`` for ``slapd``; returns ``path``."""
    import yaml

    data = {"backends": {"directory": ldap_backend_config(slapd, **overrides)}}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def directory_cache(rt: Realtime, backend: str = "directory") -> DirectoryCache:
    """The change-driven cache of ``rt``'s LDAP backend ``backend`` (it must have one)."""
    found = rt.backends[backend]
    assert isinstance(found, LdapBackend), f"backend {backend!r} is not an LDAP backend"
    assert isinstance(found.cache, DirectoryCache), f"backend {backend!r} has no cache"
    return found.cache
