"""Backends implement :class:`ara_ldap.backends.base.Backend`; :func:`create_backend` builds
one from its settings, importing only the backend that is configured (so a site without
SQLAlchemy can run the LDAP backend, and the other way round)."""

from __future__ import annotations

from ara_ldap.backends.base import Backend, Capabilities, FieldType, Requirement
from ara_ldap.config import BackendSettings, LdapBackendSettings, SqlBackendSettings

__all__ = ["Backend", "Capabilities", "FieldType", "Requirement", "create_backend"]


def create_backend(name: str, settings: BackendSettings) -> Backend:
    if isinstance(settings, LdapBackendSettings):
        from ara_ldap.backends.ldap.backend import LdapBackend

        return LdapBackend(name, settings)
    if isinstance(settings, SqlBackendSettings):
        from ara_ldap.backends.sql.backend import SqlBackend

        return SqlBackend(name, settings)
    from ara_ldap.errors import ConfigError

    raise ConfigError(
        f"backend type {settings.type!r} is not available yet", f"backends.{name}.type"
    )
