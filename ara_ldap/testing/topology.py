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
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import ldap3

from ara_ldap.testing.pki import TestPki
from ara_ldap.testing.slapd import Slapd, SlapdError, TlsFiles, asterisk_slapd, free_port

__all__ = [
    "ACCESSLOG_SUFFIX",
    "ReplicationTimeout",
    "Topology",
    "accesslog_config",
    "consumer_config",
    "multi_provider_topology",
    "replicated_topology",
    "syncrepl_stanza",
    "wait_until",
]


class ReplicationTimeout(SlapdError):
    """The consumers did not catch up with the provider in time."""


ACCESSLOG_SUFFIX = "cn=accesslog"


def syncrepl_stanza(
    url: str,
    suffix: str,
    password: str,
    rid: int,
    *,
    start_tls: bool = False,
    ca_file: Path | None = None,
    delta: bool = False,
) -> str:
    """One ``olcSyncrepl`` value following the server at ``url`` (refreshAndPersist, bound
    as its rootdn ``cn=admin,<suffix>``, retry every second for ever); ``delta`` replays its
    accesslog (delta-syncrepl, which keeps value order: slapd.md §14)."""
    stanza = (
        f"rid={rid:03d} provider={url} type=refreshAndPersist "
        f'retry="1 +" searchbase="{suffix}" scope=sub schemachecking=on '
        f'bindmethod=simple binddn="cn=admin,{suffix}" credentials={password}'
    )
    if delta:
        stanza += (
            f' logbase="{ACCESSLOG_SUFFIX}" syncdata=accesslog'
            ' logfilter="(&(objectClass=auditWriteObject)(reqResult=0))"'
        )
    if start_tls:
        stanza += " starttls=critical tls_reqcert=demand"
        if ca_file is not None:
            stanza += f" tls_cacert={ca_file}"
    return stanza


def consumer_config(
    provider: Slapd,
    rid: int,
    *,
    start_tls: bool = False,
    ca_file: Path | None = None,
    delta: bool = False,
) -> list[str]:
    """The database lines making a node a read-only consumer of ``provider``:
    ``olcSyncrepl`` (:func:`syncrepl_stanza`) and ``olcUpdateRef`` (writes are answered with
    a referral to the provider)."""
    stanza = syncrepl_stanza(
        provider.url,
        provider.suffix,
        provider.admin_password,
        rid,
        start_tls=start_tls,
        ca_file=ca_file,
        delta=delta,
    )
    return [f"olcSyncrepl: {stanza}", f"olcUpdateRef: {provider.url}"]


def accesslog_config(directory: Path) -> dict[str, Any]:
    """``Slapd`` keyword arguments for a delta-syncrepl provider: the accesslog module, a
    ``cn=accesslog`` database in ``directory`` (syncprov on it, no present phase) and the
    accesslog overlay logging successful writes of the main database."""
    blocks = [
        "\n".join(
            [
                "dn: olcDatabase={2}mdb,cn=config",
                "objectClass: olcDatabaseConfig",
                "objectClass: olcMdbConfig",
                "olcDatabase: {2}mdb",
                f"olcSuffix: {ACCESSLOG_SUFFIX}",
                f"olcDbDirectory: {directory}",
                "olcDbMaxSize: 1073741824",
                "olcDbNoSync: TRUE",
                "olcDbIndex: entryCSN,objectClass,reqEnd,reqResult,reqStart eq",
            ]
        ),
        "\n".join(
            [
                "dn: olcOverlay={0}syncprov,olcDatabase={2}mdb,cn=config",
                "objectClass: olcOverlayConfig",
                "objectClass: olcSyncProvConfig",
                "olcOverlay: {0}syncprov",
                "olcSpNoPresent: TRUE",
                "olcSpReloadHint: TRUE",
            ]
        ),
        "\n".join(
            [
                "dn: olcOverlay={1}accesslog,olcDatabase={1}mdb,cn=config",
                "objectClass: olcOverlayConfig",
                "objectClass: olcAccessLogConfig",
                "olcOverlay: {1}accesslog",
                f"olcAccessLogDB: {ACCESSLOG_SUFFIX}",
                "olcAccessLogOps: writes",
                "olcAccessLogSuccess: TRUE",
                "olcAccessLogPurge: 07+00:00 01+00:00",
            ]
        ),
    ]
    return {"modules": ["accesslog"], "extra_config": blocks}


