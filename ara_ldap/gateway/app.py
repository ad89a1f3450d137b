"""The gateway application: Asterisk's res_config_curl requests in, Realtime calls,
wire-format answers out; transport-neutral (:meth:`GatewayApp.handle`), with a thin ASGI
adapter.

Hand-written rather than built on a framework: the whole request path is a path split, a
cache lookup or one thread-pool hop, and one codec call, and Asterisk's realtime switch waits on
it while holding the dialplan lock (curl-protocol.md §7.2, §16), so every microsecond of
our CPU is a microsecond of Asterisk's latency.

Routes (``PREFIX`` is optional, e.g. ``/rt``)::

    POST PREFIX/<family>/single|multi|update|store|destroy|require
    GET  PREFIX/<any name>/static?file=NAME     (Realtime.static: the routing picks the family)
    GET  /healthz                               (health.py: 200 while every route has a live
                                                 backend, else 503)
    GET  /metrics                               (Prometheus text)

Failure semantics (docs/gateway.md): Asterisk ignores status codes unless ``failurecodes``
lists them, so a failure is always *also* in the body: empty for reads ("not found"),
``-1`` for writes and require.  Backend failures use status 200 (reads: ``failure_status``
if configured); undecodable or invalid requests 400; unknown families 404; never a 500
from bad input.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ara_ldap import deadline
from ara_ldap.criteria import Criterion
from ara_ldap.errors import (
    SECRET_MASK,
    BackendError,
    BadRequest,
    Conflict,
    NotFound,
    UnknownFamily,
)
from ara_ldap.gateway import protocol
from ara_ldap.gateway.health import HealthCheck
from ara_ldap.gateway.metrics import Metrics
from ara_ldap.realtime import Realtime, call_budget
from ara_ldap.record import Record

log = logging.getLogger("ara_ldap.gateway")
access_log = logging.getLogger("ara_ldap.gateway.access")

T = TypeVar("T")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

TEXT = b"text/plain; charset=utf-8"
_PROMETHEUS = b"text/plain; version=0.0.4; charset=utf-8"
_CLOSE = (b"connection", b"close")
_CHALLENGE = ((b"www-authenticate", b'Basic realm="ara-ldap"'),)
_READS = frozenset({"single", "multi", "static"})
#: Operations a backend's in-memory cache may answer without blocking.
_CACHEABLE = frozenset({"single", "multi"})
_LENGTHS = [str(n).encode("ascii") for n in range(4096)]


@dataclass(slots=True)
class Answer:
    """One response (status, headers, body: what any HTTP server needs to send it) and how
    to account for it.  A plain slotted class: one is built per request."""

    status: int
    body: bytes
    outcome: str
    #: Family label for metrics (only configured names, so labels stay bounded).
    family: str = "-"
    operation: str = "-"
    #: Appended to the path in the access log (update keys, static file), secrets masked.
    detail: str = ""
    #: Headers beyond Content-Type and Content-Length (``Allow``, ``WWW-Authenticate``).
    headers: tuple[tuple[bytes, bytes], ...] = ()
    content_type: bytes = TEXT
    #: The server must close the connection after this answer (e.g. an unread body).
    close: bool = False
    #: Counted in the request metrics and the access log (health and metrics are not).
    recorded: bool = True


#: Called on the event loop with the answer :meth:`GatewayApp.handle` could not give at once.
Done = Callable[[Answer], None]


class _Context:
    """What a failure answer is labelled with, as far as the operation got."""

    __slots__ = ("detail", "label")

    def __init__(self, label: str) -> None:
        self.label = label
        self.detail = ""


def _single_answer(record: Record | None, family: str) -> Answer:
    outcome = "ok" if record is not None else "not_found"
    return Answer(200, protocol.encode_single(record), outcome, family, "single")


def _multi_answer(records: list[Record], family: str) -> Answer:
    outcome = "ok" if records else "not_found"
    return Answer(200, protocol.encode_multi(records), outcome, family, "multi")


class LineMemo:
    """Wire lines of the records a cache keeps handing out, so a hot entry is encoded
    once, not on every hit (encoding is most of a cache hit's CPU).

    Keyed by object identity: a cache returns the very Record it stores, and a Record is
    immutable, so a line stays right for as long as that object lives; a changed entry
    is a new Record, hence a miss.  The memo holds the record itself (so its id cannot
    be reused while memoised) and is cleared when full: bounded, and stale records are
    pinned at most until then.  Event-loop thread only (no lock).
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._lines: dict[int, tuple[Record, bytes]] = {}

    def line(self, record: Record) -> bytes:
        hit = self._lines.get(id(record))
        if hit is not None and hit[0] is record:
            return hit[1]
        line = protocol.encode_single(record)
        if len(self._lines) >= self.size:
            self._lines.clear()
        self._lines[id(record)] = (record, line)
        return line

    def single(self, record: Record | None, family: str) -> Answer:
        if record is None:
            return Answer(200, b"", "not_found", family, "single")
        return Answer(200, self.line(record), "ok", family, "single")

    def multi(self, records: list[Record], family: str) -> Answer:
        if not records:
            return Answer(200, b"", "not_found", family, "multi")
        body = b"\n".join([line for line in map(self.line, records) if line])
        return Answer(200, body, "ok", family, "multi")


class _Disconnected(Exception):
    """The client went away while we read its body."""


class _AsgiWaiter:
    """The ASGI adapter's ``done`` for a request queued for a worker thread: what the lean
    server's per-request slot does, over ASGI.  While the request waits, a task awaits the
    next ASGI message, which (the body being read) can only be ``http.disconnect``; a
    worker asks :meth:`client_gone` before it runs the request, so a request whose client
    has gone (curl closes its socket at ``httptimeout``) is not run."""

    __slots__ = ("_future", "gone")

    def __init__(self) -> None:
        self._future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self.gone = False

    def __call__(self, answer: Answer) -> None:
        if not self._future.done():
            self._future.set_result(answer)

    def client_gone(self) -> bool:
        """Asked from a worker thread (a plain attribute read)."""
        return self.gone

    async def wait(self, receive: Receive) -> Answer:
        watcher = asyncio.ensure_future(self._watch(receive))
        try:
            return await self._future
        finally:
            watcher.cancel()

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.gone = True
                return


class ClientGone(Exception):
    """A queued call was not run: its client had gone when a worker thread was free."""


class WorkerPool:
    """Threads for the blocking backend calls, so the event loop never waits on LDAP.

    The queue is bounded (``max_queue`` calls waiting for a thread): past it :meth:`call`
    refuses at once, so overload is shed in microseconds instead of piling up requests
    that Asterisk will have abandoned by the time a thread is free.  A call may carry a
    ``gone`` check, asked when a thread takes it: a call whose client has gone is not run.

    A ``SimpleQueue`` in and ``call_soon_threadsafe`` out: measured here, about 25 µs less
    CPU per request than ``loop.run_in_executor`` (which chains a concurrent Future to an
    asyncio one), on a path whose whole budget is ~100 µs.  :meth:`call` hands the result
    to a plain callback (no future at all); every server (lean and ASGI) goes through it,
    so both shed and skip abandoned requests alike.
    """

    def __init__(self, size: int, name: str = "ara-gateway", max_queue: int | None = None) -> None:
        self._queue: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        #: Calls waiting for a thread at most (default: 4 per thread).
        self.max_queue = max_queue if max_queue is not None else 4 * size
        self._waiting = 0
        self._count_lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(size)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def size(self) -> int:
        return len(self._threads)

    def call(
        self,
        loop: asyncio.AbstractEventLoop,
        callback: Callable[[Any, BaseException | None], None],
        fn: Callable[..., Any],
        *args: Any,
        gone: Callable[[], bool] | None = None,
    ) -> bool:
        """Run ``fn(*args)`` on a worker; ``callback(result, error)`` then runs on ``loop``.
        False (nothing queued, no callback) when ``max_queue`` calls already wait.  If
        ``gone()`` is true when a thread takes the call, ``fn`` is not run and the callback
        gets :class:`ClientGone`."""
        with self._count_lock:
            if self._waiting >= self.max_queue:
                return False
            self._waiting += 1
        self._queue.put((loop, callback, fn, args, gone))
        return True

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            loop, callback, fn, args, gone = item
            with self._count_lock:
                self._waiting -= 1
            try:
                if gone is not None and gone():
                    raise ClientGone()
                outcome: tuple[Any, BaseException | None] = (fn(*args), None)
            except BaseException as exc:  # delivered to the waiting request
                outcome = (None, exc)
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(callback, *outcome)

    def close(self, timeout: float | None = None) -> None:
        """Let queued calls finish, then stop the threads."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout)


def _health_answer(verdict: tuple[int, bytes]) -> Answer:
    status, body = verdict
    return Answer(status, body, "ok" if status == 200 else "down", recorded=False)


class GatewayApp:
    """The gateway, transport-neutral: :meth:`handle` takes a parsed request and gives an
    :class:`Answer`, at once when it can (cache hits, errors, metrics) or later through a
    callback (anything that blocks).  :mod:`ara_ldap.gateway.httpserver` calls it
    directly; ``__call__`` is a thin ASGI adapter so the app can be mounted in any ASGI
    server.  One instance serves every family of one :class:`Realtime`."""

    def __init__(
        self,
        realtime: Realtime,
        *,
        prefix: str = "",
        credentials: tuple[str, str] | None = None,
        max_body_bytes: int = 65536,
        failure_status: int | None = None,
        workers: int = 4,
        metrics: Metrics | None = None,
        max_queue: int | None = None,
    ) -> None:
        self.realtime = realtime
        self.prefix = prefix.rstrip("/")
        self.max_body_bytes = max_body_bytes
        self.failure_status = failure_status or 200
        self.metrics = metrics or Metrics()
        #: ``/metrics``' text (a worker process replaces it with all workers' view).
        self.render_metrics: Callable[[], bytes] = self.metrics.render
        self.workers = WorkerPool(workers, max_queue=max_queue)
        self.health = HealthCheck(realtime)
        #: The longest call deadline of any route: a request's budget, from its arrival.
        budgets = [call_budget(realtime.route(f)) for f in realtime.families()]
        self._call_budget = max((b for b in budgets if b is not None), default=None)
        self._credentials = f"{credentials[0]}:{credentials[1]}".encode() if credentials else None
        self._families = {f.lower(): f for f in realtime.families()}
        self.lines = LineMemo()
        self._splitters: dict[str, protocol.NameSplitter] = {}
        self._secrets: dict[str, set[str]] = {}

    def close(self) -> None:
        """Wait for running backend calls, then stop the worker threads."""
        self.health.close()
        self.workers.close()

    # The transport-neutral entry point ----------------------------------------------------
    def handle(
        self,
        method: str,
        path: str,
        query: bytes,
        headers: Mapping[bytes, bytes],
        body: bytes | None,
        done: Done,
    ) -> Answer | None:
        """Answer one request.  ``path`` is percent-decoded, ``query`` raw, ``headers``
        keyed by lower-case name, ``body`` ``None`` when it exceeded ``max_body_bytes``
        (then it was not read: the answer closes the connection).  Returns the answer when
        it is ready now; otherwise ``None``, and ``done(answer)`` is called later on the
        calling event loop (which must be running)."""
        started = time.perf_counter()
        try:
            answer = self._route(method, path, query, headers, body, started, done)
        except Exception:  # never let a request kill the server or go unanswered
            log.exception("unexpected error answering %s %r", method, path)
            failure = protocol.FAILURE_BODY.get(path.rsplit("/", 1)[-1], b"")
            answer = Answer(500, failure, "error", close=True)
        if answer is not None and answer.recorded:
            self._record(answer, started, method, path)
        return answer

    def _record(self, answer: Answer, started: float, method: str, path: str) -> None:
        elapsed = time.perf_counter() - started
        metrics = self.metrics
        metrics.observe(answer.family, answer.operation, answer.outcome, elapsed)
        if answer.outcome == "backend_error":
            metrics.backend_error(answer.family, answer.operation)
        if access_log.isEnabledFor(logging.INFO):
            if not path.isprintable():  # a decoded %0A must not forge a log line
                path = path.encode("unicode_escape").decode("ascii")
            access_log.info(
                "%s %s%s %d %s %.2fms",
                method,
                path,
                answer.detail,
                answer.status,
                answer.outcome,
                elapsed * 1000,
            )

    def _later(
        self,
        done: Done,
        started: float,
        method: str,
        path: str,
        fn: Callable[..., Answer],
        *args: Any,
    ) -> Answer | None:
        """Run ``fn(*args)`` on a worker thread; its answer goes to ``done`` on this loop.
        Returns the failure answer at once when the worker queue is full (shed)."""
        metrics = self.metrics
        operation = path.rsplit("/", 1)[-1]
        # The server may tell whether the client is still there (the lean server does).
        gone: Callable[[], bool] | None = getattr(done, "client_gone", None)

        def finished(answer: Answer | None, error: BaseException | None) -> None:
            metrics.in_flight -= 1
            if isinstance(error, ClientGone):
                metrics.abandoned += 1
                answer = self._failure_answer(operation, "client_gone")
            elif answer is None:  # a bug: _dispatch maps every failure itself
                log.error("unexpected error answering %s %r", method, path, exc_info=error)
                failure = protocol.FAILURE_BODY.get(path.rsplit("/", 1)[-1], b"")
                answer = Answer(500, failure, "error", close=True)
            done(answer)
            if answer.recorded:
                self._record(answer, started, method, path)

        run = self._within_budget
        if not self.workers.call(
            asyncio.get_running_loop(), finished, run, started, fn, *args, gone=gone
        ):
            metrics.shed += 1
            log.warning(
                "%s %r shed: %d requests already wait for the %d workers",
                method,
                path,
                self.workers.max_queue,
                self.workers.size,
            )
            return self._failure_answer(operation, "shed")
        metrics.in_flight += 1
        return None

    def _within_budget(self, started: float, fn: Callable[..., Answer], *args: Any) -> Answer:
        """Run ``fn`` on the worker within the call deadline counted from the request's
        arrival: time spent queued is spent from it, so a request that waited behind a
        hung directory fails at once instead of taking a whole deadline more."""
        budget = self._call_budget
        if budget is None:
            return fn(*args)
        with deadline.budget(budget - (time.perf_counter() - started)):
            return fn(*args)

    def _failure_answer(self, operation: str, outcome: str) -> Answer:
        """A request not run (shed, client gone): a backend failure as Asterisk reads it."""
        if operation == "healthz":
            return Answer(503, b"busy\n", outcome, recorded=False)
        failure = protocol.FAILURE_BODY.get(operation, b"")
        status = self.failure_status if operation in _READS else 200
        known = operation if operation in protocol.OPERATIONS else "-"
        return Answer(status, failure, outcome, operation=known)

    # Routing ----------------------------------------------------------------------------
    def _route(
        self,
        method: str,
        path: str,
        query: bytes,
        headers: Mapping[bytes, bytes],
        body: bytes | None,
        started: float,
        done: Done,
    ) -> Answer | None:
        if path == "/healthz":  # on its own thread, never behind the request workers
            verdict = self.health.answer(lambda late: done(_health_answer(late)))
            return None if verdict is None else _health_answer(verdict)
        if self._credentials is not None and not self._authorized(headers):
            return Answer(401, b"", "unauthorized", headers=_CHALLENGE, close=body is None)
        if path == "/metrics":
            return Answer(
                200, self.render_metrics(), "ok", content_type=_PROMETHEUS, recorded=False
            )

        prefix = self.prefix
        route = path
        if prefix:
            if not path.startswith(prefix) or path[len(prefix) : len(prefix) + 1] != "/":
                return Answer(404, b"", "not_routed", close=body is None)
            route = path[len(prefix) :]
        parts = route.split("/")
        if len(parts) != 3 or not parts[1] or parts[2] not in protocol.OPERATIONS:
            return Answer(404, b"", "not_routed", close=body is None)
        family, operation = parts[1], parts[2]
        failure = protocol.FAILURE_BODY[operation]
        if method != protocol.OPERATIONS[operation]:
            allow = ((b"allow", protocol.OPERATIONS[operation].encode()),)
            return Answer(
                405,
                failure,
                "method_not_allowed",
                operation=operation,
                headers=allow,
                close=body is None,
            )

        if operation == "static":
            return self._later(
                done, started, method, path, self._dispatch, family, operation, query, b""
            )
        canonical = self._families.get(family.lower())
        if canonical is None:
            log.warning(
                "%s %r: unknown family %r (configured: %s)",
                method,
                path,
                family,
                ", ".join(sorted(self._families.values())) or "none",
            )
            return Answer(404, failure, "unknown_family", operation=operation, close=body is None)
        family = canonical
        if body is None:
            return Answer(413, failure, "too_large", family, operation, close=True)

        if operation in _CACHEABLE:
            # A cache hit is answered here, on the event loop: no hop to a worker thread.
            ready = self._guarded(self._read_nowait, family, operation, query, body)
            if isinstance(ready, Answer):
                return ready
            return self._later(
                done, started, method, path, self._dispatch, family, operation, query, ready
            )
        return self._later(
            done, started, method, path, self._dispatch, family, operation, query, body
        )

    def _authorized(self, headers: Mapping[bytes, bytes]) -> bool:
        """HTTP Basic, compared in constant time."""
        expected = self._credentials
        value = headers.get(b"authorization")
        if expected is None or value is None:
            return expected is None
        scheme, _, token = value.strip().partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            given = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(given, expected)

    # The ASGI adapter ---------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI 3: for mounting the gateway in another server (``ara-ldap serve`` does not
        use it).  Reads the body (up to ``max_body_bytes``), then :meth:`handle`."""
        kind = scope["type"]
        if kind == "http":
            headers = {name.lower(): value for name, value in scope["headers"]}
            try:
                body = await self._read_body(headers, receive)
            except _Disconnected:
                return
            waiter = _AsgiWaiter()
            answer = self.handle(
                scope["method"],
                scope["path"],
                scope.get("query_string", b""),
                headers,
                body,
                waiter,
            )
            if answer is None:  # queued for a worker (or shed: answered at once above)
                answer = await waiter.wait(receive)
            await _respond(send, answer)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.get_running_loop().run_in_executor(None, self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _read_body(self, headers: Mapping[bytes, bytes], receive: Receive) -> bytes | None:
        """The request body, or ``None`` when it exceeds ``max_body_bytes`` (checked on
        Content-Length first, so an oversized body is never read or acknowledged with
        ``100 Continue``)."""
        limit = self.max_body_bytes
        length = headers.get(b"content-length")
        if length is not None:
            try:
                if int(length) > limit:
                    return None
            except ValueError:
                return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    # The operations ----------------------------------------------------------------------
    def _dispatch(self, family: str, operation: str, query: bytes, body: Any) -> Answer:
        """Run in a worker thread: decode, call the Realtime, encode.  ``body`` is the raw
        body, or the criteria :meth:`_read_nowait` already parsed."""
        answer = self._guarded(self._operate, family, operation, query, body)
        assert isinstance(answer, Answer)
        return answer

    def _read_nowait(
        self, context: _Context, family: str, operation: str, query: bytes, body: Any
    ) -> Answer | list[Criterion]:
        """``single``/``multi`` from a backend's cache, on the event loop; when only a
        blocking call can answer, the parsed criteria for the worker (parsed once)."""
        criteria = protocol.parse_lookup(body)
        rt = self.realtime
        if operation == "single":
            found = rt.single_nowait(family, criteria)
            if found is None:
                return criteria
            return self.lines.single(found[0], family)
        records = rt.multi_nowait(family, criteria)
        if records is None:
            return criteria
        return self.lines.multi(records, family)

    def _guarded(
        self,
        run: Callable[[_Context, str, str, bytes, Any], T],
        family: str,
        operation: str,
        query: bytes,
        body: Any,
    ) -> T | Answer:
        """``run(...)`` with every failure mapped to what Asterisk reads as one: the one
        place both the event-loop path and the worker path get their error semantics."""
        failure = protocol.FAILURE_BODY[operation]
        context = _Context(family)
        try:
            return run(context, family, operation, query, body)
        except UnknownFamily as exc:
            log.error("%s %s: %s", operation, family, exc)
            status, outcome = 404, "unknown_family"
        except NotFound as exc:
            log.info("%s: %s", operation, exc)
            status, outcome = 200, "not_found"
        except Conflict as exc:
            log.warning("%s %s refused: %s", operation, family, exc)
            status, outcome = 409, "conflict"
        except BadRequest as exc:
            log.warning("%s %s: bad request: %s", operation, family, exc)
            status, outcome = 400, "bad_request"
        except BackendError as exc:
            cause = exc.__cause__
            reason = f"{exc} ({type(cause).__name__}: {cause})" if cause else str(exc)
            log.error("%s %s: backend failure: %s", operation, family, reason)
            # failure_status only for reads: with failurecodes Asterisk would see an empty
            # body, harmless for a read but undefined for a write and success for require.
            status = self.failure_status if operation in _READS else 200
            outcome = "backend_error"
        except Exception:  # a bug (ours or a library's): still an answer Asterisk can read
            log.exception("%s %s: unexpected error", operation, family)
            status, outcome = 500, "error"
        return Answer(status, failure, outcome, context.label, operation, context.detail)

    def _operate(
        self, context: _Context, family: str, operation: str, query: bytes, body: Any
    ) -> Answer:
        rt = self.realtime
        if operation == "single":
            lookup = body if isinstance(body, list) else protocol.parse_lookup(body)
            return _single_answer(rt.single(family, lookup), family)
        if operation == "multi":
            lookup = body if isinstance(body, list) else protocol.parse_lookup(body)
            return _multi_answer(rt.multi(family, lookup), family)
        if operation == "update":
            context.detail = "?…"
            request = protocol.parse_update(query, body, self._splitter(family))
            context.detail = detail = self._describe_criteria(family, request.criteria)
            count = rt.update2(family, request.criteria, request.changes)
            return Answer(200, protocol.encode_count(count), "ok", family, operation, detail)
        if operation == "store":
            count = rt.store(family, protocol.parse_store(body))
            return Answer(200, protocol.encode_count(count), "ok", family, operation)
        if operation == "destroy":
            count = rt.destroy(family, protocol.parse_lookup(body))
            return Answer(200, protocol.encode_count(count), "ok", family, operation)
        if operation == "require":
            problems = rt.require(family, protocol.parse_require(body))
            if problems:
                log.info("require %s: %s", family, "; ".join(problems))
            return Answer(
                200,
                protocol.encode_require(problems),
                "ok" if not problems else "unmet",
                family,
                operation,
            )
        # static: the path's family name is only the mapping's; routing picks the family.
        context.label = "-"
        filename = protocol.parse_static_query(query)
        context.detail = detail = f"?file={protocol.encode_component(filename)}"
        context.label = label = self._family_label(rt.static_family(filename))
        config = rt.static(filename)
        return Answer(
            200, protocol.encode_static(config.categories()), "ok", label, operation, detail
        )

    def _family_label(self, family: str) -> str:
        return self._families.get(family.lower(), "-")

    def _splitter(self, family: str) -> protocol.NameSplitter:
        """The update2 field splitter for the family's known columns (built once)."""
        splitter = self._splitters.get(family)
        if splitter is None:
            splitter = protocol.name_splitter(self.realtime.fields(family))
            self._splitters[family] = splitter
        return splitter

    def _describe_criteria(self, family: str, criteria: list[Any]) -> str:
        """``?name=alice`` for the access log, secret fields masked."""
        secrets = self._secrets.get(family)
        if secrets is None:
            secrets = self._secrets[family] = self.realtime.secret_fields(family)
        parts = []
        for c in criteria:
            value = SECRET_MASK if c.key in secrets else protocol.encode_component(c.value)
            op = "=" if c.op.value == "=" else protocol.encode_component(f" {c.op.value}") + "="
            parts.append(f"{protocol.encode_component(c.field)}{op}{value}")
        return "?" + "&".join(parts)


async def _respond(send: Send, answer: Answer) -> None:
    """Status, headers and body as two ASGI messages."""
    n = len(answer.body)
    headers = [
        (b"content-type", answer.content_type),
        (b"content-length", _LENGTHS[n] if n < 4096 else str(n).encode("ascii")),
    ]
    if answer.close:
        headers.append(_CLOSE)
    headers.extend(answer.headers)
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})
