"""Move realtime data between backends idempotently: SQL tables into the directory and back.

One engine for ``ara-ldap migrate`` and ``ara-ldap copy``: read every record of a family on
both sides, match them by the family's key (the LDAP RDN fields: what names an entry), and
plan adds, updates and unchanged records before anything is written.  Planning first is
what makes ``--dry-run`` an exact diff, a re-run a no-op, and LDIF output possible; a row
that cannot be stored is reported with its family and key and skipped, never fatal.

``;``-joined legacy values: the SQL side splits the fields the LDAP attribute map holds as
multi-valued (:func:`aligned_sql_families` copies ``multi_valued``/``joined`` from the LDAP
map), so a ``allow=ulaw;alaw`` column becomes two ordered ``allow`` values and back.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Literal

import ldap3
from ldap3.core.exceptions import (
    LDAPSessionTerminatedByServerError,
    LDAPSocketOpenError,
    LDAPSocketReceiveError,
)

from ara_ldap.backends.base import Backend
from ara_ldap.backends.ldap import fastpath
from ara_ldap.backends.ldap.backend import BAD_VALUE_CODES, LdapBackend, _unescape_dn, split_dn
from ara_ldap.backends.ldap.mapping import EntryValues, FamilyMap
from ara_ldap.config import LdapBackendSettings
from ara_ldap.criteria import Criterion, Operator
from ara_ldap.errors import AraError, BackendError, BadRequest, ConfigError, describe_value
from ara_ldap.record import Record

if TYPE_CHECKING:
    from ara_ldap.backends.sql.backend import SqlBackend

__all__ = [
    "BadRow",
    "Change",
    "FamilyPlan",
    "FamilyResult",
    "LdifWriter",
    "MigrateReport",
    "aligned_sql_families",
    "apply_plan",
    "migrate",
    "plan_family",
]

Content = tuple[tuple[str, tuple[str, ...]], ...]
#: Called with the number of rows just handled (drives a progress bar).
Progress = Callable[[int], None]


# Results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadRow:
    """A source record that was not migrated, and why (values of secrets never shown)."""

    family: str
    key: str
    reason: str

    def __str__(self) -> str:
        return f"{self.family} {self.key}: {self.reason}"


@dataclass(frozen=True)
class Change:
    """One write the target needs: a new record, or an existing one to bring up to date."""

    kind: Literal["add", "update"]
    key: str
    record: Record
    old: Record | None = None
    #: The LDAP attributes for the record, computed once while planning (LDAP targets).
    entry: EntryValues | None = None


@dataclass
class FamilyPlan:
    family: str
    key_fields: list[str]
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    bad: list[BadRow] = field(default_factory=list)
    dropped: set[str] = field(default_factory=set)

    @property
    def rows(self) -> int:
        return len(self.changes) + self.unchanged + len(self.bad)


@dataclass
class FamilyResult:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0


@dataclass
class MigrateReport:
    results: dict[str, FamilyResult] = field(default_factory=dict)
    bad_rows: list[BadRow] = field(default_factory=list)
    dropped_fields: dict[str, set[str]] = field(default_factory=dict)
    #: Families not migrated on their own, with the reason (shared storage).
    skipped: dict[str, str] = field(default_factory=dict)
    #: Family-level failures (cannot read, no container).
    errors: list[str] = field(default_factory=list)
    #: LDAP containers (``ou=`` entries) created or written to the LDIF.
    containers: list[str] = field(default_factory=list)
    #: ``--dry-run``: the diff, line by line.
    diff: list[str] = field(default_factory=list)


# The two sides ------------------------------------------------------------------------


def _sql_backend(backend: Backend) -> SqlBackend | None:
    try:
        from ara_ldap.backends.sql.backend import SqlBackend
    except ModuleNotFoundError:  # pragma: no cover - SQLAlchemy not installed
        return None
    return backend if isinstance(backend, SqlBackend) else None


def _fold_dn_value(value: str) -> str:
    """How the directory compares an RDN value (caseIgnoreMatch: case and runs of spaces)."""
    return " ".join(value.split()).casefold()


class _Side:
    """A backend as the engine sees it: all records, the key, and a dry validation."""

    def __init__(self, name: str, backend: Backend) -> None:
        self.name = name
        self.backend = backend
        self.ldap = backend if isinstance(backend, LdapBackend) else None
        self.sql = _sql_backend(backend)

    def families(self) -> list[str]:
        return list(self.backend.families())

    def records(self, family: str) -> list[Record]:
        return self.backend.search(family, [])

    def fmap(self, family: str) -> FamilyMap | None:
        return self.ldap.family_map(family) if self.ldap is not None else None

    def fold(self, values: Sequence[str]) -> tuple[str, ...]:
        if self.ldap is not None:
            return tuple(_fold_dn_value(v) for v in values)
        return tuple(values)

    def known(self, family: str) -> set[str] | None:
        """Lower-cased field names the family holds (None: any well-formed name)."""
        fmap = self.fmap(family)
        if fmap is not None and fmap.field_slot is not None:
            return None
        return {f.lower() for f in self.backend.fields(family)}

    def storage(self, family: str) -> tuple[str, ...]:
        """What identifies the family's storage: families with equal storage are one."""
        fmap = self.fmap(family)
        if fmap is not None:
            return ("ldap", fmap.base_dn.lower(), (fmap.filter or "").lower())
        if self.sql is not None:
            return ("sql", self.sql.family_table(family).table.name.lower())
        return ("other", family.lower())

    def check(self, family: str, record: Record) -> EntryValues | None:
        """Raise what a write of ``record`` would raise before reaching the server; the
        entry's attributes on an LDAP side."""
        fmap = self.fmap(family)
        if fmap is not None:
            return fmap.entry_for(record)
        if self.sql is not None:
            ft = self.sql.family_table(family)
            grouped, unknown = ft.group(record)
            if unknown:
                raise ft.unknown(unknown[0])
            ft.write_values(grouped, insert=True)
        return None

    def secrets(self, family: str) -> set[str]:
        return {f.lower() for f in self.backend.secret_fields(family)}


