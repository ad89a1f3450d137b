"""Realtime: the one entry point for the CLI, the gateway, the conformance suite and users.

It routes each family to its backends in priority order, as ``extconfig.conf`` does, with
one deliberate improvement: only a *failure* (the backend is down, or errored, or lacks
the operation) moves on to the next priority.  A definite "not found" is an answer, so it
does not fail over unless the route asks for Asterisk's behaviour
(``failover_on_not_found: true``).  Reference: realtime-api.md §11.3.

Each call has one deadline (:mod:`ara_ldap.deadline`): the longest ``call_timeout`` of
the route's backends.  Every backend but the last gets an equal share of what is left,
so a hung first backend still leaves the next one time to answer, and the whole call
(retries and failover included) ends within that deadline.

It also owns what must be identical on every backend: result order, which row ``single``
returns, argument checks and static-config assembly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TypeVar

from ara_ldap import deadline
from ara_ldap.backends.base import Backend, Requirement
from ara_ldap.config import Route, StaticSettings
from ara_ldap.criteria import CriteriaLike, Criterion, Operator, as_criteria, as_number
from ara_ldap.errors import (
    BackendError,
    BackendUnavailable,
    BadRequest,
    NotFound,
    UnknownFamily,
    Unsupported,
    WriteIncomplete,
)
from ara_ldap.record import Record
from ara_ldap.static import StaticConfig, build_static

log = logging.getLogger("ara_ldap.realtime")
T = TypeVar("T")


def _collation_key(value: str | None) -> tuple[int, Decimal | str]:
    if value is None:
        return (2, "")
    number = as_number(value)
    if number is not None:
        return (0, number)
    return (1, value)


def order_records(records: Sequence[Record], first_field: str | None) -> list[Record]:
    """The documented result order: by the first query field's value (numbers numerically,
    before text), then by the whole record, so equal data gives equal order everywhere."""
    if len(records) < 2:
        return list(records)
    if not first_field:
        return sorted(records, key=Record.canonical)
    # Same order as sorting by (lead, canonical), but canonical() (the costly part, tens
    # of µs per record) is computed only among records whose lead keys tie.
    keyed = sorted(((_collation_key(r.get(first_field)), r) for r in records), key=_lead)
    out: list[Record] = []
    i, n = 0, len(keyed)
    while i < n:
        lead, j = keyed[i][0], i + 1
        while j < n and keyed[j][0] == lead:
            j += 1
        if j - i == 1:
            out.append(keyed[i][1])
        else:
            out.extend(sorted((r for _, r in keyed[i:j]), key=Record.canonical))
        i = j
    return out


def _lead(item: tuple[tuple[object, ...], Record]) -> tuple[object, ...]:
    return item[0]


def call_budget(chain: Sequence[Backend]) -> float | None:
    """One call's deadline on ``chain``: its longest ``call_timeout`` (None: unbounded)."""
    timeouts = [t for t in (getattr(b, "call_timeout", None) for b in chain) if t is not None]
    return float(max(timeouts)) if timeouts else None


def _as_changes(changes: Record | Mapping[str, str] | Sequence[tuple[str, str]]) -> Record:
    if isinstance(changes, Record):
        return changes
    if isinstance(changes, Mapping):
        return Record.from_mapping(changes)
    return Record(changes)


