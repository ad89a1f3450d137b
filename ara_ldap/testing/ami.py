"""A scripted Asterisk manager (AMI) peer for tests: real framing over TCP on loopback.

It speaks what manager.c does: the ``Asterisk Call Manager/x.y.z`` banner line, messages
of ``Key: Value`` CRLF lines ended by an empty line, ``ActionID`` echoed in each
response, ``Response: Success|Error`` with a ``Message``, and unasked events (one after
login, and one carrying the action's ActionID before each response, which a client must
not take for the response).  Actions before a successful Login are refused as
Asterisk refuses them.  Every action after login is recorded (:attr:`actions`).

Knobs: ``delay`` (seconds before each response: slow servers), ``refuse`` (action names
answered ``Response: Error``), :meth:`drop_clients` (a restart or network cut), and
:meth:`stop_listening` / :meth:`listen_again` (a server that is down, then back).

Test code only: product code never imports this module.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

BANNER = "Asterisk Call Manager/{version}\r\n"


class ScriptedAmi:
    def __init__(
        self,
        username: str = "ara-notify",
        secret: str = "ami-secret",
        *,
        version: str = "9.0.0",
        delay: float = 0.0,
        refuse: set[str] | None = None,
        port: int = 0,
    ) -> None:
        self.username = username
        self.secret = secret
        self.version = version
        self.delay = delay
        self.refuse = set(refuse or ())
        self.host = "127.0.0.1"
        self.port = port
        self.actions: list[dict[str, str]] = []
        self.logins: list[tuple[str, bool]] = []
        self.connections = 0
        self._lock = threading.RLock()  # wait_for's check may call received()
        self._changed = threading.Condition(self._lock)
        self._clients: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._closed = False

    # Lifecycle ---------------------------------------------------------------------------
    def start(self) -> ScriptedAmi:
        self.listen_again()
        return self

    def listen_again(self) -> None:
        """(Re)open the listening socket on the same port."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(16)
        self.port = sock.getsockname()[1]
        self._listener = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def stop_listening(self) -> None:
        """Refuse new connections (and drop the current ones): a server that is down."""
        sock, self._listener = self._listener, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self.drop_clients()

    def drop_clients(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
        for conn in clients:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def close(self) -> None:
        self._closed = True
        self.stop_listening()

    def __enter__(self) -> ScriptedAmi:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # What tests look at ------------------------------------------------------------------
    def received(self, action: str | None = None) -> list[dict[str, str]]:
        """Actions received after login (optionally of one name), ActionID removed."""
        with self._lock:
            got = list(self.actions)
        return [
            {k: v for k, v in a.items() if k != "ActionID"}
            for a in got
            if action is None or a.get("Action", "").lower() == action.lower()
        ]

    def wait_for(self, check: Callable[[ScriptedAmi], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not check(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.05))
        return True

    # Serving -----------------------------------------------------------------------------
    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with self._lock:
                self._clients.append(conn)
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        authed = False
        try:
            conn.sendall(BANNER.format(version=self.version).encode())
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                raw, buf = buf.split(b"\r\n\r\n", 1)
                msg: dict[str, str] = {}
                for line in raw.decode("utf-8", "replace").split("\r\n"):
                    key, _, value = line.partition(":")
                    msg[key.strip()] = value.strip()
                authed = self._answer(conn, msg, authed)
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def _answer(self, conn: socket.socket, msg: dict[str, str], authed: bool) -> bool:
        action = msg.get("Action", "")
        aid = msg.get("ActionID")
        idline = f"ActionID: {aid}\r\n" if aid is not None else ""
        if action.lower() == "login":
            ok = msg.get("Username") == self.username and msg.get("Secret") == self.secret
            with self._changed:
                self.logins.append((msg.get("Username", ""), ok))
                self._changed.notify_all()
            if not ok:
                self._send(conn, f"Response: Error\r\n{idline}Message: Authentication failed\r\n")
                return False
            self._send(conn, f"Response: Success\r\n{idline}Message: Authentication accepted\r\n")
            booted = "Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n"
            self._send(conn, booted)
            return True
        if not authed:
            self._send(conn, f"Response: Error\r\n{idline}Message: Permission denied\r\n")
            return False
        if self.delay:
            time.sleep(self.delay)
        with self._changed:
            self.actions.append(msg)
            self._changed.notify_all()
        # An unasked event carrying the same ActionID first: it is not the response.
        self._send(conn, f"Event: TestEvent\r\nPrivilege: system,all\r\n{idline}")
        if action in self.refuse:
            self._send(conn, f"Response: Error\r\n{idline}Message: {action} refused by script\r\n")
        elif action.lower() == "command":
            self._send(
                conn,
                f"Response: Success\r\n{idline}Message: Command output follows\r\n"
                f"Output: ran {msg.get('Command', '')}\r\n",
            )
        else:
            self._send(conn, f"Response: Success\r\n{idline}Message: {action} done\r\n")
        return True

    @staticmethod
    def _send(conn: socket.socket, text: str) -> None:
        conn.sendall((text + "\r\n").encode())
