"""``ara-ldap demo`` serves the PJSIP fixtures through the gateway (issue 9, item 5)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from urllib.parse import parse_qsl

import pytest

from ara_ldap.testing.pytest_plugin import _require_slapd

HASH = "0123456789abcdef0123456789abcdef"
DEMO = [sys.executable, "-m", "ara_ldap.cli", "demo"]


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running ``ara-ldap demo`` (its own slapd and gateway); the gateway's URL."""
    _require_slapd()
    config = tmp_path_factory.mktemp("demo") / "ara-ldap.yaml"
    env = {k: v for k, v in os.environ.items() if k != "ARA_LDAP_CONFIG"}
    proc = subprocess.Popen(
        [*DEMO, "--write-config", str(config), "--gateway-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    url = None
    deadline = time.monotonic() + 60
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Gateway (Asterisk res_config_curl protocol): "):
            url = line.split(": ", 1)[1].strip()
        if line.startswith("Press Ctrl-C"):
            break
    try:
        assert url is not None, "".join(lines)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)


def post(url: str, body: str) -> list[tuple[str, str]]:
    """One request as res_config_curl sends it; the first row's pairs."""
    request = urllib.request.Request(url, data=body.encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as reply:
        text = reply.read().decode()
    first = text.splitlines()[0] if text else ""
    return parse_qsl(first, keep_blank_values=True)


def test_the_demo_serves_a_person_endpoint_with_its_codecs_in_order(demo_url: str) -> None:
    pairs = post(f"{demo_url}/ps_endpoints/single", "id=1001")
    assert [v for k, v in pairs if k == "allow"] == ["g722", "ulaw", "alaw"]


def test_the_demo_identifies_the_trunk_by_ip(demo_url: str) -> None:
    pairs = post(f"{demo_url}/ps_endpoint_id_ips/multi", "id%20LIKE=%25")
    assert ("endpoint", "itsp") in pairs


def test_the_demo_stores_a_contact_and_finds_it_by_aor_prefix(demo_url: str) -> None:
    contact_id = f"1001%3B%40{HASH}"
    post(f"{demo_url}/ps_contacts/store", f"id={contact_id}&endpoint=1001&expiration_time=5")
    pairs = post(f"{demo_url}/ps_contacts/multi", "id%20LIKE=1001%3B%40%25")
    assert ("id", f"1001;@{HASH}") in pairs
