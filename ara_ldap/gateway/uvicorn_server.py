"""The previous server, kept selectable (``gateway.server: uvicorn``) and for the
side-by-side benchmark: the ASGI adapter of the gateway app on uvicorn (httptools +
uvloop), one write per response, graceful shutdown.  The default is the lean server
(:mod:`ara_ldap.gateway.httpserver`), measured cheaper (docs/gateway.md).

Two measured facts shape this module (curl-protocol.md §16):

* A responder that sends headers and body in two writes with Nagle's algorithm on stalls
  every keep-alive request for the delayed-ACK timeout (23 lookups/s instead of ~7,000).
  uvicorn writes the status line + headers and the body separately, so the connection
  protocol below sets ``TCP_NODELAY`` *and* coalesces the two writes into one send: one
  segment per answer, one syscall fewer.
* Asterisk keeps one connection per calling thread and may leave it idle for a long
  time, so the keep-alive timeout is long (``keepalive_timeout``, 75 s by default)
  rather than uvicorn's 5 s.

SIGTERM/SIGINT stop accepting, let running requests finish (``graceful_timeout``), then
stop the worker threads (ASGI lifespan shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import uvicorn

from ara_ldap.gateway.httpserver import set_nodelay
from ara_ldap.gateway.server import ListeningServer, tls_context

log = logging.getLogger("ara_ldap.gateway")


# One write per response ---------------------------------------------------------------


class CoalescingTransport(asyncio.Transport):
    """Holds a response's status line and headers until its body is written, then sends
    both in one ``write``.  ``100 Continue`` interim responses go out at once."""

    def __init__(self, transport: asyncio.Transport) -> None:
        super().__init__()
        self._transport = transport
        self._pending = b""
        self.writes = 0  # sends passed to the real transport (tests check coalescing)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        data = bytes(data)
        if (
            not self._pending
            and data.startswith(b"HTTP/1.1 ")
            and data.endswith(b"\r\n\r\n")
            and not data.startswith(b"HTTP/1.1 1")
        ):
            self._pending = data
            return
        if self._pending:
            data = self._pending + data
            self._pending = b""
        self.writes += 1
        self._transport.write(data)

    def flush(self) -> None:
        """Send held headers now (a response without a body write, e.g. HEAD)."""
        if self._pending:
            pending, self._pending = self._pending, b""
            self.writes += 1
            self._transport.write(pending)

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        self.write(b"".join(bytes(d) for d in list_of_data))

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = b""
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()


def _protocol_class() -> type[asyncio.Protocol] | str:
    """uvicorn's httptools protocol with NODELAY and coalesced writes (h11 as fallback)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is a dependency of the extra
        log.warning("httptools is not installed: using uvicorn's slower h11 parser")
        return "h11"

    class GatewayHttpProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            set_nodelay(transport)
            super().connection_made(CoalescingTransport(transport))

        def on_response_complete(self) -> None:
            transport = self.transport
            if isinstance(transport, CoalescingTransport):
                transport.flush()
            super().on_response_complete()

    return GatewayHttpProtocol


def _loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:  # pragma: no cover - uvloop is a dependency of the extra
        return "asyncio"
    return "uvloop"


# The server ---------------------------------------------------------------------------


class _Server(uvicorn.Server):
    """uvicorn's server, minus re-raising SIGTERM/SIGINT after the graceful shutdown (which
    would end the process "killed by SIGTERM" instead of with exit status 0)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


class UvicornServer(ListeningServer):
    """uvicorn serving one :class:`GatewayApp` on one listening socket (TLS, mutual TLS,
    shedding and the rest as on the lean server: the same app, the same context)."""

    def _prepare(self) -> None:
        context = tls_context(self.tls)  # built now: a bad certificate fails here
        self.config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.requested_port,
            http=_protocol_class(),
            loop=_loop_name(),
            lifespan="on",
            ws="none",
            interface="asgi3",
            log_config=None,
            access_log=False,  # the app writes its own line, without bodies or secrets
            server_header=False,
            date_header=False,
            proxy_headers=False,
            timeout_keep_alive=self.keepalive_timeout,  # type: ignore[arg-type]
            timeout_graceful_shutdown=self.graceful_timeout,  # type: ignore[arg-type]
            # The lean server's context (client CA included), not uvicorn's own loading.
            ssl_context_factory=(lambda _config, _default: context) if context else None,
        )
        self.server = _Server(self.config)

    def bind(self) -> socket.socket:
        """The listening socket, inheritable (uvicorn's own reload/worker modes expect it)."""
        sock = super().bind()
        sock.set_inheritable(True)
        return sock

    def run(self) -> None:
        """Serve until SIGTERM/SIGINT (or :meth:`stop`), then shut down gracefully."""
        self.server.run(sockets=[self.bind()])

    def _is_started(self) -> bool:
        return bool(self.server.started)

    def _signal_stop(self) -> None:
        self.server.should_exit = True
