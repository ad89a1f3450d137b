"""Copy every record of the configured families from one backend to another.

Used to put the same data in two stores before comparing them (``ara-ldap copy`` then
``ara-ldap compare``).  The engine is :func:`ara_ldap.tools.migrate.migrate` without
updates: a record that already exists identically on the target counts as present, one
that differs is reported and left alone (``ara-ldap migrate`` updates it).  Families that
share storage (``sipregs`` and ``sippeers`` are the same entries) are copied once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ara_ldap.backends.base import Backend
from ara_ldap.config import Settings
from ara_ldap.errors import ConfigError


@dataclass
class CopyReport:
    copied: dict[str, int] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)
    dropped_fields: dict[str, set[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def copy_records(
    settings: Settings,
    backends: dict[str, Backend],
    source: str,
    target: str,
    families: Sequence[str] | None = None,
    drop_unknown_fields: bool = False,
) -> CopyReport:
    """Copy record by record; a record that cannot be stored is reported, not fatal.

    Fields the target family lacks make the record fail unless ``drop_unknown_fields``,
    in which case they are left out and listed in the report (never silently).
    """
    from ara_ldap.tools.migrate import migrate

    for name in (source, target):
        if name not in backends:
            raise ConfigError(f"backend {name!r} is not configured")
    result = migrate(
        source,
        backends[source],
        target,
        backends[target],
        families,
        drop_unknown_fields=drop_unknown_fields,
        updates=False,
    )
    report = CopyReport(dropped_fields=result.dropped_fields, errors=list(result.errors))
    for family, counts in result.results.items():
        report.copied[family] = counts.added
        report.present[family] = counts.unchanged
    report.errors += [str(bad) for bad in result.bad_rows]
    return report