class Topology:
    """A provider and its consumers; :meth:`close` stops them all (and removes the PKI)."""

    def __init__(
        self,
        provider: Slapd,
        consumers: Sequence[Slapd],
        pki: TestPki | None,
        directories: Sequence[Path] = (),
    ) -> None:
        self.provider = provider
        #: In a multi-provider topology, the other providers.
        self.consumers = list(consumers)
        self.pki = pki
        self._directories = list(directories)  # accesslog databases, removed by close()

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
            for directory in self._directories:
                stack.callback(shutil.rmtree, directory, True)
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
    delta: bool = False,
    make: Callable[..., Slapd] = asterisk_slapd,
    **kwargs: Any,
) -> Topology:
    """Start a provider (with its suffix entry, or ``ldifs`` loaded, the suffix first) and
    ``consumers`` consumers, and wait until they replicated it.  ``tls`` makes a
    :class:`TestPki` and gives every node StartTLS and ldaps://; ``kwargs`` go to every
    node's ``make`` (``asterisk_slapd``); ``delta`` makes the consumers delta-syncrepl
    consumers of the provider's accesslog."""
    pki = TestPki() if tls else None
    files = TlsFiles(pki.ca.cert, pki.server.cert, pki.server.key) if pki else None
    password = secrets.token_urlsafe(24)
    made: list[Slapd] = []
    directories: list[Path] = []
    try:
        extra: dict[str, Any] = {}
        if delta:
            directories.append(Path(tempfile.mkdtemp(prefix="ara-accesslog-")))
            extra = accesslog_config(directories[-1])
        provider = make(tls=files, admin_password=password, **extra, **kwargs)
        made.append(provider)
        provider.start()
        if ldifs:
            provider.ldapadd(*ldifs)
        else:
            provider.create_suffix()
        for number in range(1, consumers + 1):
            lines = consumer_config(
                provider, number, start_tls=tls, ca_file=pki.ca.cert if pki else None, delta=delta
            )
            node = make(tls=files, admin_password=password, db_config=lines, **kwargs)
            made.append(node)
            node.start()
        topology = Topology(made[0], made[1:], pki, directories)
        topology.wait_for_replication()
        return topology
    except BaseException:
        _discard(made, pki, directories)
        raise


def multi_provider_topology(
    *, ldifs: Sequence[Path] = (), make: Callable[..., Slapd] = asterisk_slapd, **kwargs: Any
) -> Topology:
    """Two providers replicating to each other with delta-syncrepl (``olcMultiProvider``,
    one ``olcServerID`` each): never plain syncrepl with a session log on 2.5, which loses
    changes silently (slapd.md §17).  ``.provider`` is node 1, ``.consumers[0]`` node 2;
    both accept writes.  ``ldifs`` (or the suffix entry) are loaded on node 1."""
    password = secrets.token_urlsafe(24)
    ports = [free_port(), free_port()]
    directories = [Path(tempfile.mkdtemp(prefix="ara-accesslog-")) for _ in ports]
    made: list[Slapd] = []
    try:
        suffix = str(kwargs.get("suffix", "dc=example,dc=org"))
        for number, port in enumerate(ports, start=1):
            peer = f"ldap://127.0.0.1:{ports[2 - number]}/"
            lines = [
                f"olcSyncrepl: {syncrepl_stanza(peer, suffix, password, number, delta=True)}",
                "olcMultiProvider: TRUE",
            ]
            extra = accesslog_config(directories[number - 1])
            made.append(
                make(
                    port=port,
                    admin_password=password,
                    global_config=[f"olcServerID: {number}"],
                    db_config=lines,
                    **extra,
                    **kwargs,
                )
            )
        # Node 2 starts once node 1 holds the suffix, and a change made on node 2 must reach
        # node 1 before the topology is handed out: both directions are then established.
        made[0].start()
        if ldifs:
            made[0].ldapadd(*ldifs)
        else:
            made[0].create_suffix()
        made[1].start()
        topology = Topology(made[0], made[1:], None, directories)
        topology.wait_for_replication()
        made[1].ldapmodify_text(
            f"dn: {suffix}\nchangetype: modify\nreplace: description\ndescription: peer 2\n"
        )
        wait_until(
            lambda: topology.context_csn(made[0]) == topology.context_csn(made[1]),
            what="node 2's change reaching node 1",
        )
        return topology
    except BaseException:
        _discard(made, None, directories)
        raise


def _discard(made: Sequence[Slapd], pki: TestPki | None, directories: Sequence[Path]) -> None:
    for node in made:
        with contextlib.suppress(Exception):
            node.close()
    if pki is not None:
        pki.close()
    for directory in directories:
        shutil.rmtree(directory, ignore_errors=True)


def _admin_connection(node: Slapd) -> ldap3.Connection:
    return ldap3.Connection(
        ldap3.Server(node.url.rstrip("/"), get_info=ldap3.NONE, connect_timeout=2),
        node.admin_dn,
        node.admin_password,
        auto_bind=True,
        receive_timeout=5,
    )
