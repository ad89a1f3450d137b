"""The generated PJSIP schema: up to date, loadable in both forms, and doing what
sorcery needs (person entries, unsplit ';' values, numeric <=, escaped contact ids)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import ldap3
import pytest

from ara_ldap.backends.ldap.filters import escape_dn_value
from ara_ldap.testing.slapd import SYSTEM_SCHEMA_DIR, Slapd, SlapdError, find_tool

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "schema"


@pytest.fixture
def pjsip_slapd(slapd_factory: Any) -> Slapd:
    slapd: Slapd = slapd_factory(schema_ldifs=[SCHEMA / "pjsip.ldif"])
    slapd.create_suffix()
    slapd.ldapadd_text(
        f"dn: ou=people,{slapd.suffix}\nobjectClass: organizationalUnit\nou: people\n\n"
        f"dn: ou=contacts,{slapd.suffix}\nobjectClass: organizationalUnit\nou: contacts\n"
    )
    return slapd


def _conn(slapd: Slapd) -> ldap3.Connection:
    return ldap3.Connection(
        ldap3.Server(slapd.url.rstrip("/")),
        slapd.admin_dn,
        slapd.admin_password,
        auto_bind=True,
        raise_exceptions=False,
    )


def test_committed_schema_matches_the_generator() -> None:
    result = subprocess.run(
        [sys.executable, str(SCHEMA / "gen_pjsip.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_slapd_conf_form_passes_slaptest_beside_the_asterisk_schema(tmp_path: Path) -> None:
    slaptest = find_tool("slaptest")
    if slaptest is None:
        pytest.skip("slaptest not installed")
    includes = [SYSTEM_SCHEMA_DIR / f"{n}.schema" for n in ("core", "cosine", "inetorgperson")]
    includes += [SCHEMA / "asterisk.schema", SCHEMA / "pjsip.schema"]
    (tmp_path / "db").mkdir()
    conf = tmp_path / "slapd.conf"
    conf.write_text(
        "".join(f"include {p}\n" for p in includes)
        + f"moduleload back_mdb\nmodulepath /usr/lib/ldap\ndatabase mdb\n"
        f"suffix dc=example,dc=org\ndirectory {tmp_path / 'db'}\n"
        "index astContactAor eq\nindex astContactExpirationTime eq\nindex astEndpointId eq,sub\n"
    )
    result = subprocess.run([str(slaptest), "-u", "-f", str(conf)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_endpoint_auth_and_aor_sit_on_one_person_entry(pjsip_slapd: Slapd) -> None:
    dn = f"uid=1001,ou=people,{pjsip_slapd.suffix}"
    pjsip_slapd.ldapadd_text(
        f"dn: {dn}\nobjectClass: inetOrgPerson\nobjectClass: astPsEndpoint\n"
        "objectClass: astPsAuth\nobjectClass: astPsAor\nuid: 1001\ncn: Alice\nsn: Example\n"
        "astEndpointId: 1001\nastEndpointAllow: ulaw\nastEndpointAllow: alaw\n"
        "astEndpointSetVar: FOO=a;b\nastAuthId: 1001\nastAuthPassword: s3cr;et\n"
        "astAorId: 1001\nastAorMaxContacts: 2\n"
    )
    conn = _conn(pjsip_slapd)
    conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["*"])
    attrs = conn.response[0]["raw_attributes"]
    assert attrs["astEndpointSetVar"] == [b"FOO=a;b"]
    assert attrs["astEndpointAllow"] == [b"ulaw", b"alaw"]
    assert attrs["astAuthPassword"] == [b"s3cr;et"]


def _add_contact(slapd: Slapd, aor: str, digest: str, expires: int) -> None:
    cid = escape_dn_value(f"{aor};@{digest}")
    slapd.ldapadd_text(
        f"dn: astContactId={cid},ou=contacts,{slapd.suffix}\nobjectClass: astPsContact\n"
        f"astContactId: {aor};@{digest}\nastContactAor: {aor}\n"
        f"astContactExpirationTime: {expires}\nastContactUri: sip:{aor}@192.0.2.1;ob\n"
    )


def test_contact_expiry_is_a_numeric_server_side_filter(pjsip_slapd: Slapd) -> None:
    _add_contact(pjsip_slapd, "1001", "a" * 32, 999)
    _add_contact(pjsip_slapd, "1002", "b" * 32, 10000)
    conn = _conn(pjsip_slapd)
    conn.search(pjsip_slapd.suffix, "(astContactExpirationTime<=5000)", attributes=["astContactId"])
    assert [e["attributes"]["astContactId"] for e in conn.response] == [f"1001;@{'a' * 32}"]


def test_contact_ids_with_semicolons_are_escaped_rdns_found_by_their_aor(
    pjsip_slapd: Slapd,
) -> None:
    _add_contact(pjsip_slapd, "+4930", "c" * 32, 1)
    conn = _conn(pjsip_slapd)
    conn.search(pjsip_slapd.suffix, "(astContactAor=+4930)", attributes=["astContactId"])
    assert [e["attributes"]["astContactId"] for e in conn.response] == [f"+4930;@{'c' * 32}"]


def test_integer_columns_refuse_non_integers(pjsip_slapd: Slapd) -> None:
    with pytest.raises(SlapdError, match="nvalid"):
        pjsip_slapd.ldapadd_text(
            f"dn: astContactId=x\\;@1,ou=contacts,{pjsip_slapd.suffix}\n"
            "objectClass: astPsContact\nastContactId: x;@1\nastContactExpirationTime: 3.0\n"
        )
