"""The gateway's HTTP/1.1 server: an asyncio ``Protocol`` on httptools' parser that calls
:meth:`GatewayApp.handle` directly.

Why not uvicorn + ASGI: measured with ``bench/gateway.py --null-only --compare`` (docs/
gateway.md), most of the per-request CPU of the gateway was the server and the ASGI
messages around a request, not the gateway's own work.  Here a request is one parser
feed, one ``handle`` call and one ``transport.write``; a cache hit is answered inside
``data_received`` (no task, no future); blocking work goes to the app's worker threads
and is written when done, in request order (pipelined requests queue per connection).

What it keeps from the old server (curl-protocol.md §16): ``TCP_NODELAY`` and one write
per response (headers and body in one segment: with Nagle on and two writes, every
keep-alive request stalls for the delayed-ACK timeout); a long keep-alive timeout
(Asterisk keeps one connection per calling thread and may leave it idle); ``Expect:
100-continue`` answered at once, unless the announced body is over the limit (then 413
without reading it); request limits (body 413, headers 431, URL 414, malformed 400);
TLS; graceful stop (stop accepting, finish in-flight requests, close idle connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable
from http import HTTPStatus
from typing import cast
from urllib.parse import unquote

import httptools

from ara_ldap.errors import ConfigError
from ara_ldap.gateway.app import TEXT, Answer, GatewayApp

log = logging.getLogger("ara_ldap.gateway")

#: Bytes of request line + headers, headers per request, and URL length we accept.
MAX_HEADER_BYTES = 65536
MAX_HEADERS = 100
MAX_URL_BYTES = 8192
#: Pipelined requests queued on one connection before we stop reading from it.
MAX_PIPELINE = 32

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
#: "Content-Length: N\r\n\r\n" for small N, built once.
_LENGTH_END = [b"%d\r\n\r\n" % n for n in range(4096)]


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {status} {phrase}\r\n".encode("ascii")


#: The head of a plain-text answer up to the Content-Length value, per status.
_HEADS = {
    status: _status_line(status) + b"content-type: " + TEXT + b"\r\ncontent-length: "
    for status in (200, 400, 401, 404, 405, 409, 413, 414, 431, 500, 503)
}


def encode_response(answer: Answer, close: bool) -> bytes:
    """Status line, headers and body as one bytes object (one write)."""
    body = answer.body
    n = len(body)
    length = _LENGTH_END[n] if n < 4096 else b"%d\r\n\r\n" % n
    if not close and not answer.headers and answer.content_type is TEXT:
        head = _HEADS.get(answer.status)
        if head is not None:
            return b"".join((head, length, body))
    parts = [_status_line(answer.status), b"content-type: ", answer.content_type, b"\r\n"]
    for name, value in answer.headers:
        parts += (name, b": ", value, b"\r\n")
    if close:
        parts.append(b"connection: close\r\n")
    parts += (b"content-length: ", length, body)
    return b"".join(parts)


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Disable Nagle's algorithm on a TCP transport (asyncio and uvloop usually do;
    being explicit keeps the §16 trap closed whatever the loop)."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _rejection(status: int) -> Answer:
    return Answer(status, b"", "bad_request", close=True, recorded=False)


#: A queued request whose client half-closed and that waited this long for a worker is
#: taken as abandoned (curl closes its socket when ``httptimeout`` expires; TCP cannot
#: tell that from a deliberate half-close, which gets its answer if served sooner).
ABANDONED_AFTER = 0.25


class _Slot:
    """One request's place in its connection's response order."""

    __slots__ = ("answer", "conn", "keep_alive", "queued", "unread")

    def __init__(self, conn: HttpProtocol, keep_alive: bool, unread: bool) -> None:
        self.conn = conn
        self.keep_alive = keep_alive
        self.unread = unread  # the body was not read: close after answering
        self.answer: Answer | None = None
        self.queued = time.monotonic()

    def client_gone(self) -> bool:
        """Asked by a worker thread before it runs the request: is nobody waiting for it?"""
        conn = self.conn
        if conn.closing:  # the transport was lost (reset, closed, reaped)
            return True
        return conn.eof and time.monotonic() - self.queued >= ABANDONED_AFTER

    def __call__(self, answer: Answer) -> None:
        """The app's ``done``: the answer is ready (on the event loop)."""
        self.answer = answer
        self.conn.flush()


class _Reject(Exception):
    """Raised from a parser callback to stop parsing; the answer is on the protocol."""


class HttpProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.app = server.app
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.pending: deque[_Slot] = deque()
        self.last_active = 0.0
        self.in_request = False  # between the request line and the end of the body
        self.closing = False
        self.discard = False  # stop parsing: what follows is an unread body or garbage
        self.paused = False
        self.eof = False  # the client half-closed
        self.write_blocked = False
        self._url = b""
        self._method = ""
        self._headers: dict[bytes, bytes] = {}
        self._header_bytes = 0
        self._body: list[bytes] = []
        self._body_size = 0
        self._rejected: Answer | None = None

    # asyncio callbacks ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        set_nodelay(transport)
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.last_active = self.server.loop.time()
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.server.connection_lost(self)

    def data_received(self, data: bytes) -> None:
        if self.discard:
            return
        self.last_active = self.server.loop.time()
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade, _Reject):
            rejected, self._rejected = self._rejected, None
            if rejected is None and self.discard:
                return  # answered already (an unread body) or closing
            self.reject(rejected or _rejection(400))
            return
        if self.in_request and not self._method:  # still in the headers: bound them
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self.reject(_rejection(431))

    def eof_received(self) -> bool | None:
        # A client that half-closes still gets the answers it asked for (TLS cannot
        # half-close: there the transport closes anyway); then we close.
        if not self.pending or self.server.ssl_context is not None:
            return None
        self.eof = True
        return True

    def pause_writing(self) -> None:
        # A client that sends and does not read: stop reading until it does, so its
        # answers cannot pile up in our buffer.
        self.write_blocked = True
        if self.transport is not None and not self.paused:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_blocked = False
        if self.transport is not None and not self.paused and not self.closing:
            self.transport.resume_reading()

    # httptools callbacks --------------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self.discard:  # pipelined after an answer that closes the connection
            raise _Reject
        self.in_request = True
        self._url = b""
        self._method = ""
        self._headers = {}
        self._header_bytes = 0
        self._body = []
        self._body_size = 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_URL_BYTES:
            self._rejected = _rejection(414)
            raise _Reject

    def on_header(self, name: bytes, value: bytes) -> None:
        headers = self._headers
        headers[name.lower()] = value
        self._header_bytes += len(name) + len(value) + 4
        if len(headers) > MAX_HEADERS or self._header_bytes > MAX_HEADER_BYTES:
            self._rejected = _rejection(431)
            raise _Reject

    def on_headers_complete(self) -> None:
        self._method = self.parser.get_method().decode("ascii", "replace")
        if self.parser.should_upgrade():  # h2c, websocket: the parser would take the
            self._rejected = _rejection(400)  # body for the new protocol's bytes
            raise _Reject
        headers = self._headers
        length = headers.get(b"content-length")
        if length is not None and int(length) > self.app.max_body_bytes:
            self._too_large()
            raise _Reject
        expect = headers.get(b"expect")
        if (
            expect is not None
            and expect.lower() == b"100-continue"
            and not self.pending
            and self.transport is not None
            and self.parser.get_http_version() == "1.1"
        ):
            self.transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        self._body_size += len(body)
        if self._body_size > self.app.max_body_bytes:
            self._too_large()
            raise _Reject

    def on_message_complete(self) -> None:
        self.in_request = False
        chunks = self._body
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        keep_alive = self.parser.should_keep_alive() and not self.server.draining
        self._dispatch(body, keep_alive)

    # Requests and answers ---------------------------------------------------------------------
    def _too_large(self) -> None:
        """Answer now, without reading the body, and close after the answer."""
        self.in_request = False
        self.discard = True
        self._dispatch(None, False)

    def _dispatch(self, body: bytes | None, keep_alive: bool) -> None:
        raw, _, query = self._url.partition(b"?")
        path = raw.decode("latin-1")
        if "%" in path:
            path = unquote(path)
        slot = _Slot(self, keep_alive, body is None)
        answer = self.app.handle(self._method, path, query, self._headers, body, slot)
        if answer is not None and not self.pending:
            self._send(answer, keep_alive and body is not None)
            return
        slot.answer = answer
        self.pending.append(slot)
        if len(self.pending) >= MAX_PIPELINE and not self.paused and self.transport:
            self.paused = True
            self.transport.pause_reading()

    def _send(self, answer: Answer, keep_alive: bool) -> None:
        transport = self.transport
        if self.closing or transport is None:
            return
        close = answer.close or not keep_alive
        transport.write(encode_response(answer, close))
        if close:
            self.closing = True
            self.discard = True
            transport.close()

    def flush(self) -> None:
        """Send every answer at the head of the queue that is ready, in order."""
        pending = self.pending
        while pending and pending[0].answer is not None:
            slot = pending.popleft()
            assert slot.answer is not None
            keep_alive = slot.keep_alive and not slot.unread
            if self.server.draining and not pending and not self.in_request:
                keep_alive = False  # stopping: the last answer says so, then we close
            self._send(slot.answer, keep_alive)
        if self.closing:
            pending.clear()
            return
        self.last_active = self.server.loop.time()
        if self.paused and len(pending) < MAX_PIPELINE // 2 and self.transport:
            self.paused = False
            if not self.write_blocked:
                self.transport.resume_reading()
        if not pending and not self.in_request and (self.server.draining or self.eof):
            self.close()

    def reject(self, answer: Answer) -> None:
        """A request we will not parse further: answer it (after those before it), close."""
        if self.closing:
            return
        self.discard = True
        self.in_request = False
        slot = _Slot(self, False, True)
        slot.answer = answer
        self.pending.append(slot)
        self.flush()

    # Idle connections -------------------------------------------------------------------------
    @property
    def idle(self) -> bool:
        """Nothing in flight and no request half-received: safe to close."""
        return not self.pending and not self.in_request

    def close(self) -> None:
        if not self.closing and self.transport is not None:
            self.closing = True
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.closing = True
            self.transport.abort()


