"""ara-ldap: Asterisk's realtime configuration (ARA) served from LDAP.

The public API::

    from ara_ldap import open_from_config
    with open_from_config("ara-ldap.yaml") as rt:
        peer = rt.single("sippeers", {"name": "alice"})

Names are imported lazily, so importing a submodule (the pytest plugin, the slapd harness)
does not pull in pydantic, PyYAML or ldap3.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "open_from_config": "ara_ldap.bootstrap",
    "open_realtime": "ara_ldap.bootstrap",
    "Settings": "ara_ldap.config",
    "load_config": "ara_ldap.config",
    "load_settings": "ara_ldap.config",
    "Criterion": "ara_ldap.criteria",
    "Operator": "ara_ldap.criteria",
    "parse_criteria": "ara_ldap.criteria",
    "parse_criterion": "ara_ldap.criteria",
    "AraError": "ara_ldap.errors",
    "BackendError": "ara_ldap.errors",
    "BackendUnavailable": "ara_ldap.errors",
    "BadRequest": "ara_ldap.errors",
    "ConfigError": "ara_ldap.errors",
    "Conflict": "ara_ldap.errors",
    "NotFound": "ara_ldap.errors",
    "UnknownFamily": "ara_ldap.errors",
    "UnknownField": "ara_ldap.errors",
    "Unsupported": "ara_ldap.errors",
    "Realtime": "ara_ldap.realtime",
    "Record": "ara_ldap.record",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ara_ldap' has no attribute {name!r}")
    return getattr(import_module(module), name)


if TYPE_CHECKING:  # pragma: no cover
    from ara_ldap.bootstrap import open_from_config, open_realtime
    from ara_ldap.config import Settings, load_config, load_settings
    from ara_ldap.criteria import Criterion, Operator, parse_criteria, parse_criterion
    from ara_ldap.errors import (
        AraError,
        BackendError,
        BackendUnavailable,
        BadRequest,
        ConfigError,
        Conflict,
        NotFound,
        UnknownFamily,
        UnknownField,
        Unsupported,
    )
    from ara_ldap.realtime import Realtime
    from ara_ldap.record import Record