class Realtime:
    """Asterisk's realtime API (single, multi, update, update2, store, destroy, require,
    static) over configured backends."""

    def __init__(
        self,
        backends: Mapping[str, Backend],
        routes: Mapping[str, Route],
        static: StaticSettings | None = None,
    ) -> None:
        self._backends = dict(backends)
        self._routes: dict[str, tuple[Route, list[Backend]]] = {}
        for family, route in routes.items():
            chain = [self._backends[name] for name in route.backends]
            self._routes[family.lower()] = (route, chain)
        self._static = static or StaticSettings()

    # Introspection --------------------------------------------------------------------
    def families(self) -> list[str]:
        return sorted(self._routes)

    @property
    def backends(self) -> dict[str, Backend]:
        return dict(self._backends)

    def route(self, family: str) -> list[Backend]:
        return list(self._lookup(family)[1])

    def fields(self, family: str) -> list[str]:
        """Known fields of the family on its first backend (update2 parsing, CLI help)."""
        return list(self.route(family)[0].fields(family))

    def secret_fields(self, family: str) -> set[str]:
        out: set[str] = set()
        for backend in self.route(family):
            out.update(f.lower() for f in backend.secret_fields(family))
        return out

    def _lookup(self, family: str) -> tuple[Route, list[Backend]]:
        try:
            return self._routes[family.lower()]
        except KeyError:
            known = ", ".join(self.families()) or "none"
            raise UnknownFamily(f"unknown family {family!r} (configured: {known})") from None

    # Failover ---------------------------------------------------------------------------
    def _call(
        self,
        family: str,
        operation: str,
        fn: Callable[[Backend], T],
        is_empty: Callable[[T], bool] | None = None,
    ) -> T:
        route, chain = self._lookup(family)
        with deadline.budget(call_budget(chain)):
            return self._failover(family, operation, route, chain, fn, is_empty)

    def _failover(
        self,
        family: str,
        operation: str,
        route: Route,
        chain: list[Backend],
        fn: Callable[[Backend], T],
        is_empty: Callable[[T], bool] | None,
    ) -> T:
        failures: list[BackendError] = []
        result: T | None = None
        have_result = False
        for position, backend in enumerate(chain):
            if deadline.expired():
                failures.append(
                    BackendUnavailable(f"no time left in the call's budget for {backend.name}")
                )
                break
            left = deadline.remaining()
            share = None if left is None else left / (len(chain) - position)
            try:
                with deadline.budget(share):
                    result = fn(backend)
            except WriteIncomplete as exc:
                # Applied in part, or maybe applied: replaying it elsewhere would apply it
                # twice or leave the stores disagreeing behind the caller's back.
                log.warning("%s %s on backend %s failed: %s", operation, family, backend.name, exc)
                raise
            except BackendError as exc:
                log.warning("%s %s on backend %s failed: %s", operation, family, backend.name, exc)
                failures.append(exc)
                continue
            have_result = True
            if route.failover_on_not_found and is_empty is not None and is_empty(result):
                continue
            return result
        if have_result:
            return result  # type: ignore[return-value]
        if all(isinstance(f, Unsupported) for f in failures):
            raise Unsupported(f"no backend of family {family!r} supports {operation}")
        unavailable = [f for f in failures if isinstance(f, BackendUnavailable)]
        last = failures[-1]
        if len(unavailable) == len(failures):
            raise BackendUnavailable(str(last)) from last
        raise BackendError(str(last)) from last

    # Reads ------------------------------------------------------------------------------
    def multi(self, family: str, criteria: CriteriaLike) -> list[Record]:
        """Every matching record, ordered by the first criterion's field then content."""
        crit = as_criteria(criteria)
        if not crit:
            raise BadRequest("a lookup needs at least one field and value to search on")
        records = self._call(family, "multi", lambda b: b.search(family, crit), lambda r: not r)
        return order_records(records, crit[0].field)

    def single(self, family: str, criteria: CriteriaLike) -> Record | None:
        """One matching record: the first in ``multi`` order, or ``None``."""
        records = self.multi(family, criteria)
        return records[0] if records else None

    def multi_nowait(self, family: str, criteria: CriteriaLike) -> list[Record] | None:
        """``multi`` answered from memory without blocking, or ``None`` when only a
        backend call can answer (no cache, cache not serving, or a failover that a
        "not found" would trigger).  Errors in the request raise as in ``multi``."""
        crit = as_criteria(criteria)
        if not crit:
            raise BadRequest("a lookup needs at least one field and value to search on")
        route, chain = self._lookup(family)
        # Not isinstance(.., CachedReads): a runtime-checkable Protocol check costs
        # microseconds per request; the attribute lookup is what it tests anyway.
        cached_search: Callable[[str, Sequence[Criterion]], list[Record] | None] | None = (
            getattr(chain[0], "cached_search", None)
        )
        if cached_search is None:
            return None
        try:
            records = cached_search(family, crit)
        except BackendError:
            return None  # the blocking path handles failover and reports it
        if records is None:
            return None
        if not records and route.failover_on_not_found and len(chain) > 1:
            return None
        return order_records(records, crit[0].field)

    def single_nowait(self, family: str, criteria: CriteriaLike) -> tuple[Record | None] | None:
        """``single`` from memory: ``(record_or_None,)``, or ``None`` as in
        :meth:`multi_nowait` (a 1-tuple, so "not found" differs from "cannot answer")."""
        records = self.multi_nowait(family, criteria)
        if records is None:
            return None
        return (records[0] if records else None,)

    # Writes -----------------------------------------------------------------------------
    def update(
        self,
        family: str,
        keyfield: str,
        lookup: str,
        changes: Record | Mapping[str, str] | Sequence[tuple[str, str]],
    ) -> int:
        """Set ``changes`` on records whose ``keyfield`` equals ``lookup``; the count."""
        return self.update2(family, [Criterion(keyfield, Operator.EQ, lookup)], changes)

    def update2(
        self,
        family: str,
        criteria: CriteriaLike,
        changes: Record | Mapping[str, str] | Sequence[tuple[str, str]],
    ) -> int:
        """Set ``changes`` (an empty value deletes the field) on every matching record.

        Returns the number of records that matched and now hold the new values.  Unlike
        Asterisk's core, a successful update2 does not continue to the next priority.
        """
        crit = as_criteria(criteria)
        if not crit:
            raise BadRequest("an update needs at least one field to match on")
        change_record = _as_changes(changes)
        if not change_record:
            raise BadRequest("an update needs at least one field to set")
        return self._call(
            family, "update", lambda b: b.update(family, crit, change_record), lambda n: n == 0
        )

    def store(
        self, family: str, record: Record | Mapping[str, str] | Sequence[tuple[str, str]]
    ) -> int:
        """Create a record; a duplicate is a :class:`~ara_ldap.errors.Conflict`."""
        rec = _as_changes(record)
        if not rec:
            raise BadRequest("a store needs at least one field")
        return self._call(family, "store", lambda b: b.store(family, rec))

    def destroy(self, family: str, criteria: CriteriaLike) -> int:
        """Delete every matching record; the number deleted."""
        crit = as_criteria(criteria)
        if not crit:
            raise BadRequest("a destroy needs at least one field to match on")
        return self._call(family, "destroy", lambda b: b.destroy(family, crit), lambda n: n == 0)

    def require(self, family: str, requirements: Sequence[Requirement]) -> list[str]:
        """Problems that stop the family from holding such data (empty list: fine)."""
        return self._call(family, "require", lambda b: b.require(family, requirements))

    # Static -----------------------------------------------------------------------------
    def static_family(self, filename: str) -> str:
        return self._static.files.get(filename, self._static.family)

    def static(self, filename: str) -> StaticConfig:
        """Build ``filename`` from its stored rows; :class:`NotFound` if it has none."""
        config = self._static_or_none(filename, ())
        if config is None:
            raise NotFound(
                f"config file {filename!r} is not stored in family {self.static_family(filename)!r}"
            )
        return config

    def _static_or_none(self, filename: str, stack: tuple[str, ...]) -> StaticConfig | None:
        family = self.static_family(filename)
        crit = [Criterion("filename", Operator.EQ, filename)]
        records = self._call(family, "static", lambda b: b.search(family, crit), lambda r: not r)
        if not records:
            return None
        return build_static(
            filename,
            records,
            lambda name: self._static_or_none(name, (*stack, filename)),
            order=self._static.order,
            _stack=stack,
        )

    # Lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        for backend in self._backends.values():
            backend.close()

    def __enter__(self) -> Realtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
