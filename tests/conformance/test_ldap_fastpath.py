"""The conformance suite on the LDAP backend with the fast path OFF (ldap3's own search
road, both value orders) and ON with a check that it really answered.

tests/conformance/test_ldap.py runs the suite with the product default (fast path on, both
value orders); this file is the other road, and the proof that the default run is not
silently served by ldap3."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ara_ldap.backends.ldap.backend import LdapBackend
from ara_ldap.testing.conformance import ReadSuite, Target, WriteSuite, ldap_target
from ara_ldap.testing.conformance.fixtures import running_slapd


@pytest.fixture(
    scope="module",
    params=[("off", "server"), ("off", "prefix"), ("on", "server")],
    ids=["ldap3-server", "ldap3-prefix", "fast-server"],
)
def conformance_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    road, order = request.param
    with (
        running_slapd() as slapd,
        ldap_target(
            slapd, f"ldap-{road}-{order}", value_order=order, fast_path=(road == "on")
        ) as t,
    ):
        backend = t.realtime.backends["directory"]
        assert isinstance(backend, LdapBackend)
        yield t
        if road == "off":
            assert backend.fast_path is None
        else:
            assert backend.fast_path is not None and backend.fast_path.served > 0


class TestReads(ReadSuite):
    pass


class TestWrites(WriteSuite):
    pass
