"""Every secret setting goes through ara_ldap.secrets: the LDAP bind password, the SQL
password, the gateway's Basic password and the AMI secret read a file the same way and
fail the same way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ara_ldap.config import AmiServer, GatewayAuth, LdapBackendSettings, SqlBackendSettings
from ara_ldap.errors import ConfigError
from ara_ldap.secrets import read_secret

SECRET = "s3cr3t pass"

Reader = Callable[[Path], str | None]

READERS: dict[str, Reader] = {
    "ldap": lambda f: LdapBackendSettings(
        type="ldap", urls=["ldap://127.0.0.1"], bind_dn="cn=a", password_file=f
    ).bind_password(),
    "sql": lambda f: SqlBackendSettings(
        type="sql", url="sqlite:///x.db", password_file=f
    ).connect_password(),
    "gateway": lambda f: GatewayAuth(username="asterisk", password_file=f).password(),
    "notify": lambda f: AmiServer(username="ara", secret_file=f).secret(),
}


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
def test_every_secret_file_loses_its_trailing_line_break_only(
    reader: Reader, tmp_path: Path
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(f" {SECRET} \r\n", encoding="utf-8")
    assert reader(secret_file) == f" {SECRET} "


@pytest.mark.parametrize("reader", READERS.values(), ids=READERS.keys())
def test_every_unreadable_secret_file_is_a_config_error(reader: Reader, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        reader(tmp_path / "missing")


def test_an_unset_environment_variable_names_the_setting_under_its_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ARA_TEST_UNSET_PW", raising=False)
    with pytest.raises(ConfigError) as info:
        read_secret(env="ARA_TEST_UNSET_PW", where="gateway.auth.")
    assert info.value.path == "gateway.auth.password_env"


def test_an_inline_secret_is_returned_as_given() -> None:
    assert read_secret(inline=SECRET) == SECRET


def test_no_source_means_no_secret() -> None:
    assert read_secret() is None
