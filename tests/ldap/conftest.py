"""Fixtures for tests against a real slapd: the shipped fixtures loaded with ldapadd,
and a Realtime wired to it exactly as the CLI would be."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ara_ldap.bootstrap import open_realtime
from ara_ldap.realtime import Realtime
from ara_ldap.testing.ldap import ldap_settings
from ara_ldap.testing.slapd import Slapd, find_fixture_ldifs


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
def shared_rt(ara_slapd: Slapd) -> Iterator[Realtime]:
    """Read-only tests share one directory."""
    realtime = open_realtime(ldap_settings(ara_slapd))
    yield realtime
    realtime.close()