def key_fields(source: _Side, target: _Side, family: str) -> list[str]:
    """The fields naming a record: the LDAP RDN fields (target first), else the SQL unique
    key, else the first field."""
    for side in (target, source):
        fmap = side.fmap(family)
        if fmap is not None:
            return list(fmap.rdn_fields)
    for side in (target, source):
        if side.sql is not None:
            info = side.sql.family_table(family).info
            by_key = side.sql.family_table(family).by_key
            for names in info.unique_keys:
                if all(n.lower() in by_key for n in names):
                    return [by_key[n.lower()].name for n in names]
    return [next(iter(source.backend.fields(family)))]


def content(record: Record) -> Content:
    """A record's data for comparison: field names folded, fields sorted, value order kept."""
    groups: dict[str, list[str]] = {}
    for name, value in record:
        if value != "":
            groups.setdefault(name.lower(), []).append(value)
    return tuple(sorted((k, tuple(v)) for k, v in groups.items()))


def _key_text(record: Record, fields: Sequence[str], secrets: set[str]) -> str:
    """``name=alice`` (``context=default, mailbox=1001``); ``?`` for a missing value."""
    parts = []
    for f in fields:
        value = record.get(f) or "?"
        parts.append(f"{f}={describe_value(f, value, secrets) if f.lower() in secrets else value}")
    return ", ".join(parts)


# Planning -----------------------------------------------------------------------------


