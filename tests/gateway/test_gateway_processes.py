"""Several worker processes (``gateway.processes``): the supervisor spreads long-lived
keep-alive connections over them, survives a worker's death, and /metrics counts every
worker.  Real slapd, real worker processes (spawned), real sockets."""

from __future__ import annotations

import collections
import os
import re
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ara_ldap.config import Settings, load_settings
from ara_ldap.gateway.workers import Supervisor, from_settings
from ara_ldap.testing.curl_client import raw_request, read_raw_response
from ara_ldap.testing.ldap import ldap_backend_config

if TYPE_CHECKING:
    from ara_ldap.testing.slapd import Slapd


def gateway_settings(slapd: Slapd, **gateway: object) -> Settings:
    return load_settings(
        {"backends": {"directory": ldap_backend_config(slapd)}, "gateway": {"port": 0, **gateway}}
    )


class Connection:
    """One keep-alive connection, as one Asterisk thread holds it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def single(self, name: str) -> bytes:
        target, body = b"/sippeers/single", b"name=" + name.encode()
        self.sock.sendall(raw_request(f"127.0.0.1:{self.port}", target, body))
        return read_raw_response(self.sock).split(b"\r\n\r\n", 1)[1]

    def metrics(self) -> str:
        self.sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        return read_raw_response(self.sock).split(b"\r\n\r\n", 1)[1].decode()

    def worker_pid(self) -> int:
        found = re.search(r"^ara_gateway_worker_pid (\d+)$", self.metrics(), re.M)
        assert found, "the answering worker names its pid"
        return int(found.group(1))

    def close(self) -> None:
        self.sock.close()


def requests_counted(text: str) -> int:
    return sum(
        int(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("ara_gateway_requests_total{")
    )


@pytest.fixture
def supervisor(ara_slapd: Slapd) -> Iterator[Supervisor]:
    sup = from_settings(gateway_settings(ara_slapd), processes=2, host="127.0.0.1", port=0)
    sup.start()
    yield sup
    sup.stop()


def wait_for(condition: collections.abc.Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("timed out")
        time.sleep(0.05)


def test_four_long_lived_connections_are_spread_two_per_worker(supervisor: Supervisor) -> None:
    connections = [Connection(supervisor.port) for _ in range(4)]
    try:
        for c in connections:
            assert c.single("alice").startswith(b"name=alice&")
        pids = [c.worker_pid() for c in connections]
        assert [c.worker_pid() for c in connections] == pids  # each stays with its worker
    finally:
        for c in connections:
            c.close()
    assert sorted(collections.Counter(pids).values()) == [2, 2]
    assert set(pids) == set(supervisor.pids())


def test_two_connections_land_on_different_workers(supervisor: Supervisor) -> None:
    first, second = Connection(supervisor.port), Connection(supervisor.port)
    try:
        assert first.worker_pid() != second.worker_pid()
    finally:
        first.close()
        second.close()


def test_a_closed_connection_frees_its_worker_for_the_next(supervisor: Supervisor) -> None:
    first, second = Connection(supervisor.port), Connection(supervisor.port)
    pids = {first.worker_pid(), second.worker_pid()}
    first_pid = first.worker_pid()
    first.close()
    wait_for(lambda: min(w.load for w in supervisor.workers.values()) == 0)
    third = Connection(supervisor.port)
    try:
        assert third.worker_pid() == first_pid
        assert {third.worker_pid(), second.worker_pid()} == pids
    finally:
        second.close()
        third.close()


def test_metrics_count_the_requests_of_every_worker(supervisor: Supervisor) -> None:
    first, second = Connection(supervisor.port), Connection(supervisor.port)
    try:
        before = requests_counted(first.metrics())
        for _ in range(3):
            first.single("alice")
            second.single("bob")
        assert first.worker_pid() != second.worker_pid()
        # Each sees its sibling's counts within the snapshot interval (1 s).
        wait_for(lambda: requests_counted(first.metrics()) == before + 6, seconds=5)
        wait_for(lambda: requests_counted(second.metrics()) == before + 6, seconds=5)
        assert len(re.findall(r"^ara_gateway_worker_info\{", first.metrics(), re.M)) == 2
    finally:
        first.close()
        second.close()


def test_a_killed_worker_is_replaced_and_the_gateway_keeps_serving(
    supervisor: Supervisor,
) -> None:
    victim = Connection(supervisor.port)
    other = Connection(supervisor.port)
    dead = victim.worker_pid()
    survivor = other.worker_pid()
    os.kill(dead, signal.SIGKILL)
    try:
        assert other.single("alice").startswith(b"name=alice&")  # the other is undisturbed
        wait_for(lambda: len(supervisor.pids()) == 2 and dead not in supervisor.pids())
        assert supervisor.restarts == 1
        fresh = [Connection(supervisor.port) for _ in range(2)]
        try:
            assert all(c.single("bob").startswith(b"name=bob&") for c in fresh)
            assert {c.worker_pid() for c in fresh} | {survivor} == set(supervisor.pids())
        finally:
            for c in fresh:
                c.close()
    finally:
        victim.close()
        other.close()


def test_stop_closes_idle_connections_and_ends_every_worker(ara_slapd: Slapd) -> None:
    sup = from_settings(gateway_settings(ara_slapd), processes=2, host="127.0.0.1", port=0)
    sup.start()
    pids = sup.pids()
    idle = Connection(sup.port)
    assert idle.single("alice").startswith(b"name=alice&")
    started = time.monotonic()
    sup.stop()
    assert time.monotonic() - started < 10
    assert idle.sock.recv(10) == b""  # closed by the server, not left hanging
    idle.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_worker_that_cannot_start_fails_the_gateway_with_its_reason(
    ara_slapd: Slapd, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARA_TEST_NO_SUCH_PASSWORD", raising=False)
    settings = gateway_settings(
        ara_slapd, auth={"username": "asterisk", "password_env": "ARA_TEST_NO_SUCH_PASSWORD"}
    )
    sup = from_settings(settings, processes=2, host="127.0.0.1", port=0)
    with pytest.raises(RuntimeError, match="ARA_TEST_NO_SUCH_PASSWORD is not set"):
        sup.start()
    sup.stop()


def test_worker_processes_serve_tls(ara_slapd: Slapd, tmp_path: Path) -> None:
    import shutil
    import ssl
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1"
    command += " -addext subjectAltName=IP:127.0.0.1"
    subprocess.run(
        [*command.split(), "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True
    )
    settings = gateway_settings(ara_slapd, tls={"certfile": str(cert), "keyfile": str(key)})
    sup = from_settings(settings, processes=2, host="127.0.0.1", port=0)
    sup.start()
    context = ssl.create_default_context(cafile=str(cert))
    request = raw_request(f"127.0.0.1:{sup.port}", b"/sippeers/single", b"name=bob")
    try:
        assert sup.url.startswith("https://")
        for _ in range(2):  # one connection to each worker
            plain = socket.create_connection(("127.0.0.1", sup.port), timeout=10)
            with context.wrap_socket(plain, server_hostname="127.0.0.1") as sock:
                sock.sendall(request)
                assert read_raw_response(sock).split(b"\r\n\r\n", 1)[1].startswith(b"name=bob&")
    finally:
        sup.stop()


@pytest.fixture
def cached_supervisor(fresh_slapd: Slapd) -> Iterator[Supervisor]:
    """Two workers, each with the change-driven cache on, over a writable directory."""
    backend = {**ldap_backend_config(fresh_slapd), "cache": {"enabled": True}}
    settings = load_settings({"backends": {"directory": backend}, "gateway": {"port": 0}})
    sup = from_settings(settings, processes=2, host="127.0.0.1", port=0)
    sup.start()
    yield sup
    sup.stop()


def test_a_write_through_one_worker_is_seen_by_the_next_read_through_another(
    cached_supervisor: Supervisor,
) -> None:
    writer, reader = Connection(cached_supervisor.port), Connection(cached_supervisor.port)
    host = f"127.0.0.1:{cached_supervisor.port}"
    try:
        assert writer.worker_pid() != reader.worker_pid()
        time.sleep(1.0)  # both caches have had time to go live (a small directory)
        for i in range(30):
            writer.sock.sendall(
                raw_request(host, b"/sippeers/update?name=alice", b"callerid=caller%d" % i)
            )
            assert read_raw_response(writer.sock).endswith(b"\r\n\r\n1")
            assert b"&callerid=caller%d&" % i in reader.single("alice") + b"&"
    finally:
        writer.close()
        reader.close()
