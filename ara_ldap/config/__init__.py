"""The configuration file (``ara-ldap.yaml``) turned into validated settings.

One file describes the backends (like the connection part of ``res_ldap.conf``), each
backend's families (like its table sections), and the routing of families to backends in
priority order (like ``extconfig.conf``).  Everything is checked at load, so a typo fails
at start-up with the YAML path of the bad key instead of on the first call from Asterisk.

Secrets: the bind password comes from a file or an environment variable (inline is allowed
for throwaway setups) and is held as a ``SecretStr`` so it never shows in a repr or log.

One module per subsystem (``common``, ``families``, ``ldap``, ``sql``, ``gateway``,
``notify``, ``site``) behind one loader (:mod:`ara_ldap.config.loader`); the public names
are re-exported here, so ``from ara_ldap.config import X`` is the import to use.
"""

from ara_ldap.config.common import StoreExisting
from ara_ldap.config.families import shipped_ldap_families
from ara_ldap.config.gateway import GatewayAuth, GatewaySettings, GatewayTls
from ara_ldap.config.ldap import (
    DerivedAttribute,
    LdapBackendSettings,
    LdapCacheSettings,
    LdapFamily,
    RdnTemplate,
    is_loopback_url,
)
from ara_ldap.config.loader import (
    CONFIG_ENV,
    DEFAULT_CONFIG_PATHS,
    find_config,
    load_config,
    load_settings,
)
from ara_ldap.config.notify import DEFAULT_RELOAD_MODULES, AmiServer, NotifySettings
from ara_ldap.config.site import (
    BackendSettings,
    Route,
    Settings,
    StaticSettings,
    backend_families,
)
from ara_ldap.config.sql import (
    SqlBackendSettings,
    SqlFamily,
    merge_sql_families,
    shipped_sql_families,
)

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_PATHS",
    "DEFAULT_RELOAD_MODULES",
    "AmiServer",
    "BackendSettings",
    "DerivedAttribute",
    "GatewayAuth",
    "GatewaySettings",
    "GatewayTls",
    "LdapBackendSettings",
    "LdapCacheSettings",
    "LdapFamily",
    "NotifySettings",
    "RdnTemplate",
    "Route",
    "Settings",
    "SqlBackendSettings",
    "SqlFamily",
    "StaticSettings",
    "StoreExisting",
    "backend_families",
    "find_config",
    "is_loopback_url",
    "load_config",
    "load_settings",
    "merge_sql_families",
    "shipped_ldap_families",
    "shipped_sql_families",
]
