"""The conformance suite through the res_config_curl gateway, over the LDAP backend: the
real app on uvicorn, called as an unmodified Asterisk calls it (AsteriskCurlClient)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ara_ldap.testing.conformance import ReadSuite, Target, WriteSuite, ldap_target
from ara_ldap.testing.conformance.curl import gateway_target
from ara_ldap.testing.conformance.fixtures import running_slapd


@pytest.fixture(scope="module")
def conformance_target() -> Iterator[Target]:
    with (
        running_slapd() as slapd,
        ldap_target(slapd, name="ldap") as inner,
        gateway_target(inner) as target,
    ):
        yield target


class TestReads(ReadSuite):
    pass


class TestWrites(WriteSuite):
    pass
