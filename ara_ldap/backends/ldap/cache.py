"""The change-driven cache: one syncrepl stream and one in-memory replica per family.

The contract (docs/cache.md): a family answers from memory only while its stream is live
AND a probe of the server succeeded within the last few probe intervals; otherwise
:meth:`DirectoryCache.search` returns ``None`` and the backend reads the directory, so an
outdated snapshot is never served.  Writes made through this process mark the family
uncached while in flight and then wait (up to ``write_wait``) until the change has come
back through the stream; if it does not, the family stays uncached until it has.

State of a family: ``starting`` → ``refreshing`` → ``live``; any failure → ``broken`` (the
watchdog reconnects with backoff, resuming from the cookie) ; ``off`` when the directory
cannot serve the stream at all (no syncprov, size/time limits).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ldap3

from ara_ldap.backends.ldap.cache_state import (
    SavedEntry,
    StateUnusable,
    drop_state,
    load_state,
    save_state,
    state_key,
    state_path,
)
from ara_ldap.backends.ldap.connection import ConnectionPool, bind_args, make_server
from ara_ldap.backends.ldap.mapping import FamilyMap
from ara_ldap.backends.ldap.replica import FamilyReplica
from ara_ldap.backends.ldap.syncrepl import (
    ADMIN_LIMIT_EXCEEDED,
    SIZE_LIMIT_EXCEEDED,
    SYNC_REFRESH_REQUIRED,
    SYNC_REQUEST_OID,
    TIME_LIMIT_EXCEEDED,
    SyncConsumer,
)
from ara_ldap.config import LdapBackendSettings
from ara_ldap.criteria import Criterion
from ara_ldap.record import Record

log = logging.getLogger("ara_ldap.ldap.cache")

#: ``listener(family, kind, before, after)``: see :meth:`DirectoryCache.add_listener`.
ChangeListener = Callable[[str, str, Record | None, Record | None], None]

STARTING, REFRESHING, LIVE, BROKEN, OFF = "starting", "refreshing", "live", "broken", "off"
NO_SUCH_OBJECT = 32
UNWILLING_TO_PERFORM = 53  # slapd 2.5 refusing a cookie "newer than provider"
_LIMIT_CODES = (SIZE_LIMIT_EXCEEDED, TIME_LIMIT_EXCEEDED, ADMIN_LIMIT_EXCEEDED)
#: A probe older than this many intervals leaves liveness unknown: reads go uncached.
_VOUCH_INTERVALS = 3.0
_MAX_BACKOFF = 5.0
#: Fields indexed as soon as a refresh completes (the query shapes Asterisk sends by
#: value), so the first lookup on the event loop does not pay for building the index;
#: ``_ORDERED`` also get the sorted list (LIKE 'prefix%', ranges).
_EAGER = ("name", "id", "context", "exten", "mailbox", "uniqueid", "endpoint", "aor")
_ORDERED = ("name", "id", "exten")


@dataclass
class _Target:
    """A change this process wrote, not yet seen on the stream."""

    dn: str
    uuid: bytes | None = None  # None: a delete (wait until the dn is gone)
    csn: str = ""
    since: float = field(default_factory=time.monotonic)


class _Family:
    def __init__(self, fmap: FamilyMap) -> None:
        self.fmap = fmap
        self.replica = FamilyReplica(fmap)
        self.state = STARTING
        self.consumer: SyncConsumer | None = None
        self.cookie: bytes | None = None
        self.changed = threading.Condition()
        self.inflight = 0
        self.pending: list[_Target] = []
        self.retry_at = 0.0
        self.backoff = 0.1
        self.refresh_started = 0.0
        self.csn: dict[bytes, str] = {}
        # Saved state (state_dir): file, key, and what the save cadence looks at.
        self.state_file: Path | None = None
        self.state_key = ""
        #: The replica matches the cookie (live, or stopped after being live).
        self.saveable = False
        self.changes = 0  # messages since the last save
        self.saved_at = time.monotonic()
        #: Went live in this process: a later refresh from the cookie reports its changes.
        self.was_live = False
        self.stats: dict[str, float] = {
            "loaded": 0,
            "full_refreshes": 0,
            "refreshes": 0,
            "saves": 0,
            "save_bytes": 0,
            "save_seconds": 0.0,
        }

    def satisfied(self, target: _Target) -> bool:
        consumer = self.consumer
        if consumer is None:
            return False
        if target.uuid is None:
            return not self.replica.has_dn(target.dn)
        have = consumer.csn.get(target.uuid)
        return (
            have is not None and have >= target.csn and self.replica.dn_of(target.uuid) is not None
        )

    def notify(self) -> None:
        self.changes += 1
        with self.changed:
            if self.pending:
                self.pending = [t for t in self.pending if not self.satisfied(t)]
            self.changed.notify_all()


class WriteNote:
    """What a writer tells the cache about its change (see :meth:`DirectoryCache.writing`)."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.deleted: list[str] = []

    def wrote(self, dn: str) -> None:
        self.written.append(dn)

    def removed(self, dn: str) -> None:
        self.deleted.append(dn)