class HttpServer:
    """The connections of one process: listening (``serve``) or adopting connections
    accepted elsewhere (``adopt``, for the multi-process supervisor), keep-alive
    timeouts, and graceful shutdown."""

    def __init__(
        self,
        app: GatewayApp,
        *,
        keepalive_timeout: float = 75.0,
        ssl_context: ssl.SSLContext | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.keepalive_timeout = keepalive_timeout
        self.ssl_context = ssl_context
        self.connections: set[HttpProtocol] = set()
        self.draining = False
        self._on_close = on_close
        self._listeners: list[asyncio.AbstractServer] = []
        self._sweeper: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None
        return self._loop

    def protocol(self) -> HttpProtocol:
        return HttpProtocol(self)

    def start(self) -> None:
        """Bind to the running loop and start the keep-alive sweep (idempotent)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._sweep()

    async def serve(self, sock: socket.socket) -> None:
        """Accept connections on a listening socket."""
        self.start()
        listener = await self.loop.create_server(
            self.protocol, sock=sock, ssl=self.ssl_context, backlog=2048
        )
        self._listeners.append(listener)

    async def adopt(self, sock: socket.socket) -> None:
        """Serve a connection another process accepted."""
        self.start()
        try:
            await self.loop.connect_accepted_socket(self.protocol, sock, ssl=self.ssl_context)
        except (OSError, ssl.SSLError) as exc:  # e.g. a failed TLS handshake
            log.info("connection dropped before serving: %s", exc)
            sock.close()
            if self._on_close is not None:
                self._on_close()

    def connection_lost(self, conn: HttpProtocol) -> None:
        self.connections.discard(conn)
        if self._on_close is not None:
            self._on_close()

    def _sweep(self) -> None:
        """Close connections idle for longer than the keep-alive timeout (one timer for
        all connections, not one per request)."""
        now = self.loop.time()
        limit = self.keepalive_timeout
        for conn in list(self.connections):
            if not conn.pending and now - conn.last_active > limit:
                conn.close()
        self._sweeper = self.loop.call_later(min(1.0, limit / 2), self._sweep)

    async def shutdown(self, timeout: float) -> None:
        """Stop accepting, close idle connections, let the others finish their requests
        (up to ``timeout`` seconds), then drop what is left."""
        self.draining = True
        for listener in self._listeners:
            listener.close()
        for conn in list(self.connections):
            if conn.idle:
                conn.close()
        deadline = self.loop.time() + timeout
        while self.connections and self.loop.time() < deadline:
            await asyncio.sleep(0.02)
        for conn in list(self.connections):
            conn.abort()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for listener in self._listeners:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(listener.wait_closed(), 1.0)


def ssl_context(
    certfile: str, keyfile: str | None, *, client_ca: str | None = None
) -> ssl.SSLContext:
    """A server TLS context with the default (secure) protocol settings; with
    ``client_ca``, a client must present a certificate signed by that CA (and only that
    CA: the system's CAs are not loaded), else the handshake fails.

    Errors name the file and the setting (``gateway.tls.*``) so that start-up fails with
    one line saying what to fix, instead of an OpenSSL traceback."""
    files = [("certfile", certfile), ("keyfile", keyfile), ("client_ca", client_ca)]
    for setting, path in files:
        if path is None:
            continue
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise ConfigError(
                f"gateway.tls.{setting}: cannot read {path}: {exc.strerror or exc}"
            ) from None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile, keyfile)
    except ssl.SSLError as exc:
        raise ConfigError(
            f"gateway.tls: {certfile}{' and ' + keyfile if keyfile else ''} are not a PEM "
            f"certificate and its private key ({exc.reason or exc})"
        ) from None
    if client_ca is not None:
        try:
            context.load_verify_locations(cafile=client_ca)
        except ssl.SSLError as exc:
            raise ConfigError(
                f"gateway.tls.client_ca: {client_ca} holds no PEM CA certificate "
                f"({exc.reason or exc})"
            ) from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context
