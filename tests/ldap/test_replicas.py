"""Reading from a syncrepl consumer (a read-only replica) on real slapd: the backend and the
change-driven cache work against it, multi-valued order per ``value_order``, and a write
sent to it is refused with a message naming the provider."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from ara_ldap.bootstrap import open_realtime
from ara_ldap.errors import BackendError
from ara_ldap.realtime import Realtime
from ara_ldap.testing.ldap import ldap_settings
from ara_ldap.testing.slapd import Slapd, find_fixture_ldifs
from ara_ldap.testing.topology import Topology, wait_until

CODECS = ("ulaw", "alaw", "gsm", "g729")


@pytest.fixture
def topology(topology_factory: Any) -> Topology:
    result: Topology = topology_factory(1, ldifs=find_fixture_ldifs())
    return result


def _open(node: Slapd, **overrides: Any) -> Realtime:
    return open_realtime(ldap_settings(node, **overrides))


@pytest.fixture
def writer(topology: Topology) -> Iterator[Realtime]:
    realtime = _open(topology.provider)
    yield realtime
    realtime.close()


@pytest.fixture
def reader(topology: Topology) -> Iterator[Realtime]:
    realtime = _open(topology.consumers[0])
    yield realtime
    realtime.close()


def _codec_rounds(topology: Topology, value_order: str) -> list[tuple[list[str], list[str]]]:
    """Write every order of four codecs on the provider (one replace each) and read each
    back from the consumer: ``(written, read)`` pairs."""
    writer = _open(topology.provider, value_order=value_order)
    reader = _open(topology.consumers[0], value_order=value_order)
    rounds = []
    try:
        writer.store("sippeers", [("name", "order"), *(("allow", c) for c in CODECS)])
        for order in itertools.permutations(CODECS):
            assert writer.update("sippeers", "name", "order", [("allow", c) for c in order]) == 1
            topology.wait_for_replication()
            peer = reader.single("sippeers", {"name": "order"})
            assert peer is not None
            rounds.append((list(order), peer.get_all("allow")))
    finally:
        writer.close()
        reader.close()
    return rounds


def test_the_backend_reads_a_provider_write_from_the_consumer(
    topology: Topology, writer: Realtime, reader: Realtime
) -> None:
    writer.store("sippeers", {"name": "replicated", "host": "dynamic"})
    topology.wait_for_replication()
    peer = reader.single("sippeers", {"name": "replicated"})
    assert peer is not None and peer.get("host") == "dynamic"


def test_a_write_to_the_consumer_names_the_provider(topology: Topology, reader: Realtime) -> None:
    with pytest.raises(BackendError) as caught:
        reader.update("sippeers", "name", "alice", {"host": "10.0.0.9"})
    message = str(caught.value)
    assert "read-only replica that refers writes to " + topology.provider.url.rstrip("/") in message
    assert "send writes to the provider" in message


def test_a_store_on_the_consumer_names_the_provider(topology: Topology, reader: Realtime) -> None:
    with pytest.raises(BackendError, match="read-only replica that refers writes"):
        reader.store("sippeers", {"name": "nowhere"})


def test_the_cache_follows_the_consumer(topology: Topology, writer: Realtime) -> None:
    cached = _open(topology.consumers[0], cache={"enabled": True})
    try:
        assert cached.single("sippeers", {"name": "alice"}) is not None
        writer.store("sippeers", {"name": "via-cache", "host": "dynamic"})
        wait_until(
            lambda: cached.single("sippeers", {"name": "via-cache"}) is not None,
            what="the consumer's change reaching the cache",
        )
    finally:
        cached.close()


def test_prefix_order_survives_the_plain_replica(topology: Topology) -> None:
    rounds = _codec_rounds(topology, "prefix")
    assert [read for _, read in rounds] == [written for written, _ in rounds]


def test_server_order_is_not_kept_by_the_plain_replica(topology: Topology) -> None:
    # The trap behind the replica advice (slapd.md §14): a plain syncrepl consumer applies
    # a replace as a set difference, so it hands back some orders differently.
    rounds = _codec_rounds(topology, "server")
    assert all(sorted(read) == sorted(written) for written, read in rounds)
    assert any(read != written for written, read in rounds)


def test_server_order_survives_a_delta_syncrepl_replica(topology_factory: Any) -> None:
    delta: Topology = topology_factory(1, delta=True, ldifs=find_fixture_ldifs())
    rounds = _codec_rounds(delta, "server")
    assert [read for _, read in rounds] == [written for written, _ in rounds]
