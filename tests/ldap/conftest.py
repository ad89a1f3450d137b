"""Fixtures for tests against a real slapd: the shipped fixtures loaded with ldapadd,
and a Realtime wired to it exactly as the CLI would be."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ara_ldap.bootstrap import open_realtime
from ara_ldap.realtime import Realtime
from ara_ldap.testing.ldap import ldap_settings
from ara_ldap.testing.slapd import ProductionSlapd, Slapd, find_fixture_ldifs, production_slapd


@pytest.fixture
def fresh_slapd(slapd_factory: Any) -> Slapd:
    """A new directory with the shipped fixtures: for tests that write."""
    slapd: Slapd = slapd_factory()
    slapd.ldapadd(*find_fixture_ldifs())
    return slapd


@pytest.fixture
def rt(fresh_slapd: Slapd) -> Iterator[Realtime]:
    realtime = open_realtime(ldap_settings(fresh_slapd))
    yield realtime
    realtime.close()


@pytest.fixture(scope="session")
def production_fixtures_slapd() -> Iterator[ProductionSlapd]:
    """The shipped fixtures on a production-shaped directory: bound as a service account,
    a size limit of 3 that paged searches get past, entries another tool wrote."""
    with production_slapd(size_limit=3) as slapd:
        slapd.ldapadd(*find_fixture_ldifs())
        slapd.add_service_account()
        slapd.add_foreign_entries(
            [f"ou={ou},ou=asterisk,{slapd.suffix}" for ou in ("sip", "voicemail", "extensions")]
        )
        yield slapd


@pytest.fixture(scope="session", params=["rootdn", "production"])
def shared_rt(request: pytest.FixtureRequest) -> Iterator[Realtime]:
    """Read-only tests share one directory: the rootdn one and the production-shaped one."""
    name = "ara_slapd" if request.param == "rootdn" else "production_fixtures_slapd"
    slapd: Slapd = request.getfixturevalue(name)
    realtime = open_realtime(ldap_settings(slapd))
    yield realtime
    realtime.close()
