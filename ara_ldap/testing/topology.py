"""Replication topologies of throwaway slapd instances (like 389-DS's lib389 topologies).

A :class:`Topology` is one provider (syncprov) and N consumers, each following the
provider with syncrepl ``refreshAndPersist`` (slapd.md §9) configured in cn=config, and
referring writes to the provider (``olcUpdateRef``), as a read-only replica of a real
site does.  Every node has the same rootdn password, so one configuration binds to any of
them, and the syncprov overlay too, so ara-ldap's change-driven cache can follow a
consumer (a cascading replica).  With a :class:`~ara_ldap.testing.pki.TestPki` every node
also speaks StartTLS and ldaps:// with the PKI's server certificate, and the consumers
replicate over StartTLS checked against the test CA.

Plain syncrepl replicates entries, not value order: a consumer may hand multi-valued
attributes back in another order (slapd.md §14); that is what ``value_order: prefix`` is
for.  Unlike :mod:`ara_ldap.testing.slapd` this module uses ldap3 (to read contextCSN).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import ldap3

from ara_ldap.testing.pki import TestPki
from ara_ldap.testing.slapd import Slapd, SlapdError, TlsFiles, asterisk_slapd

__all__ = ["ReplicationTimeout", "Topology", "consumer_config", "replicated_topology", "wait_until"]


class ReplicationTimeout(SlapdError):
    """The consumers did not catch up with the provider in time."""


def consumer_config(
    provider: Slapd, rid: int, *, start_tls: bool = False, ca_file: Path | None = None
) -> list[str]:
    """The database lines making a node a refreshAndPersist consumer of ``provider``:
    ``olcSyncrepl`` (bound as the provider's rootdn, retry every second for ever) and
    ``olcUpdateRef`` (writes are answered with a referral to the provider)."""
    stanza = (
        f"rid={rid:03d} provider={provider.url} type=refreshAndPersist "
        f'retry="1 +" searchbase="{provider.suffix}" scope=sub schemachecking=on '
        f'bindmethod=simple binddn="{provider.admin_dn}" credentials={provider.admin_password}'
    )
    if start_tls:
        stanza += " starttls=critical tls_reqcert=demand"
        if ca_file is not None:
            stanza += f" tls_cacert={ca_file}"
    return [f"olcSyncrepl: {stanza}", f"olcUpdateRef: {provider.url}"]


class Topology:
    """A provider and its consumers; :meth:`close` stops them all (and removes the PKI)."""

    def __init__(self, provider: Slapd, consumers: Sequence[Slapd], pki: TestPki | None) -> None:
        self.provider = provider
        self.consumers = list(consumers)
        self.pki = pki

    @property
    def nodes(self) -> list[Slapd]:
        """The provider first, then the consumers."""
        return [self.provider, *self.consumers]

    # -- waiting ----------------------------------------------------------------------
    def context_csn(self, node: Slapd) -> frozenset[str]:
        """The suffix's contextCSN values on ``node`` (empty before the first write)."""
        conn = _admin_connection(node)
        try:
            conn.search(node.suffix, "(objectClass=*)", ldap3.BASE, attributes=["contextCSN"])
            if not conn.entries:
                return frozenset()
            values = conn.entries[0].entry_attributes_as_dict.get("contextCSN", [])
            return frozenset(str(v) for v in values)
        finally:
            conn.unbind()

    def wait_for_replication(self, timeout: float = 10.0) -> float:
        """Wait until every running consumer has the provider's contextCSN; returns the
        seconds waited.  contextCSN equal means every change was *received*; a test that
        restarts nodes after deletes should compare entry sets too (slapd.md §17)."""
        start = time.monotonic()
        target = self.context_csn(self.provider)
        lagging = [c for c in self.consumers if c.running]
        while lagging:
            lagging = [c for c in lagging if self.context_csn(c) != target]
            if not lagging:
                break
            if time.monotonic() - start > timeout:
                raise ReplicationTimeout(
                    f"{len(lagging)} consumer(s) still behind the provider's contextCSN "
                    f"{sorted(target)} after {timeout} s: {[c.url for c in lagging]}"
                )
            time.sleep(0.005)
        return time.monotonic() - start

    def entry_dns(self, node: Slapd) -> set[str]:
        """Every DN below the suffix on ``node`` (to compare entry sets after a fault)."""
        conn = _admin_connection(node)
        try:
            entries = conn.extend.standard.paged_search(
                node.suffix, "(objectClass=*)", attributes=["1.1"], generator=True
            )
            return {str(e["dn"]).lower() for e in entries if e.get("type") == "searchResEntry"}
        finally:
            conn.unbind()

    # -- lifecycle --------------------------------------------------------------------
    def close(self) -> None:
        """Stop every node and delete their directories; idempotent."""
        with contextlib.ExitStack() as stack:
            if self.pki is not None:
                stack.callback(self.pki.close)
            for node in self.nodes:
                stack.callback(node.close)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def wait_until(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> float:
    """Poll ``check`` every 5 ms until it is true; returns the seconds waited."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise ReplicationTimeout(f"{what} not reached within {timeout} s")
        time.sleep(0.005)
    return time.monotonic() - start


def replicated_topology(
    consumers: int = 1,
    *,
    tls: bool = False,
    ldifs: Sequence[Path] = (),
    make: Callable[..., Slapd] = asterisk_slapd,
    **kwargs: Any,
) -> Topology:
    """Start a provider (with its suffix entry, or ``ldifs`` loaded, the suffix first) and
    ``consumers`` consumers, and wait until they replicated it.  ``tls`` makes a
    :class:`TestPki` and gives every node StartTLS and ldaps://; ``kwargs`` go to every
    node's ``make`` (``asterisk_slapd``)."""
    pki = TestPki() if tls else None
    files = TlsFiles(pki.ca.cert, pki.server.cert, pki.server.key) if pki else None
    password = secrets.token_urlsafe(24)
    made: list[Slapd] = []
    try:
        provider = make(tls=files, admin_password=password, **kwargs)
        made.append(provider)
        provider.start()
        if ldifs:
            provider.ldapadd(*ldifs)
        else:
            provider.create_suffix()
        for number in range(1, consumers + 1):
            lines = consumer_config(
                provider, number, start_tls=tls, ca_file=pki.ca.cert if pki else None
            )
            node = make(tls=files, admin_password=password, db_config=lines, **kwargs)
            made.append(node)
            node.start()
        topology = Topology(made[0], made[1:], pki)
        topology.wait_for_replication()
        return topology
    except BaseException:
        for node in made:
            with contextlib.suppress(Exception):
                node.close()
        if pki is not None:
            pki.close()
        raise


def _admin_connection(node: Slapd) -> ldap3.Connection:
    return ldap3.Connection(
        ldap3.Server(node.url.rstrip("/"), get_info=ldap3.NONE, connect_timeout=2),
        node.admin_dn,
        node.admin_password,
        auto_bind=True,
        receive_timeout=5,
    )
