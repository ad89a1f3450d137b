"""A small pool of bound ldap3 connections: reuse, timeouts, reconnect, failover.

Measured facts behind it (slapd.md §12, §15, §16): a new ldap3 connection per request is
17x slower, ``get_info=SCHEMA`` reads the schema at every bind, a dead connection stays
dead until reopened, ldap3's RESTARTABLE strategy sleeps 2 s and blindly re-sends writes.
So: connections are opened with ``get_info=NONE``, kept and reused; one is handed to one
thread at a time; before reuse it is checked for a peer close without sending anything
(a restarted slapd closed it), so a write never goes out on a dead socket; a read that
fails on the wire is retried once on a fresh connection, a write is not (its outcome is
unknown, and the caller is told so).  A server that refused a connection, or on which a
read or write timed out (a frozen server still accepts TCP), is *down* for
``retry_interval`` seconds: it leaves rotation at once, so calls fail over in
milliseconds or fail fast.  After the interval it is probed in the background, never on a
call, and once it answers, connections fail back to it (the earliest of ``urls``).
``write_urls`` gives writes their own servers (:class:`ConnectionPool` ``.writes``); a
write is moved to the next write server only when nothing was applied: no connection, or
a read-only replica's referral / "shadow context" refusal.

Time: a call (waiting for a slot, connecting to each URL, the retry) spends one budget of
``timeout`` seconds (:mod:`ara_ldap.deadline`, shortened by the router's): each step's
socket timeout is what is left of it, so a hung server costs ``timeout``, not 2x or more;
a read with another server to go to waits at most half of it on the first.
Sockets carry TCP keepalive, so a peer that vanished without a FIN is noticed on idle
pooled connections too.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import ldap3
from ldap3.core.exceptions import (
    LDAPCommunicationError,
    LDAPException,
    LDAPResponseTimeoutError,
    LDAPStartTLSError,
)

from ara_ldap import deadline
from ara_ldap.backends.ldap.schema import SchemaInfo, from_ldap3
from ara_ldap.backends.ldap.tls import describe_tls_failure, make_tls
from ara_ldap.config import LdapBackendSettings
from ara_ldap.errors import BackendError, BackendUnavailable, WriteIncomplete

log = logging.getLogger("ara_ldap.ldap")
T = TypeVar("T")

#: Failures on the wire: the connection is unusable afterwards.
WIRE_ERRORS: tuple[type[BaseException], ...] = (
    LDAPCommunicationError,
    LDAPResponseTimeoutError,
    socket.timeout,
    OSError,
)


class WriteOutcomeUnknown(WriteIncomplete):
    """The connection broke after a write was sent; it may or may not have been applied."""


#: The shortest time between two background probes of one server (seconds).
PROBE_SPACING = 0.1

#: TCP keepalive on pooled sockets: first probe after 30 s idle, then every 10 s, 3 lost
#: probes = dead (about a minute, instead of the kernel's two hours).
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 30, 10, 3


def set_keepalive(sock: socket.socket) -> None:
    """Turn TCP keepalive on (TCP sockets only; ldapi:// has no peer to probe)."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for name, value in (
            ("TCP_KEEPIDLE", KEEPALIVE_IDLE),
            ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
            ("TCP_KEEPCNT", KEEPALIVE_COUNT),
        ):
            option = getattr(socket, name, None)
            if option is not None:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)