def plan_family(
    source: _Side,
    target: _Side,
    family: str,
    drop_unknown_fields: bool = False,
    target_records: Sequence[Record] | None = None,
) -> FamilyPlan:
    """Compare the family on both sides: what to add, what to update, what is bad.

    ``target_records``: the target's current records (``[]`` for a full LDIF that does not
    read the directory); read from the target when None."""
    keys = key_fields(source, target, family)
    plan = FamilyPlan(family, keys)
    secrets = source.secrets(family) | target.secrets(family)
    existing: dict[tuple[str, ...], Record] = {}
    current = target.records(family) if target_records is None else target_records
    for rec in current:
        values = [rec.get(f) or "" for f in keys]
        existing.setdefault(target.fold(values), rec)
    known = target.known(family)
    seen: dict[tuple[str, ...], str] = {}
    records = source.records(family)
    records.sort(key=lambda r: tuple(r.get(f) or "" for f in keys))
    for record in records:
        shown = _key_text(record, keys, secrets)
        if known is not None:
            dropped = {f for f, v in record if f.lower() not in known and v != ""}
            if dropped and drop_unknown_fields:
                plan.dropped |= dropped
                record = Record([(f, v) for f, v in record if f.lower() in known])
            elif dropped:
                plan.bad.append(
                    BadRow(
                        family,
                        shown,
                        f"{target.name} has no field {', '.join(sorted(dropped))} in "
                        f"{family} (--drop-unknown-fields leaves such fields out)",
                    )
                )
                continue
        values = [record.get(f) or "" for f in keys]
        if any(v == "" for v in values):
            missing = [f for f, v in zip(keys, values, strict=True) if v == ""]
            plan.bad.append(BadRow(family, shown, f"no value for key field {', '.join(missing)}"))
            continue
        folded = target.fold(values)
        if folded in seen:
            plan.bad.append(
                BadRow(family, shown, f"names the same {target.name} record as {seen[folded]}")
            )
            continue
        seen[folded] = shown
        old = existing.get(folded)
        if old is not None and content(old) == content(record):
            plan.unchanged += 1  # stored as is already: nothing to check or write
            continue
        try:
            entry = target.check(family, record)
        except AraError as exc:
            plan.bad.append(BadRow(family, shown, str(exc)))
            continue
        if old is None:
            plan.changes.append(Change("add", shown, record, entry=entry))
        else:
            plan.changes.append(Change("update", shown, record, old, entry))
    return plan


def diff_lines(plan: FamilyPlan, secrets: set[str]) -> list[str]:
    """``+``/``~`` lines for each change, with the changed fields of updates."""
    lines: list[str] = []
    for change in plan.changes:
        if change.kind == "add":
            lines.append(f"+ {plan.family} {change.key}")
            continue
        lines.append(f"~ {plan.family} {change.key}")
        assert change.old is not None
        old = dict(content(change.old))
        new = dict(content(change.record))
        names = {f.lower(): f for f, _ in [*change.old, *change.record]}
        for key in sorted(set(old) | set(new)):
            if old.get(key) == new.get(key):
                continue
            name = names[key]
            before = ", ".join(describe_value(name, v, secrets) for v in old.get(key, ())) or "-"
            after = ", ".join(describe_value(name, v, secrets) for v in new.get(key, ())) or "-"
            lines.append(f"    {name}: {before} -> {after}")
    return lines


# Writing ------------------------------------------------------------------------------


def _apply_one(target: _Side, family: str, keys: Sequence[str], change: Change) -> None:
    backend = target.backend
    if change.kind == "add":
        backend.store(family, change.record)
        return
    assert change.old is not None
    present = {f.lower() for f, v in change.record if v != ""}
    cleared = [(f, "") for f in change.old.fields() if f.lower() not in present]
    criteria = [Criterion(f, Operator.EQ, change.old.get(f) or "") for f in keys]
    n = backend.update(family, criteria, Record([*change.record, *cleared]))
    if n == 0:
        raise BackendError("the record went away while migrating; run again")


