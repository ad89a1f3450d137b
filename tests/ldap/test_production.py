"""Reads on a production-shaped directory (``ProductionSlapd``: a service account under
ACLs, small size limits, a hidden subschema on request) return exactly what the data holds:
transformed values are found as they read, size limits are paged past or named, and an
unreadable schema is said once and costs only speed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ara_ldap.bootstrap import open_realtime
from ara_ldap.errors import BackendError
from ara_ldap.realtime import Realtime
from ara_ldap.testing.ldap import ldap_settings
from ara_ldap.testing.slapd import ProductionSlapd

SIP = "ou=sip,ou=asterisk,dc=example,dc=org"
PEERS = 5
Site = Callable[..., tuple[ProductionSlapd, Realtime]]


def peer_ldif(name: str, *lines: str) -> str:
    body = "\n".join(lines)
    return (
        f"dn: cn={name},{SIP}\nobjectClass: device\nobjectClass: AsteriskSIPUser\n"
        f"cn: {name}\nAstAccountHost: dynamic\n{body}\n"
    )


@pytest.fixture
def site(production_slapd_factory: Any) -> Iterator[Site]:
    """A directory holding ``PEERS`` dynamic SIP peers (p0 has extra attribute lines),
    and a Realtime bound as the service account."""
    opened: list[Realtime] = []

    def make(*p0: str, families: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        slapd: ProductionSlapd = production_slapd_factory(**kwargs)
        blocks = [
            "dn: ou=asterisk,dc=example,dc=org\nobjectClass: organizationalUnit\nou: asterisk\n",
            f"dn: {SIP}\nobjectClass: organizationalUnit\nou: sip\n",
            peer_ldif("p0", *p0),
            *(peer_ldif(f"p{i}") for i in range(1, PEERS)),
        ]
        slapd.ldapadd_text("\n".join(blocks))
        slapd.add_foreign_entries([SIP])
        overrides = {"families": families} if families else {}
        realtime = open_realtime(ldap_settings(slapd, **overrides))
        opened.append(realtime)
        return slapd, realtime

    yield make
    for realtime in opened:
        realtime.close()


def names(records: list[Any]) -> list[str]:
    return sorted(r.get("name") for r in records)


# Item 1: transformed values are searched as they are read ----------------------------


def test_a_split_semicolon_value_is_found_by_equality(site: Site) -> None:
    _, rt = site(
        "AstAccountAllowedCodec: ulaw;alaw", families={"sippeers": {"split_semicolons": ["allow"]}}
    )
    found = rt.single("sippeers", [("allow", "alaw")])
    assert found is not None and found.get("name") == "p0"


def test_a_split_semicolon_value_is_found_by_like(site: Site) -> None:
    _, rt = site(
        "AstAccountAllowedCodec: ulaw;alaw", families={"sippeers": {"split_semicolons": ["allow"]}}
    )
    assert names(rt.multi("sippeers", [("allow LIKE", "al%")])) == ["p0"]


def test_an_md5_prefixed_secret_is_found_by_its_digest(site: Site) -> None:
    _, rt = site("AstAccountRealmedPassword: {MD5}abc123")
    found = rt.single("sippeers", [("md5secret", "abc123")])
    assert found is not None and found.get("name") == "p0"


# Item 2: size limits -------------------------------------------------------------------


def test_equality_over_more_entries_than_the_size_limit_is_paged(site: Site) -> None:
    _, rt = site(size_limit=3)
    assert names(rt.multi("sippeers", [("host", "dynamic")])) == [f"p{i}" for i in range(PEERS)]


def test_like_percent_over_more_entries_than_the_size_limit_is_paged(site: Site) -> None:
    _, rt = site(size_limit=3)
    assert len(rt.multi("sippeers", [("name LIKE", "%")])) == PEERS


def test_a_limit_capping_paged_results_is_an_error_naming_the_limits_line(site: Site) -> None:
    slapd, rt = site(size_limit=3, paged_unlimited=False)
    with pytest.raises(BackendError) as caught:
        rt.multi("sippeers", [("host", "dynamic")])
    message = str(caught.value)
    assert "size limit (3 entries)" in message
    assert f'olcLimits: dn.exact="{slapd.service_dn}"' in message
    assert "size.prtotal=unlimited" in message


# Item 3: an unreadable schema ----------------------------------------------------------


def test_hidden_schema_still_finds_a_value_of_an_attribute_without_equality(
    site: Site,
) -> None:
    _, rt = site("AstAccountFromUser: 5551234", schema_readable=False)
    found = rt.single("sippeers", [("fromuser", "5551234")])
    assert found is not None and found.get("name") == "p0"


def test_hidden_schema_is_warned_about_once(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ara_ldap"):
        _, rt = site(schema_readable=False)
        for i in range(3):
            rt.single("sippeers", [("name", f"p{i}")])
    warned = [r for r in caplog.records if "cn=Subschema" in r.getMessage()]
    assert len(warned) == 1


def test_static_file_and_whole_family_reads_page_past_the_size_limit(
    ara_slapd_production: ProductionSlapd,
) -> None:
    """The shipped fixtures (16 rows of sip.conf, 7 SIP entries) under a size limit of 3."""
    rt = open_realtime(ldap_settings(ara_slapd_production))
    try:
        config = rt.static("sip.conf")
        assert len(rt.multi("ast_config", [("filename", "sip.conf")])) == 16
        assert config is not None
        backend = rt.backends["directory"]
        assert len(backend.search("sippeers", [])) > ara_slapd_production.size_limit
    finally:
        rt.close()
