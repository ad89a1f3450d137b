"""ara-ldap: Asterisk's realtime configuration (ARA) served from LDAP.

The public API::

    from ara_ldap import open_from_config
    with open_from_config("ara-ldap.yaml") as rt:
        peer = rt.single("sippeers", {"name": "alice"})
"""

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

__all__ = [
    "AraError",
    "BackendError",
    "BackendUnavailable",
    "BadRequest",
    "ConfigError",
    "Conflict",
    "Criterion",
    "NotFound",
    "Operator",
    "Realtime",
    "Record",
    "Settings",
    "UnknownFamily",
    "UnknownField",
    "Unsupported",
    "load_config",
    "load_settings",
    "open_from_config",
    "open_realtime",
    "parse_criteria",
    "parse_criterion",
]
__version__ = "0.1.0"