def apply_plan(
    target: _Side,
    plan: FamilyPlan,
    jobs: int = 1,
    progress: Progress | None = None,
) -> tuple[FamilyResult, list[BadRow]]:
    """Write the plan's changes (``jobs`` at a time); failures become bad rows."""
    result = FamilyResult(unchanged=plan.unchanged, failed=len(plan.bad))
    bad = list(plan.bad)
    if progress is not None and plan.unchanged + len(plan.bad):
        progress(plan.unchanged + len(plan.bad))

    def done(change: Change, error: AraError | None) -> None:
        if error is None:
            if change.kind == "add":
                result.added += 1
            else:
                result.updated += 1
        else:
            result.failed += 1
            bad.append(BadRow(plan.family, change.key, str(error)))
        if progress is not None:
            progress(1)

    def run(change: Change) -> AraError | None:
        try:
            _apply_one(target, plan.family, plan.key_fields, change)
        except AraError as exc:
            return exc
        return None

    bulk = _bulk_adder(target, plan.family) if len(plan.changes) > 1 else None
    if bulk is None and jobs <= 1:
        for change in plan.changes:
            done(change, run(change))
        return result, bad
    singles = plan.changes if bulk is None else [c for c in plan.changes if c.kind != "add"]
    with ThreadPoolExecutor(max_workers=max(jobs, 1), thread_name_prefix="migrate") as pool:
        if bulk is not None:
            adds = [c for c in plan.changes if c.kind == "add"]
            chunks = [adds[i : i + BULK_CHUNK] for i in range(0, len(adds), BULK_CHUNK)]
            for outcome in pool.map(bulk, chunks):
                for ch, error in outcome:
                    done(ch, error)
        window: list[tuple[Change, Future[AraError | None]]] = []
        for change in singles:
            window.append((change, pool.submit(run, change)))
            if len(window) >= jobs * 64:  # bounded memory on large tables
                for ch, fut in window:
                    done(ch, fut.result())
                window = []
        for ch, fut in window:
            done(ch, fut.result())
    return result, bad


# Bulk adds ----------------------------------------------------------------------------

#: Adds per pooled-connection turn, and in flight on the socket at once.
BULK_CHUNK = 512
BULK_WINDOW = 32


def _bulk_adder(
    target: _Side, family: str
) -> Callable[[list[Change]], list[tuple[Change, AraError | None]]] | None:
    """Pipelined AddRequests on a pooled connection, or None (use ``store``).

    Why: ldap3 spends ~2 ms of CPU encoding one add through pyasn1 where the directory
    needs a fraction of that (bench/migrate.py); hand-encoded requests, a window of them
    in flight per connection, make a 100k-row migration minutes shorter.  Only for plain
    connections (no TLS/SASL layer on the socket, as the read fast path) and backends
    without the cache (whose write hooks ``store`` drives)."""
    backend = target.ldap
    if backend is None or backend.cache is not None:
        return None
    fmap = backend.family_map(family)

    def add_all(changes: list[Change]) -> list[tuple[Change, AraError | None]]:
        prepared: list[tuple[Change, bytes]] = []
        out: list[tuple[Change, AraError | None]] = []
        for change in changes:
            try:
                entry = change.entry or fmap.entry_for(change.record)
            except AraError as exc:
                out.append((change, exc))
                continue
            prepared.append((change, _add_body(fmap, entry)))

        def op(conn: ldap3.Connection) -> list[tuple[Change, AraError | None]] | None:
            if not fastpath.usable(conn):
                return None
            if conn.closed or not conn.listening:
                raise LDAPSocketOpenError("connection is not open")
            answers: list[tuple[Change, AraError | None]] = []
            for i in range(0, len(prepared), BULK_WINDOW):
                answers += _pipelined(conn, fmap, prepared[i : i + BULK_WINDOW])
            return answers

        try:
            answers = backend.pool.run(op, write=True)
        except AraError as exc:
            return out + [(change, exc) for change, _ in prepared]
        if answers is None:  # TLS or SASL on the socket: ldap3's path, one by one
            for change, _ in prepared:
                try:
                    backend.store(family, change.record)
                    out.append((change, None))
                except AraError as exc:
                    out.append((change, exc))
            return out
        return out + answers

    return add_all


