"""``ara-ldap doctor`` on real slapd instances with planted problems: each is found, a clean
directory passes with exit 0, and nothing in the directory changes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ldap3
import pytest
from click.testing import CliRunner

from ara_ldap.cli import main
from ara_ldap.config import LdapBackendSettings, shipped_ldap_families
from ara_ldap.testing.ldap import ldap_settings, write_config
from ara_ldap.testing.slapd import Slapd, find_fixture_ldifs
from ara_ldap.tools.doctor import CnConfigAccess, Report, check_tls, diagnose, equality_indexed

SERVICE_DN = "cn=asterisk-svc,dc=example,dc=org"
SERVICE_PW = "fake-service-password"
ASTERISK = "ou=asterisk,dc=example,dc=org"
#: The site's index configuration: every attribute the Asterisk lookups filter on.
SITE_INDEXES = (
    "AstAccountIPAddress,AstAccountPort,AstAccountHost,AstAccountDefaultUser eq",
    "AstVoicemailMailbox,AstContext eq",
    "AstExtension,AstPriority eq",
    "AstConfigFilename eq",
)

#: The classic families (the fixtures hold them); PJSIP ones need pjsip.schema and data.
CLASSIC = ("sippeers", "sipusers", "sipregs", "iaxpeers", "iaxusers", "voicemail", "extensions")


def site_overrides(pw: Path) -> dict[str, Any]:
    shipped = shipped_ldap_families()
    return {
        "bind_dn": SERVICE_DN,
        "password_file": str(pw),
        "cache": {"enabled": "auto"},
        "default_families": False,
        "families": {name: shipped[name] for name in (*CLASSIC, "ast_config")},
    }


def classic_fixtures() -> list[Path]:
    return [p for p in find_fixture_ldifs() if "pjsip" not in p.name]


Site = Callable[..., tuple[Slapd, LdapBackendSettings, CnConfigAccess]]


def write_rule(subtree: str) -> str:
    return f'to dn.subtree="{subtree}" by dn.exact="{SERVICE_DN}" write by * read'


@pytest.fixture
def site(slapd_factory: Any, tmp_path: Path) -> Site:
    """A directory with the fixtures and a service account, shaped by the arguments."""

    def make(
        *,
        indexes: Sequence[str] = SITE_INDEXES,
        writable: Sequence[str] = (ASTERISK,),
        **slapd_kwargs: Any,
    ) -> tuple[Slapd, LdapBackendSettings, CnConfigAccess]:
        slapd: Slapd = slapd_factory(
            indexes=indexes, access=[write_rule(s) for s in writable], **slapd_kwargs
        )
        slapd.ldapadd(*classic_fixtures())
        slapd.ldapadd_text(
            f"dn: {SERVICE_DN}\nobjectClass: organizationalRole\n"
            f"objectClass: simpleSecurityObject\ncn: asterisk-svc\nuserPassword: {SERVICE_PW}\n"
        )
        pw = tmp_path / "service.pw"
        pw.write_text(SERVICE_PW)
        settings = ldap_settings(slapd, **site_overrides(pw))
        backend = settings.backends["directory"]
        assert isinstance(backend, LdapBackendSettings)
        return slapd, backend, CnConfigAccess(slapd.ldapi_url)

    return make


def run(backend: LdapBackendSettings, access: CnConfigAccess | None) -> Report:
    return diagnose(backend, "directory", password=backend.bind_password(), cn_config=access)


def failed(report: Report, check: str) -> list[str]:
    return [f"{f.subject}: {f.message}" for f in report.of(check, "fail")]


def fixture_count(name: str) -> int:
    path = next(p for p in classic_fixtures() if p.name == name)
    return sum(1 for line in path.read_text().splitlines() if line.startswith("dn:"))


def test_clean_directory_has_no_problems(site: Site) -> None:
    _, backend, access = site()
    report = run(backend, access)
    assert report.problems == []
    assert report.identity == f"dn:{SERVICE_DN}"
    assert {f.check for f in report.findings if f.status == "ok"} >= {
        "tls",
        "schema",
        "indexes",
        "syncprov",
        "limits",
        "rights",
    }


def test_clean_directory_exits_0_and_a_planted_problem_exits_1(site: Site, tmp_path: Path) -> None:
    for planted, expected in (({}, 0), ({"syncprov": False}, 1)):
        slapd, backend, access = site(**planted)
        assert backend.password_file is not None
        config = write_config(
            tmp_path / "ara-ldap.yaml", slapd, **site_overrides(backend.password_file)
        )
        result = CliRunner().invoke(
            main, ["-c", str(config), "doctor", "--cn-config-url", access.url]
        )
        assert result.exit_code == expected, result.output
        assert f"bound as dn:{SERVICE_DN}" in result.output


def test_missing_equality_index_is_found(site: Site) -> None:
    indexes = [i.replace("AstAccountIPAddress,", "") for i in SITE_INDEXES]
    _, backend, access = site(indexes=indexes)
    problems = failed(run(backend, access), "indexes")
    assert len(problems) == 1
    assert "AstAccountIPAddress" in problems[0] and "sippeers" in problems[0]


def test_unreadable_cn_config_says_indexes_were_not_checked(site: Site) -> None:
    _, backend, _ = site(indexes=())
    report = run(backend, None)
    skipped = report.of("indexes", "skip")
    assert skipped and "could not check" in skipped[0].message
    assert skipped[0].fix is not None and "olcDbIndex" in skipped[0].fix


def test_size_limit_below_a_family_size_is_found(site: Site) -> None:
    sip, iax = fixture_count("10-sip.ldif"), fixture_count("20-iax.ldif")
    assert iax < sip - 1
    _, backend, access = site(size_limit=str(sip - 1))
    report = run(backend, access)
    problems = failed(report, "limits")
    assert any(p.startswith("sippeers:") for p in problems)
    assert not any(p.startswith("iaxpeers:") for p in problems)
    fix = next(f.fix for f in report.of("limits", "fail") if f.subject == "sippeers")
    assert fix is not None and f'olcLimits: dn.exact="{SERVICE_DN}"' in fix


def test_missing_syncprov_is_found(site: Site) -> None:
    _, backend, access = site(syncprov=False)
    problems = failed(run(backend, access), "syncprov")
    assert problems and all("cache stays off" in p for p in problems)


def test_missing_write_right_is_found_per_family(site: Site) -> None:
    _, backend, access = site(writable=(f"ou=sip,{ASTERISK}",))
    report = run(backend, access)
    problems = failed(report, "rights")
    assert any(p.startswith("iaxpeers:") and "no write right" in p for p in problems)
    assert any(p.startswith("voicemail:") for p in problems)
    assert not any(p.startswith("sippeers:") for p in problems)
    assert [f.subject for f in report.of("rights", "ok")].count("sippeers") == 2


def test_with_write_urls_rights_are_checked_on_the_write_server(site: Site) -> None:
    _, backend, access = site(writable=())  # read-only for the service account
    writer, _, _ = site()
    backend = backend.model_copy(update={"write_urls": [writer.url.rstrip("/")]})
    report = run(backend, access)
    assert failed(report, "rights") == []
    assert [f.message for f in report.of("rights", "ok") if f.subject == "write_urls"] == [
        f"rights checked on the write server {writer.url.rstrip('/')}"
    ]


def test_an_unreachable_write_server_is_a_rights_problem(site: Site) -> None:
    _, backend, access = site()
    backend = backend.model_copy(update={"write_urls": ["ldap://127.0.0.1:9"]})
    assert [p.split(":", 1)[0] for p in failed(run(backend, access), "rights")] == ["write_urls"]


def test_doctor_changes_nothing_in_the_directory(site: Site) -> None:
    slapd, backend, access = site(writable=(f"ou=sip,{ASTERISK}",))

    def snapshot() -> list[tuple[str, str]]:
        conn = ldap3.Connection(
            slapd.url.rstrip("/"), slapd.admin_dn, slapd.admin_password, auto_bind=True
        )
        conn.search(slapd.suffix, "(objectClass=*)", attributes=["entryCSN"])
        out = sorted((e.entry_dn, str(e.entryCSN)) for e in conn.entries)
        conn.unbind()
        return out

    before = snapshot()
    run(backend, access)
    assert snapshot() == before


def test_remote_plain_ldap_is_a_tls_problem_and_loopback_is_not() -> None:
    report = Report("x")
    settings = LdapBackendSettings.model_validate(
        {
            "type": "ldap",
            "urls": ["ldap://ldap.example.org", "ldap://127.0.0.1:389"],
            "start_tls": False,  # unset, a remote ldap:// URL runs StartTLS
        }
    )
    check_tls(settings, report)
    assert [f.subject for f in report.of("tls", "fail")] == ["ldap://ldap.example.org"]
    assert [f.subject for f in report.of("tls", "ok")] == ["ldap://127.0.0.1:389"]


def test_a_size_limit_that_paging_gets_past_is_told_apart(site: Site) -> None:
    slapd, backend, access = site(size_limit="3")
    slapd.ldapmodify_config(
        "dn: olcDatabase={1}mdb,cn=config\nchangetype: modify\nadd: olcLimits\n"
        f'olcLimits: dn.exact="{SERVICE_DN}" size.soft=3 size.hard=3 size.prtotal=unlimited\n'
    )
    sip = fixture_count("10-sip.ldif")
    problems = failed(run(backend, access), "limits")
    told = next(p for p in problems if p.startswith("sippeers:"))
    assert f"{sip} entries, but an unpaged search stops at 3" in told


def test_an_unreadable_family_base_is_a_rights_problem(site: Site) -> None:
    _, backend, access = site()
    spec = backend.families["voicemail"].model_copy(update={"base_dn": f"ou=nowhere,{ASTERISK}"})
    moved = backend.model_copy(update={"families": {**backend.families, "voicemail": spec}})
    problems = failed(run(moved, access), "rights")
    assert len(problems) == 1
    assert problems[0].startswith("voicemail:") and "ou=nowhere" in problems[0]


def test_binding_as_the_rootdn_is_a_warning_not_a_problem(site: Site) -> None:
    slapd, _, access = site()
    backend = ldap_settings(
        slapd, default_families=False, families=site_overrides(Path())["families"]
    ).backends["directory"]
    assert isinstance(backend, LdapBackendSettings)
    report = run(backend, access)
    assert report.problems == []
    assert [f.subject for f in report.of("rights", "warn")] == [slapd.admin_dn]


def test_olcdbindex_default_types_apply_to_attributes_listed_without_types() -> None:
    have = equality_indexed(["default pres,eq", "cn,uid", "mail sub", "sn eq,sub"])
    assert have == {"cn", "uid", "sn"}


def test_a_missing_index_on_an_attribute_whose_equality_is_inherited_is_found(
    site: Site,
) -> None:
    # cn has no EQUALITY of its own (SUP name): it must still be checked.
    slapd, backend, access = site()
    slapd.ldapmodify_config(
        "dn: olcDatabase={1}mdb,cn=config\nchangetype: modify\n"
        "delete: olcDbIndex\nolcDbIndex: cn eq,sub\n"
    )
    problems = failed(run(backend, access), "indexes")
    assert any("no equality index on cn " in p for p in problems)
