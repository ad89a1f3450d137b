"""Copy every record of the configured families from one backend to another.

Used to put the same data in two stores before comparing them (``ara-ldap copy`` then
``ara-ldap compare``), and to migrate.  Families that share storage (``sipregs`` and
``sippeers`` are the same entries) are not copied twice: a record that already exists
identically on the target counts as present, any other conflict is reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ara_ldap.backends.base import Backend
from ara_ldap.config import Route, Settings
from ara_ldap.criteria import Criterion, Operator
from ara_ldap.errors import AraError, ConfigError, Conflict
from ara_ldap.realtime import Realtime
from ara_ldap.record import Record


@dataclass
class CopyReport:
    copied: dict[str, int] = field(default_factory=dict)
    present: dict[str, int] = field(default_factory=dict)
    dropped_fields: dict[str, set[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _only(backend: Backend, name: str, settings: Settings) -> Realtime:
    routes = {f: Route(backends=[name]) for f in backend.families()}
    return Realtime({name: backend}, routes, settings.static)


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
    for name in (source, target):
        if name not in backends:
            raise ConfigError(f"backend {name!r} is not configured")
    src = _only(backends[source], source, settings)
    dst = _only(backends[target], target, settings)
    wanted = list(families) if families else [f for f in src.families() if f in set(dst.families())]
    report = CopyReport()
    for family in wanted:
        key = src.fields(family)[0]
        known = {f.lower() for f in dst.fields(family)}
        try:
            records = src.multi(family, [Criterion(key, Operator.LIKE, "%")])
        except AraError as exc:
            report.errors.append(f"{family}: cannot read: {exc}")
            continue
        copied = present = 0
        for record in records:
            if drop_unknown_fields:
                dropped = {f for f, _ in record if f.lower() not in known}
                if dropped:
                    report.dropped_fields.setdefault(family, set()).update(dropped)
                    record = Record([(f, v) for f, v in record if f.lower() in known])
            rdn = record.get(key) or "?"
            try:
                dst.store(family, record)
                copied += 1
            except Conflict as exc:
                twin = dst.multi(family, [Criterion(key, Operator.EQ, rdn)])
                if any(t.canonical() == record.canonical() for t in twin):
                    present += 1
                else:
                    report.errors.append(f"{family} {key}={rdn}: {exc}")
            except AraError as exc:
                report.errors.append(f"{family} {key}={rdn}: {exc}")
        report.copied[family] = copied
        report.present[family] = present
    return report
