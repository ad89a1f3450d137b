"""The directory going away behind the gateway: Asterisk must read a failure (an empty
body for reads, ``-1`` for writes and require), the gateway must log why, and recover."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import pytest

from ara_ldap.backends.base import Requirement
from ara_ldap.testing.curl_client import raw_request, read_raw_response

if TYPE_CHECKING:
    from conftest import Gateway, GatewayFactory

    from ara_ldap.testing.slapd import Slapd


@pytest.fixture
def down(make_gateway: GatewayFactory, fresh_slapd: Slapd) -> Gateway:
    """A gateway whose directory was killed after the first successful lookup."""
    gw = make_gateway()
    with gw.client() as c:
        assert c.single("sippeers", {"name": "alice"}) is not None
    fresh_slapd.kill()
    return gw


def test_single_reads_as_not_found_with_status_200(down: Gateway) -> None:
    with down.client() as c:
        assert c.single("sippeers", {"name": "alice"}) is None
        assert (c.last_status, c.last_body) == (200, b"")


def test_multi_reads_as_no_rows(down: Gateway) -> None:
    with down.client() as c:
        assert c.multi("sippeers", {"name LIKE": "%"}) == []
        assert c.last_body == b""


@pytest.mark.parametrize("operation", ["update", "update2", "store", "destroy"])
def test_writes_read_as_minus_one_never_an_empty_body(down: Gateway, operation: str) -> None:
    with down.client() as c:
        if operation == "update":
            result = c.update("sippeers", "name", "alice", {"host": "dynamic"})
        elif operation == "update2":
            result = c.update2("sippeers", [("name", "alice")], {"host": "dynamic"})
        elif operation == "store":
            result = c.store("sippeers", {"name": "bar"})
        else:
            result = c.destroy("sippeers", [("name", "alice")])
        assert result == -1
        assert (c.last_status, c.last_body) == (200, b"-1")
        assert not c.last_empty_write


def test_require_reads_as_failure_not_success(
    make_gateway: GatewayFactory, fresh_slapd: Slapd
) -> None:
    gw = make_gateway()
    fresh_slapd.kill()  # before the schema was ever read: require cannot answer
    with gw.client() as c:
        assert c.require("sippeers", [Requirement.parse("name", "char:10")]) == -1
        assert (c.last_status, c.last_body) == (200, b"-1")


def test_static_reads_as_an_empty_file(down: Gateway) -> None:
    with down.client() as c:
        assert c.static("sip.conf") == []
        assert c.last_status == 200


def healthz(gateway: Gateway) -> bytes:
    with gateway.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        return read_raw_response(sock)


def test_healthz_is_503_naming_the_backend_once_a_call_failed_on_it(down: Gateway) -> None:
    with down.client() as c:  # traffic finds the directory gone ...
        assert c.single("sippeers", {"name": "alice"}) is None
    response = healthz(down)  # ... so its success just before no longer vouches for it
    assert response.startswith(b"HTTP/1.1 503 ")
    assert response.endswith(b"unavailable: directory\n")


def test_healthz_is_503_without_traffic_once_the_last_success_is_old(down: Gateway) -> None:
    time.sleep(down.app.health.recent)  # the lookup before the kill no longer counts
    response = healthz(down)
    assert response.startswith(b"HTTP/1.1 503 ")
    assert response.endswith(b"unavailable: directory\n")


def test_backend_failures_are_logged_with_their_cause_and_no_secrets(
    down: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="ara_ldap.gateway"), down.client() as c:
        c.store("sippeers", {"name": "bar", "secret": "Sup3rSecret"})
    messages = [r.getMessage() for r in caplog.records if r.name == "ara_ldap.gateway"]
    assert any("store sippeers: backend failure" in m and "unreachable" in m for m in messages), (
        messages
    )
    assert not any("Sup3rSecret" in m for m in messages)


def test_backend_failures_are_counted_in_metrics(down: Gateway) -> None:
    with down.client() as c:
        c.single("sippeers", {"name": "alice"})
    with down.connect() as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        text = read_raw_response(sock).decode()
    assert 'ara_gateway_backend_errors_total{family="sippeers",operation="single"} 1' in text


def test_the_gateway_recovers_when_the_directory_returns(down: Gateway, fresh_slapd: Slapd) -> None:
    fresh_slapd.start()
    with down.client() as c:
        assert c.single("sippeers", {"name": "alice"}) is not None


def test_failure_status_is_sent_for_read_failures(
    make_gateway: GatewayFactory, fresh_slapd: Slapd
) -> None:
    gw = make_gateway(failure_status=503)
    fresh_slapd.kill()
    with gw.client() as c:
        assert c.single("sippeers", {"name": "alice"}) is None
        assert (c.last_status, c.last_body) == (503, b"")


def test_failure_status_is_not_used_for_writes(
    make_gateway: GatewayFactory, fresh_slapd: Slapd
) -> None:
    # failurecodes would turn the -1 into an empty body: undefined behaviour in Asterisk.
    gw = make_gateway(failure_status=503)
    fresh_slapd.kill()
    with gw.client(failure_codes={503}) as c:
        assert c.store("sippeers", {"name": "bar"}) == -1
        assert (c.last_status, c.last_body) == (200, b"-1")
        assert not c.last_empty_write


def test_with_failurecodes_asterisk_sees_a_failed_read(
    make_gateway: GatewayFactory, fresh_slapd: Slapd
) -> None:
    gw = make_gateway(failure_status=503)
    fresh_slapd.kill()
    with gw.client(failure_codes={503}) as c:
        assert c.single("sippeers", {"name": "alice"}) is None
        assert c.last_status == 503


def test_a_dead_directory_does_not_slow_answers_down(down: Gateway) -> None:
    import time

    with down.connect() as sock:
        started = time.monotonic()
        for _ in range(20):
            sock.sendall(raw_request(f"127.0.0.1:{down.port}", b"/sippeers/single", b"name=alice"))
            read_raw_response(sock)
        assert time.monotonic() - started < 2.0
