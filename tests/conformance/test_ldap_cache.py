"""The conformance suite on the LDAP backend with the change-driven cache ON: every read
answered from memory must equal the directory's answer.  After the suite's direct
ldapadd/ldapdelete (restore), the cache's wait_synced barrier lets the stream catch up."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from ara_ldap.backends.ldap.backend import LdapBackend
from ara_ldap.backends.ldap.cache import DirectoryCache
from ara_ldap.testing.conformance import ReadSuite, Target, WriteSuite, ldap_target
from ara_ldap.testing.conformance.fixtures import running_slapd

CACHE = {"enabled": True, "probe_interval": 0.05}


@pytest.fixture(scope="module", params=["server", "prefix"])
def conformance_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    order: str = request.param
    with (
        running_slapd() as slapd,
        ldap_target(slapd, f"ldap-cache-{order}", value_order=order, cache=CACHE) as t,
    ):
        backend = t.realtime.backends["directory"]
        assert isinstance(backend, LdapBackend) and isinstance(backend.cache, DirectoryCache)
        cache = backend.cache
        assert cache.wait_synced(10.0), "the cache never caught up with the data set"
        restore = t.reload
        assert restore is not None

        def restore_and_sync() -> object:
            touched = restore()
            assert cache.wait_synced(10.0), "the cache did not catch up after restore"
            return touched

        yield dataclasses.replace(t, reload=restore_and_sync)


class TestReads(ReadSuite):
    pass


class TestWrites(WriteSuite):
    pass
