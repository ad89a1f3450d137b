"""RFC 4533 (LDAP Content Synchronization) for ldap3: the controls, and a consumer.

ldap3 knows nothing of syncrepl, so the controls are defined here with pyasn1, and the
consumer runs a ``refreshAndPersist`` search on ldap3's ``ASYNC_STREAM`` strategy, whose
receiver thread hands every message to a callback as it arrives (slapd.md §15).  Traps
handled here: ldap3's default ``DEREF_ALWAYS`` is refused by slapd on this search; an
exception escaping the callback silently kills ldap3's receiver (so the callback catches
everything and marks the stream broken); a provider that goes away is never reported to
the callback (so :meth:`SyncConsumer.alive` looks at the receiver thread and socket, and
the cache's watchdog probes the server).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ldap3
from pyasn1.codec.ber import decoder, encoder
from pyasn1.type import namedtype, namedval, tag, univ

from ara_ldap.backends.ldap.connection import bind_args, make_server, start_tls_if_needed
from ara_ldap.backends.ldap.mapping import FamilyMap
from ara_ldap.backends.ldap.replica import FamilyReplica
from ara_ldap.config import LdapBackendSettings
from ara_ldap.record import Record

log = logging.getLogger("ara_ldap.ldap.cache")

SYNC_REQUEST_OID = "1.3.6.1.4.1.4203.1.9.1.1"
SYNC_STATE_OID = "1.3.6.1.4.1.4203.1.9.1.2"
SYNC_DONE_OID = "1.3.6.1.4.1.4203.1.9.1.3"
SYNC_INFO_OID = "1.3.6.1.4.1.4203.1.9.1.4"

#: e-syncRefreshRequired: the cookie is too old or unknown; start again without it.
SYNC_REFRESH_REQUIRED = 4096
SIZE_LIMIT_EXCEEDED = 4
TIME_LIMIT_EXCEEDED = 3
ADMIN_LIMIT_EXCEEDED = 11

REFRESH_ONLY = 1
REFRESH_AND_PERSIST = 3

PRESENT, ADD, MODIFY, DELETE = 0, 1, 2, 3
#: The messages of the stream's one search (the connection carries nothing else).
_STREAM_TYPES = frozenset(
    ("searchResEntry", "searchResRef", "intermediateResponse", "searchResDone")
)
STATE_NAMES = {PRESENT: "present", ADD: "add", MODIFY: "modify", DELETE: "delete"}

#: ``(kind, before, after)`` of one change seen after the refresh: kind is ``add``,
#: ``modify``, ``rename`` (the DN changed) or ``delete``; before/after are the mapped
#: records (None for an add's before and a delete's after).
RecordChange = tuple[str, Record | None, Record | None]
RecordListener = Callable[[str, Record | None, Record | None], None]


# ASN.1 (RFC 4533 §2) ---------------------------------------------------------------------
class SyncRequestValue(univ.Sequence):  # type: ignore[misc]
    componentType = namedtype.NamedTypes(
        namedtype.NamedType(
            "mode",
            univ.Enumerated(
                namedValues=namedval.NamedValues(("refreshOnly", 1), ("refreshAndPersist", 3))
            ),
        ),
        namedtype.OptionalNamedType("cookie", univ.OctetString()),
        namedtype.DefaultedNamedType("reloadHint", univ.Boolean(False)),
    )


class SyncStateValue(univ.Sequence):  # type: ignore[misc]
    componentType = namedtype.NamedTypes(
        namedtype.NamedType(
            "state",
            univ.Enumerated(
                namedValues=namedval.NamedValues(
                    ("present", 0), ("add", 1), ("modify", 2), ("delete", 3)
                )
            ),
        ),
        namedtype.NamedType("entryUUID", univ.OctetString()),
        namedtype.OptionalNamedType("cookie", univ.OctetString()),
    )


class SyncDoneValue(univ.Sequence):  # type: ignore[misc]
    componentType = namedtype.NamedTypes(
        namedtype.OptionalNamedType("cookie", univ.OctetString()),
        namedtype.DefaultedNamedType("refreshDeletes", univ.Boolean(False)),
    )


def _ctx(n: int, constructed: bool) -> tag.TagSet:
    fmt = tag.tagFormatConstructed if constructed else tag.tagFormatSimple
    return univ.Sequence.tagSet.tagImplicitly(tag.Tag(tag.tagClassContext, fmt, n))


class _RefreshDelete(univ.Sequence):  # type: ignore[misc]
    tagSet = _ctx(1, True)
    componentType = namedtype.NamedTypes(
        namedtype.OptionalNamedType("cookie", univ.OctetString()),
        namedtype.DefaultedNamedType("refreshDone", univ.Boolean(True)),
    )


class _RefreshPresent(univ.Sequence):  # type: ignore[misc]
    tagSet = _ctx(2, True)
    componentType = namedtype.NamedTypes(
        namedtype.OptionalNamedType("cookie", univ.OctetString()),
        namedtype.DefaultedNamedType("refreshDone", univ.Boolean(True)),
    )


class _SyncIdSet(univ.Sequence):  # type: ignore[misc]
    tagSet = _ctx(3, True)
    componentType = namedtype.NamedTypes(
        namedtype.OptionalNamedType("cookie", univ.OctetString()),
        namedtype.DefaultedNamedType("refreshDeletes", univ.Boolean(False)),
        namedtype.NamedType("syncUUIDs", univ.SetOf(componentType=univ.OctetString())),
    )


class SyncInfoValue(univ.Choice):  # type: ignore[misc]
    componentType = namedtype.NamedTypes(
        namedtype.NamedType(
            "newcookie",
            univ.OctetString().subtype(
                implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, 0)
            ),
        ),
        namedtype.NamedType("refreshDelete", _RefreshDelete()),
        namedtype.NamedType("refreshPresent", _RefreshPresent()),
        namedtype.NamedType("syncIdSet", _SyncIdSet()),
    )


# Encoding and decoding ------------------------------------------------------------------
def encode_sync_request(
    cookie: bytes | None = None, *, mode: int = REFRESH_AND_PERSIST, reload_hint: bool = False
) -> bytes:
    """The Sync Request control value."""
    value = SyncRequestValue()
    value["mode"] = mode
    if cookie:
        value["cookie"] = cookie
    if reload_hint:
        value["reloadHint"] = True
    return bytes(encoder.encode(value))


def sync_request_control(cookie: bytes | None = None) -> tuple[str, bool, bytes]:
    """The control as ldap3 takes it (critical: a server without syncprov must refuse)."""
    return (SYNC_REQUEST_OID, True, encode_sync_request(cookie))


@dataclass(frozen=True)
class SyncState:
    state: int
    uuid: bytes
    cookie: bytes | None


@dataclass(frozen=True)
class SyncInfo:
    """One Sync Info message: ``kind`` is newcookie, refreshDelete, refreshPresent or
    syncIdSet."""

    kind: str
    cookie: bytes | None = None
    refresh_done: bool = True
    refresh_deletes: bool = False
    uuids: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class SyncDone:
    cookie: bytes | None
    refresh_deletes: bool


def _opt(value: Any, name: str) -> bytes | None:
    component = value.getComponentByName(name)
    return bytes(component) if component.isValue else None


def decode_sync_state(data: bytes) -> SyncState:
    """The Sync State control of one entry: every entry of a refresh carries one, and
    pyasn1 costs ~30 µs+ to decode it, so the plain DER shape slapd sends is read by hand
    (:func:`_fast_sync_state`); anything else goes through pyasn1."""
    try:
        return _fast_sync_state(data)
    except (IndexError, ValueError):
        pass
    value, _ = decoder.decode(data, asn1Spec=SyncStateValue())
    return SyncState(int(value["state"]), bytes(value["entryUUID"]), _opt(value, "cookie"))


def _tlv(data: bytes, at: int, tag: int) -> tuple[int, int]:
    """``(start, end)`` of the contents of the TLV at ``at``, which must have ``tag``."""
    if data[at] != tag:
        raise ValueError("unexpected tag")
    first = data[at + 1]
    if first < 0x80:
        start, length = at + 2, first
    else:
        n = first & 0x7F
        if not 0 < n <= 4:
            raise ValueError("unsupported length")
        start, length = at + 2 + n, int.from_bytes(data[at + 2 : at + 2 + n], "big")
    end = start + length
    if end > len(data):
        raise ValueError("truncated")
    return start, end


def _fast_sync_state(data: bytes) -> SyncState:
    start, end = _tlv(data, 0, 0x30)  # SEQUENCE
    if end != len(data):
        raise ValueError("trailing bytes")
    s, e = _tlv(data, start, 0x0A)  # ENUMERATED state
    if not 0 < e - s <= 2:
        raise ValueError("bad state")
    state = int.from_bytes(data[s:e], "big")
    s, e = _tlv(data, e, 0x04)  # OCTET STRING entryUUID
    uuid = bytes(data[s:e])
    cookie: bytes | None = None
    if e < end:
        s, e = _tlv(data, e, 0x04)  # OCTET STRING cookie
        cookie = bytes(data[s:e])
    if e != end or state not in STATE_NAMES:
        raise ValueError("unexpected contents")
    return SyncState(state, uuid, cookie)


def decode_sync_done(data: bytes) -> SyncDone:
    if not data:
        return SyncDone(None, False)
    value, _ = decoder.decode(data, asn1Spec=SyncDoneValue())
    return SyncDone(_opt(value, "cookie"), bool(value["refreshDeletes"]))


def decode_sync_info(data: bytes) -> SyncInfo:
    value, _ = decoder.decode(data, asn1Spec=SyncInfoValue())
    kind = value.getName()
    inner = value.getComponent()
    if kind == "newcookie":
        return SyncInfo(kind, bytes(inner))
    if kind in ("refreshDelete", "refreshPresent"):
        return SyncInfo(kind, _opt(inner, "cookie"), refresh_done=bool(inner["refreshDone"]))
    return SyncInfo(
        kind,
        _opt(inner, "cookie"),
        refresh_deletes=bool(inner["refreshDeletes"]),
        uuids=tuple(bytes(u) for u in inner["syncUUIDs"]),
    )


def cookie_csns(cookie: bytes | None) -> list[str]:
    """The CSNs of an OpenLDAP cookie (``rid=000,csn=...;...``): what wait_synced compares."""
    if not cookie:
        return []
    text = cookie.decode("ascii", "replace")
    for part in text.split(","):
        if part.startswith("csn="):
            return [c for c in part[4:].split(";") if c]
    return []


# The consumer ---------------------------------------------------------------------------
@dataclass
class StreamStats:
    entries: int = 0  # entries delivered (add/modify/present) since the stream started
    deletes: int = 0
    refresh_seconds: float = 0.0
    #: During the refresh: entries sent with their attributes (add/modify), entries only
    #: named as present, and entries removed.  A refresh from a saved cookie sends only
    #: what changed; a full one sends every entry.
    refresh_entries: int = 0
    refresh_presents: int = 0
    refresh_deletes: int = 0


@dataclass
class _Phase:
    seen: set[bytes] = field(default_factory=set)


class SyncConsumer:
    """One refreshAndPersist search keeping ``replica`` equal to the server's view of a
    family, for the backend's bind identity.

    ``on_change`` is called (on the receiver thread, outside any lock) after every change
    applied, so waiters can re-check.  ``on_record`` is called likewise with each change
    of a mapped record once the refresh is over (the persist phase: what a notifier
    pushes), never for the refresh itself.  The consumer never raises from the callback:
    any failure sets :attr:`error` and :attr:`broken`.
    """

    def __init__(
        self,
        settings: LdapBackendSettings,
        password: str | None,
        fmap: FamilyMap,
        replica: FamilyReplica,
        *,
        cookie: bytes | None = None,
        on_change: Callable[[], None] | None = None,
        on_record: RecordListener | None = None,
        report_refresh: bool = False,
    ) -> None:
        self.settings = settings
        self.fmap = fmap
        self.replica = replica
        self.cookie = cookie
        self.on_change = on_change
        self.on_record = on_record
        #: Report the refresh's changes too: a refresh resumed from a cookie over the
        #: replica the earlier stream left names only what changed meanwhile, and the
        #: replica still holds each entry's "before".
        self.report_refresh = report_refresh
        self.lock = threading.Lock()
        self.refreshed = threading.Event()
        self.broken = False
        #: The callback failed mid-change: the replica may not match the cookie.
        self.crashed = False
        self.error: str | None = None
        #: The cookie the search was sent with (None: a full refresh).
        self.sent_cookie = cookie
        #: The result of a searchResDone (e.g. 4096, size limit), if the search ended.
        self.done_code: int | None = None
        self.stats = StreamStats()
        #: entryCSN per entryUUID, for read-your-writes and wait_synced.
        self.csn: dict[bytes, str] = {}
        self._password = password
        self._phase = _Phase()
        self._conn: ldap3.Connection | None = None
        #: The server the stream runs on (once started).
        self.url: str | None = None

    # Running ------------------------------------------------------------------------------
    def start(self) -> None:
        """Open, bind and send the search; raises on a failed connect or bind."""
        last: Exception | None = None
        for url in self.settings.urls:
            server = make_server(self.settings, url)
            conn = ldap3.Connection(
                server,
                client_strategy=ldap3.ASYNC_STREAM,
                auto_bind=ldap3.AUTO_BIND_NONE,
                raise_exceptions=False,
                auto_referrals=False,
                check_names=False,
                return_empty_attributes=False,
                **bind_args(self.settings, self._password),
            )
            # Every message of this dedicated connection comes to us, in receive order.
            conn.strategy.accumulate_stream = self._on_message
            _lean_entries(conn.strategy)
            try:
                conn.open(read_server_info=False)
                start_tls_if_needed(conn, self.settings, url)
                if not conn.bind(read_server_info=False):
                    description = (conn.result or {}).get("description", "refused")
                    raise ConnectionError(f"bind refused ({description})")
            except Exception as exc:  # any failure means: try the next URL
                last = exc
                with contextlib.suppress(Exception):
                    conn.unbind()
                continue
            self._conn = conn
            self.url = url
            # The connect timeout stays on the socket as a receive timeout (slapd.md §16):
            # ldap3's receiver would die after that long without a change, and the stream
            # restart every few seconds on a quiet directory.  The watchdog's probe is what
            # detects a silent provider.
            sock = getattr(conn, "socket", None)
            if sock is not None:
                sock.settimeout(None)
            conn.search(
                self.fmap.base_dn,
                self.fmap.filter,
                search_scope=ldap3.SUBTREE,
                dereference_aliases=ldap3.DEREF_NEVER,
                attributes=["*", "entryUUID", "entryCSN"],
                controls=[sync_request_control(self.cookie)],
            )
            return
        raise ConnectionError(f"syncrepl stream could not start: {last}")

    def alive(self) -> bool:
        """The receiver thread runs and the socket is open (no server round trip)."""
        conn = self._conn
        if conn is None or self.broken or conn.closed:
            return False
        receiver = getattr(conn.strategy, "receiver", None)
        if receiver is None or not receiver.is_alive():
            return False
        sock = getattr(conn, "socket", None)
        # A socket closed under a blocked recv() does not wake the receiver: look at it.
        return sock is not None and sock.fileno() != -1

    def close(self) -> None:
        """Unbind; ldap3 shuts the socket down, which wakes the receiver's recv()."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.unbind()

    def socket_for_tests(self) -> Any:
        """The stream's socket (tests kill it to simulate a dead receiver)."""
        return getattr(self._conn, "socket", None)

    # The callback -------------------------------------------------------------------------
    def _on_message(self, message_id: int, message: dict[str, Any]) -> None:
        """ldap3's receiver calls this for every message: it must never raise."""
        try:
            kind = message.get("type")
            if kind not in _STREAM_TYPES:
                return  # the bind's response: ldap3's bind() collects it
            strategy = self._conn.strategy if self._conn is not None else None
            if strategy is not None:
                with strategy.async_lock:  # nobody collects the search's messages: drop them
                    strategy._responses.pop(message_id, None)
            if kind == "searchResEntry":
                self._entry(message)
            elif kind == "intermediateResponse":
                if message.get("responseName") == SYNC_INFO_OID:
                    self._info(decode_sync_info(message.get("responseValue") or b""))
            elif kind == "searchResDone":
                self._done(message)
            if self.on_change is not None:
                self.on_change()
        except BaseException as exc:  # must not kill ldap3's receiver
            self.error = f"{type(exc).__name__}: {str(exc)[:200]}"
            self.crashed = True
            self.broken = True
            log.warning("cache %s: stream failed: %s", self.fmap.name, self.error)
            with contextlib.suppress(BaseException):
                if self.on_change is not None:
                    self.on_change()

    def _entry(self, message: Mapping[str, Any]) -> None:
        control = (message.get("controls") or {}).get(SYNC_STATE_OID)
        if control is None:
            return
        state = decode_sync_state(control.get("value") or b"")
        raw: dict[str, Sequence[bytes]] = message.get("raw_attributes") or {}
        refreshing = not self.refreshed.is_set()
        watch = self.on_record is not None and (not refreshing or self.report_refresh)
        change: RecordChange | None = None
        with self.lock:
            before = self.replica.entry_of(state.uuid) if watch else None
            if state.state == DELETE:
                if before is not None:
                    change = ("delete", before[1], None)
                self.replica.delete(state.uuid)
                self.csn.pop(state.uuid, None)
                self.stats.deletes += 1
                if refreshing:
                    self.stats.refresh_deletes += 1
            else:
                if refreshing:
                    self._phase.seen.add(state.uuid)
                    if state.state == PRESENT:
                        self.stats.refresh_presents += 1
                    else:
                        self.stats.refresh_entries += 1
                if state.state != PRESENT:
                    self.replica.upsert(state.uuid, str(message.get("dn") or ""), raw)
                    after = self.replica.entry_of(state.uuid) if watch else None
                    if after is not None:
                        change = _change(before, after)
                    csn = _first(raw, "entryCSN")
                    if csn is not None:
                        self.csn[state.uuid] = csn
                self.stats.entries += 1
            if state.cookie:
                self.cookie = state.cookie
        if change is not None:
            self._deliver([change])

    def _deliver(self, changes: Sequence[RecordChange]) -> None:
        """Hand changes to ``on_record``; its failure is logged, never the stream's."""
        listener = self.on_record
        if listener is None:
            return
        for kind, before, after in changes:
            try:
                listener(kind, before, after)
            except Exception as exc:  # a listener must not break the stream
                log.warning("cache %s: change listener failed: %s", self.fmap.name, exc)

    def _info(self, info: SyncInfo) -> None:
        gone: list[RecordChange] = []
        watch = self.on_record is not None and (self.refreshed.is_set() or self.report_refresh)
        with self.lock:
            if info.kind == "syncIdSet":
                if info.refresh_deletes:
                    for uuid in info.uuids:
                        before = self.replica.entry_of(uuid) if watch else None
                        if before is not None:
                            gone.append(("delete", before[1], None))
                        self.replica.delete(uuid)
                        self.csn.pop(uuid, None)
                        self.stats.deletes += 1
                    if not self.refreshed.is_set():
                        self.stats.refresh_deletes += len(info.uuids)
                else:
                    self._phase.seen.update(info.uuids)
                    if not self.refreshed.is_set():
                        self.stats.refresh_presents += len(info.uuids)
            elif info.kind == "refreshPresent":
                # Entries not named during a present phase are gone (RFC 4533 §3.3.1).
                if watch:
                    for uuid in self.replica.uuids() - self._phase.seen:
                        before = self.replica.entry_of(uuid)
                        if before is not None:
                            gone.append(("delete", before[1], None))
                dropped = self.replica.retain(self._phase.seen)
                for uuid in [u for u in self.csn if u not in self._phase.seen]:
                    del self.csn[uuid]
                self.stats.deletes += dropped
                if not self.refreshed.is_set():
                    self.stats.refresh_deletes += dropped
                self._phase = _Phase()
            elif info.kind == "refreshDelete":
                self._phase = _Phase()
            if info.cookie:
                self.cookie = info.cookie
        if info.kind in ("refreshPresent", "refreshDelete") and info.refresh_done:
            self.refreshed.set()
        if gone:
            self._deliver(gone)

    def _done(self, message: Mapping[str, Any]) -> None:
        code = int(message.get("result", 0))
        control = (message.get("controls") or {}).get(SYNC_DONE_OID)
        if control is not None:
            done = decode_sync_done(control.get("value") or b"")
            if done.cookie:
                self.cookie = done.cookie
        self.done_code = code
        self.broken = True
        self.error = (
            f"the directory ended the stream: {message.get('description', code)} "
            f"(LDAP result {code}) {str(message.get('message') or '')[:200]}"
        ).strip()