def _add_body(fmap: FamilyMap, entry: EntryValues) -> bytes:
    """The AddRequest (``[APPLICATION 8]``) for an entry, BER-encoded by hand."""
    tlv = fastpath.tlv
    dn = fmap.dn_for(entry.rdn_value).encode("utf-8")
    attributes = [
        tlv(0x30, tlv(0x04, b"objectClass") + tlv(0x31, b"".join(
            tlv(0x04, c.encode("utf-8")) for c in fmap.object_classes
        )))
    ]  # fmt: skip
    for attr, values in entry.attributes.items():
        if attr.lower() == "objectclass" or not values:
            continue
        encoded = b"".join(tlv(0x04, v.encode("utf-8")) for v in values)
        attributes.append(tlv(0x30, tlv(0x04, attr.encode("utf-8")) + tlv(0x31, encoded)))
    return tlv(0x68, tlv(0x04, dn) + tlv(0x30, b"".join(attributes)))


def _pipelined(
    conn: ldap3.Connection, fmap: FamilyMap, batch: list[tuple[Change, bytes]]
) -> list[tuple[Change, AraError | None]]:
    """Send the batch at once, then read one AddResponse per request (any order)."""
    pending: dict[int, Change] = {}
    wire = []
    for change, body in batch:
        message_id = conn.server.next_message_id()
        pending[message_id] = change
        wire.append(fastpath.tlv(0x30, fastpath.tlv(0x02, fastpath.ber_integer(message_id)) + body))
    sock = conn.socket
    sock.sendall(b"".join(wire))
    answers: list[tuple[Change, AraError | None]] = []
    buffer = b""
    while pending:
        data = sock.recv(fastpath.RECV_SIZE)
        if not data:
            raise LDAPSocketReceiveError("connection closed by the server")
        buffer += data
        start = 0
        while (size := fastpath.message_size(buffer, start)) is not None:
            message_id, op, result = _response(buffer, start)
            start += size
            if message_id == 0 and op == 0x78:
                raise LDAPSessionTerminatedByServerError("notice of disconnection")
            answered = pending.pop(message_id) if message_id in pending else None
            if answered is None or op != 0x69:
                raise fastpath.FastPathSurprise(f"unexpected reply {op:#x} to {message_id}")
            answers.append((answered, _add_error(fmap, result)))
        buffer = buffer[start:]
    return answers


def _response(buf: bytes, start: int) -> tuple[int, int, dict[str, Any]]:
    """``(message id, protocol op tag, LDAPResult)`` of the message at ``start``."""
    _, i = fastpath._length(buf, start + 1)
    n, i = fastpath._expect(buf, i, 0x02)
    message_id = int.from_bytes(buf[i : i + n], "big", signed=True)
    i += n
    op = buf[i]
    _, value = fastpath._length(buf, i + 1)
    return message_id, op, fastpath.decode_result(buf, value)


def _add_error(fmap: FamilyMap, result: dict[str, Any]) -> AraError | None:
    code = result.get("result", 0)
    if code == 0:
        return None
    if code == 68:
        return BackendError(f"family {fmap.name!r}: the entry already exists (added meanwhile?)")
    if code == 32:
        return BackendError(f"family {fmap.name!r}: the parent {fmap.base_dn!r} does not exist")
    message = (result.get("message") or "").strip()[:200]
    detail = f": {message}" if message else ""
    # A value the attribute cannot hold is the record's fault, as on LdapBackend.store.
    kind = BadRequest if code in BAD_VALUE_CODES else BackendError
    return kind(
        f"family {fmap.name!r}: store refused: {result.get('description')} "
        f"(LDAP result {code}){detail}"
    )


# LDIF ---------------------------------------------------------------------------------

_SAFE_INIT = re.compile(r"^[\x01-\x09\x0b\x0c\x0e-\x1f\x21-\x39\x3b\x3d-\x7f]")
_SAFE = re.compile(r"^[\x01-\x09\x0b\x0c\x0e-\x7f]*$")


def ldif_line(attribute: str, value: str) -> str:
    """``attr: value``, or ``attr:: base64`` when RFC 2849 wants it (non-ASCII, leading
    space/colon/'<', trailing space, line breaks)."""
    if value == "" or (_SAFE.match(value) and _SAFE_INIT.match(value) and value[-1] != " "):
        return f"{attribute}: {value}".rstrip() if value == "" else f"{attribute}: {value}"
    encoded = base64.b64encode(value.encode("utf-8")).decode("ascii")
    return f"{attribute}:: {encoded}"


