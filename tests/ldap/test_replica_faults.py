"""Faults on a replicated directory under a closed loop of reads and writes, through ONE
backend that reads from the consumer first (``urls``) and writes to the provider
(``write_urls``): ``kill -9``, ``SIGSTOP`` and restart of each node in turn, then the same
on a multi-provider pair.  Measured per run (printed for docs/replication.md): the read
failover gap (the longest time without a successful read around the fault), the longest
call, acknowledged / unknown / failed writes; asserted: no acknowledged write lost (the
entry sets, DN and attributes, of every node equal after catch-up and holding every
acknowledged record), no hung call, codec order intact when read from the consumer.

Timing bounds carry slack for the shared, loaded 2-core test machine; the figures the
docs quote are upper bounds measured there."""

from __future__ import annotations

import itertools
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import ldap3
import pytest

from ara_ldap.backends.ldap.connection import WriteOutcomeUnknown
from ara_ldap.bootstrap import open_realtime
from ara_ldap.config import load_settings
from ara_ldap.realtime import Realtime
from ara_ldap.testing.ldap import ldap_backend_config
from ara_ldap.testing.slapd import Slapd, find_fixture_ldifs
from ara_ldap.testing.topology import (
    ReplicationTimeout,
    Topology,
    multi_provider_topology,
    wait_until,
)

TIMEOUT = 2  # the backend's operation timeout (whole seconds): one call's budget
RETRY_INTERVAL = 0.5
SLACK = 0.6  # scheduling on the loaded 2-core machine
#: Target 50 ms (issue 11); asserted with room for a loaded machine's scheduling.
GAP_BOUND = 0.3
CODECS = ("ulaw", "alaw", "gsm", "g729")
ORDERS = list(itertools.permutations(CODECS))


@pytest.fixture
def topology(topology_factory: Any) -> Topology:
    result: Topology = topology_factory(1, ldifs=find_fixture_ldifs())
    return result


@pytest.fixture
def pair(topology_factory: Any) -> Iterator[Topology]:
    """Two delta-syncrepl providers holding the fixtures (topology_factory: slapd or skip)."""
    del topology_factory
    result = multi_provider_topology(ldifs=find_fixture_ldifs())
    yield result
    result.close()


def _backend(read: list[Slapd], write: list[Slapd]) -> Realtime:
    """One backend: reads from ``read`` in order, writes to ``write`` in order; warm."""
    config = ldap_backend_config(
        read[0],
        urls=[n.url for n in read],
        write_urls=[n.url for n in write],
        timeout=TIMEOUT,
        connect_timeout=0.5,
        retry_interval=RETRY_INTERVAL,
        value_order="prefix",  # plain consumers scramble server order (docs/replication.md)
    )
    realtime = open_realtime(
        load_settings({"backends": {"directory": config}, "families": {"sippeers": ["directory"]}})
    )
    # Warm both pools as a running gateway's are: the figures measure the failover.
    realtime.single("sippeers", {"name": "alice"})
    realtime.store("sippeers", {"name": "warm", "host": "dynamic"})
    return realtime