def _change(before: tuple[str, Record] | None, after: tuple[str, Record]) -> RecordChange | None:
    """The change from ``before`` to ``after`` (None when the mapped record and the DN
    are unchanged: only unmapped attributes changed, nothing Asterisk could see)."""
    if before is None:
        return ("add", None, after[1])
    renamed = before[0].lower() != after[0].lower()
    if not renamed and before[1] == after[1]:
        return None
    return ("rename" if renamed else "modify", before[1], after[1])


def _lean_entries(strategy: Any) -> None:
    """Decode the stream's entries to what the consumer reads (dn, raw attributes,
    controls) instead of ldap3's full decode, which also builds a formatted, case-insensitive
    copy of every attribute (about 280 ``get_config_parameter`` calls per entry: most of
    the receiver's CPU in a refresh).  Anything unexpected goes to ldap3's own decoder:
    this runs on ldap3's receiver thread, where an exception would kill the stream."""
    base = strategy.decode_response_fast
    decode_control = strategy.decode_control_fast

    def decode(ldap_message: dict[str, Any]) -> dict[str, Any]:
        if ldap_message.get("protocolOp") != 4:  # not a searchResEntry
            return dict(base(ldap_message))
        try:
            payload = ldap_message["payload"]
            raw_dn = payload[0][3]
            raw = {
                bytes(a[3][0][3]).decode("utf-8", "replace"): [bytes(v[3]) for v in a[3][1][3]]
                for a in payload[1][3]
            }
            result: dict[str, Any] = {
                "type": "searchResEntry",
                "raw_dn": raw_dn,
                "dn": bytes(raw_dn).decode("utf-8", "replace"),
                "raw_attributes": raw,
            }
            controls = ldap_message.get("controls")
            if controls:
                result["controls"] = dict(decode_control(c[3]) for c in controls)
            return result
        except Exception:  # an unexpected shape: ldap3's decoder
            return dict(base(ldap_message))

    strategy.decode_response_fast = decode


def _first(raw: Mapping[str, Sequence[bytes]], name: str) -> str | None:
    lname = name.lower()
    for key, values in raw.items():
        if key.lower() == lname and values:
            return values[0].decode("ascii", "replace")
    return None