class LdifWriter:
    """LDIF change records ``ldapadd``/``ldapmodify -a`` apply: plain entries (adds),
    ``changetype: modify`` and ``changetype: modrdn``."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.records = 0

    def _block(self, lines: Iterable[str]) -> None:
        if self.records:
            self.stream.write("\n")
        self.stream.write("\n".join(lines) + "\n")
        self.records += 1

    def comment(self, text: str) -> None:
        self.stream.write("".join(f"# {line}\n" for line in text.splitlines()))

    def entry(
        self, dn: str, object_classes: Sequence[str], attributes: Mapping[str, Sequence[str]]
    ) -> None:
        lines = [ldif_line("dn", dn), *(ldif_line("objectClass", c) for c in object_classes)]
        for attr, values in attributes.items():
            if attr.lower() != "objectclass":
                lines += [ldif_line(attr, v) for v in values]
        self._block(lines)

    def modify(self, dn: str, changes: Mapping[str, Sequence[str]]) -> None:
        """Replace each attribute with its values (``[]``: delete it)."""
        lines = [ldif_line("dn", dn), "changetype: modify"]
        for i, (attr, values) in enumerate(changes.items()):
            if i:
                lines.append("-")
            if values:
                lines.append(f"replace: {attr}")
                lines += [ldif_line(attr, v) for v in values]
            else:
                lines.append(f"delete: {attr}")
        lines.append("-")
        self._block(lines)

    def modrdn(self, dn: str, new_rdn: str) -> None:
        self._block(
            [
                ldif_line("dn", dn),
                "changetype: modrdn",
                ldif_line("newrdn", new_rdn),
                "deleteoldrdn: 1",
            ]
        )


def write_ldif_plan(writer: LdifWriter, fmap: FamilyMap, plan: FamilyPlan) -> None:
    """The plan's changes as LDIF records (updates replace only attributes that differ)."""
    for change in plan.changes:
        new = change.entry or fmap.entry_for(change.record)
        dn = fmap.dn_for(new.rdn_value)
        if change.kind == "add" or change.old is None:
            writer.entry(dn, fmap.object_classes, new.attributes)
            continue
        try:
            old = fmap.entry_for(change.old)
            old_attrs = old.attributes
            old_dn = fmap.dn_for(old.rdn_value)
        except AraError:
            old_attrs, old_dn = {}, dn
        if old_dn != dn:
            writer.modrdn(old_dn, split_dn(dn)[0])
        wanted = {a.lower(): (a, v) for a, v in new.attributes.items()}
        had = {a.lower(): (a, v) for a, v in old_attrs.items()}
        changes: dict[str, list[str]] = {}
        for key, (attr, values) in wanted.items():
            if key in ("objectclass", fmap.rdn_attribute.lower()):
                continue
            if had.get(key, ("", []))[1] != values:
                changes[attr] = list(values)
        for key, (attr, _) in had.items():
            if key not in wanted and key != "objectclass":
                changes[attr] = []
        if changes:
            writer.modify(dn, changes)


# Containers ---------------------------------------------------------------------------


def containers_below(base_dns: Iterable[str], suffix: str) -> list[str]:
    """The entries between ``suffix`` and each base DN, parents first (suffix excluded)."""
    out: list[str] = []
    for base in base_dns:
        if base.lower() == suffix.lower() or not suffix:
            continue
        if not base.lower().endswith("," + suffix.lower()):
            raise ConfigError(f"family base {base!r} is not below the backend base_dn {suffix!r}")
        rdns: list[str] = []
        rest = base[: len(base) - len(suffix) - 1]
        while rest:
            first, rest = split_dn(rest)
            rdns.append(first)
        for i in range(len(rdns) - 1, -1, -1):
            dn = ",".join([*rdns[i:], suffix])
            if dn.lower() not in {d.lower() for d in out}:
                out.append(dn)
    return out


