"""``ara-ldap notify --dry-run`` as a process: prints the actions a change calls for."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from ara_ldap.testing.ldap import ldap_backend_config
from ara_ldap.testing.slapd import Slapd

ROW = "cn=sip.conf:30:0,ou=config,ou=asterisk,dc=example,dc=org"


def _read_until(proc: subprocess.Popen[bytes], want: str, timeout: float) -> str:
    """Raw reads of stdout (no buffered readline: select would miss buffered lines)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    seen = b""
    deadline = time.monotonic() + timeout
    while want.encode() not in seen and time.monotonic() < deadline:
        if sel.select(timeout=0.1):
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            seen += chunk
    return seen.decode()


def test_dry_run_prints_the_reload_and_stops_on_sigterm(fresh_slapd: Slapd, tmp_path: Path) -> None:
    config = tmp_path / "ara-ldap.yaml"
    backend = ldap_backend_config(
        fresh_slapd, cache={"probe_interval": 0.05, "families": ["ast_config"]}
    )
    config.write_text(
        yaml.safe_dump({"backends": {"directory": backend}, "notify": {"debounce": 0.1}})
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "ara_ldap.cli", "-c", str(config), "notify", "--dry-run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        time.sleep(3.0)  # the cache goes live (a change before that is a refresh)
        fresh_slapd.ldapmodify_text(
            f"dn: {ROW}\nchangetype: modify\nreplace: AstConfigVariableValue\n"
            "AstConfigVariableValue: from-cli\n"
        )
        out = _read_until(proc, "Module: chan_sip.so", timeout=10)
        proc.send_signal(signal.SIGTERM)
        rest, errb = proc.communicate(timeout=15)
        out += rest.decode()
        err = errb.decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Action: Reload\nModule: chan_sip.so\n" in out, (out, err)
    assert proc.returncode == 0, err
    assert "watching ast_config" in err
    assert "'batches': 1" in err
