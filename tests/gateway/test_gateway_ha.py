"""Gateway high availability: two ``ara-ldap serve`` processes over one directory behind
Asterisk's extconfig.conf priority failover (``sippeers => curl,URL1,,1`` then
``sippeers => curl,URL2,,2``), driven by the Asterisk-faithful client's
:class:`PriorityFailover`, which follows the core's failover rules (docs/gateway.md
"High availability")."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from ara_ldap.testing.curl_client import (
    AsteriskCurlClient,
    PriorityFailover,
    raw_request,
    read_raw_response,
)
from ara_ldap.testing.ldap import ldap_backend_config
from ara_ldap.testing.slapd import free_port

if TYPE_CHECKING:
    from ara_ldap.testing.slapd import Slapd

#: res_curl.conf ``httptimeout``: what Asterisk waits for one gateway at most.
HTTPTIMEOUT = 3.0


class ServeProcess:
    """One ``ara-ldap serve`` process (one serving process, no supervisor)."""

    def __init__(self, tmp_path: Path, name: str, backend: dict[str, Any], **gateway: Any):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = tmp_path / f"{name}.yaml"
        settings = {
            "backends": {"directory": backend},
            "gateway": {"port": self.port, "processes": 1, **gateway},
        }
        config.write_text(yaml.safe_dump(settings), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k != "ARA_LDAP_CONFIG"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ara_ldap.cli", "--config", str(config), "serve"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # up when /metrics answers
            if self.proc.poll() is not None:
                pytest.fail(f"{name} exited: {self.proc.communicate()[1]}")
            try:
                self.metrics()
                return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"{name} did not start within 30 s")

    def metrics(self) -> str:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: gw\r\n\r\n")
            return read_raw_response(sock).decode()

    def kill(self) -> None:
        """``kill -9``: no graceful stop, the port refuses connections at once."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


Starter = Callable[..., ServeProcess]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Starter]:
    started: list[ServeProcess] = []

    def make(name: str, backend: dict[str, Any], **gateway: Any) -> ServeProcess:
        process = ServeProcess(tmp_path, name, backend, **gateway)
        started.append(process)
        return process

    yield make
    for process in started:
        process.close()


def asterisk(*gateways: ServeProcess) -> PriorityFailover:
    """One Asterisk server: ``sippeers => curl,<gw>/sippeers,,<n>`` for n = 1, 2, ..."""
    return PriorityFailover(
        [AsteriskCurlClient(g.url, timeout=HTTPTIMEOUT, order="given") for g in gateways]
    )


@pytest.fixture
def pair(fresh_slapd: Slapd, start: Starter) -> tuple[ServeProcess, ServeProcess]:
    """gw1 and gw2 over the same (writable) directory."""
    backend = ldap_backend_config(fresh_slapd)
    return start("gw1", backend), start("gw2", backend)


def test_a_read_is_answered_by_the_second_gateway_when_the_first_is_killed(
    pair: tuple[ServeProcess, ServeProcess],
) -> None:
    gw1, gw2 = pair
    with asterisk(gw1, gw2) as pbx:
        assert pbx.single("sippeers", {"name": "alice"}) is not None
        assert pbx.answered_by == 1
        gw1.kill()
        started = time.monotonic()
        peer = pbx.single("sippeers", {"name": "alice"})
        elapsed = time.monotonic() - started
    assert peer is not None and peer.get("name") == "alice"
    assert pbx.answered_by == 2
    assert elapsed < 1.0  # connection refused: no timeout spent on the dead gateway


def test_writes_fail_over_to_the_second_gateway_when_the_first_is_killed(
    pair: tuple[ServeProcess, ServeProcess],
) -> None:
    gw1, gw2 = pair
    gw1.kill()
    with asterisk(gw1, gw2) as pbx:
        assert pbx.store("sippeers", [("name", "hapeer"), ("host", "dynamic")]) == 1
        assert pbx.answered_by == 2
        assert pbx.update("sippeers", "name", "hapeer", [("host", "192.0.2.7")]) == 1
        assert pbx.answered_by == 2
    with AsteriskCurlClient(gw2.url) as direct:
        peer = direct.single("sippeers", {"name": "hapeer"})
        assert peer is not None and peer.get("host") == "192.0.2.7"
        assert direct.destroy("sippeers", [("name", "hapeer")]) == 1


