"""Serving with N worker processes (``gateway.processes``): one Python process is capped
at one core by the GIL.

Why the supervisor accepts and hands connections out, instead of ``SO_REUSEPORT`` or a
shared listening socket: Asterisk keeps one keep-alive connection per calling thread, so
a gateway typically sees 2-4 connections that live for hours.  With ``SO_REUSEPORT`` the
kernel hashes each connection to a process (two of three may well land on the same
one), and with a shared socket whichever process wakes first takes it; either way a
connection stays where it landed.  Here the supervisor accepts every connection and
passes its file descriptor (``socket.send_fds`` over a ``SOCK_SEQPACKET`` pair) to the
worker serving the fewest connections; the worker adopts it
(``loop.connect_accepted_socket``) and reports when it closes.  The supervisor does no
per-request work at all.

Workers are started with the ``spawn`` method and build their app (Realtime, backends,
cache, worker threads) themselves: the LDAP backend starts threads (pool, syncrepl
stream), and forking a process that has threads is unsafe.  Each worker has its own
cache (docs/gateway.md says why not one shared).  A worker that dies is restarted (its
connections are lost: Asterisk reconnects on its next request); SIGTERM/SIGINT stop the
supervisor accepting and stop every worker gracefully.

Metrics: each worker writes a snapshot of its counters to a shared directory once a
second; ``/metrics`` on any worker adds its siblings' snapshots to its own live counters,
so a scrape (which lands on one worker, like any connection) sees the whole gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ara_ldap.config import GatewayTls, Settings
from ara_ldap.gateway.app import GatewayApp, WorkerPool
from ara_ldap.gateway.httpserver import HttpServer
from ara_ldap.gateway.metrics import Metrics
from ara_ldap.gateway.server import base_url, listen, new_event_loop, tls_context

log = logging.getLogger("ara_ldap.gateway")

#: Builds a worker's app; must be picklable (a module-level function or a partial of one).
AppFactory = Callable[[], GatewayApp]

_READY = b"R"
_CLOSED = b"-"
_FAILED = b"E"
_CONNECTION = b"C"
_WROTE = b"W"  # worker -> supervisor -> siblings: a write to replay in their caches
_APPLIED = b"A"  # sibling -> supervisor: replayed
_SETTLED = b"K"  # supervisor -> writer: every sibling replayed it
#: Largest control message (a write notice names the DNs written).
_MAX_MESSAGE = 65536
#: A worker that dies sooner than this after its start is restarted only after a pause.
_RESTART_PAUSE = 1.0


def settings_app(settings: Settings, prefix: str | None = None) -> GatewayApp:
    """A worker's app from the configuration: its own Realtime, backends and cache."""
    from ara_ldap.bootstrap import open_realtime
    from ara_ldap.gateway.server import create_app

    realtime = open_realtime(settings)
    try:
        return create_app(settings, realtime, prefix=prefix)
    except BaseException:
        realtime.close()
        raise


def from_settings(
    settings: Settings,
    *,
    processes: int,
    host: str | None = None,
    port: int | None = None,
    prefix: str | None = None,
    log_setup: Callable[[], None] | None = None,
) -> Supervisor:
    """A supervisor for ``settings.gateway`` (``host``/``port``/``prefix`` override it)."""
    gw = settings.gateway
    return Supervisor(
        functools.partial(settings_app, settings, prefix),
        processes=processes,
        host=host or gw.host,
        port=gw.port if port is None else port,
        prefix=gw.prefix if prefix is None else prefix,
        tls=gw.tls,
        keepalive_timeout=gw.keepalive_timeout,
        log_setup=log_setup,
    )


# The worker process ------------------------------------------------------------------------