def _container_entry(dn: str) -> tuple[list[str], dict[str, list[str]]]:
    attr, _, value = split_dn(dn)[0].partition("=")
    if attr.strip().lower() != "ou":
        raise BackendError(
            f"{dn} does not exist and is not an ou= entry ara-ldap can create; create it first"
        )
    return ["top", "organizationalUnit"], {"ou": [_unescape_dn(value.strip())]}


def _exists(backend: LdapBackend, dn: str) -> bool:
    def op(conn: ldap3.Connection) -> bool:
        conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["1.1"])
        return bool((conn.result or {}).get("result", 1) == 0 and conn.response)

    return bool(backend.pool.run(op, write=False))


def ensure_containers(backend: LdapBackend, families: Iterable[str]) -> list[str]:
    """Create the missing ``ou=`` entries above the families' bases; the DNs created."""
    bases = [backend.family_map(f).base_dn for f in families]
    created: list[str] = []
    for dn in containers_below(bases, backend.settings.base_dn):
        if _exists(backend, dn):
            continue
        classes, attributes = _container_entry(dn)

        def op(
            conn: ldap3.Connection,
            dn: str = dn,
            classes: list[str] = classes,
            attributes: dict[str, list[str]] = attributes,
        ) -> None:
            conn.add(dn, object_class=classes, attributes=attributes)
            result = conn.result or {}
            if result.get("result", 0) not in (0, 68):
                raise BackendError(
                    f"cannot create {dn}: {result.get('description')}; create it as an "
                    "identity allowed to (e.g. the rootdn with ldapadd)"
                )

        backend.pool.run(op, write=True)
        created.append(dn)
    return created


def missing_containers(backend: LdapBackend, families: Iterable[str]) -> list[str]:
    bases = [backend.family_map(f).base_dn for f in families]
    return [
        dn for dn in containers_below(bases, backend.settings.base_dn) if not _exists(backend, dn)
    ]


# SQL settings from a URL ----------------------------------------------------------------


def aligned_sql_families(ldap: LdapBackendSettings | None) -> dict[str, Any]:
    """SQL family overrides so the tables split exactly what the LDAP map holds as
    multi-valued (``;``-joined legacy columns become ordered values) and join its
    ``joined`` lists: the LDAP map is the one source of truth, not a second list."""
    if ldap is None:
        return {}
    from ara_ldap.config import shipped_sql_families

    out: dict[str, Any] = {}
    for family in shipped_sql_families():
        spec = ldap.families.get(family)
        if spec is None:
            continue
        joined = list(spec.joined)
        multi = [f for f in spec.multi_valued if f.lower() not in {j.lower() for j in joined}]
        out[family] = {
            "multi_valued": multi,
            "joined": joined,
            "secret_fields": list(spec.secret_fields),
        }
    return out


def multi_value_mismatches(ldap: LdapBackend, sql: Backend, families: Iterable[str]) -> list[str]:
    """Families whose SQL backend splits other fields than the LDAP map holds multi-valued
    (their records cannot compare identical)."""
    sqlb = _sql_backend(sql)
    if sqlb is None:
        return []
    out = []
    for family in families:
        fmap = ldap.family_map(family)
        ft = sqlb.family_table(family)
        columns = set(ft.by_key)
        ldap_multi = {f for f in fmap.multi_valued if f not in fmap.joined} & columns
        sql_multi = set(ft.multi_valued) & columns
        if ldap_multi != sql_multi:
            out.append(
                f"{family}: the SQL backend {sql.name!r} splits "
                f"{', '.join(sorted(sql_multi)) or 'nothing'} on ';' but the LDAP map holds "
                f"{', '.join(sorted(ldap_multi)) or 'nothing'} multi-valued"
            )
    return out


# The run ------------------------------------------------------------------------------