def test_a_first_gateway_answering_with_the_failure_encoding_moves_asterisk_to_the_second(
    fresh_slapd: Slapd, start: Starter
) -> None:
    # gw1 is up but its directory is not (a closed port): every call is a backend failure,
    # answered with the failure encoding (reads: empty body; writes: -1).
    dead = ldap_backend_config(fresh_slapd, urls=[f"ldap://127.0.0.1:{free_port()}"])
    gw1 = start("gw1", dead)
    gw2 = start("gw2", ldap_backend_config(fresh_slapd))
    with asterisk(gw1, gw2) as pbx:
        peer = pbx.single("sippeers", {"name": "alice"})
        assert peer is not None and peer.get("name") == "alice"
        assert pbx.answered_by == 2
        first = pbx.clients[0]
        assert first.last_status == 200 and first.last_body == b""  # the failure, as sent
        assert pbx.store("sippeers", [("name", "hapeer2"), ("host", "dynamic")]) == 1
        assert pbx.answered_by == 2
        assert first.last_body == b"-1"
        assert pbx.destroy("sippeers", [("name", "hapeer2")]) == 1
    assert "ara_gateway_backend_errors_total" in gw1.metrics()


def test_a_shedding_first_gateway_moves_asterisk_to_the_second_at_once(
    fresh_slapd: Slapd, start: Starter
) -> None:
    # gw1's directory accepts TCP and never answers (a hung server): one worker, a queue
    # of one; two requests fill them, the next is shed at once with the failure encoding.
    with socket.socket() as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(64)
        hung = ldap_backend_config(
            fresh_slapd, urls=[f"ldap://127.0.0.1:{blackhole.getsockname()[1]}"], timeout=5
        )
        gw1 = start("gw1", hung, workers=1, max_queue=1)
        gw2 = start("gw2", ldap_backend_config(fresh_slapd))
        stuck = [socket.create_connection(("127.0.0.1", gw1.port), timeout=30) for _ in (1, 2)]
        try:
            for sock in stuck:
                sock.sendall(raw_request(f"127.0.0.1:{gw1.port}", b"/sippeers/single", b"name=x"))
                time.sleep(0.2)  # in order: the first takes the worker, the second queues
            with asterisk(gw1, gw2) as pbx:
                started = time.monotonic()
                peer = pbx.single("sippeers", {"name": "alice"})
                elapsed = time.monotonic() - started
            assert peer is not None and peer.get("name") == "alice"
            assert pbx.answered_by == 2
            assert elapsed < 1.0  # shed in milliseconds, not after gw1's 5 s deadline
            assert "ara_gateway_shed_total 1" in gw1.metrics()
        finally:
            for sock in stuck:
                sock.close()


def test_multi_does_not_fail_over_as_in_asterisk(
    pair: tuple[ServeProcess, ServeProcess],
) -> None:
    # res_config_curl always returns a config object for multi (empty when CURL() failed),
    # and the core stops at the first non-NULL one: a dead priority 1 gives no rows.
    gw1, gw2 = pair
    with asterisk(gw1, gw2) as pbx:
        assert pbx.multi("sippeers", [("name LIKE", "%")])
        gw1.kill()
        assert pbx.multi("sippeers", [("name LIKE", "%")]) == []
        assert pbx.answered_by == 1


def test_two_asterisk_servers_share_the_directory_through_either_gateway(
    pair: tuple[ServeProcess, ServeProcess],
) -> None:
    gw1, gw2 = pair
    with asterisk(gw1, gw2) as pbx_a, asterisk(gw2, gw1) as pbx_b:
        assert pbx_a.store("sippeers", [("name", "shared"), ("host", "dynamic")]) == 1
        assert pbx_a.answered_by == 1
        seen = pbx_b.single("sippeers", {"name": "shared"})  # written via gw1, read via gw2
        assert seen is not None and pbx_b.answered_by == 1
        gw1.kill()
        results: list[object] = []

        def read(pbx: PriorityFailover) -> None:
            results.append(pbx.single("sippeers", {"name": "shared"}))

        threads = [threading.Thread(target=read, args=(p,)) for p in (pbx_a, pbx_b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert len(results) == 2 and all(r is not None for r in results)
        assert pbx_a.destroy("sippeers", [("name", "shared")]) == 1
        assert pbx_a.answered_by == 2


def test_extconfig_prints_both_gateways_as_priorities_1_and_2(tmp_path: Path) -> None:
    backend = {"type": "ldap", "urls": ["ldap://127.0.0.1:9"], "base_dn": "dc=example,dc=org"}
    config = tmp_path / "ara-ldap.yaml"
    config.write_text(yaml.safe_dump({"backends": {"directory": backend}}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "ARA_LDAP_CONFIG"}
    command = [sys.executable, "-m", "ara_ldap.cli", "--config", str(config), "extconfig"]
    command += ["--url", "http://gw1:8389", "--url", "http://gw2:8389"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "sippeers => curl,http://gw1:8389/sippeers,sippeers,1" in lines
    assert "sippeers => curl,http://gw2:8389/sippeers,sippeers,2" in lines
    assert ";sip.conf => curl,http://gw1:8389/ast_config" in lines  # static: priority 1 only
