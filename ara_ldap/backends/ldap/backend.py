"""The LDAP backend: every realtime operation on a directory, through ldap3.

Differences from Asterisk's res_config_ldap are deliberate and listed in docs/ldap.md:
all nine operations exist (store builds the DN from the family's RDN; destroy deletes),
values are escaped everywhere (LIKE included), results are exactly SQL's (the server
narrows, Python finishes), counts are real, connections are pooled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import ldap3

from ara_ldap.backends.base import Capabilities, Requirement
from ara_ldap.backends.ldap import filters
from ara_ldap.backends.ldap.connection import ConnectionPool, WriteOutcomeUnknown
from ara_ldap.backends.ldap.fastpath import FastPath
from ara_ldap.backends.ldap.mapping import FamilyMap
from ara_ldap.backends.ldap.schema import AUXILIARY, SchemaInfo
from ara_ldap.config import LdapBackendSettings
from ara_ldap.criteria import Criterion, Operator, record_matches
from ara_ldap.errors import (
    BackendError,
    BackendUnavailable,
    BadRequest,
    Conflict,
    PartialWrite,
    UnknownFamily,
)
from ara_ldap.record import Record

T = TypeVar("T")

log = logging.getLogger("ara_ldap.ldap")

# LDAP result codes we turn into specific outcomes (RFC 4511 §4.1.9).
NO_SUCH_OBJECT = 32
ALREADY_EXISTS = 68
SIZE_LIMIT = 4
#: constraintViolation, invalidAttributeSyntax: the server refused a value the caller
#: sent, a BadRequest (no failover) rather than a backend failure.
BAD_VALUE_CODES = frozenset({19, 21})
TIME_LIMIT = 3
REFERRAL = 10
UNWILLING_TO_PERFORM = 53
#: RFC 2696 simple paged results: the control's OID and the page size requested.
PAGED_RESULTS = "1.2.840.113556.1.4.319"
PAGE_SIZE = 500


class ReadCache(Protocol):
    """What the backend needs of its change-driven cache (implemented in ``cache.py``)."""

    def search(self, fmap: FamilyMap, criteria: Sequence[Criterion]) -> list[Record] | None:
        """Matching records from memory, or ``None`` when the cache must not answer."""
        ...

    def close(self) -> None: ...

    def writing(self, fmap: FamilyMap) -> AbstractContextManager[WriteNote]:
        """Around a write: the family is read uncached while it is in flight, and the
        writer waits (bounded) until its change is back in memory (read-your-writes)."""
        ...


class WriteNote(Protocol):
    """What a writer tells the cache: the DNs it wrote (added/modified/renamed to) and
    the DNs it deleted."""

    def wrote(self, dn: str) -> None: ...

    def removed(self, dn: str) -> None: ...


class _NoNote:
    def wrote(self, dn: str) -> None:
        pass

    def removed(self, dn: str) -> None:
        pass


@dataclass(frozen=True)
class Entry:
    dn: str
    record: Record
    raw: dict[str, list[bytes]]

    @property
    def object_classes(self) -> frozenset[str]:
        return frozenset(
            v.decode("utf-8", "replace").lower()
            for k, vals in self.raw.items()
            if k.lower() == "objectclass"
            for v in vals
        )


class LdapBackend:
    """A directory holding one or more families."""

    def __init__(self, name: str, settings: LdapBackendSettings) -> None:
        self.name = name
        self.settings = settings
        # Every family is named by its DN, which the directory keeps unique (case- and
        # space-insensitively under caseIgnoreMatch); values repeat only with positions.
        self.capabilities = Capabilities(
            unique_keys_all_families=True,
            repeated_values=settings.value_order == "prefix",
            exact_keys=False,
        )
        self._maps = {
            family.lower(): FamilyMap(family, spec, settings.value_order)
            for family, spec in settings.families.items()
        }
        self.pool = ConnectionPool(settings, settings.bind_password())
        #: When a directory operation last succeeded (base.LastSuccess; /healthz reads it).
        self.last_success = float("-inf")
        self.last_failure = float("-inf")
        #: Seconds one call may take, retries included (the router's deadline reads it).
        self.call_timeout: float = float(settings.timeout)
        #: Uncached searches of the hot shapes without ldap3's request machinery.
        self.fast_path = FastPath() if settings.fast_path else None
        #: The change-driven cache (docs/cache.md); None while off.  It starts in the
        #: background (reads go to the directory until it is live), so no caller waits.
        self.cache: ReadCache | None = None
        if settings.cache.enabled is not False and self._maps:
            from ara_ldap.backends.ldap.cache import DirectoryCache

            self.cache = DirectoryCache(
                name, settings, settings.bind_password(), self._maps, self.pool
            )

    def __repr__(self) -> str:
        return f"LdapBackend({self.name!r}, urls={self.settings.urls!r})"

    def _run(self, operation: Callable[[ldap3.Connection], T], *, write: bool) -> T:
        """``pool.run``, noting the time of each success and of each unavailability (the
        health check's evidence)."""
        try:
            result = self.pool.run(operation, write=write)
        except (BackendUnavailable, WriteOutcomeUnknown):
            self.last_failure = time.monotonic()
            raise
        self.last_success = time.monotonic()
        return result

    # Introspection ----------------------------------------------------------------------
    def families(self) -> Collection[str]:
        return [m.name for m in self._maps.values()]

    def family_map(self, family: str) -> FamilyMap:
        try:
            return self._maps[family.lower()]
        except KeyError:
            raise UnknownFamily(
                f"backend {self.name!r} has no family {family!r} "
                f"(it has: {', '.join(sorted(self.families()))})"
            ) from None

    def fields(self, family: str) -> Collection[str]:
        return list(self.family_map(family).fields)

    def secret_fields(self, family: str) -> Collection[str]:
        return set(self.family_map(family).secret_fields)

    def schema(self) -> SchemaInfo:
        return self.pool.schema()

    # Searching --------------------------------------------------------------------------
    def search_filter(self, fmap: FamilyMap, criteria: Sequence[Criterion]) -> str:
        """The server-side filter (a superset; see :mod:`filters`)."""
        return filters.build_filter(fmap.filter, self.search_components(fmap, criteria))

    def search_components(self, fmap: FamilyMap, criteria: Sequence[Criterion]) -> list[str]:
        """One filter component per criterion, before the family filter is added (shared
        by the string filter and the fast path's encoder)."""
        schema = self.pool.cached_schema()
        parts = []
        for criterion in criteria:
            special = fmap.server_component(criterion)  # slot fields, derived attributes
            if special is not None:
                parts.append(special)
                continue
            fld = fmap.field(criterion.field)
            attr = fmap.attribute(fld)
            rules = fmap.read_rules(fld, schema.rules(attr, prefixed=fmap.is_prefixed(fld)))
            parts.append(filters.component(attr, criterion, rules))
        return parts

    def _entries(self, fmap: FamilyMap, criteria: Sequence[Criterion]) -> list[Entry]:
        """Matching entries read from the directory itself (never the cache): what writes
        act on, and the uncached read path."""
        criteria = fmap.prepare(criteria)
        for criterion in criteria:  # unknown fields fail before any I/O
            fmap.field(criterion.field)
        entries: list[Entry] = []
        for dn, raw in self._directory_search(fmap, criteria):
            record = fmap.to_record(raw)
            if not record_matches(record, criteria):
                continue
            entries.append(Entry(dn, record, raw))
        return entries

    def _directory_search(
        self, fmap: FamilyMap, criteria: Sequence[Criterion]
    ) -> list[tuple[str, dict[str, list[bytes]]]]:
        """``(dn, raw attributes)`` of the entries the server filter selects (a superset)."""

        def op(conn: ldap3.Connection) -> list[tuple[str, dict[str, list[bytes]]]]:
            if self.fast_path is not None:  # pre-encoded hot shapes (fastpath.py)
                components = self.search_components(fmap, criteria)
                reply = self.fast_path.search(conn, fmap, components)
                # A size limit cut the answer: the ldap3 road below pages past it.
                if reply is not None and reply.result.get("result") != SIZE_LIMIT:
                    check_search_result(fmap, reply.result)
                    return reply.entries
            # Built here: the schema it needs is read once the first connection is up.
            search_filter = self.search_filter(fmap, criteria)
            conn.search(
                fmap.base_dn,
                search_filter,
                search_scope=ldap3.SUBTREE,
                attributes=[ldap3.ALL_ATTRIBUTES],
                dereference_aliases=ldap3.DEREF_NEVER,
            )
            if (conn.result or {}).get("result") == SIZE_LIMIT:
                return self._paged_search(conn, fmap, search_filter)
            check_search_result(fmap, conn.result or {})
            return _found(conn)

        return self._run(op, write=False)

    def _paged_search(
        self, conn: ldap3.Connection, fmap: FamilyMap, search_filter: str
    ) -> list[tuple[str, dict[str, list[bytes]]]]:
        """The search again with RFC 2696 paged results, after the server's per-search size
        limit cut it (an unpaged try first keeps small answers at one round trip).  Sites
        that let paging clients through (``size.prtotal``) get every entry; where paged
        results are capped too, the error names the limit and the line lifting it: never a
        silently truncated answer."""
        found: list[tuple[str, dict[str, list[bytes]]]] = []
        cookie: bytes | None = None
        while True:
            conn.search(
                fmap.base_dn,
                search_filter,
                search_scope=ldap3.SUBTREE,
                attributes=[ldap3.ALL_ATTRIBUTES],
                dereference_aliases=ldap3.DEREF_NEVER,
                paged_size=PAGE_SIZE,
                paged_cookie=cookie,
            )
            result = conn.result or {}
            found += _found(conn)
            if result.get("result") == SIZE_LIMIT:
                raise BackendError(size_limit_message(fmap, len(found), self.settings.bind_dn))
            check_search_result(fmap, result)
            controls = result.get("controls") or {}
            cookie = controls.get(PAGED_RESULTS, {}).get("value", {}).get("cookie")
            if not cookie:
                return found

    def cached_search(self, family: str, criteria: Sequence[Criterion]) -> list[Record] | None:
        """The answer from the change-driven cache, without I/O; ``None`` when the cache
        cannot answer (off, refreshing, stream down or liveness unknown)."""
        cache = self.cache
        if cache is None:
            return None
        fmap = self.family_map(family)
        criteria = fmap.prepare(criteria)
        for criterion in criteria:  # unknown fields fail exactly as on the uncached path
            fmap.field(criterion.field)
        return cache.search(fmap, criteria)

    def search(self, family: str, criteria: Sequence[Criterion]) -> list[Record]:
        hit = self.cached_search(family, criteria)
        if hit is not None:
            return hit
        fmap = self.family_map(family)
        return [e.record for e in self._entries(fmap, criteria)]

    # Writing ----------------------------------------------------------------------------
    @contextmanager
    def _writing(self, fmap: FamilyMap) -> Iterator[WriteNote]:
        if self.cache is None:
            yield _NoNote()
            return
        with self.cache.writing(fmap) as note:
            yield note

    def store(self, family: str, record: Record) -> int:
        fmap = self.family_map(family)
        entry = fmap.entry_for(record)
        dn = fmap.dn_for(entry.rdn_value)
        if fmap.store_existing == "replace" and fmap.rdn_template is None:
            # The object may live anywhere under the base (a person entry, a sub-container),
            # not only at the DN a store would give it: look it up by its key first.
            key = Criterion(fmap.rdn_fields[0], Operator.EQ, entry.rdn_value)
            found = self._entries(fmap, [key])
            if found:
                with self._writing(fmap) as note:
                    self._replace(fmap, found[0].dn, record, found[0].raw)
                    note.wrote(found[0].dn)
                return 1

        def op(conn: ldap3.Connection) -> int:
            conn.add(dn, object_class=fmap.object_classes, attributes=entry.attributes)
            result = conn.result or {}
            code = result.get("result", 0)
            if code == 0:
                return 1
            if code == ALREADY_EXISTS and fmap.store_existing == "replace":
                return 0  # replaced below, outside this connection's turn
            if code == ALREADY_EXISTS:
                raise Conflict(
                    f"family {fmap.name!r}: a record named "
                    f"{fmap.describe(fmap.rdn_fields[0], entry.rdn_value)} already exists ({dn}); "
                    "use update to change it"
                )
            if code == NO_SUCH_OBJECT:
                raise BackendError(
                    f"family {fmap.name!r}: the parent {fmap.base_dn!r} does not exist "
                    "(create it, e.g. with ldif/00-base.ldif, or fix base_dn)"
                )
            raise _write_error(f"family {fmap.name!r}: store refused", result)

        with self._writing(fmap) as note:
            stored = self._run(op, write=True)
            if not stored:
                self._replace(fmap, dn, record)
            note.wrote(dn)
        return 1

    def _replace(
        self,
        fmap: FamilyMap,
        dn: str,
        record: Record,
        raw: dict[str, list[bytes]] | None = None,
    ) -> None:
        """``store`` on an existing entry with ``store_existing: replace``: the family's
        attributes become exactly the record's (others on the entry stay untouched)."""

        def read(conn: ldap3.Connection) -> dict[str, list[bytes]] | None:
            conn.search(
                dn,
                fmap.filter or "(objectClass=*)",
                search_scope=ldap3.BASE,
                attributes=[ldap3.ALL_ATTRIBUTES],
                dereference_aliases=ldap3.DEREF_NEVER,
            )
            for item in conn.response or []:
                if item.get("type") == "searchResEntry":
                    return dict(item.get("raw_attributes") or {})
            return None

        if raw is None:
            raw = self._run(read, write=False)
        if raw is None:
            raise Conflict(
                f"family {fmap.name!r}: {dn} exists but is not a record of this family; "
                "nothing was replaced"
            )
        grouped, _ = fmap.group(record, strict=True)
        # The key fields are the entry's already; leaving them out never renames it (a
        # person entry keeps its uid=... RDN).
        new_values = {
            fld: fmap.attribute_values(fld, grouped.get(fld, []))
            for fld in fmap.fields
            if not fmap.in_slot(fld) and fld not in fmap.rdn_fields
        }
        extra = self._side_values(fmap, raw, grouped, replace=True)
        entry = Entry(dn, fmap.to_record(raw), raw)
        schema = self.schema()
        aux = [c for c in fmap.object_classes if schema.kind(c) == AUXILIARY]
        self._update_entry(fmap, entry, new_values, aux, extra)

    def _side_values(
        self,
        fmap: FamilyMap,
        raw: dict[str, list[bytes]],
        grouped: dict[str, list[str]],
        replace: bool = False,
    ) -> dict[str, list[str]]:
        """Attributes a write sets besides the mapped fields: the name=value slot and the
        derived attributes (``{attribute: all its new values}``, ``[]`` deletes)."""
        extra: dict[str, list[str]] = {}
        if fmap.field_slot is not None:
            slot_changes = {f: v for f, v in grouped.items() if fmap.in_slot(f)}
            if slot_changes or replace:
                current = next(
                    (v for k, v in raw.items() if k.lower() == fmap.field_slot.lower()), []
                )
                extra[fmap.field_slot] = fmap.merged_slot(current, slot_changes, replace)
        extra.update(fmap.derived_values(grouped))
        for attr, value in fmap.constants.items():
            extra[attr] = [value]
        return extra

    def update(self, family: str, criteria: Sequence[Criterion], changes: Record) -> int:
        fmap = self.family_map(family)
        grouped, unknown = fmap.group(changes, strict=False)
        if unknown:
            # Asterisk's SQL drivers ignore columns they lack (chan_iax2 sends regserver).
            log.warning(
                "update %s: ignoring fields not in the attribute map: %s",
                fmap.name,
                ", ".join(unknown),
            )
        if not grouped:
            raise fmap._unknown(unknown[0])
        new_values = {
            fld: fmap.attribute_values(fld, vals)
            for fld, vals in grouped.items()
            if not fmap.in_slot(fld)
        }
        entries = self._entries(fmap, criteria)
        self._check_renames(fmap, entries, new_values)
        schema = self.schema()
        aux = [c for c in fmap.object_classes if schema.kind(c) == AUXILIARY]
        count = 0
        with self._writing(fmap) as note:
            for entry in entries:
                extra = self._side_values(fmap, entry.raw, grouped)
                try:
                    written = self._update_entry(fmap, entry, new_values, aux, extra)
                except (BackendError, Conflict) as exc:
                    if count == 0:
                        raise  # nothing changed: routing may still fail over
                    raise _partial(fmap, "updated", count, len(entries), exc) from exc
                if written is not None:
                    note.wrote(written)
                count += 1
        return count

    def _check_renames(
        self, fmap: FamilyMap, entries: list[Entry], new_values: dict[str, list[str]]
    ) -> None:
        """Refuse, before anything changes, an update that would rename two records to one
        name or a record onto an existing entry (SQL refuses it and changes nothing)."""
        targets: dict[str, str] = {}
        current = {e.dn.lower() for e in entries}
        for entry in entries:
            rdn = self._renamed_rdn(fmap, entry, new_values)
            if rdn is None:
                continue
            parent = split_dn(entry.dn)[1]
            target = f"{rdn},{parent}" if parent else rdn
            key = target.lower()
            if key == entry.dn.lower():
                continue  # a change of case in its own name
            if key in targets or key in current:
                raise Conflict(
                    f"family {fmap.name!r}: the update would give several records the name "
                    f"{target}; nothing was changed"
                )
            targets[key] = target
        for target in targets.values():
            if self._exists(target):
                raise Conflict(
                    f"family {fmap.name!r}: the update would rename a record onto the existing "
                    f"entry {target}; nothing was changed"
                )

    def _exists(self, dn: str) -> bool:
        def op(conn: ldap3.Connection) -> bool:
            conn.search(
                dn,
                "(objectClass=*)",
                search_scope=ldap3.BASE,
                attributes=["1.1"],
                dereference_aliases=ldap3.DEREF_NEVER,
            )
            return any(i.get("type") == "searchResEntry" for i in conn.response or [])

        return self._run(op, write=False)

    def _update_entry(
        self,
        fmap: FamilyMap,
        entry: Entry,
        new_values: dict[str, list[str]],
        aux: list[str],
        extra: dict[str, list[str]] | None = None,
    ) -> str | None:
        """Apply the changes to one entry; its DN afterwards, or None if nothing changed.

        ``extra``: further attributes with all their new values (slot, derived)."""
        current = {k.lower(): v for k, v in entry.raw.items()}
        changes: dict[str, list[tuple[str, list[str]]]] = {}
        wanted = [(fmap.attribute(fld), values) for fld, values in new_values.items()]
        for attr, values in [*wanted, *(extra or {}).items()]:
            have = [v.decode("utf-8", "replace") for v in current.get(attr.lower(), [])]
            if not values:
                if have:
                    changes[attr] = [(ldap3.MODIFY_DELETE, [])]
            elif have != values:
                changes[attr] = [(ldap3.MODIFY_REPLACE, values)]
        dn = entry.dn
        new_rdn = self._renamed_rdn(fmap, entry, new_values)
        if changes:
            missing = [c for c in aux if c.lower() not in entry.object_classes]
            if missing:
                changes["objectClass"] = [(ldap3.MODIFY_ADD, missing)]

        def op(conn: ldap3.Connection) -> None:
            nonlocal dn
            if new_rdn is not None:
                conn.modify_dn(dn, new_rdn, delete_old_dn=True)
                result = conn.result or {}
                if result.get("result", 0) != 0:
                    if result.get("result") == ALREADY_EXISTS:
                        raise Conflict(
                            f"family {fmap.name!r}: rename to {new_rdn} would overwrite "
                            "an existing record"
                        )
                    raise BackendError(
                        f"family {fmap.name!r}: rename of {dn} refused: {_describe_result(result)}"
                    )
                parent = split_dn(dn)[1]
                dn = f"{new_rdn},{parent}" if parent else new_rdn
                # The new RDN value is set by the rename; do not replace it again.
                changes.pop(fmap.rdn_attribute, None)
            if not changes:
                return
            conn.modify(dn, changes)
            result = conn.result or {}
            if result.get("result", 0) != 0:
                raise _write_error(f"family {fmap.name!r}: update of {dn} refused", result)

        if new_rdn is None and not changes:
            return None
        self._run(op, write=True)
        return dn

    def _renamed_rdn(
        self, fmap: FamilyMap, entry: Entry, new_values: dict[str, list[str]]
    ) -> str | None:
        """The new RDN when an update changes a field the entry's name is built from."""
        if not any(f in new_values for f in fmap.rdn_fields):
            return None
        merged = entry.record.grouped()
        if all(new_values.get(f, merged.get(f, [])) == merged.get(f, []) for f in fmap.rdn_fields):
            # The naming fields keep their values: never rename (an entry another tool
            # named cn=legacyvm keeps its name when an update repeats its mailbox).
            return None
        for fld, values in new_values.items():
            merged[fld] = [v for v in values]
        if fmap.is_prefixed(fmap.rdn_fields[0]):  # pragma: no cover - RDN fields are single
            return None
        value = fmap.rdn_for(merged)
        new_rdn = f"{fmap.rdn_attribute}={filters.escape_dn_value(value)}"
        if _same_rdn(split_dn(entry.dn)[0], fmap.rdn_attribute, value):
            return None
        return new_rdn

    def destroy(self, family: str, criteria: Sequence[Criterion]) -> int:
        fmap = self.family_map(family)
        entries = self._entries(fmap, criteria)
        count = 0
        with self._writing(fmap) as note:
            count = self._destroy_entries(fmap, entries, note)
        return count

    def _destroy_entries(self, fmap: FamilyMap, entries: list[Entry], note: WriteNote) -> int:
        try:
            return self._destroy_each(fmap, entries, note)
        except _Stopped as stop:
            if stop.done == 0:
                raise stop.error from None  # nothing changed: routing may still fail over
            raise _partial(fmap, "deleted", stop.done, len(entries), stop.error) from stop.error

    def _destroy_each(self, fmap: FamilyMap, entries: list[Entry], note: WriteNote) -> int:
        count = 0
        for entry in entries:

            def op(conn: ldap3.Connection, dn: str = entry.dn) -> bool:
                conn.delete(dn)
                result = conn.result or {}
                code = result.get("result", 0)
                if code == 0:
                    return True
                if code == NO_SUCH_OBJECT:  # deleted concurrently: not ours to count
                    return False
                raise BackendError(
                    f"family {fmap.name!r}: delete of {dn} refused: {_describe_result(result)}"
                )

            try:
                deleted = self._run(op, write=True)
            except BackendError as exc:
                raise _Stopped(count, exc) from exc
            if deleted:
                note.removed(entry.dn)
                count += 1
        return count

    # Schema questions -------------------------------------------------------------------
    def require(self, family: str, requirements: Sequence[Requirement]) -> list[str]:
        fmap = self.family_map(family)
        schema = self.schema()
        allowed = schema.allowed(fmap.object_classes)
        problems: list[str] = []
        for req in requirements:
            if not fmap.has_field(req.field):
                problems.append(f"{req.field}: not in the attribute map of {fmap.name}")
                continue
            attr = fmap.attribute(req.field)
            info = schema.attribute(attr)
            if schema.known and info is None:
                problems.append(f"{req.field}: attribute {attr} is not in the directory schema")
                continue
            if allowed is not None and attr.lower() not in allowed:
                problems.append(
                    f"{req.field}: attribute {attr} is not allowed by object classes "
                    f"{', '.join(fmap.object_classes)}"
                )
                continue
            if info is None:
                continue
            if info.is_integer and not req.type.is_integer and req.type.value != "unknown":
                problems.append(
                    f"{req.field}: attribute {attr} holds integers, not {req.type.value}"
                )
            elif info.max_length is not None and req.size > info.max_length:
                problems.append(
                    f"{req.field}: attribute {attr} holds at most {info.max_length} "
                    f"characters, {req.size} required"
                )
        return problems

    def ping(self) -> None:
        def op(conn: ldap3.Connection) -> None:
            conn.search("", "(objectClass=*)", search_scope=ldap3.BASE, attributes=["1.1"])

        self._run(op, write=False)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
        self.pool.close()


def _found(conn: ldap3.Connection) -> list[tuple[str, dict[str, list[bytes]]]]:
    """``(dn, raw attributes)`` of the entries in ``conn``'s last response."""
    return [
        (item["dn"], item.get("raw_attributes") or {})
        for item in conn.response or []
        if item.get("type") == "searchResEntry"
    ]


def limits_line(bind_dn: str | None) -> str:
    """The slapd ``limits`` that lets ``bind_dn`` (the service account) page past every
    size limit, as cn=config's ``olcLimits`` (on the database) and slapd.conf's form."""
    who = f'dn.exact="{bind_dn}"' if bind_dn else "anonymous"
    rule = f"{who} size.soft=unlimited size.hard=unlimited size.prtotal=unlimited"
    return f"olcLimits: {rule} (slapd.conf: limits {rule})"


def size_limit_message(fmap: FamilyMap, got: int, bind_dn: str | None) -> str:
    return (
        f"family {fmap.name!r}: the directory stopped this search at its size limit "
        f"({got} entries) for {bind_dn or 'anonymous'}, even with paged results, so no "
        f"answer is given rather than a truncated one; lift it for this identity with "
        f"{limits_line(bind_dn)}"
    )


def check_search_result(fmap: FamilyMap, result: dict[str, Any]) -> None:
    """Raise the error a failed search of ``fmap`` deserves (shared by every read road)."""
    code = result.get("result", 0)
    if code == NO_SUCH_OBJECT:
        raise BackendError(
            f"family {fmap.name!r}: search base {fmap.base_dn!r} does not exist "
            "(create it, e.g. with ldif/00-base.ldif, or fix base_dn)"
        )
    if code == TIME_LIMIT:
        raise BackendError(
            f"family {fmap.name!r}: the directory's time limit stopped the search "
            "(olcTimeLimit, or time= in an olcLimits line for the bind identity): "
            "raise it for this identity or add the index the search needs"
        )
    if code != 0:
        raise BackendError(f"family {fmap.name!r}: search failed: {_describe_result(result)}")


def split_dn(dn: str) -> tuple[str, str]:
    """``(first RDN, parent DN)``, honouring backslash escapes in the RDN value."""
    i = 0
    while i < len(dn):
        if dn[i] == "\\":
            i += 2
            continue
        if dn[i] == ",":
            return dn[:i], dn[i + 1 :]
        i += 1
    return dn, ""


def _same_rdn(old_rdn: str, attribute: str, value: str) -> bool:
    attr, _, old_value = old_rdn.partition("=")
    return attr.strip().lower() == attribute.lower() and _unescape_dn(old_value) == value


def _unescape_dn(value: str) -> str:
    out: list[str] = []
    raw = bytearray()
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            nxt = value[i + 1 : i + 3]
            if len(nxt) == 2 and all(c in "0123456789abcdefABCDEF" for c in nxt):
                raw.append(int(nxt, 16))
                i += 3
                continue
            if raw:
                out.append(raw.decode("utf-8", "replace"))
                raw.clear()
            out.append(value[i + 1])
            i += 2
            continue
        if raw:
            out.append(raw.decode("utf-8", "replace"))
            raw.clear()
        out.append(ch)
        i += 1
    if raw:
        out.append(raw.decode("utf-8", "replace"))
    return "".join(out)


class _Stopped(Exception):
    """A loop over entries stopped after ``done`` writes (carried to :func:`_partial`)."""

    def __init__(self, done: int, error: BackendError) -> None:
        super().__init__(str(error))
        self.done = done
        self.error = error


def _partial(
    fmap: FamilyMap, verb: str, done: int, total: int, error: BackendError | Conflict
) -> PartialWrite:
    """The error for a write over ``total`` entries that failed after ``done`` (> 0) were
    written: a PartialWrite, which routing never replays on another backend."""
    unknown = (
        " (the outcome of the next one is unknown)"
        if isinstance(error, WriteOutcomeUnknown)
        else ""
    )
    return PartialWrite(
        f"family {fmap.name!r}: {done} of {total} records {verb}{unknown}, then: {error}; "
        "the rest were left as they are and not tried on another backend",
        done,
        total,
    )


def _write_error(what: str, result: dict[str, Any]) -> BackendError | BadRequest:
    """A refused write: BadRequest when the server refused the caller's value."""
    text = f"{what}: {_describe_result(result)}"
    if result.get("result") in BAD_VALUE_CODES:
        return BadRequest(f"{text} (a value the directory's schema does not accept)")
    return BackendError(text)


def _describe_result(result: dict[str, Any]) -> str:
    """An LDAP result without echoing request values (which may hold secrets)."""
    description = result.get("description") or "error"
    code = result.get("result")
    message = (result.get("message") or "").strip()
    text = f"{description} (LDAP result {code})"
    if message:
        text += f": {message[:200]}"
    return text + _replica_hint(result)


def _replica_hint(result: dict[str, Any]) -> str:
    """What to do when the server is a read-only syncrepl consumer: it answers writes with
    a referral to its provider (olcUpdateRef), or, without one, unwillingToPerform "shadow
    context".  Referrals are not followed: ldap3 would re-send the bind password to
    whatever host the referral names, without StartTLS (docs/replication.md)."""
    code = result.get("result")
    if code == REFERRAL:
        targets = sorted({_server_part(str(r)) for r in result.get("referrals") or []})
        to = f" to {', '.join(targets)}" if targets else ""
        return (
            f"; this server is a read-only replica that refers writes{to}: send writes to "
            "the provider (list it in the backend's write_urls)"
        )
    if code == UNWILLING_TO_PERFORM and "shadow context" in str(result.get("message") or ""):
        return (
            "; this server is a read-only replica: send writes to its provider (list it in "
            "the backend's write_urls)"
        )
    return ""


def _server_part(url: str) -> str:
    """``ldap://host:port`` of a referral URL (its DN and the rest dropped)."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.split('/', 1)[0]}" if sep else url[:100]
