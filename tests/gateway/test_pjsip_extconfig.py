"""``ara-ldap extconfig`` prints the sorcery.conf lines for the PJSIP families, keyed on
each family's ``sorcery`` setting, with the memory_cache advice of pjsip.md 2.2/5.9."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

URL = "http://gw:8389"


def extconfig(tmp_path: Path, **ldap: Any) -> list[str]:
    backend = {"type": "ldap", "urls": ["ldap://127.0.0.1:9"], "base_dn": "dc=example,dc=org"}
    config = tmp_path / "ara-ldap.yaml"
    config.write_text(yaml.safe_dump({"backends": {"directory": {**backend, **ldap}}}))
    env = {k: v for k, v in os.environ.items() if k != "ARA_LDAP_CONFIG"}
    result = subprocess.run(
        [sys.executable, "-m", "ara_ldap.cli", "--config", str(config), "extconfig", "--url", URL],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def section(lines: list[str], name: str) -> list[str]:
    """The lines of one sorcery.conf section (up to the next blank line)."""
    start = lines.index(f"[{name}]") + 1
    end = next((i for i in range(start, len(lines)) if not lines[i]), len(lines))
    return lines[start:end]


def test_each_pjsip_family_gets_its_realtime_line_in_its_sorcery_section(tmp_path: Path) -> None:
    lines = extconfig(tmp_path)
    assert "endpoint=realtime,ps_endpoints" in section(lines, "res_pjsip")
    assert "identify=realtime,ps_endpoint_id_ips" in section(
        lines, "res_pjsip_endpoint_identifier_ip"
    )
    assert "registration=realtime,ps_registrations" in section(
        lines, "res_pjsip_outbound_registration"
    )


def test_the_cache_line_comes_before_the_realtime_line_of_an_endpoint(tmp_path: Path) -> None:
    lines = section(extconfig(tmp_path), "res_pjsip")
    cache = next(i for i, line in enumerate(lines) if line.startswith("endpoint/cache="))
    assert "memory_cache" in lines[cache]
    assert cache < lines.index("endpoint=realtime,ps_endpoints")


def test_identify_is_cached_whole_because_it_is_fetched_whole(tmp_path: Path) -> None:
    lines = section(extconfig(tmp_path), "res_pjsip_endpoint_identifier_ip")
    assert any(
        line.startswith("identify/cache=memory_cache") and "full_backend_cache=yes" in line
        for line in lines
    )


def test_contacts_are_not_cached(tmp_path: Path) -> None:
    lines = section(extconfig(tmp_path), "res_pjsip")
    assert "contact=realtime,ps_contacts" in lines
    assert not any(line.startswith("contact/cache") for line in lines)


def test_a_renamed_family_is_printed_under_its_own_name(tmp_path: Path) -> None:
    lines = extconfig(tmp_path, families={"endpoints": {"extends": "ps_endpoints"}})
    assert "endpoint=realtime,endpoints" in section(lines, "res_pjsip")


def test_without_sorcery_families_no_sorcery_section_is_printed(tmp_path: Path) -> None:
    plain = {"base_dn": "ou=x,dc=example,dc=org", "object_classes": ["top"], "rdn": "id"}
    families = {"things": {**plain, "attributes": {"id": "cn"}}}
    lines = extconfig(tmp_path, families=families, default_families=False)
    assert "; ---- sorcery.conf ----" not in lines