def _wanted_families(
    source: _Side, target: _Side, families: Sequence[str] | None, report: MigrateReport
) -> list[str]:
    on_target = {f.lower(): f for f in target.families()}
    if families:
        out = []
        for family in families:
            if family.lower() not in on_target:
                raise ConfigError(f"{target.name} has no family {family!r}")
            if family.lower() not in {f.lower() for f in source.families()}:
                raise ConfigError(f"{source.name} has no family {family!r}")
            out.append(family)
        return out
    out = []
    storage: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}
    for family in source.families():
        if family.lower() not in on_target:
            continue
        try:
            where = (source.storage(family), target.storage(family))
        except AraError as exc:
            report.errors.append(f"{family}: {exc}")
            continue
        if where in storage:
            report.skipped[family] = f"same records as {storage[where]}"
            continue
        storage[where] = family
        out.append(family)
    return out


def migrate(
    source_name: str,
    source_backend: Backend,
    target_name: str,
    target_backend: Backend,
    families: Sequence[str] | None = None,
    *,
    dry_run: bool = False,
    drop_unknown_fields: bool = False,
    ldif: IO[str] | None = None,
    full_ldif: bool = False,
    jobs: int = 1,
    create_containers: bool = True,
    updates: bool = True,
    progress: Callable[[str, int], AbstractContextManager[Progress]] | None = None,
) -> MigrateReport:
    """Bring the target's families up to the source's records; see the module doc.

    ``ldif``: write the changes there instead of the directory (``full_ldif``: every record
    as an entry, the directory not read).  ``updates=False`` (``copy``): a record that
    differs on the target is a bad row, not an update.  ``progress(family, rows)`` is a
    context manager giving a callback advanced as rows are written (a progress bar)."""
    source = _Side(source_name, source_backend)
    target = _Side(target_name, target_backend)
    report = MigrateReport()
    if ldif is not None and target.ldap is None:
        raise ConfigError(f"--ldif needs an LDAP target; {target_name!r} is not one")
    wanted = _wanted_families(source, target, families, report)
    writer = LdifWriter(ldif) if ldif is not None else None
    if target.ldap is not None:
        try:
            if writer is not None:
                bases = (
                    containers_below(
                        [target.ldap.family_map(f).base_dn for f in wanted],
                        target.ldap.settings.base_dn,
                    )
                    if full_ldif
                    else missing_containers(target.ldap, wanted)
                )
                for dn in bases:
                    classes, attributes = _container_entry(dn)
                    writer.entry(dn, classes, attributes)
                report.containers = bases
            elif dry_run:
                report.containers = missing_containers(target.ldap, wanted)
            elif create_containers:
                report.containers = ensure_containers(target.ldap, wanted)
        except AraError as exc:
            report.errors.append(f"containers: {exc}")
    absent = {dn.lower() for dn in report.containers} if (dry_run or writer) else set()
    for family in wanted:
        fmap = target.fmap(family)
        empty = full_ldif or (fmap is not None and fmap.base_dn.lower() in absent)
        try:
            plan = plan_family(
                source,
                target,
                family,
                drop_unknown_fields,
                target_records=[] if empty else None,
            )
        except AraError as exc:
            report.errors.append(f"{family}: cannot read: {exc}")
            continue
        if plan.dropped:
            report.dropped_fields[family] = plan.dropped
        if not updates:
            kept = []
            for change in plan.changes:
                if change.kind == "update":
                    plan.bad.append(
                        BadRow(family, change.key, f"differs from the record on {target_name}")
                    )
                else:
                    kept.append(change)
            plan.changes = kept
        if dry_run or writer is not None:
            adds = sum(c.kind == "add" for c in plan.changes)
            report.results[family] = FamilyResult(
                added=adds,
                updated=len(plan.changes) - adds,
                unchanged=plan.unchanged,
                failed=len(plan.bad),
            )
            report.bad_rows += plan.bad
            if dry_run:
                report.diff += diff_lines(plan, source.secrets(family) | target.secrets(family))
            if writer is not None and not dry_run:
                assert fmap is not None
                write_ldif_plan(writer, fmap, plan)
            continue
        if progress is None:
            result, bad = apply_plan(target, plan, jobs)
        else:
            with progress(family, plan.rows) as tick:
                result, bad = apply_plan(target, plan, jobs, tick)
        report.results[family] = result
        report.bad_rows += bad
    return report