@dataclass
class Loop:
    """A reader and a writer thread calling back to back until :meth:`stop`."""

    realtime: Realtime
    reads: list[tuple[float, float, bool]] = field(default_factory=list)
    writes: list[tuple[float, float, str]] = field(default_factory=list)
    acknowledged: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for target in (self._read, self._write):
            thread = threading.Thread(target=target, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> int:
        """Stop the loop; the number of calls still hung after one budget plus slack."""
        self._stop.set()
        give_up = time.monotonic() + TIMEOUT + SLACK
        for thread in self._threads:
            thread.join(max(0.0, give_up - time.monotonic()))
        return sum(thread.is_alive() for thread in self._threads)

    def _read(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                ok = self.realtime.single("sippeers", {"name": "alice"}) is not None
            except Exception:
                ok = False
            self.reads.append((began, time.monotonic(), ok))

    def _write(self) -> None:
        for number in itertools.count():
            if self._stop.is_set():
                return
            name = f"w{number}"
            codecs = ORDERS[number % len(ORDERS)]
            record = [("name", name), ("host", "dynamic"), *(("allow", c) for c in codecs)]
            began = time.monotonic()
            try:
                self.realtime.store("sippeers", record)
                outcome = "ok"
                self.acknowledged[name] = codecs
            except WriteOutcomeUnknown:
                outcome = "unknown"
                self.unknown.append(name)
            except Exception:
                outcome = "failed"
            self.writes.append((began, time.monotonic(), outcome))
            time.sleep(0.002)  # leave the reader the GIL now and then

    # -- figures ----------------------------------------------------------------------
    def gap(self, since: float) -> float:
        """The longest time without a successful read completing, from the last success
        before ``since`` on (seconds)."""
        ends = sorted(end for _, end, ok in self.reads if ok)
        before = [e for e in ends if e <= since]
        after = [e for e in ends if e > since]
        points = before[-1:] + after
        return max((b - a for a, b in itertools.pairwise(points)), default=float("inf"))

    def longest(self) -> float:
        return max(end - began for began, end, _ in [*self.reads, *self.writes])

    def after_first_slow_read(self, since: float, slow: float = 0.1) -> tuple[float, list[float]]:
        """The first read after ``since`` that took ``slow`` s or more (its duration, 0 if
        none did) and the durations of the reads that began after it ended."""
        reads = [r for r in self.reads if r[1] >= since]
        first = next((r for r in reads if r[1] - r[0] >= slow), None)
        if first is None:
            return 0.0, []
        return first[1] - first[0], [end - began for began, end, _ in reads if began >= first[1]]

    def figures(self, since: float) -> dict[str, Any]:
        outcomes = [o for _, _, o in self.writes]
        return {
            "reads": len(self.reads),
            "failed_reads": sum(not ok for _, _, ok in self.reads),
            "gap_ms": round(self.gap(since) * 1000, 1),
            "longest_ms": round(self.longest() * 1000, 1),
            "writes_ok": outcomes.count("ok"),
            "writes_unknown": outcomes.count("unknown"),
            "writes_failed": outcomes.count("failed"),
        }


def _entries(node: Slapd) -> dict[str, dict[str, list[str]]]:
    """DN -> user attributes (values sorted) of every entry below the suffix."""
    conn = ldap3.Connection(
        ldap3.Server(node.url.rstrip("/"), get_info=ldap3.NONE, connect_timeout=2),
        node.admin_dn,
        node.admin_password,
        auto_bind=True,
        receive_timeout=10,
    )
    try:
        found = conn.extend.standard.paged_search(
            node.suffix, "(objectClass=*)", attributes=["*"], generator=True
        )
        return {
            str(e["dn"]).lower(): {
                k.lower(): sorted(str(v) for v in vs) for k, vs in e["raw_attributes"].items()
            }
            for e in found
            if e.get("type") == "searchResEntry"
        }
    finally:
        conn.unbind()


def _freeze(node: Slapd) -> Callable[[], None]:
    node.freeze()
    return node.thaw


def _kill(node: Slapd) -> Callable[[], None]:
    node.kill()
    return node.start


def _restart(node: Slapd) -> Callable[[], None]:
    node.restart()
    return lambda: None


FAULTS: dict[str, Callable[[Slapd], Callable[[], None]]] = {
    "kill -9": _kill,
    "SIGSTOP": _freeze,
    "restart": _restart,
}
#: How long the fault lasts: a freeze outlasts the timeout, so the call that meets it
#: must give up on that server.
HOLD = {"kill -9": 1.5, "SIGSTOP": TIMEOUT + 0.5, "restart": 0.0}


def _run_fault(
    topology: Topology, realtime: Realtime, node: Slapd, fault: str
) -> tuple[Loop, dict[str, Any], float]:
    loop = Loop(realtime)
    loop.start()
    time.sleep(0.5)
    faulted_at = time.monotonic()
    recover = FAULTS[fault](node)
    time.sleep(HOLD[fault])
    recover()
    time.sleep(RETRY_INTERVAL + 1.0)  # failback and writes after recovery
    hung = loop.stop()
    figures = loop.figures(faulted_at)
    figures["hung"] = hung
    print(f"{fault} on {node.url}:", figures)
    return loop, figures, faulted_at


def _divergence(topology: Topology, nodes: list[dict[str, dict[str, list[str]]]]) -> str:
    """Which entries differ between the first node and each other one."""
    lines = []
    for node, entries in zip(topology.nodes[1:], nodes[1:], strict=True):
        dns = sorted(
            dn for dn in set(entries) | set(nodes[0]) if entries.get(dn) != nodes[0].get(dn)
        )
        lines.append(
            f"{topology.nodes[0].url} vs {node.url}: {len(dns)} entries differ "
            f"(writes reported unknown left out): {dns[:5]}"
        )
    return "the nodes never held the same entries within 30 s; " + "; ".join(lines)


def _check_no_loss(topology: Topology, loop: Loop, reader: Slapd) -> None:
    """Every node holds the same entries (DN + attributes) and every acknowledged record;
    read from ``reader`` (a consumer), each keeps its written codec order."""
    # Entry sets, not contextCSN: after a kill -9 a multi-provider node may report an
    # older contextCSN for ever (syncprov's checkpoint was lost) with every entry in place.
    # A write reported unknown may exist on one node only (it met the kill): it is left
    # out of the comparison, and said (a warning) when that happened.
    unknown = {f"cn={n},ou=sip,ou=asterisk,dc=example,dc=org" for n in loop.unknown}
    nodes: list[dict[str, dict[str, list[str]]]] = []

    def equal() -> bool:
        nodes[:] = [
            {dn: attrs for dn, attrs in _entries(n).items() if dn not in unknown}
            for n in topology.nodes
        ]
        return all(entries == nodes[0] for entries in nodes[1:])

    try:
        wait_until(equal, timeout=30, what="the same entries (DN + attributes) on every node")
    except ReplicationTimeout:
        raise AssertionError(_divergence(topology, nodes)) from None
    held = [{dn for dn in _entries(n) if dn in unknown} for n in topology.nodes]
    if any(h != held[0] for h in held[1:]):
        warnings.warn(f"a write reported unknown is on some nodes only: {held}", stacklevel=1)
    base = "ou=sip,ou=asterisk,dc=example,dc=org"
    missing = [n for n in loop.acknowledged if f"cn={n},{base}" not in nodes[0]]
    assert missing == []
    check = open_realtime(
        load_settings(
            {
                "backends": {"c": ldap_backend_config(reader, value_order="prefix")},
                "families": {"sippeers": ["c"]},
            }
        )
    )
    try:
        wrong = []
        for name, codecs in loop.acknowledged.items():
            record = check.single("sippeers", {"name": name})
            if record is None or tuple(record.get_all("allow")) != codecs:
                wrong.append(name)
        assert wrong == []
    finally:
        check.close()


@pytest.mark.slow
@pytest.mark.parametrize("fault", list(FAULTS))
def test_reads_fail_over_from_the_consumer_and_no_write_is_lost(
    topology: Topology, fault: str
) -> None:
    consumer, provider = topology.consumers[0], topology.provider
    realtime = _backend([consumer, provider], [provider])
    try:
        loop, figures, _ = _run_fault(topology, realtime, consumer, fault)
    finally:
        realtime.close()
    assert figures["hung"] == 0
    assert figures["longest_ms"] < (TIMEOUT + SLACK) * 1000
    if fault == "SIGSTOP":
        # The read that meets the frozen server waits half the budget, then its retry
        # goes to the provider: the gap is bounded by the timeout, no read fails.
        assert figures["gap_ms"] < (TIMEOUT + SLACK) * 1000
    else:
        assert figures["gap_ms"] < GAP_BOUND * 1000
    assert figures["failed_reads"] == 0
    # The provider never failed: every write was acknowledged.
    assert figures["writes_unknown"] == figures["writes_failed"] == 0
    _check_no_loss(topology, loop, consumer)


@pytest.mark.slow
def test_a_frozen_consumer_leaves_rotation_after_the_first_timed_out_read(
    topology: Topology,
) -> None:
    consumer, provider = topology.consumers[0], topology.provider
    realtime = _backend([consumer, provider], [provider])
    loop = Loop(realtime)
    thaw: Callable[[], None] = lambda: None  # noqa: E731
    try:
        loop.start()
        time.sleep(0.3)
        frozen_at = time.monotonic()
        thaw = _freeze(consumer)
        time.sleep(TIMEOUT + 0.5)
        first, later = loop.after_first_slow_read(frozen_at)
    finally:
        thaw()
        loop.stop()
        realtime.close()
    slowest = max(later, default=0.0)
    print(
        f"SIGSTOP: the read that met the freeze {first * 1000:.1f} ms, then {len(later)} "
        f"reads, the slowest {slowest * 1000:.1f} ms"
    )
    assert TIMEOUT / 2 - 0.1 < first < TIMEOUT / 2 + SLACK  # half the budget, then the retry
    assert len(later) > 100
    assert slowest < GAP_BOUND


@pytest.mark.slow
@pytest.mark.parametrize("fault", list(FAULTS))
def test_reads_stay_on_the_consumer_while_the_provider_fails(
    topology: Topology, fault: str
) -> None:
    consumer, provider = topology.consumers[0], topology.provider
    realtime = _backend([consumer, provider], [provider])
    try:
        loop, figures, _ = _run_fault(topology, realtime, provider, fault)
    finally:
        realtime.close()
    assert figures["hung"] == 0
    assert figures["longest_ms"] < (TIMEOUT + SLACK) * 1000
    assert figures["failed_reads"] == 0
    assert figures["gap_ms"] < GAP_BOUND * 1000
    assert figures["writes_ok"] > 0
    if fault == "SIGSTOP":
        # The write that met the frozen provider may have been applied: unknown, never
        # replayed; the provider then left rotation, so later writes failed fast.
        assert figures["writes_unknown"] <= 1
    _check_no_loss(topology, loop, consumer)


@pytest.mark.slow
@pytest.mark.parametrize("node_number", [0, 1])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_multi_provider_pair_survives_a_fault_of_either_node(
    pair: Topology, fault: str, node_number: int
) -> None:
    nodes = pair.nodes
    realtime = _backend(nodes, nodes)
    try:
        loop, figures, _ = _run_fault(pair, realtime, nodes[node_number], fault)
    finally:
        realtime.close()
    assert figures["hung"] == 0
    assert figures["longest_ms"] < (TIMEOUT + SLACK) * 1000
    assert figures["failed_reads"] == 0
    if fault != "SIGSTOP" or node_number == 1:
        assert figures["gap_ms"] < GAP_BOUND * 1000
    assert figures["writes_ok"] > 0
    # Delta-syncrepl keeps server order, but the backend stores prefixes: either reads.
    _check_no_loss(pair, loop, nodes[1 - node_number])