class DirectoryCache:
    """The backend's :class:`ReadCache`: started in the background, answers once live."""

    def __init__(
        self,
        name: str,
        settings: LdapBackendSettings,
        password: str | None,
        maps: Mapping[str, FamilyMap],
        pool: ConnectionPool,
    ) -> None:
        self.name = name
        self.settings = settings
        self._password = password
        self._pool = pool
        wanted = settings.cache.families
        chosen = [
            m
            for m in maps.values()
            if wanted is None or m.name.lower() in {w.lower() for w in wanted}
        ]
        self._families = {m.name.lower(): _Family(m) for m in chosen}
        state_dir = settings.cache.state_dir
        if state_dir is not None:
            for fam in self._families.values():
                fam.state_key = state_key(settings, fam.fmap)
                fam.state_file = state_path(Path(state_dir), name, fam.fmap, fam.state_key)
        self._loaded = False
        self._listeners: list[ChangeListener] = []
        self._save_lock = threading.Lock()
        self.enabled: bool | None = None  # None until the directory was asked
        self._probe_ok_at = 0.0
        self._probe_conn: ldap3.Connection | None = None
        #: The server the probe vouches for; streams on another server are restarted.
        self._probe_url: str | None = None
        #: Failback: while the probe is not on ``urls[0]``, an earlier server is tried in
        #: the background every ``retry_interval`` (at least 1 s); one that answered waits
        #: here until the watchdog moves the probe, and so the streams, back to it.
        self._failback_at = 0.0
        self._failback: threading.Thread | None = None
        self._preferred: tuple[ldap3.Connection, str] | None = None
        self._preferred_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._watchdog, name=f"ara-ldap-cache-{name}", daemon=True
        )
        self._thread.start()
        self._saver: threading.Thread | None = None
        if state_dir is not None:
            self._saver = threading.Thread(
                target=self._save_loop, name=f"ara-ldap-cache-save-{name}", daemon=True
            )
            self._saver.start()

    # Reading ------------------------------------------------------------------------------
    def search(self, fmap: FamilyMap, criteria: Sequence[Criterion]) -> list[Record] | None:
        fam = self._families.get(fmap.name.lower())
        if fam is None or not self._usable(fam):
            return None
        return fam.replica.search(criteria)

    def _usable(self, fam: _Family) -> bool:
        if fam.state != LIVE or fam.inflight or fam.pending:
            return False
        consumer = fam.consumer
        if consumer is None or not consumer.alive():
            return False
        window = self.settings.cache.probe_interval * _VOUCH_INTERVALS
        return time.monotonic() - self._probe_ok_at <= window

    def state(self, family: str) -> str:
        fam = self._families.get(family.lower())
        return fam.state if fam is not None else OFF

    def live(self, family: str) -> bool:
        """Whether reads of ``family`` are answered from memory right now."""
        fam = self._families.get(family.lower())
        return fam is not None and self._usable(fam)

    # Memory -------------------------------------------------------------------------------
    def memory(self) -> dict[str, tuple[int, int]]:
        """``{family: (entries, bytes)}`` of every cached family."""
        return {
            f.fmap.name: (len(f.replica), f.replica.memory_bytes()) for f in self._families.values()
        }

    def memory_bytes(self) -> int:
        return sum(b for _, b in self.memory().values())

    def bytes_per_entry(self) -> float:
        entries = sum(n for n, _ in self.memory().values())
        return self.memory_bytes() / entries if entries else 0.0

    # Change listeners ---------------------------------------------------------------------
    def add_listener(self, listener: ChangeListener) -> None:
        """Call ``listener(family, kind, before, after)`` after each change the stream
        applies once a family is refreshed (kind: add, modify, rename, delete; records as
        mapped).  It runs on the stream's receiver thread, so it must be quick (hand the
        change to a queue); it is never called on the lookup path nor for a refresh, and
        its exceptions are logged, never raised into the stream."""
        self._listeners.append(listener)

    def _emit(self, family: str, kind: str, before: Record | None, after: Record | None) -> None:
        for listener in list(self._listeners):
            try:
                listener(family, kind, before, after)
            except Exception as exc:  # never into ldap3's receiver
                log.warning("cache %s/%s: change listener failed: %s", self.name, family, exc)

    def _emitter(self, family: str) -> Callable[[str, Record | None, Record | None], None]:
        def emit(kind: str, before: Record | None, after: Record | None) -> None:
            self._emit(family, kind, before, after)

        return emit

    # Writing ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def writing(self, fmap: FamilyMap) -> Iterator[WriteNote]:
        """Around a write of ``fmap``: uncached while in flight, then read-your-writes."""
        fam = self._families.get(fmap.name.lower())
        note = WriteNote()
        if fam is None:
            yield note
            return
        with fam.changed:
            fam.inflight += 1
        try:
            yield note
        finally:
            try:
                targets = [_Target(dn) for dn in note.deleted]
                targets += [t for t in (self._target(dn) for dn in note.written) if t]
                with fam.changed:
                    fam.pending.extend(t for t in targets if not fam.satisfied(t))
            finally:
                with fam.changed:
                    fam.inflight -= 1
            self._wait(fam, self.settings.cache.write_wait)

    def _target(self, dn: str) -> _Target | None:
        """The entryUUID and entryCSN the directory gave the written entry."""

        def op(conn: ldap3.Connection) -> _Target | None:
            conn.search(
                dn,
                "(objectClass=*)",
                search_scope=ldap3.BASE,
                attributes=["entryUUID", "entryCSN"],
                dereference_aliases=ldap3.DEREF_NEVER,
            )
            for item in conn.response or []:
                raw = item.get("raw_attributes") or {}
                uuid = _uuid_bytes(raw.get("entryUUID"))
                csn = (raw.get("entryCSN") or [b""])[0].decode("ascii", "replace")
                if uuid:
                    return _Target(dn, uuid, csn)
            return None

        try:
            return self._pool.run(op, write=False)
        except Exception:  # unknown outcome: the stream will tell, or resync
            return _Target(dn, b"?", "~")  # never satisfied: uncached until the next refresh

    def _wait(self, fam: _Family, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with fam.changed:
            while fam.pending:
                fam.pending = [t for t in fam.pending if not fam.satisfied(t)]
                remaining = deadline - time.monotonic()
                if not fam.pending or remaining <= 0:
                    break
                fam.changed.wait(min(remaining, 0.05))
            return not fam.pending

    def wait_synced(self, timeout: float = 5.0) -> bool:
        """Barrier for tests and CI: True once every cached family is live and holds
        exactly the (entryUUID, entryCSN) pairs the directory has now, or is off (a family
        may turn off while this waits, e.g. when its stream finds no base entry)."""
        deadline = time.monotonic() + timeout
        for fam in self._families.values():
            want = self._directory_csns(fam.fmap) if fam.state != OFF else None
            while fam.state != OFF:
                consumer = fam.consumer
                if (
                    want is not None
                    and consumer is not None
                    and self._usable(fam)
                    and _same_csns(consumer, want)
                ):
                    break
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.005)
                if want is None:
                    want = self._directory_csns(fam.fmap)
        return True

    def _directory_csns(self, fmap: FamilyMap) -> dict[bytes, str] | None:
        def op(conn: ldap3.Connection) -> dict[bytes, str]:
            conn.search(
                fmap.base_dn,
                fmap.filter,
                search_scope=ldap3.SUBTREE,
                attributes=["entryUUID", "entryCSN"],
                dereference_aliases=ldap3.DEREF_NEVER,
            )
            out: dict[bytes, str] = {}
            for item in conn.response or []:
                raw = item.get("raw_attributes") or {}
                uuid = _uuid_bytes(raw.get("entryUUID"))
                if uuid:
                    out[uuid] = (raw.get("entryCSN") or [b""])[0].decode("ascii", "replace")
            return out

        try:
            return self._pool.run(op, write=False)
        except Exception:  # the barrier just waits longer
            return None

    # The watchdog -------------------------------------------------------------------------
    def _watchdog(self) -> None:
        """Probe, (re)start streams, promote refreshed ones; never dies."""
        interval = self.settings.cache.probe_interval
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception as exc:  # the watchdog must keep running
                log.warning("cache %s: watchdog error: %s", self.name, exc)
            self._stop.wait(interval)

    def _tick(self) -> None:
        if not self._loaded:
            self._loaded = True
            for fam in self._families.values():
                self._load(fam)
        if self.enabled is None:
            self.enabled = self._check_enabled()
            if self.enabled is None:
                return  # not reachable yet: ask again at the next tick
            if not self.enabled:
                for fam in self._families.values():
                    fam.state = OFF
                return
        if not self.enabled:
            return
        ok = self._probe()
        now = time.monotonic()
        if ok:
            self._probe_ok_at = now
        for fam in self._families.values():
            self._step(fam, ok, now)

    def _step(self, fam: _Family, probe_ok: bool, now: float) -> None:
        consumer = fam.consumer
        if fam.state == OFF:
            return
        if consumer is not None and (not probe_ok or not consumer.alive()):
            self._break(fam, consumer, probe_ok)
            return
        if consumer is not None and consumer.url not in (None, self._probe_url):
            # Probe and stream on different servers (after a failover): the probe would
            # vouch for a server this stream does not follow.  Restart it on the probed one.
            log.info(
                "cache %s/%s: stream on %s, probe on %s; restarting the stream",
                self.name,
                fam.fmap.name,
                consumer.url,
                self._probe_url,
            )
            self._break(fam, consumer, probe_ok)
            fam.retry_at = now
            return
        if fam.state == REFRESHING and consumer is not None and consumer.refreshed.is_set():
            self._index_common(fam)
            with fam.changed:
                fam.pending = [t for t in fam.pending if t.since > fam.refresh_started]
                fam.state = LIVE
            fam.saveable = True
            fam.was_live = True
            fam.backoff = 0.1
            entries, size = len(fam.replica), fam.replica.memory_bytes()
            st = consumer.stats
            log.info(
                "cache %s/%s live: %d entries, %d bytes (%.0f bytes per entry), refresh %.3f s "
                "(%s: %d entries sent, %d present, %d deleted)",
                self.name,
                fam.fmap.name,
                entries,
                size,
                size / entries if entries else 0.0,
                time.monotonic() - fam.refresh_started,
                "from the saved cookie" if consumer.sent_cookie else "full",
                st.refresh_entries,
                st.refresh_presents,
                st.refresh_deletes,
            )
        stuck = fam.pending and now - min(t.since for t in fam.pending) > max(
            2.0, 4 * self.settings.cache.write_wait
        )
        if fam.state == LIVE and consumer is not None and stuck:
            log.warning(
                "cache %s/%s: own write not seen on the stream; resyncing", self.name, fam.fmap.name
            )
            self._break(fam, consumer, probe_ok)
            return
        if fam.state in (STARTING, BROKEN) and probe_ok and now >= fam.retry_at:
            self._start(fam, now)

    def _break(self, fam: _Family, consumer: SyncConsumer, probe_ok: bool) -> None:
        fam.state = BROKEN
        fam.consumer = None
        consumer.close()
        if consumer.crashed:
            fam.saveable = False  # a change may be half applied: never save this replica
        code = consumer.done_code
        if code in _LIMIT_CODES:
            fam.state = OFF
            who = self.settings.bind_dn or "the anonymous identity"
            log.error(
                "cache %s/%s off: the directory cut the refresh short (%s); give the cache's "
                'identity unlimited search limits, e.g. in slapd.conf: limits dn.exact="%s" '
                "size=unlimited time=unlimited (cn=config: olcLimits on the database); reads "
                "go to the directory",
                self.name,
                fam.fmap.name,
                consumer.error,
                who,
            )
            return
        if code == NO_SUCH_OBJECT:
            fam.state = OFF
            log.warning(
                "cache %s/%s off: its base %r does not exist; reads go to the directory",
                self.name,
                fam.fmap.name,
                fam.fmap.base_dn,
            )
            return
        refused = code == UNWILLING_TO_PERFORM and consumer.sent_cookie is not None
        if code == SYNC_REFRESH_REQUIRED or refused:
            # e-syncRefreshRequired, or slapd refusing the cookie ("consumer state is newer
            # than provider": a saved state from before the directory was reloaded): drop
            # the cookie and the saved state, and do a full refresh.
            fam.cookie = None
            fam.saveable = False
            if fam.state_file is not None:
                drop_state(fam.state_file)
            log.warning(
                "cache %s/%s: the directory refused the sync cookie (%s); saved state "
                "dropped, full refresh",
                self.name,
                fam.fmap.name,
                consumer.error,
            )
            fam.retry_at = time.monotonic()
            return
        fam.cookie = consumer.cookie
        fam.retry_at = time.monotonic() + fam.backoff
        fam.backoff = min(fam.backoff * 2, _MAX_BACKOFF)
        reason = consumer.error or ("probe failed" if not probe_ok else "stream closed")
        log.warning("cache %s/%s uncached: %s", self.name, fam.fmap.name, reason)

    def _start(self, fam: _Family, now: float) -> None:
        fam.saveable = False  # until this refresh completes
        fam.stats["refreshes"] += 1
        if fam.cookie is None:
            fam.stats["full_refreshes"] += 1
            fam.replica.clear()
        consumer = SyncConsumer(
            self.settings,
            self._password,
            fam.fmap,
            fam.replica,
            cookie=fam.cookie,
            on_change=fam.notify,
            on_record=self._emitter(fam.fmap.name),
            report_refresh=fam.cookie is not None and fam.was_live,
        )
        if fam.cookie is None:
            fam.csn = {}
        consumer.csn = fam.csn  # resumed from the cookie: the entries' CSNs still hold
        fam.refresh_started = now
        fam.state = REFRESHING
        fam.consumer = consumer
        try:
            consumer.start()
        except Exception as exc:  # retried with backoff
            fam.consumer = None
            fam.state = BROKEN
            fam.retry_at = time.monotonic() + fam.backoff
            fam.backoff = min(fam.backoff * 2, _MAX_BACKOFF)
            log.warning("cache %s/%s: %s", self.name, fam.fmap.name, exc)

    # Probing ------------------------------------------------------------------------------
    def _probe_connection(self) -> ldap3.Connection:
        """A connection to the first read server (``urls``) that answers, kept while it
        works: the streams start on the first that answers too, so both follow the same
        server (with ``urls[0]`` down, a probe of ``urls[0]`` only kept the cache off).
        Once an earlier server answers again, the probe moves back to it (failback)."""
        conn = self._probe_conn
        if conn is not None and not conn.closed:
            return self._maybe_fail_back(conn)
        last: Exception | None = None
        for url in self.settings.urls:
            try:
                conn = self._open_probe(url)
            except Exception as exc:  # the next URL
                last = exc
                continue
            self._probe_conn, self._probe_url = conn, url
            return conn
        raise ConnectionError(f"no read server answered the probe: {last}")

    def _open_probe(self, url: str) -> ldap3.Connection:
        conn = ldap3.Connection(
            make_server(self.settings, url),
            raise_exceptions=False,
            auto_referrals=False,
            receive_timeout=1,
            **bind_args(self.settings, self._password),
        )
        try:
            conn.open(read_server_info=False)
            if not conn.bind(read_server_info=False):
                raise ConnectionError("probe bind refused")
        except Exception:
            with contextlib.suppress(Exception):
                conn.unbind()
            raise
        return conn

    def _maybe_fail_back(self, conn: ldap3.Connection) -> ldap3.Connection:
        """``conn``, or a connection to an earlier server that answered in the background;
        the connect is never made on the watchdog thread (a dead host could hold it for
        ``connect_timeout`` and the cache would stop answering meanwhile)."""
        urls = self.settings.urls
        if self._probe_url is None or self._probe_url == urls[0]:
            return conn
        found = self._take_preferred()
        if found is not None:
            new, url = found
            log.info("cache %s: %s answers again; streams move back to it", self.name, url)
            self._drop_probe()
            self._probe_conn, self._probe_url = new, url
            return new
        now = time.monotonic()
        running = self._failback is not None and self._failback.is_alive()
        if not running and now >= self._failback_at:
            self._failback_at = now + max(1.0, self.settings.retry_interval)
            earlier = urls[: urls.index(self._probe_url)] if self._probe_url in urls else []
            self._failback = threading.Thread(
                target=self._try_earlier,
                args=(earlier,),
                name=f"ara-ldap-cache-{self.name}-failback",
                daemon=True,
            )
            self._failback.start()
        return conn

    def _try_earlier(self, urls: Sequence[str]) -> None:
        for url in urls:
            if self._stop.is_set():
                return
            try:
                conn = self._open_probe(url)
            except Exception:  # still down: tried again after the interval
                continue
            if self._stop.is_set():
                with contextlib.suppress(Exception):
                    conn.unbind()
                return
            with self._preferred_lock:
                self._preferred = (conn, url)
            return

    def _take_preferred(self) -> tuple[ldap3.Connection, str] | None:
        with self._preferred_lock:
            found, self._preferred = self._preferred, None
        return found

    def _probe(self) -> bool:
        """One base search of the rootDSE on a separate connection, short timeout: a
        frozen provider (SIGSTOP: TCP still connects) fails it."""
        try:
            conn = self._probe_connection()
            sock = getattr(conn, "socket", None)
            if sock is not None:
                sock.settimeout(min(1.0, max(0.2, 2 * self.settings.cache.probe_interval)))
            ok = conn.search("", "(objectClass=*)", search_scope=ldap3.BASE, attributes=["1.1"])
            if ok:
                return True
        except Exception:  # any failure: liveness not vouched for
            pass
        self._drop_probe()
        return False

    def _drop_probe(self) -> None:
        conn, self._probe_conn = self._probe_conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.unbind()

    def _check_enabled(self) -> bool | None:
        """Ask the rootDSE whether the directory offers syncrepl."""
        mode = self.settings.cache.enabled
        try:
            conn = self._probe_connection()
            conn.search(
                "", "(objectClass=*)", search_scope=ldap3.BASE, attributes=["supportedControl"]
            )
            controls = {
                v.decode("ascii", "replace")
                for item in conn.response or []
                for v in (item.get("raw_attributes") or {}).get("supportedControl", [])
            }
        except Exception as exc:  # retried at the next tick
            self._drop_probe()
            log.debug("cache %s: directory not reachable yet: %s", self.name, exc)
            return None
        if SYNC_REQUEST_OID in controls:
            return True
        (log.error if mode is True else log.info)(
            "cache %s off: the directory does not offer syncrepl (no %s in the rootDSE's "
            "supportedControl); add the syncprov overlay to the database (docs/cache.md); "
            "reads go to the directory",
            self.name,
            SYNC_REQUEST_OID,
        )
        return False

    def close(self) -> None:
        """Stop the streams; save each family's state (state_dir) if it is consistent."""
        self._stop.set()
        me = threading.current_thread()
        for thread in (self._thread, self._saver):
            if thread is not None and thread.is_alive() and thread is not me:
                thread.join(timeout=5)
        for fam in self._families.values():
            consumer = fam.consumer
            if consumer is not None:
                consumer.close()  # no more changes: the replica matches consumer.cookie
                fam.consumer = None
                if consumer.crashed:
                    fam.saveable = False
                elif consumer.cookie:
                    fam.cookie = consumer.cookie
            if fam.state_file is not None and fam.saveable and fam.cookie:
                try:
                    self._save(fam)
                except Exception as exc:  # a failed save must not fail the close
                    log.warning("cache %s/%s: state not saved: %s", self.name, fam.fmap.name, exc)
            fam.state = OFF
        self._drop_probe()
        if self._failback is not None:
            self._failback.join(timeout=self.settings.connect_timeout + 1)
        found = self._take_preferred()
        if found is not None:
            with contextlib.suppress(Exception):
                found[0].unbind()

    # Saved state (state_dir) --------------------------------------------------------------
    def _load(self, fam: _Family) -> None:
        """Fill the replica from the saved state; it is served only once the refresh from
        its cookie completes (the family stays ``refreshing`` until then)."""
        path = fam.state_file
        if path is None:
            return
        try:
            state = load_state(path, fam.state_key)
        except StateUnusable as exc:
            log.warning(
                "cache %s/%s: saved state %s ignored (%s); full refresh",
                self.name,
                fam.fmap.name,
                path,
                exc,
            )
            return
        if state is None:
            return
        for entry in state.entries:
            fam.replica.upsert_record(entry.uuid, entry.dn, entry.record)
            if entry.csn:
                fam.csn[entry.uuid] = entry.csn
        fam.cookie = state.cookie
        fam.stats["loaded"] = len(state.entries)
        log.info(
            "cache %s/%s: %d entries loaded from %s; refreshing from its cookie",
            self.name,
            fam.fmap.name,
            len(state.entries),
            path,
        )

    def _save_loop(self) -> None:
        """Save live families after ``state_save_changes`` changes (spaced by at least 10×
        the last save's duration), or after ``state_save_interval`` seconds with any change
        (off the watchdog thread: a save of a large family must not delay the probe)."""
        cfg = self.settings.cache
        while not self._stop.wait(min(1.0, cfg.state_save_interval)):
            for fam in self._families.values():
                if fam.state != LIVE or not fam.saveable or not fam.changes:
                    continue
                since = time.monotonic() - fam.saved_at
                due = since >= cfg.state_save_interval
                # Many changes save early, but never more often than every 10 saves'
                # duration (a save rewrites the whole family: at most ~10 % of a core).
                gap = max(1.0, 10 * float(fam.stats["save_seconds"]))
                if due or (fam.changes >= cfg.state_save_changes and since >= gap):
                    try:
                        self._save(fam)
                    except Exception as exc:  # retried at the next due time
                        fam.saved_at = time.monotonic()
                        log.warning(
                            "cache %s/%s: state not saved: %s", self.name, fam.fmap.name, exc
                        )

    def _save(self, fam: _Family) -> None:
        path = fam.state_file
        if path is None:
            return
        with self._save_lock:
            started = time.monotonic()
            consumer = fam.consumer
            # The stream applies each change and its cookie under consumer.lock: holding it
            # while copying gives a replica that matches the cookie.
            guard = consumer.lock if consumer is not None else contextlib.nullcontext()
            with guard:
                cookie = consumer.cookie if consumer is not None else fam.cookie
                if not cookie or not fam.saveable:
                    return
                items = fam.replica.snapshot()
                csn = dict(fam.csn)
                fam.changes = 0
            entries = (SavedEntry(u, dn, csn.get(u, ""), rec) for u, dn, rec in items)
            size = save_state(path, fam.state_key, fam.fmap.name, cookie, entries, len(items))
            fam.saved_at = time.monotonic()
            fam.stats["saves"] += 1
            fam.stats["save_bytes"] = size
            fam.stats["save_seconds"] = fam.saved_at - started
            log.debug(
                "cache %s/%s: %d entries saved to %s (%d bytes, %.3f s)",
                self.name,
                fam.fmap.name,
                len(items),
                path,
                size,
                fam.saved_at - started,
            )

    def save_now(self) -> bool:
        """Save every saveable family's state now (tests, and a controlled shutdown)."""
        saved = False
        for fam in self._families.values():
            if fam.state_file is not None and fam.saveable:
                self._save(fam)
                saved = True
        return saved

    def _index_common(self, fam: _Family) -> None:
        """Build the indexes the usual queries need before the family goes live."""
        known = {f.lower() for f in fam.fmap.fields}
        for name in _EAGER:
            if name in known:
                fam.replica.ensure_index(name, ordered=name in _ORDERED)

    def stats(self, family: str) -> dict[str, float]:
        """Counters of a family: the current stream's refresh (entries sent, present,
        deleted), entries loaded from the saved state, refreshes, saves."""
        fam = self._families.get(family.lower())
        if fam is None:
            return {}
        out = dict(fam.stats)
        consumer = fam.consumer
        if consumer is not None:
            st = consumer.stats
            out.update(
                refresh_entries=st.refresh_entries,
                refresh_presents=st.refresh_presents,
                refresh_deletes=st.refresh_deletes,
                from_cookie=1 if consumer.sent_cookie else 0,
            )
        return out

    # For tests ----------------------------------------------------------------------------
    def replica(self, family: str) -> FamilyReplica | None:
        fam = self._families.get(family.lower())
        return fam.replica if fam is not None else None

    def consumer(self, family: str) -> SyncConsumer | None:
        fam = self._families.get(family.lower())
        return fam.consumer if fam is not None else None


def _uuid_bytes(values: Sequence[bytes] | None) -> bytes | None:
    """entryUUID as the 16 bytes the Sync State control carries."""
    if not values:
        return None
    text = values[0].decode("ascii", "replace").replace("-", "")
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def _same_csns(consumer: SyncConsumer, want: Mapping[bytes, str]) -> bool:
    with consumer.lock:
        have = consumer.csn
        return len(have) == len(want) and all(have.get(u) == c for u, c in want.items())
