"""The shipped systemd unit and /etc/ara-ldap layout (packaging/): the unit parses and is
hardened as documented, and the example configuration loads with our loader and names
only secrets the unit hands to the service."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ara_ldap.config import LdapBackendSettings, load_config

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"
UNIT = PACKAGING / "ara-ldap.service"
ETC = PACKAGING / "etc" / "ara-ldap"
SECRETS_DIR = Path("/etc/ara-ldap/secrets")


def unit_keys(path: Path = UNIT) -> dict[str, list[tuple[str, str]]]:
    """``{section: [(key, value), ...]}``: systemd allows repeated keys, configparser not."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"{raw!r} is outside any section"
        key, sep, value = line.partition("=")
        assert sep, f"{raw!r} is not KEY=VALUE"
        current.append((key.strip(), value.strip()))
    return sections


def values(section: str, key: str) -> list[str]:
    return [v for k, v in unit_keys()[section] if k == key]


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (the structural tests still run)")
    # verify checks that ExecStart exists: point it at this interpreter's ara-ldap.
    exe = Path(sys.executable).with_name("ara-ldap")
    if not exe.is_file():
        pytest.skip(f"{exe} is not installed (pip install -e .)")
    (exec_start,) = values("Service", "ExecStart")
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text().replace(exec_start.split()[0], str(exe)))
    result = subprocess.run([tool, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    # Unknown keys or bad values are warnings with exit status 0: any output is a failure.
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_the_unit_has_the_documented_sections_and_command() -> None:
    assert set(unit_keys()) == {"Unit", "Service", "Install"}
    (exec_start,) = values("Service", "ExecStart")
    assert exec_start.endswith("ara-ldap serve")
    assert values("Service", "Environment") == ["ARA_LDAP_CONFIG=/etc/ara-ldap/ara-ldap.yaml"]
    assert values("Install", "WantedBy") == ["multi-user.target"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("DynamicUser", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("Restart", "on-failure"),
        ("StateDirectory", "ara-ldap"),
        ("CapabilityBoundingSet", ""),
    ],
)
def test_the_unit_sets_each_hardening_option(key: str, value: str) -> None:
    assert values("Service", key) == [value]


def test_example_config_loads_with_the_config_loader() -> None:
    settings = load_config(ETC / "ara-ldap.yaml")
    directory = settings.backends["directory"]
    assert isinstance(directory, LdapBackendSettings)
    assert directory.password_file == SECRETS_DIR / "ldap.pw"
    assert settings.gateway.auth is not None
    assert settings.gateway.auth.password_file == SECRETS_DIR / "gateway.pw"


def test_every_secret_the_config_names_is_a_credential_of_the_unit() -> None:
    settings = load_config(ETC / "ara-ldap.yaml")
    named = {b.password_file for b in settings.backends.values() if b.password_file}
    if settings.gateway.auth is not None and settings.gateway.auth.password_file:
        named.add(settings.gateway.auth.password_file)
    credentials = {}
    for spec in values("Service", "LoadCredential"):
        name, _, source = spec.partition(":")
        credentials[name] = Path(source)
    # The credentials directory is mounted over the secrets directory inside the service.
    assert values("Service", "BindReadOnlyPaths") == [f"%d:{SECRETS_DIR}"]
    assert {SECRETS_DIR / name for name in credentials} == named
    assert all(source == SECRETS_DIR / name for name, source in credentials.items())


def test_the_cache_state_dir_is_the_units_writable_state_directory() -> None:
    settings = load_config(ETC / "ara-ldap.yaml")
    directory = settings.backends["directory"]
    assert isinstance(directory, LdapBackendSettings)
    (state,) = values("Service", "StateDirectory")
    assert directory.cache.state_dir == Path("/var/lib") / state


def test_the_secrets_readme_names_every_secret_file_with_mode_0600() -> None:
    text = (ETC / "secrets" / "README").read_text()
    settings = load_config(ETC / "ara-ldap.yaml")
    assert "0600" in text
    for backend in settings.backends.values():
        if backend.password_file:
            assert backend.password_file.name in text
