"""The conformance suite on the LDAP backend: a throwaway slapd loaded with ldapadd, once
with each way of keeping multi-value order (``value_order: server`` and ``prefix``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ara_ldap.testing.conformance import ReadSuite, Target, WriteSuite, ldap_target
from ara_ldap.testing.conformance.fixtures import running_slapd


@pytest.fixture(scope="module", params=["server", "prefix"])
def conformance_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    order: str = request.param
    with running_slapd() as slapd, ldap_target(slapd, f"ldap-{order}", value_order=order) as t:
        yield t


class TestReads(ReadSuite):
    pass


class TestWrites(WriteSuite):
    pass
