"""The contract every backend implements, and the capability flags it declares.

Backends answer the realtime operations for the families they hold.  Ordering of results,
the choice of the ``single`` row, static-config assembly and failover live in the core
(:mod:`ara_ldap.realtime`, :mod:`ara_ldap.static`), so every backend behaves the same by
construction; a backend only has to find, write and delete records exactly.

The protocol lives beside the backends but imports nothing from them: the core depends on
this module only.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ara_ldap.criteria import Criterion
from ara_ldap.record import Record


class FieldType(enum.Enum):
    """The types ``ast_realtime_require_field`` asks about (``RQ_*``)."""

    CHAR = "char"
    INTEGER1 = "integer1"
    UINTEGER1 = "uinteger1"
    INTEGER2 = "integer2"
    UINTEGER2 = "uinteger2"
    INTEGER3 = "integer3"
    UINTEGER3 = "uinteger3"
    INTEGER4 = "integer4"
    UINTEGER4 = "uinteger4"
    INTEGER8 = "integer8"
    UINTEGER8 = "uinteger8"
    FLOAT = "float"
    DATE = "date"
    DATETIME = "datetime"
    UNKNOWN = "unknown"

    @property
    def is_integer(self) -> bool:
        return "integer" in self.value


@dataclass(frozen=True)
class Requirement:
    """``require``: the family must hold ``field`` with values of ``type`` up to ``size``."""

    field: str
    type: FieldType
    size: int = 0

    @classmethod
    def parse(cls, field: str, spec: str) -> Requirement:
        """Parse Asterisk's ``type:size`` (``uinteger2:5``, ``char:80``)."""
        from ara_ldap.errors import BadRequest

        kind, _, size = spec.partition(":")
        try:
            ftype = FieldType(kind.strip().lower())
        except ValueError:
            known = ", ".join(t.value for t in FieldType)
            raise BadRequest(f"require {field}: unknown type {kind!r} (known: {known})") from None
        size = size.strip()
        if size and not size.isdigit():
            raise BadRequest(f"require {field}: size {size!r} is not a whole number")
        return cls(field, ftype, int(size or 0))


@dataclass(frozen=True)
class Capabilities:
    """What a backend does natively; the conformance suite gates cases on these flags."""

    store: bool = True
    destroy: bool = True
    #: Values of a multi-valued field come back in the order they were written.
    ordered_multi_values: bool = True
    #: Values may contain any Unicode text (LDAP directoryString, SQL text).
    unicode_values: bool = True
    #: ``require`` inspects the real schema (False: answers from the attribute map only).
    schema_require: bool = True
    #: Text fields have a maximum width (SQL ``VARCHAR(n)``): ``require`` reports a wider
    #: requirement and ``store`` refuses a longer value.  False: any length is stored.
    bounded_text: bool = False
    #: ``store`` refuses a duplicate key in *every* family (LDAP: the RDN).  False: only
    #: where the storage has a unique key (the standard SQL tables have none on
    #: ``voicemail`` and ``ast_config``, as in Asterisk's alembic scripts).
    unique_keys_all_families: bool = False
    #: A multi-valued field may hold the same value twice, or values differing only in
    #: case (``allow=ulaw,alaw,ulaw``).  False: the values are a set (LDAP without
    #: ``value_order: prefix``) and such a write is a BadRequest.
    repeated_values: bool = False
    #: Keys (the fields naming a record) compare exactly: ``Alice``, ``alice `` and
    #: ``alice`` are three records.  False: the store folds case and insignificant spaces
    #: in keys (an LDAP RDN under caseIgnoreMatch), so such a store is a Conflict.
    exact_keys: bool = False
    #: Errors keep their exact kind (``UnknownField``, not just ``BadRequest``) and
    #: ``require`` names each problem.  False for a front door whose wire carries only
    #: "failed" (the res_config_curl gateway: a status code and ``-1``).
    detailed_errors: bool = True
    #: The target holds the PJSIP (sorcery) families of the conformance data set.  Not a
    #: property of backend code (family names are configuration): the conformance
    #: loaders set it when the backend configures those families, so PJSIP cases skip,
    #: with this flag's name, only where they are absent.
    pjsip: bool = False


@runtime_checkable
class Backend(Protocol):
    """A store for one or more families.

    Results come back in no particular order; the core orders them.  "Nothing matched" is
    an empty list or ``0``, never an exception.  Failures raise
    :class:`~ara_ldap.errors.BackendError` (or :class:`~ara_ldap.errors.BackendUnavailable`);
    requests that cannot be right anywhere raise :class:`~ara_ldap.errors.BadRequest`.
    """

    name: str
    capabilities: Capabilities

    def families(self) -> Collection[str]: ...

    def fields(self, family: str) -> Collection[str]:
        """The family's known field names (for update2 parsing, CLI help, compare)."""
        ...

    def secret_fields(self, family: str) -> Collection[str]: ...

    def search(self, family: str, criteria: Sequence[Criterion]) -> list[Record]: ...

    def update(self, family: str, criteria: Sequence[Criterion], changes: Record) -> int: ...

    def store(self, family: str, record: Record) -> int: ...

    def destroy(self, family: str, criteria: Sequence[Criterion]) -> int: ...

    def require(self, family: str, requirements: Sequence[Requirement]) -> list[str]:
        """Problems found (empty: the family can hold such data)."""
        ...

    def ping(self) -> None:
        """Raise :class:`BackendUnavailable` unless the store answers."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class LastSuccess(Protocol):
    """Optional: when the backend's store last completed an operation
    (``time.monotonic()`` seconds; ``-inf``: never).  ``/healthz`` takes a recent success
    as proof of life and pings only a backend without one, so a busy gateway's health
    check costs no I/O, unless the backend was found unavailable since
    (``last_failure``, the same clock).  Set after each call: one clock read, no lock."""

    last_success: float
    last_failure: float


@runtime_checkable
class CachedReads(Protocol):
    """Optional: a backend that can answer some reads from memory without blocking.

    The gateway calls this on its event loop (no thread hop); it must return quickly and
    never do I/O.  ``None`` means "ask :meth:`Backend.search`" (the cache is off, still
    refreshing, or cannot vouch for its freshness); an empty list is a real "not found".
    """

    def cached_search(self, family: str, criteria: Sequence[Criterion]) -> list[Record] | None:
        ...
