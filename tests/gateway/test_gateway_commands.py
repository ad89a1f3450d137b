"""``ara-ldap extconfig`` and ``ara-ldap serve`` as an administrator runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from ara_ldap.testing.curl_client import AsteriskCurlClient
from ara_ldap.testing.ldap import ldap_backend_config
from ara_ldap.testing.slapd import free_port

if TYPE_CHECKING:
    from ara_ldap.testing.slapd import Slapd


def cli(config: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ARA_LDAP_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "ara_ldap.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def write(path: Path, data: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture
def offline_config(tmp_path: Path) -> Path:
    """A configuration whose directory is never contacted (extconfig reads settings only)."""
    return write(
        tmp_path / "ara-ldap.yaml",
        {
            "backends": {
                "directory": {
                    "type": "ldap",
                    "urls": ["ldap://127.0.0.1:9"],
                    "base_dn": "dc=example,dc=org",
                }
            },
        },
    )


def test_extconfig_prints_one_curl_line_per_family(offline_config: Path) -> None:
    result = cli(offline_config, "extconfig", "--url", "http://10.0.0.5:8389/rt")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "[settings]" in lines
    for family in ("sippeers", "sipregs", "iaxpeers", "voicemail", "extensions"):
        assert f"{family} => curl,http://10.0.0.5:8389/rt/{family}" in lines
    assert not any(line.startswith("ast_config =>") for line in lines)


def test_extconfig_shows_static_files_and_the_global_variant_commented(
    offline_config: Path,
) -> None:
    result = cli(offline_config, "extconfig", "--url", "http://gw:8389", "--file", "sip.conf")
    lines = result.stdout.splitlines()
    assert "sip.conf => curl,http://gw:8389/ast_config" in lines
    assert ";global => curl,http://gw:8389/ast_config" in lines


def test_extconfig_recommends_timeouts_in_seconds(offline_config: Path) -> None:
    out = cli(offline_config, "extconfig", "--url", "http://gw:8389").stdout
    # The backend's default timeout is 5 s: the gateway's call deadline; curl waits 1 s more.
    assert "[globals]" in out and "httptimeout=6" in out and "conntimeout=1" in out
    assert "Seconds, not milliseconds" in out
    assert "hashcompat" in out and "header" in out


def test_extconfig_httptimeout_follows_the_longest_backend_timeout(tmp_path: Path) -> None:
    backend = {"type": "ldap", "urls": ["ldap://127.0.0.1:9"], "base_dn": "dc=example,dc=org"}
    config = write(
        tmp_path / "ara-ldap.yaml",
        {"backends": {"a": {**backend, "timeout": 2}, "b": {**backend, "timeout": 3}}},
    )
    out = cli(config, "extconfig", "--url", "http://gw:8389").stdout.splitlines()
    assert "httptimeout=4" in out


def test_extconfig_mentions_auth_without_printing_the_password(tmp_path: Path) -> None:
    secret = tmp_path / "gw-password"
    secret.write_text("T0pS3cret\n")
    config = write(
        tmp_path / "ara-ldap.yaml",
        {
            "backends": {
                "directory": {
                    "type": "ldap",
                    "urls": ["ldap://127.0.0.1:9"],
                    "base_dn": "dc=example,dc=org",
                }
            },
            "gateway": {
                "auth": {"username": "asterisk", "password_file": str(secret)},
                "failure_status": 503,
            },
        },
    )
    out = cli(config, "extconfig", "--url", "http://gw:8389").stdout
    assert ";userpwd=asterisk:PASSWORD" in out
    assert "failurecodes=503" in out
    assert "T0pS3cret" not in out


@pytest.mark.parametrize(
    "url",
    [
        "http://gw:8389/a,b",
        "http://gw:8389/x?y",
        "ftp://gw/",
        "http://gw/" + "p" * 260,
        "http://gw/${X}",
    ],
)
def test_extconfig_refuses_urls_asterisk_cannot_use(offline_config: Path, url: str) -> None:
    result = cli(offline_config, "extconfig", "--url", url)
    assert result.returncode == 1
    assert result.stderr.startswith("ara-ldap: error: --url")


def test_an_invalid_gateway_section_is_a_one_line_error(tmp_path: Path) -> None:
    config = write(
        tmp_path / "ara-ldap.yaml",
        {
            "backends": {
                "directory": {
                    "type": "ldap",
                    "urls": ["ldap://127.0.0.1:9"],
                    "base_dn": "dc=example,dc=org",
                }
            },
            "gateway": {"max_body_bytes": 10},
        },
    )
    result = cli(config, "extconfig", "--url", "http://gw:8389")
    assert result.returncode == 1
    assert "gateway.max_body_bytes" in result.stderr


@pytest.fixture
def serving(fresh_slapd: Slapd, tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    config = write(
        tmp_path / "ara-ldap.yaml",
        {
            "backends": {"directory": ldap_backend_config(fresh_slapd)},
            "gateway": {"port": port, "prefix": "/rt"},
        },
    )
    env = {k: v for k, v in os.environ.items() if k != "ARA_LDAP_CONFIG"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ara_ldap.cli", "--config", str(config), "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 20
    client = AsteriskCurlClient(f"http://127.0.0.1:{port}/rt", timeout=2)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve exited: {proc.communicate()}")
        if client.single("sippeers", {"name": "alice"}) is not None:
            break
        time.sleep(0.1)
    client.close()
    yield proc, port
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def test_serve_answers_asterisk_on_the_configured_port_and_prefix(
    serving: tuple[subprocess.Popen[str], int],
) -> None:
    _, port = serving
    with AsteriskCurlClient(f"http://127.0.0.1:{port}/rt") as c:
        assert c.store("sippeers", {"name": "bar", "host": "dynamic"}) == 1
        assert c.destroy("sippeers", [("name", "bar")]) == 1


def test_serve_stops_gracefully_on_sigterm_and_logs_requests(
    serving: tuple[subprocess.Popen[str], int],
) -> None:
    proc, port = serving
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert f"on http://127.0.0.1:{port}/rt" in stderr
    assert "POST /rt/sippeers/single 200 ok" in stderr
    assert "fake-alice-secret" not in stderr and "Traceback" not in stderr
    assert stderr.rstrip().endswith("stopped")


def test_serve_reports_a_busy_port_in_one_line(fresh_slapd: Slapd, tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        config = write(
            tmp_path / "ara-ldap.yaml",
            {
                "backends": {"directory": ldap_backend_config(fresh_slapd)},
                "gateway": {"port": busy.getsockname()[1]},
            },
        )
        result = cli(config, "serve", timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("ara-ldap: error: cannot listen")
