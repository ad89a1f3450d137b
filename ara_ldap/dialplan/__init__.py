"""Asterisk dialplan semantics the Realtime switch relies on.

A gateway that answers ``pbx_realtime`` queries must agree with Asterisk about which
extension rows match a dialed string, so this package re-implements Asterisk's matcher
(``main/pbx.c``) in pure Python.  See :mod:`ara_ldap.dialplan.patterns`.
"""

from __future__ import annotations

from ara_ldap.dialplan.patterns import (
    MatchMode,
    MatchResult,
    SpecificityKey,
    asterisk_switch_close,
    extension_match,
    matches,
    pattern_specificity_key,
    realtime_order,
)

__all__ = [
    "MatchMode",
    "MatchResult",
    "SpecificityKey",
    "asterisk_switch_close",
    "extension_match",
    "matches",
    "pattern_specificity_key",
    "realtime_order",
]