def _worker_main(
    factory: AppFactory,
    index: int,
    channel: socket.socket,
    state_dir: str,
    options: dict[str, Any],
    log_setup: Callable[[], None] | None,
) -> None:
    """Entry point of a worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the group: the
    # supervisor decides, then stops us with SIGTERM.
    if log_setup is not None:
        log_setup()
    try:
        app = factory()
    except Exception as exc:  # reported to the supervisor, which exits with it
        with contextlib.suppress(OSError):
            channel.send(_FAILED + str(exc).encode("utf-8", "replace")[:4000])
        raise SystemExit(1) from None
    shared = SharedMetrics(app.metrics, Path(state_dir), index)
    app.render_metrics = shared.render
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_worker_serve(app, channel, shared, options))
    finally:
        loop.close()
        app.close()
        close = getattr(app.realtime, "close", None)
        if close is not None:
            close()


async def _worker_serve(
    app: GatewayApp, channel: socket.socket, shared: SharedMetrics, options: dict[str, Any]
) -> None:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()

    def closed() -> None:
        with contextlib.suppress(OSError):
            channel.send(_CLOSED)

    http = HttpServer(
        app,
        keepalive_timeout=options["keepalive_timeout"],
        ssl_context=tls_context(options["tls"]),
        on_close=closed,
    )

    def receive() -> None:
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(channel, _MAX_MESSAGE, 8)
            except BlockingIOError:
                return
            except OSError:
                message, fds = b"", []
            if not message and not fds:  # the supervisor is gone
                loop.remove_reader(channel.fileno())
                stopping.set()
                return
            for fd in fds:
                task = loop.create_task(http.adopt(socket.socket(fileno=fd)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            kind = message[:1]
            if kind == _WROTE:
                writes.replay(message[1:])
            elif kind == _SETTLED:
                writes.settled(message[1:])

    writes = SiblingWrites(app, channel, loop)
    writes.install()
    http.start()
    channel.setblocking(False)
    loop.add_reader(channel.fileno(), receive)
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    shared.start(loop)
    channel.send(_READY)
    await stopping.wait()
    with contextlib.suppress(Exception):
        loop.remove_reader(channel.fileno())
    await http.shutdown(options["graceful_timeout"])
    writes.close()
    shared.stop()


# Read-your-writes across workers ----------------------------------------------------------


class SiblingWrites:
    """A write made through one worker is visible to the next read through *any* worker.

    Each worker's cache guarantees read-your-writes for its own writes (docs/cache.md:
    after a write, the written entries stay uncached until its stream delivers their new
    entryCSN).  The siblings' caches would only learn of the write from their own
    streams, a little later; a read reaching another worker (another Asterisk thread,
    so another connection) in between could see the old value.  So, before a write is
    answered, its worker sends the written DNs through the supervisor to every sibling,
    which replays the write's bookkeeping in its own cache (the same ``writing`` block,
    so the entries are pending there too until its stream has them) and acknowledges;
    the writer waits for all acknowledgements (bounded by the cache's ``write_wait``).
    Writes are rare next to reads, so they pay this round trip, not the reads.
    """

    def __init__(
        self, app: GatewayApp, channel: socket.socket, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.app = app
        self.channel = channel
        self.loop = loop
        self._next = 0
        self._lock = threading.Lock()
        self._waiting: dict[int, threading.Event] = {}
        #: Each cached backend's own ``writing`` (before :meth:`install` wrapped it).
        self._originals: dict[str, Callable[..., Any]] = {}
        #: Replays run on their own thread, not the app's: writers in two workers each
        #: hold app threads while they wait for the other's replay.
        self._replayer: WorkerPool | None = None

    def install(self) -> None:
        """Wrap the ``writing`` hook of every backend cache that has one."""
        for name, backend in self.app.realtime.backends.items():
            cache = getattr(backend, "cache", None)
            original = getattr(cache, "writing", None)
            if cache is None or original is None:
                continue
            self._originals[name] = original
            if self._replayer is None:
                self._replayer = WorkerPool(1, name="ara-gateway-replay")
            cache_settings = getattr(getattr(cache, "settings", None), "cache", None)
            timeout = float(getattr(cache_settings, "write_wait", 0.5))
            setattr(cache, "writing", self._wrapped(name, original, timeout + 0.5))  # noqa: B010

    def _wrapped(
        self, backend: str, original: Callable[..., Any], timeout: float
    ) -> Callable[..., Any]:
        @contextlib.contextmanager
        def writing(fmap: Any) -> Iterator[Any]:
            with original(fmap) as note:
                try:
                    yield note
                finally:
                    written, deleted = list(note.written), list(note.deleted)
            if written or deleted:
                self._announce(backend, fmap.name, written, deleted, timeout)

        return writing

    def _announce(
        self, backend: str, family: str, written: list[str], deleted: list[str], timeout: float
    ) -> None:
        """Tell the siblings (worker thread; blocks until they replayed it or timeout)."""
        with self._lock:
            self._next += 1
            ident = self._next
            event = self._waiting[ident] = threading.Event()
        notice = {"id": ident, "backend": backend, "family": family}
        notice |= {"written": written, "deleted": deleted}
        try:
            self.channel.send(_WROTE + json.dumps(notice).encode())
            if not event.wait(timeout):
                log.warning("siblings did not confirm a write to %s within %.1f s", family, timeout)
        except OSError as exc:  # the supervisor is gone: nobody to tell
            log.warning("cannot tell sibling workers of a write to %s: %s", family, exc)
        finally:
            with self._lock:
                self._waiting.pop(ident, None)

    def settled(self, payload: bytes) -> None:
        """The supervisor says every sibling replayed write ``payload`` (event loop)."""
        with self._lock:
            event = self._waiting.get(int(payload))
        if event is not None:
            event.set()

    def replay(self, payload: bytes) -> None:
        """A sibling's write: its bookkeeping in our cache, on a worker thread, then ack."""
        notice = json.loads(payload)

        def run() -> None:
            original = self._originals.get(notice["backend"])
            backend = self.app.realtime.backends.get(notice["backend"])
            family_map = getattr(backend, "family_map", None)
            if original is None or family_map is None:
                return
            with original(family_map(notice["family"])) as note:
                note.written.extend(notice["written"])
                note.deleted.extend(notice["deleted"])

        def done(_: object, error: BaseException | None) -> None:
            if error is not None:
                log.warning("replaying a sibling's write to %s: %s", notice["family"], error)
            with contextlib.suppress(OSError):
                self.channel.send(_APPLIED + json.dumps([notice["origin"], notice["id"]]).encode())

        if self._replayer is not None:
            self._replayer.call(self.loop, done, run)

    def close(self) -> None:
        if self._replayer is not None:
            self._replayer.close(5.0)


# Metrics across workers --------------------------------------------------------------------


class SharedMetrics:
    """This worker's live counters plus its siblings' last snapshots."""

    def __init__(self, metrics: Metrics, state_dir: Path, index: int) -> None:
        self.metrics = metrics
        self.dir = state_dir
        self.index = index
        self.path = state_dir / f"worker-{index}.json"
        self._timer: asyncio.TimerHandle | None = None
        self._written = -1
        # A restarted worker continues its predecessor's counters (no reset on a crash).
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            metrics.absorb(json.loads(self.path.read_text()), counters_only=True)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.metrics.worker = (self.index, os.getpid())
        self._write(loop)

    def _write(self, loop: asyncio.AbstractEventLoop) -> None:
        count = self.metrics.total()
        if count != self._written:
            self._written = count
            temporary = self.path.with_suffix(".tmp")
            with contextlib.suppress(OSError):
                temporary.write_text(json.dumps(self.metrics.snapshot()))
                temporary.replace(self.path)
        self._timer = loop.call_later(1.0, self._write, loop)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._written = -1
        with contextlib.suppress(OSError):
            self.path.write_text(json.dumps(self.metrics.snapshot()))

    def render(self) -> bytes:
        total = Metrics()
        total.absorb(self.metrics.snapshot())
        total.worker = self.metrics.worker
        for path in sorted(self.dir.glob("worker-*.json")):
            if path != self.path:
                with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                    total.absorb(json.loads(path.read_text()))
        return total.render()


# The supervisor ------------------------------------------------------------------------------


@dataclass
class _Worker:
    index: int
    process: Any  # multiprocessing's SpawnProcess
    channel: socket.socket
    started: float
    load: int = 0
    ready: bool = False
    pid: int = 0
    buffer: list[bytes] = field(default_factory=list)


class Supervisor:
    """Accepts connections and spreads them over ``processes`` worker processes, each
    serving its own :class:`GatewayApp` built by ``factory``.  Same surface as
    :class:`~ara_ldap.gateway.server.GatewayServer`: ``bind``, ``port``, ``url``,
    ``run`` (blocking, signals), ``start``/``stop`` (background thread)."""

    def __init__(
        self,
        factory: AppFactory,
        *,
        processes: int,
        host: str = "127.0.0.1",
        port: int = 8389,
        prefix: str = "",
        tls: GatewayTls | None = None,
        keepalive_timeout: float = 75.0,
        graceful_timeout: float = 10.0,
        log_setup: Callable[[], None] | None = None,
    ) -> None:
        self.factory = factory
        self.processes = max(1, processes)
        self.host = host
        self.requested_port = port
        self.prefix = prefix
        self.tls = tls
        tls_context(tls)  # a bad certificate fails here, once, not in every worker
        self.graceful_timeout = graceful_timeout
        self.log_setup = log_setup
        self.options = {
            "keepalive_timeout": keepalive_timeout,
            "graceful_timeout": graceful_timeout,
            "tls": tls,
        }
        self.workers: dict[int, _Worker] = {}
        #: Write notices forwarded and not yet replayed: (writer, id) -> siblings left.
        self._notices: dict[tuple[int, int], set[int]] = {}
        self.restarts = 0
        self.started = threading.Event()
        self.error: str | None = None
        self._context = multiprocessing.get_context("spawn")
        self._sock: socket.socket | None = None
        self._state_dir = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def bind(self) -> socket.socket:
        if self._sock is None:
            self._sock = listen(self.host, self.requested_port)
        return self._sock

    @property
    def port(self) -> int:
        return int(self.bind().getsockname()[1])

    @property
    def url(self) -> str:
        return base_url(self.host, self.port, self.tls is not None, self.prefix)

    def pids(self) -> list[int]:
        """The live workers' process ids, by index."""
        return [w.pid for _, w in sorted(self.workers.items()) if w.ready]

    # Running -------------------------------------------------------------------------------
    def run(self) -> None:
        """Serve until SIGTERM/SIGINT (or :meth:`stop`); raises RuntimeError when a worker
        cannot start (the reason it gave, e.g. a configuration error)."""
        sock = self.bind()
        self._state_dir = tempfile.mkdtemp(prefix="ara-gateway-")
        loop = self._loop = new_event_loop()
        try:
            loop.run_until_complete(self._serve(sock))
        finally:
            loop.close()
            sock.close()
            shutil.rmtree(self._state_dir, ignore_errors=True)
        if self.error is not None:
            raise RuntimeError(self.error)

    async def _serve(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        handled: list[signal.Signals] = []
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, self._stopping.set)
                handled.append(sig)
        try:
            for index in range(self.processes):
                self._spawn(index)
            while not all(w.ready for w in self.workers.values()):
                if self._stopping.is_set():
                    break
                await asyncio.sleep(0.02)
            if not self._stopping.is_set():
                sock.setblocking(False)
                loop.add_reader(sock.fileno(), self._accept, sock)
                self.started.set()
                await self._stopping.wait()
                loop.remove_reader(sock.fileno())
            await self._stop_workers()
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)

    def _spawn(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        process = self._context.Process(
            target=_worker_main,
            args=(self.factory, index, theirs, self._state_dir, self.options, self.log_setup),
            name=f"ara-gateway-worker-{index}",
            daemon=True,
        )
        process.start()
        theirs.close()
        ours.setblocking(False)
        worker = _Worker(index, process, ours, time.monotonic(), pid=process.pid or 0)
        self.workers[index] = worker
        loop.add_reader(ours.fileno(), self._from_worker, worker)
        loop.add_reader(process.sentinel, self._exited, worker)

    def _from_worker(self, worker: _Worker) -> None:
        while True:
            try:
                message = worker.channel.recv(_MAX_MESSAGE)
            except BlockingIOError:
                return
            except OSError:
                message = b""
            if not message:  # its end closed: the process is exiting (_exited follows)
                with contextlib.suppress(Exception):
                    asyncio.get_running_loop().remove_reader(worker.channel.fileno())
                return
            kind = message[:1]
            if kind == _CLOSED:
                worker.load = max(0, worker.load - 1)
            elif kind == _READY:
                worker.ready = True
            elif kind == _FAILED:
                self._failed(worker, message[1:].decode("utf-8", "replace"))
            elif kind == _WROTE:
                self._wrote(worker, message[1:])
            elif kind == _APPLIED:
                origin, ident = json.loads(message[1:])
                self._applied(worker.index, int(origin), int(ident))

    def _wrote(self, writer: _Worker, payload: bytes) -> None:
        """Forward a write notice to every other ready worker; settle when all replied."""
        notice = json.loads(payload)
        notice["origin"] = writer.index
        ident = int(notice["id"])
        siblings = {w.index for w in self.workers.values() if w.ready and w is not writer}
        self._notices[writer.index, ident] = siblings
        forwarded = _WROTE + json.dumps(notice).encode()
        for index in list(siblings):
            try:
                self.workers[index].channel.send(forwarded)
            except OSError:
                siblings.discard(index)
        self._settle(writer.index, ident)

    def _applied(self, sibling: int, origin: int, ident: int) -> None:
        waiting = self._notices.get((origin, ident))
        if waiting is not None:
            waiting.discard(sibling)
            self._settle(origin, ident)

    def _settle(self, origin: int, ident: int) -> None:
        if self._notices.get((origin, ident)):
            return
        self._notices.pop((origin, ident), None)
        writer = self.workers.get(origin)
        if writer is not None:
            with contextlib.suppress(OSError):
                writer.channel.send(_SETTLED + str(ident).encode())

    def _failed(self, worker: _Worker, reason: str) -> None:
        log.error("gateway worker %d could not start: %s", worker.index, reason)
        if not self.started.is_set() and self.error is None:
            self.error = reason  # at start-up: the whole gateway fails, with the reason
            if self._stopping is not None:
                self._stopping.set()

    def _exited(self, worker: _Worker) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            loop.remove_reader(worker.process.sentinel)
        with contextlib.suppress(Exception):
            loop.remove_reader(worker.channel.fileno())
        worker.process.join(2)  # its sentinel closes just before it can be reaped
        for (origin, ident), waiting in list(self._notices.items()):
            if worker.index in waiting:  # it will never reply: settle without it
                waiting.discard(worker.index)
                self._settle(origin, ident)
        worker.channel.close()
        worker.ready = False
        if self.workers.get(worker.index) is worker:
            del self.workers[worker.index]
        stopping = self._stopping
        if stopping is None or stopping.is_set():
            return
        if not self.started.is_set():
            if self.error is None:
                self.error = f"worker {worker.index} exited during start-up"
            stopping.set()
            return
        log.error(
            "gateway worker %d (pid %d) died (exit %s); restarting it",
            worker.index,
            worker.pid,
            worker.process.exitcode,
        )
        self.restarts += 1
        pause = _RESTART_PAUSE if time.monotonic() - worker.started < _RESTART_PAUSE else 0.0
        loop.call_later(pause, self._respawn, worker.index)

    def _respawn(self, index: int) -> None:
        if self._stopping is not None and not self._stopping.is_set() and index not in self.workers:
            self._spawn(index)

    def _accept(self, sock: socket.socket) -> None:
        for _ in range(64):
            try:
                conn, _ = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. EMFILE: leave it for the next round
                log.warning("accept failed: %s", exc)
                return
            with conn:
                self._hand_over(conn)

    def _hand_over(self, conn: socket.socket) -> None:
        """Pass ``conn`` to the ready worker serving the fewest connections."""
        candidates = sorted(
            (w for w in self.workers.values() if w.ready), key=lambda w: (w.load, w.index)
        )
        for worker in candidates:
            try:
                socket.send_fds(worker.channel, [_CONNECTION], [conn.fileno()])
            except OSError:  # its queue is full or it is dying: the next one
                continue
            worker.load += 1
            return
        log.warning("no gateway worker can take a connection: closing it")

    async def _stop_workers(self) -> None:
        """SIGTERM every worker (each finishes its requests), then wait for them."""
        for worker in list(self.workers.values()):
            with contextlib.suppress(OSError):
                os.kill(worker.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.graceful_timeout + 5
        while self.workers and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for worker in list(self.workers.values()):
            log.warning("gateway worker %d did not stop in time: killing it", worker.index)
            worker.process.kill()
            worker.process.join(5)
            self.workers.pop(worker.index, None)

    def start(self, timeout: float = 60.0) -> None:
        """Serve from a background thread; returns once every worker is ready."""
        self.bind()
        self._thread = threading.Thread(
            target=self._run_quietly, name="ara-supervisor", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.started.wait(0.05):
            if self.error is not None or not self._thread.is_alive():
                raise RuntimeError(f"the gateway did not start: {self.error}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the gateway did not start within {timeout} s")

    def _run_quietly(self) -> None:
        with contextlib.suppress(RuntimeError):  # kept in self.error
            self.run()

    def stop(self, timeout: float = 30.0) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
