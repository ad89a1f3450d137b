"""Overload with a hung directory: a bounded worker queue sheds at once with the failure
encoding and a metric, and a queued request whose client has gone is never run; on the
lean server and on the ASGI adapter (uvicorn) alike."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from ara_ldap.bootstrap import open_realtime
from ara_ldap.config import load_settings
from ara_ldap.criteria import Criterion
from ara_ldap.gateway.app import GatewayApp
from ara_ldap.gateway.server import GatewayServer, ListeningServer, create_app
from ara_ldap.realtime import Realtime
from ara_ldap.record import Record
from ara_ldap.testing.curl_client import raw_request, read_raw_response
from ara_ldap.testing.ldap import ldap_backend_config

if TYPE_CHECKING:
    from ara_ldap.backends.base import Backend
    from ara_ldap.testing.slapd import Slapd

TIMEOUT = 2  # the directory's timeout: one call's deadline
FAILURE_STATUS = 503


class Gateway:
    """A gateway serving ``realtime`` on a free loopback port, in a background thread."""

    def __init__(self, settings: Any, realtime: Realtime, flavour: str = "lean") -> None:
        self.app: GatewayApp = create_app(settings, realtime)
        kind: type[ListeningServer] = GatewayServer
        if flavour == "uvicorn":
            from ara_ldap.gateway.uvicorn_server import UvicornServer

            kind = UvicornServer
        self.server = kind.from_settings(self.app, settings, host="127.0.0.1", port=0)
        self.server.start()
        self.port = self.server.port
        self.realtime = realtime

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=30)

    def stop(self) -> None:
        self.server.stop()
        self.realtime.close()


class CountingBackend:
    """The real LDAP backend, counting the searches that reach it."""

    def __init__(self, inner: Backend) -> None:
        self._inner = inner
        self.searches = 0
        self._lock = threading.Lock()

    def search(self, family: str, criteria: Sequence[Criterion]) -> list[Record]:
        with self._lock:
            self.searches += 1
        return self._inner.search(family, criteria)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture(params=["lean", "uvicorn"])
def hung(
    request: pytest.FixtureRequest, fresh_slapd: Slapd
) -> Iterator[tuple[Gateway, CountingBackend, Slapd]]:
    """One worker, a queue of 2, on a directory the test freezes (resumed afterwards);
    served by the lean server or by uvicorn through the ASGI adapter."""
    if request.param == "uvicorn":
        pytest.importorskip("uvicorn")
    settings = load_settings(
        {
            "backends": {"directory": ldap_backend_config(fresh_slapd, timeout=TIMEOUT)},
            "gateway": {
                "port": 0,
                "workers": 1,
                "max_queue": 2,
                "failure_status": FAILURE_STATUS,
            },
        }
    )
    plain = open_realtime(settings)
    counting = CountingBackend(plain.backends["directory"])
    realtime = Realtime({"directory": counting}, settings.routes(), settings.static)  # type: ignore[dict-item]
    gateway = Gateway(settings, realtime, request.param)
    try:
        with gateway.connect() as sock:  # warm: a pooled connection exists
            sock.sendall(single(gateway.port))
            assert b"name=alice" in read_raw_response(sock)
        counting.searches = 0
        fresh_slapd.freeze()
        yield gateway, counting, fresh_slapd
    finally:
        fresh_slapd.thaw()
        gateway.stop()


def single(port: int) -> bytes:
    return raw_request(f"127.0.0.1:{port}", b"/sippeers/single", b"name=alice")


def timed_request(port: int, out: list[tuple[float, int, bytes]]) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(single(port))
        response = read_raw_response(sock)
    status = int(response.split(b" ", 2)[1])
    out.append((time.monotonic() - started, status, response.split(b"\r\n\r\n", 1)[1]))


def test_requests_beyond_the_queue_are_shed_at_once_with_the_failure_encoding(
    hung: tuple[Gateway, CountingBackend, Slapd],
) -> None:
    gateway, counting, _ = hung
    answers: list[tuple[float, int, bytes]] = []
    threads = [
        threading.Thread(target=timed_request, args=(gateway.port, answers)) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
        time.sleep(0.02)  # in order: the first takes the worker, the next two queue
    for thread in threads:
        thread.join(30)
    assert len(answers) == 8
    fast = [a for a in answers if a[0] < 0.5]
    assert len(fast) == 5  # 8 - 1 running - 2 queued
    assert all(status == FAILURE_STATUS and body == b"" for _, status, body in fast)
    assert gateway.app.metrics.shed == 5
    assert b"ara_gateway_shed_total 5" in gateway.app.render_metrics()
    # The queued ones spent their deadline waiting: all answered within one deadline.
    assert max(a[0] for a in answers) < TIMEOUT + 0.6
    assert counting.searches == 1  # the queued two had no time left: not sent


def test_a_queued_request_whose_client_closed_is_not_run(
    hung: tuple[Gateway, CountingBackend, Slapd],
) -> None:
    gateway, counting, _ = hung
    busy = socket.create_connection(("127.0.0.1", gateway.port), timeout=30)
    busy.sendall(single(gateway.port))  # takes the only worker, hung for TIMEOUT s
    time.sleep(0.2)
    with socket.create_connection(("127.0.0.1", gateway.port)) as quitter:
        quitter.sendall(single(gateway.port))  # queued behind it ...
        time.sleep(0.1)
    # ... and its client gave up (as curl does at httptimeout) before a worker was free.
    read_raw_response(busy)
    busy.close()
    deadline = time.monotonic() + 5
    while gateway.app.metrics.abandoned == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gateway.app.metrics.abandoned == 1
    assert counting.searches == 1  # only the first request reached the directory
