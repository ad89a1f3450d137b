"""The gateway's own HTTP/1.1 server: pipelining, header and URL limits, the keep-alive
timeout and graceful stop, on the real app and a real slapd."""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING

import pytest

from ara_ldap.testing.curl_client import raw_request, read_raw_response

if TYPE_CHECKING:
    from conftest import Gateway, GatewayFactory


def single(port: int, name: bytes) -> bytes:
    return raw_request(f"127.0.0.1:{port}", b"/sippeers/single", b"name=" + name)


def body_of(response: bytes) -> bytes:
    return response.split(b"\r\n\r\n", 1)[1]


def read_bodies(sock: socket.socket, count: int) -> list[bytes]:
    """``count`` responses read back to back from one connection (their bodies)."""
    data, bodies = b"", []
    while len(bodies) < count:
        head, sep, rest = data.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            -1,
        )
        if sep and 0 <= length <= len(rest):
            bodies.append(rest[:length])
            data = rest[length:]
            continue
        chunk = sock.recv(65536)
        assert chunk, "closed before every answer came"
        data += chunk
    return bodies


def test_pipelined_requests_are_answered_in_order(gateway: Gateway) -> None:
    names = [b"alice", b"nobody", b"bob", b"alice"]
    with gateway.connect() as sock:
        sock.sendall(b"".join(single(gateway.port, n) for n in names))
        bodies = read_bodies(sock, len(names))
    assert [b.split(b"&", 1)[0] for b in bodies] == [b"name=alice", b"", b"name=bob", b"name=alice"]


def test_too_many_headers_are_431_and_closed(gateway: Gateway) -> None:
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n"
    with gateway.connect() as sock:
        sock.sendall(request)
        response = read_raw_response(sock)
        assert response.startswith(b"HTTP/1.1 431 ")
        assert sock.recv(10) == b""


def test_headers_over_64_kib_are_431(gateway: Gateway) -> None:
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n"
    with gateway.connect() as sock:
        sock.sendall(request)
        assert read_raw_response(sock).startswith(b"HTTP/1.1 431 ")


def test_a_url_over_8_kib_is_414(gateway: Gateway) -> None:
    request = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    with gateway.connect() as sock:
        sock.sendall(request)
        assert read_raw_response(sock).startswith(b"HTTP/1.1 414 ")


def test_an_idle_connection_is_closed_after_the_keepalive_timeout(
    make_gateway: GatewayFactory,
) -> None:
    gw = make_gateway(keepalive_timeout=0.3)
    with gw.connect() as sock:
        sock.sendall(single(gw.port, b"alice"))
        assert body_of(read_raw_response(sock)).startswith(b"name=alice&")
        started = time.monotonic()
        assert sock.recv(10) == b""
        assert 0.2 < time.monotonic() - started < 3


def test_a_busy_connection_is_not_closed_by_the_keepalive_timeout(
    make_gateway: GatewayFactory,
) -> None:
    gw = make_gateway(keepalive_timeout=0.5)
    with gw.connect() as sock:
        for _ in range(15):  # 1.5 s of requests 0.1 s apart on one connection
            sock.sendall(single(gw.port, b"alice"))
            assert body_of(read_raw_response(sock)).startswith(b"name=alice&")
            time.sleep(0.1)


def test_graceful_stop_finishes_the_request_in_flight_then_closes(
    writable: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered = threading.Event()
    single_call = writable.realtime.single

    def slow(*args: object) -> object:
        entered.set()
        time.sleep(0.5)
        return single_call(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(writable.realtime, "single", slow)
    with writable.connect() as busy, writable.connect() as idle:
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        read_raw_response(idle)
        busy.sendall(single(writable.port, b"alice"))
        assert entered.wait(5)
        stopper = threading.Thread(target=writable.server.stop)
        stopper.start()
        assert idle.recv(10) == b""  # idle keep-alive connections are closed at once
        response = read_raw_response(busy)
        assert body_of(response).startswith(b"name=alice&")
        assert b"connection: close" in response.lower()
        assert busy.recv(10) == b""
        stopper.join(10)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", writable.port), timeout=1).close()


def test_an_upgrade_request_is_400_not_misread(gateway: Gateway) -> None:
    request = single(gateway.port, b"alice").replace(
        b"\r\nContent-Length", b"\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length", 1
    )
    with gateway.connect() as sock:
        sock.sendall(request)
        response = read_raw_response(sock)
        assert response.startswith(b"HTTP/1.1 400 ")
        assert sock.recv(10) == b""


def test_a_client_that_half_closes_gets_its_answer_then_the_close(gateway: Gateway) -> None:
    with gateway.connect() as sock:
        sock.sendall(single(gateway.port, b"alice"))
        sock.shutdown(socket.SHUT_WR)
        assert body_of(read_raw_response(sock)).startswith(b"name=alice&")
        assert sock.recv(10) == b""
