"""pytest fixtures that run throwaway OpenLDAP servers with the ara-ldap schema.

Installed as the ``ara_ldap`` pytest plugin (entry point ``pytest11``), so a
project that depends on ara-ldap gets these fixtures without a conftest.py.
Without the entry point, enable it with ``pytest_plugins =
["ara_ldap.testing.pytest_plugin"]`` in a conftest.py.

Requirements: Debian's ``slapd`` and ``ldap-utils`` (``apt-get install slapd
ldap-utils``); no root needed, everything lives in a temp directory and on a
free 127.0.0.1 port. When they are missing the fixtures **skip** the test,
except when the environment variable ``CI`` is ``true`` (GitHub Actions,
GitLab CI, ...), where they **fail** so that a broken CI image cannot turn the
LDAP tests into silent skips.

Fixtures (each yields :class:`ara_ldap.testing.slapd.Slapd` objects: use
``.url``, ``.ldapi_url``, ``.suffix``, ``.admin_dn``, ``.admin_password``,
``.ldapadd(path)``, ``.ldapadd_text(ldif)``, ``.ldapmodify_config(ldif)``,
``.restart()``, ``.kill()``):

``ara_slapd`` (session scope)
    One started server with the Asterisk schema and the shipped fixture LDIFs
    (``ara_ldap/data/ldif/*.ldif``, in name order) loaded; its suffix is the
    first DN of the first fixture file. Shared by the whole session: treat it
    as read-only, and do not stop or restart it.

``ara_slapd_empty`` (function scope)
    A fresh server with the Asterisk schema and only the suffix entry
    (``dc=example,dc=org``): for tests that write or need a known-empty tree.

``slapd_factory`` (function scope)
    A callable ``slapd_factory(**kwargs) -> Slapd`` returning started servers
    with the Asterisk schema; keyword arguments go to ``Slapd`` (``suffix``,
    extra ``schema_ldifs``, ``indexes``, ``port``, ``log_level``, ...). Every
    server it made is closed (stopped, directory removed) at teardown. Use it
    for several servers in one test (failover, replication).

``production_slapd_factory`` (function scope)
    Like ``slapd_factory`` but returns
    :class:`ara_ldap.testing.slapd.ProductionSlapd` servers with the suffix entry and a
    service account (``.service_dn``, ``.service_password_file``) that writes the Asterisk
    subtrees and reads nothing else; keyword arguments: ``size_limit`` (default 500,
    OpenLDAP's), ``paged_unlimited`` (``size.prtotal=unlimited`` for the account),
    ``time_limit``, ``schema_readable``, plus those of ``Slapd``.
    ``ara_ldap.testing.ldap.ldap_settings(slapd)`` binds as the service account there.

``ara_slapd_production`` (function scope)
    A ``ProductionSlapd`` with the shipped fixture LDIFs, the service account, a size
    limit of 3 that paged searches get past, and entries another tool wrote below the
    family bases (``.foreign_dns``).

``ara_pki`` (function scope)
    A :class:`ara_ldap.testing.pki.TestPki`: a throwaway CA (``.ca.cert``), a server
    certificate for localhost/127.0.0.1 (``.server``), a client certificate (``.client``,
    subject ``cn=ara-client,dc=example,dc=org``) and ``.issue(...)`` for more (a wrong
    name, ``expired=True``, ``issuer=pki.other_ca()``).

``ara_slapd_tls`` (function scope)
    A server with the suffix entry speaking StartTLS on ``.url`` and TLS on
    ``.ldaps_url`` with ``ara_pki``'s server certificate; it asks for (and checks) client
    certificates, so SASL EXTERNAL over TLS works.

``topology_factory`` (function scope)
    ``topology_factory(consumers=1, tls=False, **kwargs) ->``
    :class:`ara_ldap.testing.topology.Topology`: a provider and its syncrepl
    refreshAndPersist consumers (``.provider``, ``.consumers``, ``.wait_for_replication()``,
    ``.entry_dns(node)``), closed at teardown.  ``ara_topology_p1c1`` and
    ``ara_topology_p1c2`` are the one- and two-consumer topologies; ``delta=True`` makes
    delta-syncrepl consumers (the provider logs to ``cn=accesslog``), ``ldifs=[...]`` loads
    LDIF files on the provider instead of the bare suffix.

``ara_topology_m2`` (function scope)
    Two providers replicating to each other with delta-syncrepl (``olcMultiProvider``):
    ``.provider`` is node 1, ``.consumers[0]`` node 2, both writable.

Example::

    def test_lookup(ara_slapd):
        conn = ldap3.Connection(ara_slapd.url, auto_bind=True)
        assert conn.search(ara_slapd.suffix, "(objectClass=*)")
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pytest

if TYPE_CHECKING:
    from ara_ldap.testing.pki import TestPki
    from ara_ldap.testing.slapd import ProductionSlapd, Slapd
    from ara_ldap.testing.topology import Topology

S = TypeVar("S", bound="Slapd")


class SlapdFactory(Protocol):
    """Type of the ``slapd_factory`` fixture."""

    def __call__(self, **kwargs: Any) -> Slapd:
        """Create and start an instance; ``kwargs`` go to ``Slapd``."""


def _require_slapd() -> None:
    """Skip (or fail on CI) when slapd and ldap-utils are not installed."""
    from ara_ldap.testing.slapd import INSTALL_HINT, missing_tools

    missing = missing_tools()
    if not missing:
        return
    reason = f"{', '.join(missing)} not found: {INSTALL_HINT}"
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(f"{reason} (CI=true: LDAP tests must not be skipped on CI)", pytrace=False)
    pytest.skip(reason)


def _factory(
    create: Callable[..., S], prepare: Callable[[S], None] | None = None
) -> Iterator[Callable[..., S]]:
    """Yield a maker of started instances (``create(**kwargs)``, started, then ``prepare``d);
    close them all afterwards: an ExitStack closes each one even when another's close()
    raises, then re-raises."""
    made: list[S] = []

    def make(**kwargs: Any) -> S:
        instance = create(**kwargs)
        made.append(instance)
        instance.start()
        if prepare is not None:
            prepare(instance)
        return instance

    yield make
    with contextlib.ExitStack() as stack:
        for instance in made:
            stack.callback(instance.close)


@pytest.fixture
def slapd_factory() -> Iterator[SlapdFactory]:
    """Make started Asterisk-schema Slapd instances; close them all at teardown."""
    _require_slapd()
    from ara_ldap.testing.slapd import asterisk_slapd

    yield from _factory(asterisk_slapd)


@pytest.fixture
def production_slapd_factory() -> Iterator[SlapdFactory]:
    """Make started production-shaped instances (suffix + service account); close them."""
    _require_slapd()
    from ara_ldap.testing.slapd import production_slapd

    yield from _factory(production_slapd, lambda instance: instance.create_suffix())


@pytest.fixture
def ara_slapd_production() -> Iterator[ProductionSlapd]:
    """A production-shaped server holding the shipped fixtures (see the module doc)."""
    _require_slapd()
    from ara_ldap.config import shipped_ldap_families
    from ara_ldap.testing.slapd import find_fixture_ldifs, ldif_first_dn, production_slapd

    fixtures = find_fixture_ldifs()
    suffix = (ldif_first_dn(fixtures[0]) if fixtures else None) or "dc=example,dc=org"
    with production_slapd(suffix=suffix, size_limit=3) as instance:
        instance.ldapadd(*fixtures)
        instance.add_service_account()
        bases = {
            str(spec["base_dn"]).replace("{base_dn}", suffix)
            for spec in shipped_ldap_families().values()
            if "base_dn" in spec
        }
        instance.add_foreign_entries([b for b in sorted(bases) if _exists(instance, b)])
        yield instance


def _exists(instance: Slapd, dn: str) -> bool:
    """Whether ``dn`` exists (read as the rootdn)."""
    import ldap3

    conn = ldap3.Connection(
        instance.url.rstrip("/"), instance.admin_dn, instance.admin_password, auto_bind=True
    )
    try:
        return bool(conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE))
    finally:
        conn.unbind()


@pytest.fixture(scope="session")
def ara_slapd() -> Iterator[Slapd]:
    """Run one session-wide server with the schema and the shipped fixtures."""
    _require_slapd()
    from ara_ldap.testing.slapd import asterisk_slapd, find_fixture_ldifs, ldif_first_dn

    fixtures = find_fixture_ldifs()
    suffix = ldif_first_dn(fixtures[0]) if fixtures else None
    kwargs: dict[str, Any] = {"suffix": suffix} if suffix else {}
    with asterisk_slapd(**kwargs) as instance:
        if fixtures:
            instance.ldapadd(*fixtures)
        else:
            instance.create_suffix()
        yield instance


@pytest.fixture
def ara_slapd_empty() -> Iterator[Slapd]:
    """Run a fresh server with the Asterisk schema and only the suffix entry."""
    _require_slapd()
    from ara_ldap.testing.slapd import asterisk_slapd

    with asterisk_slapd() as instance:
        instance.create_suffix()
        yield instance


class TopologyFactory(Protocol):
    """Type of the ``topology_factory`` fixture."""

    def __call__(self, consumers: int = 1, *, tls: bool = False, **kwargs: Any) -> Topology:
        """Start a provider and ``consumers`` consumers; ``kwargs`` go to every node."""


@pytest.fixture
def ara_pki() -> Iterator[TestPki]:
    """A throwaway CA with server and client certificates (see the module doc)."""
    from ara_ldap.testing.pki import PkiError, TestPki

    try:
        pki = TestPki()
    except PkiError as exc:
        pytest.skip(str(exc))
    yield pki
    pki.close()


@pytest.fixture
def ara_slapd_tls(ara_pki: TestPki) -> Iterator[Slapd]:
    """A server with the suffix entry on StartTLS and ldaps:// (``ara_pki``'s certificate)."""
    _require_slapd()
    from ara_ldap.testing.slapd import TlsFiles, asterisk_slapd

    files = TlsFiles(ara_pki.ca.cert, ara_pki.server.cert, ara_pki.server.key)
    with asterisk_slapd(tls=files) as instance:
        instance.create_suffix()
        yield instance


@pytest.fixture
def topology_factory() -> Iterator[TopologyFactory]:
    """Make started provider/consumer topologies; close them all at teardown."""
    _require_slapd()
    from ara_ldap.testing.topology import replicated_topology

    made: list[Topology] = []

    def make(consumers: int = 1, *, tls: bool = False, **kwargs: Any) -> Topology:
        topology = replicated_topology(consumers, tls=tls, **kwargs)
        made.append(topology)
        return topology

    yield make
    with contextlib.ExitStack() as stack:
        for topology in made:
            stack.callback(topology.close)


@pytest.fixture
def ara_topology_p1c1(topology_factory: TopologyFactory) -> Topology:
    """A provider and one refreshAndPersist consumer, replicated up to the suffix entry."""
    return topology_factory(1)


@pytest.fixture
def ara_topology_p1c2(topology_factory: TopologyFactory) -> Topology:
    """A provider and two refreshAndPersist consumers."""
    return topology_factory(2)


@pytest.fixture
def ara_topology_m2() -> Iterator[Topology]:
    """Two delta-syncrepl providers replicating to each other (see the module doc)."""
    _require_slapd()
    from ara_ldap.testing.topology import multi_provider_topology

    with multi_provider_topology() as topology:
        yield topology
