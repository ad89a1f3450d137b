"""Several servers behind one LDAP backend, on real slapd: failback to the preferred URL,
a frozen server leaving rotation after one timed-out call, read servers and write servers
(``write_urls``) and when a write moves to the next write server."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ara_ldap.backends.ldap.backend import LdapBackend
from ara_ldap.backends.ldap.connection import WriteOutcomeUnknown
from ara_ldap.bootstrap import open_realtime
from ara_ldap.config import load_settings
from ara_ldap.realtime import Realtime
from ara_ldap.testing.ldap import ldap_backend_config
from ara_ldap.testing.slapd import Slapd, find_fixture_ldifs, free_port
from ara_ldap.testing.topology import Topology, wait_until

TIMEOUT = 2
RETRY_INTERVAL = 0.5
SLACK = 0.6  # scheduling on the loaded 2-core machine
PASSWORD = secrets.token_urlsafe(18)


def _server(slapd_factory: Any, tag: str) -> Slapd:
    """A slapd with the fixtures and a record ``who`` whose host names the server."""
    slapd: Slapd = slapd_factory(admin_password=PASSWORD)  # one configuration binds to both
    slapd.ldapadd(*find_fixture_ldifs())
    realtime = open_realtime(load_settings({"backends": {"d": ldap_backend_config(slapd)}}))
    try:
        realtime.store("sippeers", {"name": "who", "host": tag})
    finally:
        realtime.close()
    return slapd


@pytest.fixture
def two(slapd_factory: Any) -> tuple[Slapd, Slapd]:
    return _server(slapd_factory, "first"), _server(slapd_factory, "second")


def _open(urls: list[str], model: Slapd, **overrides: Any) -> Realtime:
    config = ldap_backend_config(
        model,
        urls=urls,
        timeout=TIMEOUT,
        connect_timeout=0.5,
        retry_interval=RETRY_INTERVAL,
        **overrides,
    )
    return open_realtime(load_settings({"backends": {"d": config}}))


@pytest.fixture
def both(two: tuple[Slapd, Slapd]) -> Iterator[Realtime]:
    first, second = two
    realtime = _open([first.url, second.url], first)
    yield realtime
    realtime.close()


def _who(realtime: Realtime) -> str | None:
    record = realtime.single("sippeers", {"name": "who"})
    return None if record is None else record.get("host")


def _backend(realtime: Realtime) -> LdapBackend:
    backend = realtime.backends["d"]
    assert isinstance(backend, LdapBackend)
    return backend


def test_reads_fail_back_to_the_first_url_once_it_answers_again(
    two: tuple[Slapd, Slapd], both: Realtime
) -> None:
    first, _ = two
    assert _who(both) == "first"
    first.stop()
    assert _who(both) == "second"
    first.start()
    restarted = time.monotonic()
    while _who(both) != "first":
        assert time.monotonic() - restarted < RETRY_INTERVAL + 1.5, "no failback"
        time.sleep(0.01)
    print(f"failback {time.monotonic() - restarted:.3f} s after the restart")


def _held_servers(realtime: Realtime, count: int) -> list[int]:
    """The server positions of ``count`` pooled connections taken at once (so the pool
    holds that many), handed back afterwards."""
    pool = _backend(realtime).pool
    with contextlib.ExitStack() as stack:
        held = [stack.enter_context(pool.connection()) for _ in range(count)]
        return [pool.server_of(conn) for conn in held]


def test_every_pooled_connection_fails_back(two: tuple[Slapd, Slapd], both: Realtime) -> None:
    first, _ = two
    first.stop()
    assert _held_servers(both, 3) == [1, 1, 1]  # three connections to the second server
    first.start()
    time.sleep(RETRY_INTERVAL)
    # A call after the interval starts the background probe of the first server; once it
    # answered, each pooled connection to the second is retired when next taken.
    wait_until(lambda: _who(both) == "first", timeout=2.0, what="failback")
    assert _held_servers(both, 3) == [0, 0, 0]


def test_a_frozen_first_server_costs_one_slow_read_then_leaves_rotation(
    two: tuple[Slapd, Slapd], both: Realtime
) -> None:
    first, _ = two
    assert _who(both) == "first"
    first.freeze()
    try:
        began = time.monotonic()
        assert _who(both) == "second"  # the retry went to the next URL within the budget
        slow = time.monotonic() - began
        began = time.monotonic()
        assert _who(both) == "second"
        after = time.monotonic() - began
    finally:
        first.thaw()
    print(f"frozen: first read {slow:.3f} s, next {after * 1000:.1f} ms")
    assert slow < TIMEOUT / 2 + SLACK
    assert after < 0.3


def test_a_write_that_times_out_is_unknown_not_replayed_and_marks_the_server_down(
    two: tuple[Slapd, Slapd], both: Realtime
) -> None:
    first, second = two
    assert _who(both) == "first"
    first.freeze()
    try:
        began = time.monotonic()
        with pytest.raises(WriteOutcomeUnknown):
            both.store("sippeers", {"name": "maybe", "host": "dynamic"})
        took = time.monotonic() - began
        began = time.monotonic()
        both.store("sippeers", {"name": "next", "host": "dynamic"})
        next_took = time.monotonic() - began
    finally:
        first.thaw()
    assert took < TIMEOUT + SLACK
    assert next_took < 0.3  # the frozen server had left rotation
    only_second = _open([second.url], second)
    try:
        assert only_second.single("sippeers", {"name": "maybe"}) is None  # never replayed
        assert only_second.single("sippeers", {"name": "next"}) is not None
    finally:
        only_second.close()


def test_a_write_moves_to_the_next_write_server_when_the_first_refuses_connections(
    two: tuple[Slapd, Slapd],
) -> None:
    first, second = two
    dead = f"ldap://127.0.0.1:{free_port()}"
    realtime = _open([first.url], first, write_urls=[dead, second.url])
    try:
        realtime.store("sippeers", {"name": "moved", "host": "dynamic"})
    finally:
        realtime.close()
    check = _open([second.url], second)
    try:
        assert check.single("sippeers", {"name": "moved"}) is not None
    finally:
        check.close()


@pytest.fixture
def topology(topology_factory: Any) -> Topology:
    result: Topology = topology_factory(1, ldifs=find_fixture_ldifs())
    return result


def test_write_urls_send_writes_to_the_provider_and_reads_to_the_consumer(
    topology: Topology,
) -> None:
    consumer, provider = topology.consumers[0], topology.provider
    realtime = _open([consumer.url], consumer, write_urls=[provider.url])
    try:
        assert realtime.single("sippeers", {"name": "alice"}) is not None
        realtime.store("sippeers", {"name": "split", "host": "dynamic"})
        pool = _backend(realtime).pool
        assert pool.urls == [consumer.url.rstrip("/")]
        assert pool.writes is not None and pool.writes.urls == [provider.url.rstrip("/")]
        topology.wait_for_replication()
        assert realtime.single("sippeers", {"name": "split"}) is not None  # via the consumer
    finally:
        realtime.close()
    dn = f"cn=split,ou=sip,ou=asterisk,{provider.suffix}".lower()
    assert dn in topology.entry_dns(provider)


def test_a_replica_referral_moves_the_write_to_the_next_server_once(topology: Topology) -> None:
    consumer, provider = topology.consumers[0], topology.provider
    realtime = _open([consumer.url, provider.url], consumer)  # no write_urls
    try:
        assert realtime.store("sippeers", {"name": "referred", "host": "dynamic"}) == 1
        # A refused write does not take the consumer out of the reads' rotation.
        assert realtime.single("sippeers", {"name": "alice"}) is not None
    finally:
        realtime.close()
    topology.wait_for_replication()
    dn = f"cn=referred,ou=sip,ou=asterisk,{provider.suffix}".lower()
    assert dn in topology.entry_dns(provider)


def _cached(realtime: Realtime, name: str) -> bool:
    """Whether the change-driven cache answers ``name`` (without a directory call)."""
    answer = realtime.single_nowait("sippeers", {"name": name})
    return answer is not None and answer[0] is not None


def test_the_cache_serves_when_the_first_url_is_down(two: tuple[Slapd, Slapd]) -> None:
    _, second = two
    dead = f"ldap://127.0.0.1:{free_port()}"
    realtime = _open([dead, second.url], second, cache={"enabled": True})
    try:
        # Before: the cache's probe asked urls[0] only, so the cache never went live.
        wait_until(lambda: _cached(realtime, "who"), timeout=10, what="the cache serving")
    finally:
        realtime.close()


def test_the_cache_follows_the_next_url_when_the_consumer_dies(topology: Topology) -> None:
    consumer, provider = topology.consumers[0], topology.provider
    realtime = _open(
        [consumer.url, provider.url], consumer, write_urls=[provider.url], cache={"enabled": True}
    )
    try:
        wait_until(lambda: _cached(realtime, "alice"), timeout=10, what="the cache serving")
        consumer.kill()
        realtime.store("sippeers", {"name": "after-kill", "host": "dynamic"})
        # The stream restarts on the provider and delivers the write to the cache.
        waited = wait_until(
            lambda: _cached(realtime, "after-kill"), timeout=10, what="the write in the cache"
        )
        print(f"cache caught up on the provider {waited:.3f} s after the write")
    finally:
        realtime.close()


def _cached_host(realtime: Realtime) -> str | None:
    answer = realtime.single_nowait("sippeers", {"name": "who"})
    record = None if answer is None else answer[0]
    return None if record is None else record.get("host")


def test_the_cache_moves_back_to_the_first_url_once_it_answers_again(
    two: tuple[Slapd, Slapd],
) -> None:
    first, second = two
    first.stop()
    realtime = _open([first.url, second.url], first, cache={"enabled": True})
    try:
        wait_until(lambda: _cached_host(realtime) == "second", timeout=10, what="cache on second")
        first.start()
        waited = wait_until(
            lambda: _cached_host(realtime) == "first", timeout=10, what="cache back on first"
        )
        print(f"cache failback {waited:.3f} s after the restart")
    finally:
        realtime.close()
