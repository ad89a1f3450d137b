"""The conformance suite through the gateway over the LDAP backend with the change-driven
cache ON: reads are answered on the event loop from the replica (and their wire lines
memoised by object identity), so every answer must still equal the directory's,
including right after the suite's own writes and its direct restores."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from ara_ldap.backends.ldap.backend import LdapBackend
from ara_ldap.backends.ldap.cache import DirectoryCache
from ara_ldap.testing.conformance import ReadSuite, Target, WriteSuite, ldap_target
from ara_ldap.testing.conformance.curl import gateway_target
from ara_ldap.testing.conformance.fixtures import (  # noqa: F401  (fixtures, by name)
    capabilities,
    dataset,
    fresh,
    realtime,
    running_slapd,
)

CACHE = {"enabled": True, "probe_interval": 0.05}


@pytest.fixture(scope="module")
def conformance_target() -> Iterator[Target]:
    with (
        running_slapd() as slapd,
        ldap_target(slapd, "ldap-cache", cache=CACHE) as inner,
    ):
        backend = inner.realtime.backends["directory"]
        assert isinstance(backend, LdapBackend) and isinstance(backend.cache, DirectoryCache)
        cache = backend.cache
        assert cache.wait_synced(10.0), "the cache never caught up with the data set"
        restore = inner.reload
        assert restore is not None

        def restore_and_sync() -> object:
            touched = restore()
            assert cache.wait_synced(10.0), "the cache did not catch up after restore"
            return touched

        synced = dataclasses.replace(inner, reload=restore_and_sync)
        with gateway_target(synced, "gateway-ldap-cache") as target:
            yield target


class TestReads(ReadSuite):
    pass


class TestWrites(WriteSuite):
    pass


def test_the_cache_answers_on_the_event_loop(conformance_target: Target) -> None:
    """The suite above really went through the cache (not only the worker threads)."""
    server = conformance_target.extra["server"]
    client = conformance_target.extra["client"]
    app = server.app
    app.lines._lines.clear()
    for _ in range(3):
        client.single("sippeers", {"name": "alice"})
    if not app.lines._lines:
        pytest.fail("no answer came from the cache's event-loop path")
