"""HTTP behaviour of the gateway: keep-alive, Expect: 100-continue, one write per answer,
limits, errors as Asterisk reads them, auth, prefix, health, metrics, access log."""

from __future__ import annotations

import base64
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ara_ldap.testing.curl_client import raw_request, read_raw_response

if TYPE_CHECKING:
    from conftest import Gateway, GatewayFactory


def asterisk_request(port: int, target: bytes, body: bytes | None) -> bytes:
    return raw_request(f"127.0.0.1:{port}", target, body)


def raw(gw: Gateway, request: bytes) -> bytes:
    with gw.connect() as sock:
        sock.sendall(request)
        return read_raw_response(sock)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def body_of(response: bytes) -> bytes:
    return response.split(b"\r\n\r\n", 1)[1]


def header(response: bytes, name: bytes) -> bytes | None:
    for line in response.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


# Connections ---------------------------------------------------------------------------


def test_one_connection_serves_many_requests(gateway: Gateway) -> None:
    with gateway.client() as c:
        for _ in range(25):
            assert c.single("sippeers", {"name": "bob"}) is not None
        assert c.connections_opened == 1


class CountingTransport:
    """Stands in for a connection's transport and records every write."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


def test_each_answer_is_sent_in_one_write(gateway: Gateway) -> None:
    with gateway.connect() as sock:
        sock.sendall(asterisk_request(gateway.port, b"/sippeers/single", b"name=bob"))
        read_raw_response(sock)  # the connection exists now: watch its writes
        assert gateway.server.http is not None
        (conn,) = [
            c
            for c in gateway.server.http.connections
            if c.transport is not None
            and c.transport.get_extra_info("peername") == sock.getsockname()
        ]
        counting = CountingTransport(conn.transport)
        conn.transport = counting  # type: ignore[assignment]
        answers = []
        for name in (b"bob", b"nobody"):
            sock.sendall(asterisk_request(gateway.port, b"/sippeers/single", b"name=" + name))
            answers.append(read_raw_response(sock))
    assert counting.writes == answers


def test_answers_go_out_with_nagle_off(gateway: Gateway) -> None:
    import socket

    with gateway.connect() as sock:
        sock.sendall(asterisk_request(gateway.port, b"/sippeers/single", b"name=bob"))
        read_raw_response(sock)
        assert gateway.server.http is not None
        (conn,) = [
            c
            for c in gateway.server.http.connections
            if c.transport is not None
            and c.transport.get_extra_info("peername") == sock.getsockname()
        ]
        server_side = conn.transport.get_extra_info("socket") if conn.transport else None
        assert server_side is not None
        assert server_side.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_expect_100_continue_is_answered_at_once(gateway: Gateway) -> None:
    body = b"name=alice"
    head = asterisk_request(gateway.port, b"/sippeers/single", body)[: -len(body)]
    head = head[:-2] + b"Expect: 100-continue\r\n\r\n"
    with gateway.connect() as sock:
        started = time.monotonic()
        sock.sendall(head)
        interim = sock.recv(100)
        elapsed = time.monotonic() - started
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        assert elapsed < 0.1
        sock.sendall(body)
        assert status_of(read_raw_response(sock)) == 200


def test_http_1_0_requests_are_answered_and_closed(gateway: Gateway) -> None:
    request = (
        b"POST /sippeers/single HTTP/1.0\r\nContent-Length: 8\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\nname=bob"
    )
    with gateway.connect() as sock:
        sock.sendall(request)
        response = read_raw_response(sock)
        assert status_of(response) == 200 and body_of(response).startswith(b"name=bob&")
        assert sock.recv(10) == b""


def test_chunked_request_bodies_are_accepted(gateway: Gateway) -> None:
    request = (
        b"POST /sippeers/single HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nname=\r\n3\r\nbob\r\n0\r\n\r\n"
    )
    assert body_of(raw(gateway, request)).startswith(b"name=bob&")


# Limits and bad input -----------------------------------------------------------------------


def test_a_body_over_the_limit_is_413_with_the_failure_body(gateway: Gateway) -> None:
    body = b"name=" + b"a" * 70000
    response = raw(gateway, asterisk_request(gateway.port, b"/sippeers/store", body))
    assert status_of(response) == 413
    assert body_of(response) == b"-1"
    assert header(response, b"connection") == b"close"


def test_an_oversized_body_announced_with_expect_is_refused_without_100_continue(
    gateway: Gateway,
) -> None:
    head = asterisk_request(gateway.port, b"/sippeers/single", b"x" * 70000)[:-70000]
    head = head[:-2] + b"Expect: 100-continue\r\n\r\n"
    with gateway.connect() as sock:
        sock.sendall(head)
        response = read_raw_response(sock)
    assert response.startswith(b"HTTP/1.1 413 ")


def test_a_chunked_body_over_the_limit_is_413(gateway: Gateway) -> None:
    chunk = b"a" * 40000
    request = (
        b"POST /sippeers/single HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 2
        + b"0\r\n\r\n"
    )
    assert status_of(raw(gateway, request)) == 413


def test_bad_percent_encoding_is_400_empty_for_reads(gateway: Gateway) -> None:
    response = raw(gateway, asterisk_request(gateway.port, b"/sippeers/single", b"name=%ZZ"))
    assert (status_of(response), body_of(response)) == (400, b"")


def test_bad_percent_encoding_is_400_minus_one_for_writes(gateway: Gateway) -> None:
    response = raw(gateway, asterisk_request(gateway.port, b"/sippeers/store", b"name=%4"))
    assert (status_of(response), body_of(response)) == (400, b"-1")


def test_invalid_utf8_is_400(gateway: Gateway) -> None:
    response = raw(gateway, asterisk_request(gateway.port, b"/sippeers/single", b"name=%FF%FE"))
    assert status_of(response) == 400


def test_an_unknown_field_is_400_with_the_failure_body(gateway: Gateway) -> None:
    response = raw(gateway, asterisk_request(gateway.port, b"/sippeers/destroy", b"nosuchfield=x&"))
    assert (status_of(response), body_of(response)) == (400, b"-1")


def test_an_unknown_family_is_404_and_logged(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="ara_ldap.gateway"):
        response = raw(gateway, asterisk_request(gateway.port, b"/nosuch/update?name=x", b"host=y"))
    assert (status_of(response), body_of(response)) == (404, b"-1")
    assert any("unknown family 'nosuch'" in r.getMessage() for r in caplog.records)


def test_an_unknown_operation_is_404(gateway: Gateway) -> None:
    response = raw(gateway, asterisk_request(gateway.port, b"/sippeers/select", b"name=x"))
    assert status_of(response) == 404


def test_the_wrong_method_is_405_with_allow(gateway: Gateway) -> None:
    response = raw(gateway, asterisk_request(gateway.port, b"/sippeers/single", None))
    assert status_of(response) == 405 and header(response, b"allow") == b"POST"


def test_a_static_request_without_file_is_400_empty(gateway: Gateway) -> None:
    response = raw(gateway, asterisk_request(gateway.port, b"/ast_config/static", None))
    assert (status_of(response), body_of(response)) == (400, b"")


# Prefix and auth ------------------------------------------------------------------------------


def test_a_prefix_moves_every_family_under_it(make_gateway: GatewayFactory) -> None:
    gw = make_gateway(prefix="/rt")
    assert gw.url.endswith("/rt")
    with gw.client() as c:
        assert c.single("sippeers", {"name": "alice"}) is not None
    response = raw(gw, asterisk_request(gw.port, b"/sippeers/single", b"name=alice"))
    assert status_of(response) == 404


@pytest.fixture
def authed(make_gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch) -> Gateway:
    monkeypatch.setenv("GW_TEST_PASSWORD", "pa:ss word")
    return make_gateway(auth={"username": "asterisk", "password_env": "GW_TEST_PASSWORD"})


def _with_auth(request: bytes, credentials: bytes) -> bytes:
    token = base64.b64encode(credentials)
    return request.replace(
        b"\r\nUser-Agent", b"\r\nAuthorization: Basic " + token + b"\r\nUser-Agent", 1
    )


def test_without_credentials_the_answer_is_401_with_a_challenge(authed: Gateway) -> None:
    response = raw(authed, asterisk_request(authed.port, b"/sippeers/single", b"name=alice"))
    assert status_of(response) == 401
    assert header(response, b"www-authenticate") == b'Basic realm="ara-ldap"'


def test_wrong_credentials_are_401(authed: Gateway) -> None:
    request = _with_auth(
        asterisk_request(authed.port, b"/sippeers/single", b"name=alice"), b"asterisk:wrong"
    )
    assert status_of(raw(authed, request)) == 401


def test_right_credentials_are_served(authed: Gateway) -> None:
    with authed.client(userpwd=("asterisk", "pa:ss word")) as c:
        assert c.single("sippeers", {"name": "alice"}) is not None


def test_healthz_needs_no_credentials(authed: Gateway) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    assert status_of(raw(authed, request)) == 200


def test_metrics_need_credentials(authed: Gateway) -> None:
    assert status_of(raw(authed, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")) == 401


# Health, metrics, log -------------------------------------------------------------------------


def test_healthz_is_ok_while_the_directory_answers(gateway: Gateway) -> None:
    response = raw(gateway, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status_of(response), body_of(response)) == (200, b"ok\n")


def test_metrics_count_requests_by_family_operation_and_outcome(gateway: Gateway) -> None:
    with gateway.client() as c:
        c.single("sippeers", {"name": "alice"})
        c.single("sippeers", {"name": "nobody"})
    text = body_of(raw(gateway, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")).decode()
    assert 'ara_gateway_requests_total{family="sippeers",operation="single",outcome="ok"}' in text
    assert (
        'ara_gateway_requests_total{family="sippeers",operation="single",outcome="not_found"}'
    ) in text
    assert 'ara_gateway_request_duration_seconds_bucket{operation="single",le="+Inf"}' in text
    assert "ara_gateway_in_flight" in text


def test_access_log_has_one_line_without_bodies_or_secrets(
    writable: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    def lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "ara_ldap.gateway.access"]

    with caplog.at_level(logging.INFO, logger="ara_ldap.gateway.access"), writable.client() as c:
        c.store("sippeers", {"name": "bar", "secret": "Sup3rSecret"})
        c.update("sippeers", "secret", "Sup3rSecret", {"secret": "N3wSecret"})
        deadline = time.monotonic() + 2  # the line is written just after the answer is sent
        while len(lines()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    lines = lines()
    assert len(lines) == 2
    assert lines[0].startswith("POST /sippeers/store 200 ok ")
    assert lines[1].startswith("POST /sippeers/update?secret=******** 200 ok ")
    assert not any("Secret" in line for line in lines)


def test_a_request_cut_off_mid_body_does_not_disturb_the_server(gateway: Gateway) -> None:
    with gateway.connect() as sock:
        request = asterisk_request(gateway.port, b"/sippeers/single", b"name=alice")
        sock.sendall(request[:-3])
    with gateway.client() as c:
        assert c.single("sippeers", {"name": "alice"}) is not None


def test_garbage_instead_of_http_gets_400_or_a_close(gateway: Gateway) -> None:
    with gateway.connect() as sock:
        sock.sendall(b"\x16\x03\x01\x02\x00 not http at all\r\n\r\n")
        sock.settimeout(5)
        try:
            data = sock.recv(100)
        except (TimeoutError, ConnectionResetError):  # pragma: no cover - either is fine
            data = b""
    assert data == b"" or data.startswith(b"HTTP/1.1 400")
    assert status_of(raw(gateway, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")) == 200


# TLS ----------------------------------------------------------------------------------------


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls_serves_https_with_the_configured_certificate(
    make_gateway: GatewayFactory, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    gw = make_gateway(tls={"certfile": str(cert), "keyfile": str(key)})
    assert gw.url.startswith("https://")
    with gw.client(cafile=str(cert)) as c:
        assert c.single("sippeers", {"name": "alice"}) is not None
        assert c.single("sippeers", {"name": "bob"}) is not None
        assert c.connections_opened == 1


def test_a_newline_in_the_path_cannot_forge_an_access_log_line(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    def messages() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name.startswith("ara_ldap.gateway")]

    with caplog.at_level(logging.INFO, logger="ara_ldap.gateway"):
        response = raw(gateway, asterisk_request(gateway.port, b"/x%0AFAKE/single", b"name=x"))
        deadline = time.monotonic() + 2
        while len(messages()) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert status_of(response) == 404
    assert len(messages()) == 2  # the unknown-family warning and the access line
    assert all("\n" not in m for m in messages())


def test_an_unexpected_backend_exception_still_answers_minus_one_for_writes(
    writable: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> int:
        raise TypeError("a bug somewhere below the core")

    monkeypatch.setattr(writable.realtime, "store", broken)
    with writable.client() as c:
        assert c.store("sippeers", {"name": "bar"}) == -1
        assert (c.last_status, c.last_body) == (500, b"-1")
        assert c.single("sippeers", {"name": "alice"}) is not None  # still serving
