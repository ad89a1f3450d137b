"""The gateway's ASGI application: Asterisk's res_config_curl requests in, Realtime calls,
wire-format answers out.

Hand-written rather than built on a framework: the whole request path is a path split, a
body read, one thread-pool hop and one codec call, and Asterisk's realtime switch waits on
it while holding the dialplan lock (curl-protocol.md §7.2, §16), so every microsecond of
our CPU is a microsecond of Asterisk's latency.

Routes (``PREFIX`` is optional, e.g. ``/rt``)::

    POST PREFIX/<family>/single|multi|update|store|destroy|require
    GET  PREFIX/<any name>/static?file=NAME     (Realtime.static: the routing picks the family)
    GET  /healthz                               (pings every backend: 200 ok / 503)
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
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, TypeVar

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
from ara_ldap.gateway.metrics import Metrics
from ara_ldap.realtime import Realtime
from ara_ldap.record import Record

log = logging.getLogger("ara_ldap.gateway")
access_log = logging.getLogger("ara_ldap.gateway.access")

T = TypeVar("T")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_TEXT = (b"content-type", b"text/plain; charset=utf-8")
_CLOSE = (b"connection", b"close")
_READS = frozenset({"single", "multi", "static"})
#: Operations a backend's in-memory cache may answer without blocking.
_CACHEABLE = frozenset({"single", "multi"})
_LENGTHS = [str(n).encode("ascii") for n in range(4096)]


@dataclass(frozen=True)
class Answer:
    """What to send for one request, and how to account for it."""

    status: int
    body: bytes
    outcome: str
    #: Family label for metrics (only configured names, so labels stay bounded).
    family: str = "-"
    operation: str = "-"
    #: Appended to the path in the access log (update keys, static file), secrets masked.
    detail: str = ""


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


class _Disconnected(Exception):
    """The client went away while we read its body."""


class WorkerPool:
    """Threads for the blocking backend calls, so the event loop never waits on LDAP.

    A ``SimpleQueue`` in and ``call_soon_threadsafe`` out: measured here, about 25 µs less
    CPU per request than ``loop.run_in_executor`` (which chains a concurrent Future to an
    asyncio one), on a path whose whole budget is ~100 µs.
    """

    def __init__(self, size: int, name: str = "ara-gateway") -> None:
        self._queue: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(size)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def size(self) -> int:
        return len(self._threads)

    def submit(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run ``fn(*args)`` on a worker; await the returned future on the calling loop."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((loop, future, fn, args))
        return future

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            loop, future, fn, args = item
            try:
                outcome: tuple[Any, BaseException | None] = (fn(*args), None)
            except BaseException as exc:  # delivered to the awaiting request
                outcome = (None, exc)
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_settle, future, *outcome)

    def close(self, timeout: float | None = None) -> None:
        """Let queued calls finish, then stop the threads."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class GatewayApp:
    """The ASGI callable.  One instance serves every family of one :class:`Realtime`."""

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
    ) -> None:
        self.realtime = realtime
        self.prefix = prefix.rstrip("/")
        self.max_body_bytes = max_body_bytes
        self.failure_status = failure_status or 200
        self.metrics = metrics or Metrics()
        self.workers = WorkerPool(workers)
        self._credentials = f"{credentials[0]}:{credentials[1]}".encode() if credentials else None
        self._families = {f.lower(): f for f in realtime.families()}
        self._splitters: dict[str, protocol.NameSplitter] = {}
        self._secrets: dict[str, set[str]] = {}

    # ASGI entry point -------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            try:
                await self._http(scope, receive, send)
            except _Disconnected:
                return
            except Exception:  # never let a request kill the server or answer half-way
                path = str(scope.get("path", ""))
                log.exception("unexpected error answering %s %r", scope.get("method"), path)
                failure = protocol.FAILURE_BODY.get(path.rsplit("/", 1)[-1], b"")
                with contextlib.suppress(Exception):  # the response may have started
                    await _respond(send, 500, failure, close=True)
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

    def close(self) -> None:
        """Wait for running backend calls, then stop the worker threads."""
        self.workers.close()

    # Routing ----------------------------------------------------------------------------
    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        self.metrics.in_flight += 1
        try:
            answer = await self._route(scope, receive, send, method, path)
        finally:
            self.metrics.in_flight -= 1
        if answer is None:  # answered already (healthz, metrics)
            return
        elapsed = time.perf_counter() - started
        self.metrics.observe(answer.family, answer.operation, answer.outcome, elapsed)
        if answer.outcome == "backend_error":
            self.metrics.backend_error(answer.family, answer.operation)
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

    async def _route(
        self, scope: Scope, receive: Receive, send: Send, method: str, path: str
    ) -> Answer | None:
        if path == "/healthz":
            await self._healthz(send)
            return None
        if not self._authorized(scope):
            await _respond(
                send, 401, b"", extra=((b"www-authenticate", b'Basic realm="ara-ldap"'),)
            )
            return Answer(401, b"", "unauthorized")
        if path == "/metrics":
            await _respond(
                send,
                200,
                self.metrics.render(),
                content_type=b"text/plain; version=0.0.4; charset=utf-8",
            )
            return None

        prefix = self.prefix
        if prefix:
            if not path.startswith(prefix) or path[len(prefix) : len(prefix) + 1] != "/":
                await _respond(send, 404, b"")
                return Answer(404, b"", "not_routed")
            path = path[len(prefix) :]
        parts = path.split("/")
        if len(parts) != 3 or not parts[1] or parts[2] not in protocol.OPERATIONS:
            await _respond(send, 404, b"")
            return Answer(404, b"", "not_routed")
        family, operation = parts[1], parts[2]
        failure = protocol.FAILURE_BODY[operation]
        if method != protocol.OPERATIONS[operation]:
            await _respond(
                send, 405, failure, extra=((b"allow", protocol.OPERATIONS[operation].encode()),)
            )
            return Answer(405, failure, "method_not_allowed", operation=operation)

        if operation == "static":
            body = b""
        else:
            canonical = self._families.get(family.lower())
            if canonical is None:
                log.warning(
                    "%s %r: unknown family %r (configured: %s)",
                    method,
                    path,
                    family,
                    ", ".join(sorted(self._families.values())) or "none",
                )
                await _respond(send, 404, failure)
                return Answer(404, failure, "unknown_family", operation=operation)
            family = canonical
            read = await self._read_body(scope, receive)
            if read is None:
                await _respond(send, 413, failure, close=True)
                return Answer(413, failure, "too_large", family, operation)
            body = read

        query: bytes = scope.get("query_string", b"")
        if operation in _CACHEABLE:
            # A cache hit is answered here, on the event loop: no hop to a worker thread.
            ready = self._guarded(self._read_nowait, family, operation, query, body)
            if isinstance(ready, Answer):
                await _respond(send, ready.status, ready.body)
                return ready
            answer = await self.workers.submit(self._dispatch, family, operation, query, ready)
        else:
            answer = await self.workers.submit(self._dispatch, family, operation, query, body)
        await _respond(send, answer.status, answer.body)
        return answer

    def _authorized(self, scope: Scope) -> bool:
        """HTTP Basic, compared in constant time (no auth configured: everyone)."""
        expected = self._credentials
        if expected is None:
            return True
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.strip().partition(b" ")
                if scheme.lower() != b"basic":
                    return False
                try:
                    given = base64.b64decode(token.strip(), validate=True)
                except (binascii.Error, ValueError):
                    return False
                return hmac.compare_digest(given, expected)
        return False

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The request body, or ``None`` when it exceeds ``max_body_bytes`` (checked on
        Content-Length first, so an oversized body is never read or acknowledged with
        ``100 Continue``)."""
        limit = self.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    if int(value) > limit:
                        return None
                except ValueError:
                    return None
                break
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            return body if len(body) <= limit else None
        chunks = [body]
        size = len(body)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    # Health and metrics -----------------------------------------------------------------
    async def _healthz(self, send: Send) -> None:
        backends = self.realtime.backends

        def ping_all() -> list[str]:
            down = []
            for name, backend in backends.items():
                try:
                    backend.ping()
                except Exception as exc:  # any failure means "not healthy"
                    log.warning("health check: backend %s unavailable: %s", name, exc)
                    down.append(name)
            return down

        down = await self.workers.submit(ping_all)
        if down:
            await _respond(send, 503, f"unavailable: {', '.join(down)}\n".encode())
        else:
            await _respond(send, 200, b"ok\n")

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
            return _single_answer(found[0], family)
        records = rt.multi_nowait(family, criteria)
        if records is None:
            return criteria
        return _multi_answer(records, family)

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


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    *,
    close: bool = False,
    extra: tuple[tuple[bytes, bytes], ...] = (),
    content_type: bytes = _TEXT[1],
) -> None:
    """Status, headers and body; the server coalesces them into one write."""
    n = len(body)
    headers = [
        (b"content-type", content_type),
        (b"content-length", _LENGTHS[n] if n < 4096 else str(n).encode("ascii")),
    ]
    if close:
        headers.append(_CLOSE)
    headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
