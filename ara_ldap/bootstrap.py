"""Turn settings into a working :class:`~ara_ldap.realtime.Realtime` (the CLI and the gateway
start here; the core itself never imports a backend)."""

from __future__ import annotations

import os

from ara_ldap.backends import create_backend
from ara_ldap.config import Settings, load_config
from ara_ldap.realtime import Realtime


def open_realtime(settings: Settings) -> Realtime:
    backends = {name: create_backend(name, spec) for name, spec in settings.backends.items()}
    return Realtime(backends, settings.routes(), settings.static)


def open_from_config(path: str | os.PathLike[str] | None = None) -> Realtime:
    return open_realtime(load_config(path))
