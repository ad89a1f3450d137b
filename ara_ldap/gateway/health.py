"""``GET /healthz``: cheap, time-bounded, and off the request workers.

A load balancer polls it; it must neither queue behind backend calls on the worker
threads (a hung directory would make the probe hang too) nor do I/O per poll.  So probes
run on one dedicated thread, at most once per ``max_age`` seconds however often it is
asked (polls in between get the last verdict, on the event loop), and a poll that finds a
probe still running answers 503 after ``answer_timeout`` at the latest.

A probe pings only the backends that have not proved themselves lately: a backend whose
last successful operation (its ``last_success``, :class:`~ara_ldap.backends.base.LastSuccess`)
is under ``recent`` seconds old, with no failure since (``last_failure``), is live without
I/O, so a gateway carrying traffic pings nothing.  The others are pinged, each within
``probe_timeout`` (:mod:`ara_ldap.deadline`).  The price: a backend that dies right after
a success, with no call failing on it since, is reported live for up to ``recent`` +
``max_age`` seconds.

Healthy means every route has a live backend: one backend down behind a route that fails
over to another is reported in the body but is not a 503.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from ara_ldap import deadline
from ara_ldap.realtime import Realtime

log = logging.getLogger("ara_ldap.gateway")

#: (HTTP status, body): the app turns it into its answer.
Verdict = tuple[int, bytes]
Done = Callable[[Verdict], None]


class _Waiter:
    """One poll waiting for the running probe; answered once (probe or time-out)."""

    __slots__ = ("answered", "done")

    def __init__(self, done: Done) -> None:
        self.done = done
        self.answered = False

    def answer(self, verdict: Verdict) -> None:  # on the event loop only
        if not self.answered:
            self.answered = True
            self.done(verdict)


class HealthCheck:
    """The verdict of the last probe, and the thread that refreshes it on demand."""

    def __init__(
        self,
        realtime: Realtime,
        *,
        max_age: float = 1.0,
        probe_timeout: float = 1.0,
        answer_timeout: float = 2.0,
        recent: float = 1.0,
    ) -> None:
        self._realtime = realtime
        self.recent = recent
        self.max_age = max_age
        self.probe_timeout = probe_timeout
        self.answer_timeout = answer_timeout
        self._verdict: Verdict | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, _Waiter]] = []
        self._wake = threading.Event()
        self._closed = False
        self.probes = 0  # probes run so far (tests check polls do not each probe)
        self.pings = 0  # backend pings so far (tests check recent successes spare them)
        self._thread = threading.Thread(target=self._run, name="ara-gateway-health", daemon=True)
        self._thread.start()

    def answer(self, done: Done) -> Verdict | None:
        """The verdict now if fresh; else ``None`` and ``done(verdict)`` later on this
        loop (within ``answer_timeout``)."""
        with self._lock:
            if time.monotonic() - self._checked_at < self.max_age and self._verdict is not None:
                return self._verdict
            loop = asyncio.get_running_loop()
            waiter = _Waiter(done)
            self._waiters.append((loop, waiter))
            self._wake.set()
        loop.call_later(self.answer_timeout, waiter.answer, self._timed_out())
        return None

    def _timed_out(self) -> Verdict:
        return (
            503,
            f"unavailable: health probe unanswered after {self.answer_timeout:g} s\n".encode(),
        )

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join(self.answer_timeout)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            if self._closed:
                return
            self._wake.clear()
            verdict = self.probe()
            with self._lock:
                self._verdict, self._checked_at = verdict, time.monotonic()
                waiters, self._waiters = self._waiters, []
            for loop, waiter in waiters:
                try:
                    loop.call_soon_threadsafe(waiter.answer, verdict)
                except RuntimeError:  # the loop closed meanwhile
                    continue

    def probe(self) -> Verdict:
        """Ping each backend without a recent success (within ``probe_timeout`` each);
        judge the routes."""
        self.probes += 1
        live: dict[str, bool] = {}
        now = time.monotonic()
        for name, backend in self._realtime.backends.items():
            last = getattr(backend, "last_success", None)
            failed = getattr(backend, "last_failure", float("-inf"))
            if isinstance(last, float) and now - last < self.recent and last > failed:
                live[name] = True
                continue
            self.pings += 1
            try:
                with deadline.budget(self.probe_timeout):
                    backend.ping()
                live[name] = True
            except Exception as exc:  # any failure means "not live"
                log.warning("health check: backend %s unavailable: %s", name, exc)
                live[name] = False
        down = sorted(name for name, ok in live.items() if not ok)
        stranded = [
            family
            for family in self._realtime.families()
            if not any(live.get(b.name, False) for b in self._realtime.route(family))
        ]
        if stranded:
            return 503, f"unavailable: {', '.join(down)}\n".encode()
        if down:
            return 200, f"ok; down but every route has another: {', '.join(down)}\n".encode()
        return 200, b"ok\n"
