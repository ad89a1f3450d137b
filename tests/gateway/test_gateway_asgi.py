"""The ASGI adapter (``GatewayApp.__call__``) on uvicorn: for sites that mount the app in
an ASGI server instead of ``ara-ldap serve``'s own; the same answers on the wire."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from ara_ldap.gateway.app import GatewayApp
from ara_ldap.testing.curl_client import AsteriskCurlClient, raw_request, read_raw_response

if TYPE_CHECKING:
    from conftest import Gateway

    from ara_ldap.gateway.uvicorn_server import UvicornServer

pytest.importorskip("uvicorn")


@pytest.fixture(scope="module")
def asgi(gateway: Gateway) -> Iterator[UvicornServer]:
    from ara_ldap.gateway.uvicorn_server import UvicornServer

    server = UvicornServer(GatewayApp(gateway.realtime, workers=2), port=0)
    server.start()
    yield server
    server.stop()


def test_the_asgi_adapter_answers_like_the_lean_server(
    gateway: Gateway, asgi: UvicornServer
) -> None:
    with AsteriskCurlClient(asgi.url) as over_asgi, gateway.client() as lean:
        for name in ("alice", "bob", "nobody"):
            assert over_asgi.single("sippeers", {"name": name}) == lean.single(
                "sippeers", {"name": name}
            )
            assert over_asgi.last_body == lean.last_body
        assert over_asgi.connections_opened == 1


def test_the_asgi_adapter_refuses_a_body_over_the_limit(asgi: UvicornServer) -> None:
    import socket

    body = b"name=" + b"a" * 70000
    with socket.create_connection(("127.0.0.1", asgi.port), timeout=5) as sock:
        sock.sendall(raw_request(f"127.0.0.1:{asgi.port}", b"/sippeers/store", body))
        response = read_raw_response(sock)
    assert response.startswith(b"HTTP/1.1 413 ")
    assert response.endswith(b"\r\n\r\n-1")


def test_the_asgi_adapter_serves_metrics(asgi: UvicornServer) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", asgi.port), timeout=5) as sock:
        sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        response = read_raw_response(sock)
    assert response.startswith(b"HTTP/1.1 200 ")
    assert b"ara_gateway_in_flight" in response
