"""The production-shaped directory (``ProductionSlapd``) really is shaped like one: the
service account writes only the Asterisk subtrees, limits bite it, the schema hides."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ldap3
import pytest

from ara_ldap.testing.slapd import ProductionSlapd

Factory = Callable[..., ProductionSlapd]
PAGED = "1.2.840.113556.1.4.319"


def service(slapd: ProductionSlapd) -> ldap3.Connection:
    return ldap3.Connection(
        slapd.url.rstrip("/"),
        slapd.service_dn,
        slapd.service_password,
        auto_bind=True,
        raise_exceptions=False,
    )


def with_peers(slapd: ProductionSlapd, count: int) -> str:
    base = f"ou=sip,ou=asterisk,{slapd.suffix}"
    ldif = [
        f"dn: ou=asterisk,{slapd.suffix}\nobjectClass: organizationalUnit\nou: asterisk",
        f"dn: {base}\nobjectClass: organizationalUnit\nou: sip",
    ]
    ldif += [
        f"dn: cn=p{i},{base}\nobjectClass: device\nobjectClass: AsteriskSIPUser\n"
        f"cn: p{i}\nAstAccountHost: dynamic"
        for i in range(count)
    ]
    slapd.ldapadd_text("\n\n".join(ldif) + "\n")
    return base


def paged_total(conn: ldap3.Connection, base: str) -> tuple[int, int]:
    total, cookie = 0, None
    while True:
        conn.search(base, "(cn=p*)", attributes=["1.1"], paged_size=2, paged_cookie=cookie)
        total += sum(1 for e in conn.response or [] if e["type"] == "searchResEntry")
        result: dict[str, Any] = conn.result or {}
        cookie = (result.get("controls") or {}).get(PAGED, {}).get("value", {}).get("cookie")
        if result.get("result") != 0 or not cookie:
            return total, int(result.get("result", 0))


def test_service_account_writes_the_asterisk_subtree(production_slapd_factory: Factory) -> None:
    slapd = production_slapd_factory()
    base = with_peers(slapd, 1)
    conn = service(slapd)
    assert conn.add(f"cn=new,{base}", ["device", "AsteriskSIPUser"], {"cn": "new"}), conn.result


def test_service_account_reads_nothing_outside_its_subtrees(
    production_slapd_factory: Factory,
) -> None:
    slapd = production_slapd_factory()
    conn = service(slapd)
    conn.search(slapd.suffix, "(objectClass=*)", search_scope=ldap3.BASE)
    assert conn.response == []
    assert not conn.add(f"cn=x,{slapd.suffix}", ["device"], {"cn": "x"})


def test_size_limit_stops_an_unpaged_search(production_slapd_factory: Factory) -> None:
    slapd = production_slapd_factory(size_limit=3)
    base = with_peers(slapd, 5)
    conn = service(slapd)
    conn.search(base, "(cn=p*)", attributes=["1.1"])
    assert (conn.result or {}).get("result") == 4  # sizeLimitExceeded


@pytest.mark.parametrize(("unlimited", "expected"), [(True, (5, 0)), (False, (3, 4))])
def test_paged_search_passes_only_with_prtotal_unlimited(
    production_slapd_factory: Factory, unlimited: bool, expected: tuple[int, int]
) -> None:
    slapd = production_slapd_factory(size_limit=3, paged_unlimited=unlimited)
    base = with_peers(slapd, 5)
    assert paged_total(service(slapd), base) == expected


@pytest.mark.parametrize("readable", [True, False])
def test_subschema_is_readable_or_hidden(production_slapd_factory: Factory, readable: bool) -> None:
    slapd = production_slapd_factory(schema_readable=readable)
    conn = service(slapd)
    conn.search("cn=Subschema", "(objectClass=*)", search_scope=ldap3.BASE, attributes=["cn"])
    assert bool(conn.response) is readable


def test_foreign_entries_sit_below_the_family_base(production_slapd_factory: Factory) -> None:
    slapd = production_slapd_factory()
    base = with_peers(slapd, 1)
    dns = slapd.add_foreign_entries([base])
    conn = service(slapd)
    conn.search(base, "(&(objectClass=device)(!(objectClass=AsteriskSIPUser)))", attributes=["1.1"])
    assert sorted(e["dn"] for e in conn.response or []) == sorted(dns[1:])


def test_fixture_directory_has_fixtures_and_foreign_entries(
    ara_slapd_production: ProductionSlapd,
) -> None:
    conn = service(ara_slapd_production)
    assert (
        conn.search(
            f"ou=sip,ou=asterisk,{ara_slapd_production.suffix}",
            "(objectClass=*)",
            attributes=["1.1"],
        )
        or (conn.result or {}).get("result") == 4
    )
    assert ara_slapd_production.foreign_dns
