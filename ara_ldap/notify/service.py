"""The notifier: directory changes in, debounced and deduplicated AMI actions out.

Changes arrive on the cache's stream threads (:meth:`Notifier.submit` only hands them to
the event loop, so the stream never waits on AMI); the loop maps them to actions
(:mod:`ara_ldap.notify.rules`), collects them until ``debounce`` seconds pass without a
new change (at most ``max_delay`` after the first), and puts the batch in each server's
outbox.  Each server has one session, reconnected with backoff; an action that could
not be sent stays in the outbox (deduplicated) until it can, so a burst while Asterisk is
down is still one Reload when it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from ara_ldap.config import AmiServer, NotifySettings
from ara_ldap.notify.ami import AmiClient, AmiClosed, AmiError, AmiLoginError
from ara_ldap.notify.rules import Action, Rules
from ara_ldap.record import Record

log = logging.getLogger("ara_ldap.notify")

#: Distinct actions an unreachable server's outbox holds before new ones are dropped.
MAX_OUTBOX = 10_000
_FIRST_BACKOFF = 0.2


class ServerLink:
    """One Asterisk server: its outbox and its AMI session."""

    def __init__(
        self, server: AmiServer, secret: str, metrics: Counter[str], max_backoff: float
    ) -> None:
        self.server = server
        self.client = AmiClient(
            server.host,
            server.port,
            server.username,
            secret,
            connect_timeout=server.connect_timeout,
            action_timeout=server.action_timeout,
        )
        self.metrics = metrics
        self.max_backoff = max_backoff
        self.outbox: dict[Action, None] = {}
        self.wake = asyncio.Event()
        self._backoff = _FIRST_BACKOFF
        self._last_error: str | None = None

    def enqueue(self, actions: Iterable[Action]) -> None:
        for action in actions:
            if action in self.outbox:
                self.metrics["actions_deduplicated"] += 1
            elif len(self.outbox) >= MAX_OUTBOX:
                self.metrics["actions_dropped"] += 1
            else:
                self.outbox[action] = None
        self.wake.set()

    async def run(self) -> None:
        """Keep the session up; drain the outbox whenever it has something.  Never ends
        on an error (a bug here must not silently stop all notifications)."""
        while True:
            try:
                await self._round()
            except asyncio.CancelledError:
                raise
            except Exception:  # logged with its traceback, then retried with backoff
                self.metrics["errors"] += 1
                log.exception("%s: notifier error", self.server.label())
                with contextlib.suppress(Exception):
                    await self.client.close()
                await self._sleep_backoff()

    async def _round(self) -> None:
        """One pass: connect if needed, send what the outbox holds, wait for more."""
        if not self.client.connected and not await self._connect():
            await self._sleep_backoff()
            return
        while self.outbox and self.client.connected:
            action = next(iter(self.outbox))
            try:
                await self.client.send(action.name, action.fields)
            except AmiError as exc:  # refused: sending it again would not help
                self.metrics["actions_refused"] += 1
                log.warning("%s: %s refused: %s", self.server.label(), action.name, exc)
            except (AmiClosed, OSError) as exc:
                log.warning("%s: session lost: %s", self.server.label(), exc)
                break  # kept in the outbox: sent after the reconnect
            except ValueError as exc:  # a value with a line break (encode_action)
                self.metrics["actions_refused"] += 1
                log.warning("%s: %s", self.server.label(), exc)
            else:
                self.metrics["actions_sent"] += 1
            self.outbox.pop(action, None)
        if not self.client.connected:
            return
        self.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), 1.0)  # also notices a dropped session

    async def _connect(self) -> bool:
        label = self.server.label()
        try:
            await self.client.connect()
        except AmiLoginError as exc:
            self.metrics["login_failures"] += 1
            self._report(log.error, f"{exc} (check manager.conf and the secret file)")
            return False
        except (OSError, TimeoutError, AmiClosed) as exc:
            self.metrics["connect_failures"] += 1
            self._report(log.warning, f"cannot connect: {exc or type(exc).__name__}")
            return False
        self._last_error = None
        self.metrics["connects"] += 1
        self._backoff = _FIRST_BACKOFF
        log.info("%s: AMI session up (Asterisk Call Manager/%s)", label, self.client.version)
        return True

    def _report(self, emit: Callable[..., None], message: str) -> None:
        """Log a connect failure once; its repeats (every backoff) only at debug."""
        if message != self._last_error:
            emit("%s: %s", self.server.label(), message)
        else:
            log.debug("%s: %s (again)", self.server.label(), message)
        self._last_error = message

    async def _sleep_backoff(self) -> None:
        await asyncio.sleep(self._backoff)
        self._backoff = min(self._backoff * 2, self.max_backoff)

    async def close(self) -> None:
        await self.client.close()


class Notifier:
    """Changes → batches → every server's outbox (or stdout with ``dry_run``)."""

    def __init__(
        self,
        settings: NotifySettings,
        rules: Rules,
        *,
        dry_run: bool = False,
        out: Callable[[str], None] = print,
        secrets: Sequence[str] | None = None,
    ) -> None:
        self.settings = settings
        self.rules = rules
        self.dry_run = dry_run
        self.out = out
        self.metrics: Counter[str] = Counter()
        self._secrets = secrets
        self._links: list[ServerLink] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[Action, None] = {}
        self._changes_in_batch = 0
        self._first = 0.0
        self._timer: asyncio.TimerHandle | None = None

    # Thread side -------------------------------------------------------------------------
    def submit(self, family: str, kind: str, before: Record | None, after: Record | None) -> None:
        """A cache listener: safe from any thread, returns at once."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop is stopping
            loop.call_soon_threadsafe(self._change, family, kind, before, after)

    # Loop side ---------------------------------------------------------------------------
    def _change(self, family: str, kind: str, before: Record | None, after: Record | None) -> None:
        self.metrics["changes"] += 1
        try:
            actions = self.rules.actions(family, kind, before, after)
        except Exception:  # one odd record must not stop the others
            self.metrics["errors"] += 1
            log.exception("notify: change of %s not mapped", family)
            return
        if not actions:
            self.metrics["changes_ignored"] += 1
            return
        now = time.monotonic()
        if not self._pending:
            self._first = now
        self._changes_in_batch += 1
        for action in actions:
            if action in self._pending:
                self.metrics["actions_deduplicated"] += 1
            else:
                self._pending[action] = None
        if self._timer is not None:
            self._timer.cancel()
        delay = min(self.settings.debounce, max(0.0, self._first + self.settings.max_delay - now))
        assert self._loop is not None
        self._timer = self._loop.call_later(delay, self._flush)

    def _flush(self) -> None:
        self._timer = None
        batch = list(self._pending)
        changes, self._changes_in_batch = self._changes_in_batch, 0
        self._pending = {}
        if not batch:
            return
        self.metrics["batches"] += 1
        self.metrics["actions_queued"] += len(batch)
        log.info("batch %d: %d changes -> %d actions", self.metrics["batches"], changes, len(batch))
        if self.dry_run:
            servers = ", ".join(s.label() for s in self.settings.servers) or "no server configured"
            self.out(f"# batch {self.metrics['batches']}: {changes} changes, to {servers}")
            for action in batch:
                self.out(action.describe())
            return
        for link in self._links:
            link.enqueue(batch)

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set; then close the sessions (unsent actions are lost)."""
        self._loop = asyncio.get_running_loop()
        if not self.dry_run:
            secrets = self._secrets or [s.secret() for s in self.settings.servers]
            self._links = [
                ServerLink(s, secret, self.metrics, self.settings.max_backoff)
                for s, secret in zip(self.settings.servers, secrets, strict=True)
            ]
        tasks = [asyncio.create_task(link.run()) for link in self._links]
        try:
            await stop.wait()
        finally:
            if self._timer is not None:
                self._timer.cancel()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
            for link in self._links:
                await link.close()

    def outbox_sizes(self) -> list[int]:
        return [len(link.outbox) for link in self._links]


class NotifierThread:
    """A :class:`Notifier` on its own event loop thread: what ``ara-ldap notify`` and the
    tests run next to the (threaded) cache."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="ara-ldap-notify", daemon=True)

    def start(self) -> NotifierThread:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error
        return self

    def _main(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            runner = asyncio.create_task(self.notifier.run(self._stop))
            await asyncio.sleep(0)  # run() binds the loop before changes are submitted
            self._ready.set()
            await runner

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by start() or stop()
            self._error = exc
            self._ready.set()

    def stop(self, timeout: float = 10.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def alive(self) -> bool:
        return self._thread.is_alive()
