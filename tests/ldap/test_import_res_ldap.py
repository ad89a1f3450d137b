"""``ara-ldap import-res-ldap``: the stock sample becomes a working map (checked on the demo
directory), the sample's mistakes are fixed with a warning each, secrets are never printed."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from ara_ldap.bootstrap import open_realtime
from ara_ldap.cli import main
from ara_ldap.config import load_config
from ara_ldap.errors import BadRequest
from ara_ldap.realtime import Realtime
from ara_ldap.testing.slapd import Slapd
from ara_ldap.tools.conf_parser import parse_conf
from ara_ldap.tools.import_res_ldap import import_res_ldap

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "res_ldap.conf.sample"


def extconfig_text(suffix: str) -> str:
    """extconfig.conf binding the families to the demo directory's containers."""
    base = f"ou=asterisk,{suffix}"
    return (
        "[settings]\n"
        f'sippeers => ldap,"ou=sip,{base}",accounts\n'
        f'sipusers => ldap,"ou=sip,{base}",accounts\n'
        f"iaxfriends => ldap,ou=iax|{base.replace(',', '|')},iax\n"
        f'extensions => ldap,"ou=extensions,{base}",extensions\n'
        f'sip.conf => ldap,"ou=config,{base}",config\n'
    )


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def imported(ara_slapd: Slapd, tmp_path: Path) -> Iterator[tuple[Path, Result]]:
    ext = tmp_path / "extconfig.conf"
    ext.write_text(extconfig_text(ara_slapd.suffix))
    out = tmp_path / "ara-ldap.yaml"
    result = run_cli(
        "import-res-ldap", str(SAMPLE), str(ext), "--url", ara_slapd.url, "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    yield out, result


@pytest.fixture
def imported_rt(imported: tuple[Path, Result]) -> Iterator[Realtime]:
    realtime = open_realtime(load_config(imported[0]))
    yield realtime
    realtime.close()


def test_stock_sample_finds_a_known_sippeer_like_the_shipped_map(
    imported_rt: Realtime, shared_rt: Realtime
) -> None:
    record = imported_rt.single("sippeers", [("name", "alice")])
    shipped = shared_rt.single("sippeers", [("name", "alice")])
    assert record is not None and shipped is not None
    fields = {name.lower() for name, _ in record}
    assert {"name", "context", "allow"} <= fields
    for name in fields:
        assert record.get_all(name) == shipped.get_all(name), name


def test_stock_sample_reads_dialplan_rows_like_the_shipped_map(
    imported_rt: Realtime, shared_rt: Realtime
) -> None:
    criteria = [("context", "default"), ("exten", "1000")]
    rows = imported_rt.multi("extensions", criteria)
    assert rows
    assert rows == shared_rt.multi("extensions", criteria)


def test_iaxfriends_becomes_iaxusers_and_iaxpeers_sharing_one_map(
    imported: tuple[Path, Result],
) -> None:
    families = yaml.safe_load(imported[0].read_text())["backends"]["ldap"]["families"]
    assert families["iaxpeers"] == {"extends": "iaxusers"}
    assert families["sipusers"] == {"extends": "sippeers"}


def test_every_stock_sample_mistake_is_fixed_with_a_warning(imported: tuple[Path, Result]) -> None:
    stderr = imported[1].stderr
    data = yaml.safe_load(imported[0].read_text())["backends"]["ldap"]["families"]
    for wrong, right in [
        ("AstAccount ", "AsteriskSIPUser"),
        ("AstAccountIAX ", "AsteriskIAXUser"),
        ("AstConfig ", "AsteriskConfig"),
        ("AstExtensionContext", "AstContext"),
        ("AstAccountDirectMedia", "AstAccountCanReinvite"),
        ("fullcontact is mapped to AstAccountFullContact, gecos", "AstAccountFullContact"),
        ("no 'name' mapping", "name = cn"),
        ("no var_metric mapping", "AraConfigVariableMetric"),
    ]:
        assert any(wrong in line and right in line for line in stderr.splitlines()), wrong
    assert data["sippeers"]["filter"] == "(objectClass=AsteriskSIPUser)"
    assert data["sippeers"]["attributes"]["fullcontact"] == "AstAccountFullContact"
    assert data["ast_config"]["attributes"]["var_val"] == "AstConfigVariableValue"


def test_keep_sample_bugs_keeps_the_names_and_still_warns() -> None:
    result = import_res_ldap(
        parse_conf(SAMPLE.read_text(), "res_ldap.conf"),
        parse_conf('[settings]\nsippeers => ldap,"ou=sip,dc=x",accounts\n', "extconfig.conf"),
        url="ldap://127.0.0.1",
        fix_sample=False,
    )
    spec = result.config["backends"]["ldap"]["families"]["sippeers"]
    assert spec["filter"] == "(objectClass=AstAccount)"
    assert any("AstAccount does not exist" in w for w in result.warnings)


def test_bind_password_is_never_printed_and_written_only_when_asked(tmp_path: Path) -> None:
    secret = "s3cret-bind-pw"
    conf = tmp_path / "res_ldap.conf"
    conf.write_text(
        "[_general]\nurl=ldaps://ldap.example.org\nbasedn=dc=example,dc=org\n"
        f"user=cn=asterisk,dc=example,dc=org\npass={secret}\n"
        "[accounts]\nname = cn\ncontext = AstAccountContext\n"
        "additionalFilter=(objectClass=AsteriskSIPUser)\n"
    )
    pw = tmp_path / "ldap.pw"
    told = run_cli("import-res-ldap", str(conf), "--password-file", str(pw))
    assert told.exit_code == 0
    assert secret not in told.stdout + told.stderr
    assert str(pw) in told.stderr and not pw.exists()
    assert yaml.safe_load(told.stdout)["backends"]["ldap"]["password_file"] == str(pw)

    written = run_cli("import-res-ldap", str(conf), "--password-file", str(pw), "--write-password")
    assert written.exit_code == 0
    assert secret not in written.stdout + written.stderr
    assert pw.read_text() == secret
    assert stat.S_IMODE(pw.stat().st_mode) == 0o600


def _import(res_ldap: str, extconfig: str | None = None, **kwargs: Any) -> Any:
    ext = parse_conf(extconfig, "extconfig.conf") if extconfig is not None else None
    return import_res_ldap(parse_conf(res_ldap, "res_ldap.conf"), ext, **kwargs)


def test_a_table_name_differing_only_in_case_is_reported_not_imported() -> None:
    result = _import(
        "[_general]\nurl=ldap://127.0.0.1\n[accounts]\nname = cn\n[iax]\nname = cn\n",
        '[settings]\nsippeers => ldap,"ou=sip,dc=x",Accounts\niaxpeers => ldap,"ou=iax,dc=x",iax\n',
    )
    assert "sippeers" not in result.config["backends"]["ldap"]["families"]
    assert any("case-sensitive" in w and "[accounts]" in w for w in result.warnings)


def test_host_and_port_become_a_url_and_a_remote_plain_url_is_flagged() -> None:
    result = _import(
        "[_general]\nhost=ldap.example.org\nport=3890\nbasedn=dc=example,dc=org\n"
        "[accounts]\nname = cn\n"
    )
    backend = result.config["backends"]["ldap"]
    assert backend["urls"] == ["ldap://ldap.example.org:3890"]
    assert backend["families"]["accounts"]["base_dn"] == "dc=example,dc=org"
    assert any("start_tls" in w for w in result.warnings)


def test_general_filter_and_global_mappings_reach_every_table() -> None:
    result = _import(
        "[_general]\nurl=ldap://127.0.0.1\nadditionalFilter=(!(pwdAccountLockedTime=*))\n"
        "language = AstAccountLanguage\n"
        "[accounts]\nname = cn\nadditionalFilter=(objectClass=AsteriskSIPUser)\n",
        '[settings]\nsippeers => ldap,"ou=sip,dc=x",accounts\n',
    )
    spec = result.config["backends"]["ldap"]["families"]["sippeers"]
    assert spec["filter"] == "(&(objectClass=AsteriskSIPUser)(!(pwdAccountLockedTime=*)))"
    assert spec["attributes"]["language"] == "AstAccountLanguage"


def test_without_extconfig_or_base_dn_the_import_is_refused() -> None:
    with pytest.raises(BadRequest, match="base DN"):
        _import("[_general]\nurl=ldap://127.0.0.1\n[accounts]\nname = cn\n")


def test_no_url_anywhere_is_refused_with_the_option_to_use() -> None:
    with pytest.raises(BadRequest, match="--url"):
        _import(SAMPLE.read_text(), '[settings]\nsippeers => ldap,"ou=sip,dc=x",accounts\n')


def test_a_password_under_another_key_is_neither_mapped_nor_shown() -> None:
    secret = "hunter2-not-shown"
    result = _import(
        f"[_general]\nurl=ldap://127.0.0.1\nuser=cn=a,dc=x\nbindpw={secret}\n"
        "[accounts]\nname = cn\n",
        '[settings]\nsippeers => ldap,"ou=sip,dc=x",accounts\n',
    )
    text = yaml.safe_dump(result.config) + "\n".join(result.warnings)
    assert secret not in text
    assert any("bindpw looks like a password" in w for w in result.warnings)
