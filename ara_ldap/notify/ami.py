"""A small asyncio Asterisk Manager Interface client: what the notifier needs, no more.

The framing (Asterisk's manager.c): on connect the server sends one banner line,
``Asterisk Call Manager/x.y.z``; then each message is ``Key: Value`` lines ended by an
empty line, all with CRLF.  Actions carry an ``ActionID`` the response echoes, which is
how responses are matched (events, ``Event: ...``, arrive unasked and are ignored; the
login asks for none).  An old-style ``Command`` answers ``Response: Follows`` with raw
output lines up to ``--END COMMAND--``.  The secret is sent only in the Login action and
never appears in a repr, a log line or an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Sequence

log = logging.getLogger("ara_ldap.notify.ami")

BANNER_PREFIX = "Asterisk Call Manager/"
Fields = Sequence[tuple[str, str]]


class AmiError(Exception):
    """The server answered ``Response: Error`` (the action was refused: not retried)."""


class AmiLoginError(AmiError):
    """The server refused the Login (user, secret or ACL): the session is closed."""


class AmiClosed(ConnectionError):
    """No session (not connected, dropped, or a response took too long)."""


def encode_action(action: str, action_id: str, fields: Fields) -> bytes:
    """One action as wire bytes; a value with a line break is refused (it would inject
    a header or end the message early: directory data must not become AMI commands)."""
    lines = [("Action", action), ("ActionID", action_id), *fields]
    out = []
    for key, value in lines:
        if any(c in key or c in value for c in "\r\n") or ":" in key:
            raise ValueError(f"AMI {action}: a {key} with a line break cannot be sent")
        out.append(f"{key}: {value}\r\n")
    out.append("\r\n")
    return "".join(out).encode("utf-8")


def parse_message(block: str) -> tuple[dict[str, str], list[str]]:
    """``(headers, other lines)`` of one message (keys as sent; later repeats win, except
    that ``Output`` lines of a Command response are kept in order among the others)."""
    headers: dict[str, str] = {}
    extra: list[str] = []
    for line in block.split("\n"):
        line = line.rstrip("\r")
        if not line:
            continue
        key, sep, value = line.partition(":")
        if sep and key and " " not in key and key != "Output":
            headers[key] = value.lstrip(" ")
        else:
            extra.append(value.lstrip(" ") if key == "Output" else line)
    return headers, extra


class AmiClient:
    """One manager session: connect, log in, send actions, await their responses."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        connect_timeout: float = 5.0,
        action_timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret
        self.connect_timeout = connect_timeout
        self.action_timeout = action_timeout
        self.version: str | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._waiting: dict[str, asyncio.Future[dict[str, str]]] = {}
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"AmiClient({self.username}@{self.host}:{self.port})"

    @property
    def connected(self) -> bool:
        return self._task is not None and not self._task.done()

    async def connect(self) -> None:
        """Open the session: banner, then Login with ``Events: off``.  Raises
        AmiLoginError when refused, AmiClosed/OSError when the server cannot be reached."""
        await self.close()
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self.connect_timeout
        )
        try:
            line = await asyncio.wait_for(reader.readline(), self.connect_timeout)
            banner = line.decode("utf-8", "replace").strip()
            if not banner.startswith(BANNER_PREFIX):
                raise AmiClosed(f"{self!r}: not an Asterisk manager (banner {banner[:60]!r})")
            self.version = banner[len(BANNER_PREFIX) :]
        except BaseException:
            writer.close()
            raise
        self._reader, self._writer = reader, writer
        self._task = asyncio.create_task(self._read_loop(reader))
        try:
            await self.send(
                "Login", [("Username", self.username), ("Secret", self._secret), ("Events", "off")]
            )
        except AmiError as exc:
            await self.close()
            raise AmiLoginError(f"{self!r}: login refused: {exc}") from None
        except BaseException:
            await self.close()
            raise

    async def send(self, action: str, fields: Fields = ()) -> dict[str, str]:
        """Send one action and return its response headers; AmiError on ``Response:
        Error``; AmiClosed when the session is gone or the response is late (the session
        is then closed: a late answer would desynchronise nothing, but a hung server is
        better reconnected)."""
        writer = self._writer
        if writer is None or not self.connected:
            raise AmiClosed(f"{self!r}: not connected")
        action_id = f"ara-{next(self._ids)}"
        data = encode_action(action, action_id, fields)
        future: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()
        self._waiting[action_id] = future
        try:
            writer.write(data)
            await writer.drain()
            headers = await asyncio.wait_for(future, self.action_timeout)
        except (TimeoutError, OSError) as exc:
            await self.close()
            raise AmiClosed(f"{self!r}: {action} got no response ({type(exc).__name__})") from None
        finally:
            self._waiting.pop(action_id, None)
        if headers.get("Response", "").lower() == "error":
            raise AmiError(headers.get("Message", "error"))
        return headers

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                try:
                    raw = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    break
                headers, _ = parse_message(raw.decode("utf-8", "replace"))
                if "Event" in headers and "Response" not in headers:
                    continue  # unasked
                future = self._waiting.get(headers.get("ActionID", ""))
                if future is not None and not future.done():
                    future.set_result(headers)
        except (OSError, asyncio.LimitOverrunError, ValueError) as exc:
            log.debug("%r: read failed: %s", self, exc)
        finally:
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(AmiClosed(f"{self!r}: connection closed"))

    async def close(self) -> None:
        """Drop the session (no Logoff: the notifier only closes on shutdown or failure)."""
        writer, self._writer = self._writer, None
        task, self._task = self._task, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(AmiClosed(f"{self!r}: closed"))