def _arm(conn: ldap3.Connection, timeout: float) -> None:
    """Give the next I/O step at most what is left of the call's budget (ldap3 takes only
    whole seconds and sets them once, at open; the socket takes any float, any time)."""
    sock = getattr(conn, "socket", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(deadline.clamp(timeout))


def _is_alive(conn: ldap3.Connection) -> bool:
    """True unless the peer closed the socket (checked without sending or consuming)."""
    sock = getattr(conn, "socket", None)
    if sock is None or conn.closed:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    # Readable while idle means EOF (peer closed) or an unsolicited notice of disconnection.
    return not readable


def make_server(settings: LdapBackendSettings, url: str) -> ldap3.Server:
    """A fresh ``ldap3.Server`` for ``url`` without schema reads (every connection's)."""
    return ldap3.Server(
        url,
        get_info=ldap3.NONE,
        connect_timeout=settings.connect_timeout,
        tls=make_tls(settings),
    )


def bind_args(settings: LdapBackendSettings, password: str | None) -> dict[str, Any]:
    """``ldap3.Connection`` keyword arguments binding as the backend's identity."""
    if settings.bind_dn:
        return {"user": settings.bind_dn, "password": password, "authentication": ldap3.SIMPLE}
    # SASL EXTERNAL: the identity is the ldapi peer's uid/gid, or the client certificate.
    if settings.client_cert_file or all(u.startswith("ldapi://") for u in settings.urls):
        return {
            "authentication": ldap3.SASL,
            "sasl_mechanism": ldap3.EXTERNAL,
            "sasl_credentials": "",
        }
    return {"authentication": ldap3.ANONYMOUS}


def start_tls_if_needed(conn: ldap3.Connection, settings: LdapBackendSettings, url: str) -> None:
    """StartTLS where ``settings.uses_start_tls(url)`` (ldap:// only; default: remote hosts)."""
    if settings.uses_start_tls(url):
        conn.start_tls(read_server_info=False)


class ConnectionPool:
    """Bound connections to the first reachable server of ``urls`` (``settings.urls``), and,
    when ``settings.write_urls`` is set, a second such pool that carries the writes.

    Servers are preferred in list order.  A server is *down* for ``retry_interval`` after it
    refused a connection or a read on it timed out; pooled connections to a down server are
    retired when next taken.  When the interval has passed, the server is probed once in the
    background (a call never waits on a server that may still be dead or frozen); once it
    answers, each pooled connection to a later server is retired on its next take and
    reopened to the preferred one (failback).  The hot path's cost is a dictionary look-up
    and a monotonic-time comparison.
    """

    def __init__(
        self,
        settings: LdapBackendSettings,
        password: str | None,
        urls: Sequence[str] | None = None,
    ) -> None:
        self._settings = settings
        self._password = password
        self._urls: list[str] = list(urls) if urls is not None else list(settings.urls)
        self._idle: list[ldap3.Connection] = []
        self._index_of: dict[int, int] = {}  # id(connection) -> its server's position
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(settings.pool_size)
        #: Absent: healthy; > now: down; <= now: due for a background probe (failback).
        self._down_until: dict[str, float] = {}
        self._last_error: dict[str, str] = {}
        self._probing: set[int] = set()
        self._next_probe: dict[int, float] = {}
        #: Servers that answered a write with a referral or "shadow context", until when.
        self._no_writes_until: dict[str, float] = {}
        self._closed = False
        self._schema: SchemaInfo | None = None
        self._reads_schema = urls is None
        self.opened = 0  # connections opened so far (tests check reuse)
        write_urls = list(settings.write_urls or [])
        #: The write servers' own pool (own failover and failback), or None: writes go here.
        self.writes: ConnectionPool | None = None
        if urls is None and write_urls and write_urls != self._urls:
            self.writes = ConnectionPool(settings, password, write_urls)

    def __repr__(self) -> str:
        return f"ConnectionPool(urls={self._urls!r}, bind_dn={self._settings.bind_dn!r})"

    @property
    def urls(self) -> list[str]:
        """The servers of this pool, preferred first."""
        return list(self._urls)

    # Servers ----------------------------------------------------------------------------
    def _tls(self) -> ldap3.Tls | None:
        return make_tls(self._settings)

    def _server(self, url: str) -> ldap3.Server:
        return make_server(self._settings, url)

    def _healthy(self, index: int) -> bool:
        return self._urls[index] not in self._down_until

    def _is_down(self, index: int, now: float) -> bool:
        return self._down_until.get(self._urls[index], 0.0) > now

    # Opening ----------------------------------------------------------------------------
    def _bind_args(self) -> dict[str, Any]:
        return bind_args(self._settings, self._password)

    def _open(self, exclude: Collection[int] = ()) -> ldap3.Connection:
        """A new connection to the first healthy server; servers whose down interval has
        passed are left to the background probe unless no healthy one answers."""
        now = time.monotonic()
        allowed = [i for i in range(len(self._urls)) if i not in exclude]
        healthy = [i for i in allowed if self._healthy(i)]
        due = [i for i in allowed if not self._healthy(i) and not self._is_down(i, now)]
        if due and healthy and min(due) < min(healthy):
            self._probe(min(due))
        candidates = healthy + due
        if not candidates:
            raise BackendUnavailable(self._unavailable_message())
        conn = self._connect(candidates)
        if conn is not None:
            return conn
        if deadline.expired():
            raise BackendUnavailable(
                f"directory unreachable within the call's {self._settings.timeout} s "
                f"budget ({self._unavailable_message()})"
            )
        raise BackendUnavailable(self._unavailable_message())

    def _connect(self, candidates: Sequence[int]) -> ldap3.Connection | None:
        """Open and bind to the first of ``candidates`` that answers (None: none did)."""
        for index in candidates:
            if deadline.expired():
                break
            url = self._urls[index]
            # A fresh Server each time: ldap3 remembers failed addresses on the object and
            # would refuse to retry them ("invalid server address") after a restart.
            server = self._server(url)
            server.connect_timeout = deadline.clamp(self._settings.connect_timeout)
            conn = ldap3.Connection(
                server,
                client_strategy=ldap3.SYNC,
                auto_bind=ldap3.AUTO_BIND_NONE,
                receive_timeout=self._settings.timeout,
                raise_exceptions=False,
                auto_referrals=False,
                check_names=False,
                auto_escape=False,
                auto_encode=True,
                return_empty_attributes=False,
                read_only=False,
                **self._bind_args(),
            )
            try:
                conn.open(read_server_info=False)
                if conn.socket is not None:
                    set_keepalive(conn.socket)
                _arm(conn, self._settings.timeout)
                start_tls_if_needed(conn, self._settings, url)
                bound = conn.bind(read_server_info=False)
            except (LDAPStartTLSError, *WIRE_ERRORS) as exc:
                tls_failure = describe_tls_failure(url, str(exc), self._settings)
                self._mark_down(url, tls_failure or _describe_wire(exc))
                _quiet_unbind(conn)
                continue
            except LDAPException as exc:
                self._mark_down(url, type(exc).__name__)
                _quiet_unbind(conn)
                continue
            if not bound:
                result = conn.result or {}
                _quiet_unbind(conn)
                raise BackendError(
                    f"{url}: bind as {self._settings.bind_dn or 'anonymous'} refused "
                    f"({result.get('description', 'unknown')}); check bind_dn and the password "
                    "source in the configuration"
                )
            with self._lock:
                self._down_until.pop(url, None)
                self._index_of[id(conn)] = index
            self.opened += 1
            if self._schema is None and self._reads_schema:
                self._read_schema([url])
            return conn
        return None

    def _mark_down(self, url: str, reason: str) -> None:
        self._down_until[url] = time.monotonic() + self._settings.retry_interval
        self._last_error[url] = reason
        log.warning("LDAP server %s unreachable: %s", url, reason)

    def _unavailable_message(self) -> str:
        reasons = "; ".join(f"{u}: {self._last_error.get(u, 'unreachable')}" for u in self._urls)
        return f"directory unreachable ({reasons})"

    # Failback ---------------------------------------------------------------------------
    def _probe(self, index: int) -> None:
        """Reconnect to server ``index`` in the background (once at a time): on success it
        is healthy again and its connection joins the pool; on failure it stays down for
        another ``retry_interval``."""
        now = time.monotonic()
        with self._lock:
            if index in self._probing or self._closed or now < self._next_probe.get(index, 0.0):
                return
            self._probing.add(index)
            # At most one probe per interval (at least PROBE_SPACING: retry_interval may be 0).
            self._next_probe[index] = now + max(self._settings.retry_interval, PROBE_SPACING)
        thread = threading.Thread(
            target=self._run_probe, args=(index,), name="ara-ldap-failback", daemon=True
        )
        thread.start()

    def _run_probe(self, index: int) -> None:
        try:
            with deadline.budget(self._settings.timeout):
                conn = self._connect([index])
            if conn is not None:
                log.info("LDAP server %s answers again; failing back to it", self._urls[index])
                self._give_back(conn)
        except Exception as exc:  # a bind refused, ...: keep it down, say why
            self._mark_down(self._urls[index], str(exc)[:200])
        finally:
            with self._lock:
                self._probing.discard(index)

    def _preferred_up(self, index: int, now: float) -> bool:
        """Whether a server before ``index`` is healthy (retire this connection for it);
        starts the probe of one whose down interval has passed."""
        for earlier in range(index):
            until = self._down_until.get(self._urls[earlier])
            if until is None:
                return True
            if until <= now:
                self._probe(earlier)
                return False
        return False

    # Handing out ------------------------------------------------------------------------
    @contextmanager
    def connection(self, exclude: Collection[int] = ()) -> Iterator[ldap3.Connection]:
        """A live connection for the caller's exclusive use; broken ones are not returned.
        ``exclude``: server positions not to use (this call gave up on them)."""
        if not self._slots.acquire(timeout=deadline.clamp(self._settings.timeout)):
            raise BackendError(
                f"all {self._settings.pool_size} directory connections stayed busy for "
                f"{self._settings.timeout} s; raise pool_size"
            )
        conn: ldap3.Connection | None = None
        try:
            conn = self._take(exclude)
            yield conn
        except WIRE_ERRORS:
            if conn is not None:
                self._discard(conn)
                conn = None
            raise
        finally:
            if conn is not None:
                self._give_back(conn)
            self._slots.release()

    def _give_back(self, conn: ldap3.Connection) -> None:
        with self._lock:
            keep = not self._closed and len(self._idle) < self._settings.pool_size
            if keep:
                self._idle.append(conn)
        if not keep:
            self._discard(conn)

    def _discard(self, conn: ldap3.Connection) -> None:
        with self._lock:
            self._index_of.pop(id(conn), None)
        _quiet_unbind(conn)

    def server_of(self, conn: ldap3.Connection) -> int:
        """The position in :attr:`urls` of the server ``conn`` is bound to."""
        return self._index_of.get(id(conn), 0)

    def _take(self, exclude: Collection[int] = ()) -> ldap3.Connection:
        aside: list[ldap3.Connection] = []  # fine, but on a server this call skips
        try:
            while True:
                with self._lock:
                    conn = self._idle.pop() if self._idle else None
                if conn is None:
                    return self._open(exclude)
                index = self._index_of.get(id(conn), 0)
                if index == 0 and not self._down_until and not exclude:
                    # The usual case (the first server, nothing down): only the liveness check.
                    if _is_alive(conn):
                        return conn
                    self._discard(conn)
                    continue
                now = time.monotonic()
                if index in exclude and not self._is_down(index, now):
                    aside.append(conn)
                    continue
                if (
                    self._is_down(index, now)
                    or (index > 0 and self._preferred_up(index, now))
                    or not _is_alive(conn)
                ):
                    self._discard(conn)
                    continue
                return conn
        finally:
            for conn in aside:
                self._give_back(conn)

    def run(self, operation: Callable[[ldap3.Connection], T], *, write: bool) -> T:
        """Run ``operation`` on a pooled connection, reconnecting as described above,
        all within one budget of ``timeout`` seconds (or the caller's, if shorter)."""
        with deadline.budget(self._settings.timeout):
            if write and self.writes is not None:
                return self.writes._run(operation, write=True)
            return self._run(operation, write=write)

    def _attempt_timeout(self, index: int, failed: Collection[int], write: bool) -> float:
        """The socket timeout of one attempt: the whole budget, except for a read with
        another healthy server to retry on, which gets half (a frozen server then leaves
        time for the retry elsewhere within the call)."""
        limit = float(self._settings.timeout)  # _arm cuts it to what is left of the budget
        if write or len(self._urls) == 1:
            return limit
        if not any(
            i != index and i not in failed and self._healthy(i) for i in range(len(self._urls))
        ):
            return limit
        left = deadline.remaining()
        return (limit if left is None else min(limit, left)) / 2

    def _refusing_writes(self) -> set[int]:
        """Servers that refused a write as replicas within ``retry_interval`` (skipped by
        writes, not by reads), unless that is every server."""
        now = time.monotonic()
        refusing = {
            i for i, url in enumerate(self._urls) if self._no_writes_until.get(url, 0.0) > now
        }
        return refusing if len(refusing) < len(self._urls) else set()

    def _run(self, operation: Callable[[ldap3.Connection], T], *, write: bool) -> T:
        attempts = len(self._urls) if write else 2
        failed: set[int] = self._refusing_writes() if write else set()
        reason = ""
        for attempt in range(1, attempts + 1):
            if attempt > 1 and deadline.expired():
                what = "write" if write else "read"
                raise BackendUnavailable(
                    f"directory {what} failed: {reason}; no time left to retry within the "
                    f"call's budget ({self._settings.timeout} s at most)"
                )
            index: int | None = None
            try:
                with self.connection(failed) as conn:
                    index = self._index_of.get(id(conn), 0)
                    _arm(conn, self._attempt_timeout(index, failed, write))
                    try:
                        return operation(conn)
                    except BackendError:
                        refusal = _replica_refusal(conn.result) if write else None
                        if refusal is None or attempt == attempts:
                            raise
                        # Refused before anything was applied: another write server may take it.
                        reason = f"{self._urls[index]} {refusal}"
                        log.info("LDAP write refused by %s; trying the next server", reason)
                        with self._lock:
                            self._no_writes_until[self._urls[index]] = (
                                time.monotonic() + self._settings.retry_interval
                            )
                        failed.add(index)
            except WIRE_ERRORS as exc:
                reason = _describe_wire(exc)
                if index is not None and _is_timeout(exc):
                    # A frozen server still accepts TCP: it leaves rotation like a dead one.
                    self._mark_down(self._urls[index], f"no answer within the timeout ({reason})")
                    failed.add(index)
                if write:
                    raise WriteOutcomeUnknown(
                        f"the directory connection failed during a write ({reason}); "
                        "the write may or may not have been applied"
                    ) from None
                if attempt == attempts:
                    raise BackendUnavailable(f"directory read failed: {reason}") from None
                log.info("LDAP read failed on the wire (%s); retrying on a new connection", reason)
        raise AssertionError("unreachable")  # pragma: no cover

    # Schema -----------------------------------------------------------------------------
    def schema(self) -> SchemaInfo:
        """The subschema (read once, when the first connection opens), or an empty
        :class:`SchemaInfo` while it could not be read: then filters stay conservative."""
        if self._schema is None:
            with self.connection():
                pass
        return self._schema or SchemaInfo()

    def cached_schema(self) -> SchemaInfo:
        """The schema if already read, without any I/O (for use inside an operation)."""
        return self._schema or SchemaInfo()

    def _read_schema(self, urls: list[str]) -> None:
        """Read the subschema once on a separate short-lived connection (ldap3 parses it
        only with ``get_info=SCHEMA``, which pooled connections must not use)."""
        info = SchemaInfo()
        for url in urls:
            server = ldap3.Server(
                url,
                get_info=ldap3.SCHEMA,
                connect_timeout=self._settings.connect_timeout,
                tls=self._tls(),
            )
            conn = ldap3.Connection(
                server,
                receive_timeout=self._settings.timeout,
                raise_exceptions=False,
                auto_referrals=False,
                **self._bind_args(),
            )
            bound = False
            try:
                conn.open()
                if self._settings.uses_start_tls(url):
                    conn.start_tls()
                bound = bool(conn.bind())
                if bound:
                    info = from_ldap3(server.schema)
            except (LDAPException, *WIRE_ERRORS) as exc:
                log.warning("could not read the schema from %s: %s", url, _describe_wire(exc))
                continue
            finally:
                _quiet_unbind(conn)
            if info.known:
                break
            if bound:
                # Bound, but the subschema was not given: an ACL hides it from this identity.
                # Said once; filters then stay conservative (supersets, results exact).
                log.warning(
                    "the directory schema (cn=Subschema) is not readable as %s on %s: "
                    "searches fall back to presence filters finished in Python (exact but "
                    'slower); grant read on it, e.g. olcAccess: to dn.base="cn=Subschema" '
                    "by %s read",
                    self._settings.bind_dn or "anonymous",
                    url,
                    f'dn.exact="{self._settings.bind_dn}"'
                    if self._settings.bind_dn
                    else "anonymous",
                )
                self._schema = info
                return
        if info.known:
            self._schema = info

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            self._discard(conn)
        if self.writes is not None:
            self.writes.close()


#: LDAP result codes of a read-only replica refusing a write before applying anything.
REFERRAL, UNWILLING_TO_PERFORM = 10, 53


def _replica_refusal(result: dict[str, Any] | None) -> str | None:
    """Why the server refused a write as a read-only replica (a referral, or
    unwillingToPerform "shadow context"), or None for any other answer."""
    result = result or {}
    code = result.get("result")
    if code == REFERRAL:
        return "refers writes elsewhere (a read-only replica)"
    if code == UNWILLING_TO_PERFORM and "shadow context" in str(result.get("message") or ""):
        return "refuses writes (a read-only replica: shadow context)"
    return None


def _is_timeout(exc: BaseException) -> bool:
    """A wire failure that is the server not answering in time (frozen, overloaded)."""
    if isinstance(exc, (LDAPResponseTimeoutError, TimeoutError)):
        return True
    return "timed out" in str(exc).lower() or "timeout" in type(exc).__name__.lower()


def _describe_wire(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def _quiet_unbind(conn: ldap3.Connection) -> None:
    # Closing a broken socket may fail in many ways; the connection is gone either way.
    with contextlib.suppress(Exception):
        conn.unbind()
