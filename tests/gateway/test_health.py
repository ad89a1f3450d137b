"""/healthz: off the request workers, time-bounded, cached, and judged per route."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from ara_ldap.bootstrap import open_realtime
from ara_ldap.config import load_settings
from ara_ldap.gateway.server import GatewayServer, create_app
from ara_ldap.testing.curl_client import raw_request, read_raw_response
from ara_ldap.testing.ldap import ldap_backend_config
from ara_ldap.testing.slapd import free_port

if TYPE_CHECKING:
    from ara_ldap.gateway.app import GatewayApp
    from ara_ldap.testing.slapd import Slapd

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


class Served:
    def __init__(self, gateway: dict[str, Any], backends: dict[str, Any]) -> None:
        settings = load_settings({"backends": backends, "gateway": {"port": 0, **gateway}})
        self.realtime = open_realtime(settings)
        self.app: GatewayApp = create_app(settings, self.realtime)
        self.server = GatewayServer.from_settings(self.app, settings, host="127.0.0.1", port=0)
        self.server.start()
        self.port = self.server.port

    def get(self, request: bytes = HEALTHZ) -> tuple[int, bytes, float]:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            sock.sendall(request)
            response = read_raw_response(sock)
        head, _, body = response.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), body, time.monotonic() - started

    def stop(self) -> None:
        self.server.stop()
        self.realtime.close()


@pytest.fixture
def failing_over(fresh_slapd: Slapd) -> Iterator[Served]:
    """Every family routed [dead, live]: the first backend's port refuses connections."""
    dead = ldap_backend_config(fresh_slapd, urls=[f"ldap://127.0.0.1:{free_port()}"])
    served = Served({}, {"dead": dead, "live": ldap_backend_config(fresh_slapd)})
    yield served
    served.stop()


@pytest.fixture
def frozen(fresh_slapd: Slapd) -> Iterator[tuple[Served, Slapd]]:
    """One worker on a directory the test freezes with SIGSTOP (resumed afterwards)."""
    served = Served({"workers": 1}, {"directory": ldap_backend_config(fresh_slapd, timeout=3)})
    yield served, fresh_slapd
    fresh_slapd.thaw()
    served.stop()


def test_one_backend_down_is_healthy_while_its_routes_fail_over(failing_over: Served) -> None:
    status, body, _ = failing_over.get()
    assert status == 200
    assert body == b"ok; down but every route has another: dead\n"


def test_polls_within_a_second_share_one_probe(failing_over: Served) -> None:
    for _ in range(5):
        assert failing_over.get()[0] == 200
    assert failing_over.app.health.probes == 1


def test_a_frozen_directory_is_503_within_the_bound_even_with_every_worker_busy(
    frozen: tuple[Served, Slapd],
) -> None:
    served, slapd = frozen
    assert served.get()[0] == 200
    slapd.freeze()
    single = raw_request(f"127.0.0.1:{served.port}", b"/sippeers/single", b"name=alice")
    # The only worker is now stuck on the hung directory for its 3 s deadline.
    threading.Thread(target=served.get, args=(single,), daemon=True).start()
    time.sleep(1.1)  # the cached verdict is stale
    status, body, took = served.get()
    assert status == 503 and body.startswith(b"unavailable:")
    assert took < served.app.health.answer_timeout + 0.5


@pytest.fixture
def one_directory(fresh_slapd: Slapd) -> Iterator[Served]:
    served = Served({}, {"directory": ldap_backend_config(fresh_slapd)})
    yield served
    served.stop()


def test_a_backend_that_just_answered_a_request_is_not_pinged(one_directory: Served) -> None:
    single = raw_request(f"127.0.0.1:{one_directory.port}", b"/sippeers/single", b"name=alice")
    status, body, _ = one_directory.get(single)
    assert status == 200 and body.startswith(b"name=alice&")
    assert one_directory.get() == (200, b"ok\n", pytest.approx(0, abs=1.0))
    health = one_directory.app.health
    assert health.probes == 1
    assert health.pings == 0  # the request's success was the evidence: no directory I/O


def test_a_backend_without_a_recent_success_is_pinged(one_directory: Served) -> None:
    assert one_directory.get()[:2] == (200, b"ok\n")
    assert one_directory.app.health.pings == 1
    backend = one_directory.realtime.backends["directory"]
    assert time.monotonic() - backend.last_success < 1.0  # type: ignore[attr-defined]
