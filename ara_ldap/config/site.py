"""The whole file: backends, routes of families to backends, static realtime, and the
gateway and notifier sections.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    field_validator,
)

from ara_ldap.config.common import _Model
from ara_ldap.config.gateway import GatewaySettings
from ara_ldap.config.ldap import LdapBackendSettings
from ara_ldap.config.notify import NotifySettings
from ara_ldap.config.sql import SqlBackendSettings
from ara_ldap.errors import ConfigError

BackendSettings = Annotated[LdapBackendSettings | SqlBackendSettings, Field(discriminator="type")]


class Route(_Model):
    """One family's backends in priority order (``extconfig.conf`` priorities 1, 2, ...)."""

    backends: list[str] = Field(min_length=1)
    failover_on_not_found: bool = False


class StaticSettings(_Model):
    """Static realtime: which family holds config files, and their order."""

    family: str = "ast_config"
    files: dict[str, str] = {}
    order: Literal["asterisk", "ldap"] = "asterisk"


class Settings(_Model):
    backends: dict[str, BackendSettings] = Field(min_length=1)
    families: dict[str, Route] = {}
    static: StaticSettings = StaticSettings()
    gateway: GatewaySettings = GatewaySettings()
    notify: NotifySettings = NotifySettings()
    source: str | None = None

    @field_validator("families", mode="before")
    @classmethod
    def _short_routes(cls, v: Any) -> Any:
        if not isinstance(v, Mapping):
            return v
        out: dict[str, Any] = {}
        for family, route in v.items():
            if isinstance(route, str):
                route = {"backends": [route]}
            elif isinstance(route, list):
                route = {"backends": route}
            out[family] = route
        return out

    def check_routes(self) -> None:
        """Routes may name only defined backends (checked after validation so the error
        carries the route's YAML path)."""
        for family, route in self.families.items():
            for name in route.backends:
                if name not in self.backends:
                    raise ConfigError(
                        f"backend {name!r} is not defined under backends "
                        f"(defined: {', '.join(sorted(self.backends))})",
                        f"families.{family}",
                        self.source,
                    )

    def routes(self) -> dict[str, Route]:
        """Explicit routes, plus every family a backend defines, routed to its backends in
        the order the backends are listed."""
        out = dict(self.families)
        for name, backend in self.backends.items():
            for family in backend_families(backend):
                if family in self.families:
                    continue
                route = out.get(family)
                backends = [*route.backends, name] if route else [name]
                out[family] = Route(backends=backends)
        return out


def backend_families(backend: BackendSettings) -> list[str]:
    if isinstance(backend, LdapBackendSettings):
        return list(backend.families)
    return list(backend.tables)
