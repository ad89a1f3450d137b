"""Running the gateway in one process: the app on the lean HTTP server
(:mod:`ara_ldap.gateway.httpserver`) on one listening socket, uvloop when installed,
graceful shutdown on SIGTERM/SIGINT or :meth:`GatewayServer.stop`.

Several processes (``gateway.processes``) are :mod:`ara_ldap.gateway.workers`' job; this
module is what each of them, the tests and ``make demo`` run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl
import threading
import time
from typing import Any, Self

from ara_ldap.config import GatewayTls, Settings
from ara_ldap.gateway.app import GatewayApp
from ara_ldap.gateway.httpserver import HttpServer, ssl_context
from ara_ldap.realtime import Realtime

log = logging.getLogger("ara_ldap.gateway")


def worker_count(settings: Settings) -> int:
    """``gateway.workers``, else the largest backend pool: more threads than LDAP
    connections would only queue inside the pool."""
    if settings.gateway.workers:
        return settings.gateway.workers
    return max((b.pool_size for b in settings.backends.values()), default=4)


def create_app(settings: Settings, realtime: Realtime, *, prefix: str | None = None) -> GatewayApp:
    """The app configured from ``settings.gateway`` (reads the auth password now)."""
    gw = settings.gateway
    credentials = (gw.auth.username, gw.auth.password()) if gw.auth else None
    return GatewayApp(
        realtime,
        prefix=gw.prefix if prefix is None else prefix,
        credentials=credentials,
        max_body_bytes=gw.max_body_bytes,
        failure_status=gw.failure_status,
        workers=worker_count(settings),
        max_queue=gw.max_queue,
    )


def tls_context(tls: GatewayTls | None) -> ssl.SSLContext | None:
    """The server TLS context for ``gateway.tls`` (None: plain HTTP); with ``client_ca``,
    clients must present a certificate that CA signed (mutual TLS).  A missing or
    unreadable file, or a key that does not fit the certificate, is a
    :class:`~ara_ldap.errors.ConfigError` naming the setting and the file."""
    if tls is None:
        return None
    return ssl_context(
        str(tls.certfile),
        str(tls.keyfile) if tls.keyfile else None,
        client_ca=str(tls.client_ca) if tls.client_ca else None,
    )


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when installed (less CPU per request), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency of the extra
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def listen(host: str, port: int, *, backlog: int = 2048) -> socket.socket:
    """A bound, listening TCP socket (IPv6 when ``host`` has a colon)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


def base_url(host: str, port: int, tls: bool, prefix: str) -> str:
    """The base URL (prefix included) to give Asterisk."""
    if ":" in host:
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}{prefix}"


class ListeningServer:
    """What every way of serving one :class:`GatewayApp` on one listening socket shares
    (this module's server and :mod:`~ara_ldap.gateway.uvicorn_server`'s): construction
    from ``settings.gateway``, the socket opened early (so the port is known and errors
    show before serving), the URL to give Asterisk, and ``start``/``stop`` on a
    background thread for tests and benchmarks.  Subclasses serve in :meth:`run` (which
    blocks and handles SIGTERM/SIGINT in the main thread) and end it in :meth:`_signal_stop`.
    """

    def __init__(
        self,
        app: GatewayApp,
        *,
        host: str = "127.0.0.1",
        port: int = 8389,
        tls: GatewayTls | None = None,
        keepalive_timeout: float = 75.0,
        graceful_timeout: float = 10.0,
    ) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.tls = tls
        self.keepalive_timeout = keepalive_timeout
        self.graceful_timeout = graceful_timeout
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._prepare()

    def _prepare(self) -> None:
        """The subclass's own state, built at construction (a bad certificate fails here)."""

    @classmethod
    def from_settings(
        cls,
        app: GatewayApp,
        settings: Settings,
        *,
        host: str | None = None,
        port: int | None = None,
    ) -> Self:
        """A server for ``app`` with ``settings.gateway`` (``host``/``port`` override it)."""
        gw = settings.gateway
        return cls(
            app,
            host=host or gw.host,
            port=gw.port if port is None else port,
            tls=gw.tls,
            keepalive_timeout=gw.keepalive_timeout,
        )

    def bind(self) -> socket.socket:
        """Open the listening socket now (so the port is known and errors show early)."""
        if self._sock is None:
            self._sock = listen(self.host, self.requested_port)
        return self._sock

    @property
    def port(self) -> int:
        return int(self.bind().getsockname()[1])

    @property
    def url(self) -> str:
        """The base URL (prefix included) to give Asterisk."""
        return base_url(self.host, self.port, self.tls is not None, self.app.prefix)

    def run(self) -> None:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def _is_started(self) -> bool:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def _signal_stop(self) -> None:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def start(self, timeout: float = 10.0) -> None:
        """Serve from a background thread; returns once the server accepts connections."""
        self.bind()
        thread = self._thread = threading.Thread(
            target=self.run, name="ara-gateway-server", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + timeout
        while not self._is_started():
            if not thread.is_alive():
                raise RuntimeError("the gateway server stopped during start-up")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the gateway server did not start within {timeout} s")
            time.sleep(0.01)

    def stop(self, timeout: float = 15.0) -> None:
        """Graceful shutdown of a server started with :meth:`start`."""
        self._signal_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


class GatewayServer(ListeningServer):
    """One :class:`GatewayApp` served on one listening socket by one process, on the lean
    HTTP server (:mod:`ara_ldap.gateway.httpserver`)."""

    def _prepare(self) -> None:
        self.http: HttpServer | None = None
        self.started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        #: Built now: a bad certificate or key fails here, before anything is served.
        self._ssl = tls_context(self.tls)

    def run(self) -> None:
        """Serve until SIGTERM/SIGINT (or :meth:`stop`), then shut down gracefully and
        stop the app's worker threads."""
        sock = self.bind()
        loop = self._loop = new_event_loop()
        try:
            loop.run_until_complete(self._serve(sock))
        finally:
            loop.close()
            self.app.close()

    async def _serve(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self.http = HttpServer(
            self.app, keepalive_timeout=self.keepalive_timeout, ssl_context=self._ssl
        )
        await self.http.serve(sock)
        handled: list[signal.Signals] = []
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self._stopping.set)
                handled.append(sig)
        self.started.set()
        try:
            await self._stopping.wait()
            await self.http.shutdown(self.graceful_timeout)
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)

    def _is_started(self) -> bool:
        return self.started.is_set()

    def _signal_stop(self) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                loop.call_soon_threadsafe(stopping.set)
