"""The harness's replication topologies, TLS listeners and SASL EXTERNAL paths, on real slapd."""

from __future__ import annotations

import ssl
from typing import Any

import ldap3

from ara_ldap.testing.pki import CLIENT_SUBJECT_DN, TestPki
from ara_ldap.testing.slapd import Slapd
from ara_ldap.testing.topology import Topology, wait_until

OU = "ou=asterisk,dc=example,dc=org"


def _add_ou(node: Slapd) -> None:
    node.ldapadd_text(f"dn: {OU}\nobjectClass: organizationalUnit\nou: asterisk\n")


def _admin(node: Slapd, url: str | None = None, **kwargs: Any) -> ldap3.Connection:
    server = ldap3.Server((url or node.url).rstrip("/"), get_info=ldap3.NONE, **kwargs)
    return ldap3.Connection(server, node.admin_dn, node.admin_password, auto_bind=True)


def test_provider_add_reaches_both_consumers(ara_topology_p1c2: Topology) -> None:
    _add_ou(ara_topology_p1c2.provider)
    ara_topology_p1c2.wait_for_replication()
    for consumer in ara_topology_p1c2.consumers:
        assert OU in ara_topology_p1c2.entry_dns(consumer)


def test_consumer_refers_a_write_to_the_provider(ara_topology_p1c1: Topology) -> None:
    consumer = ara_topology_p1c1.consumers[0]
    conn = _admin(consumer)
    conn.auto_referrals = False
    conn.modify(consumer.suffix, {"description": [(ldap3.MODIFY_REPLACE, ["x"])]})
    assert conn.result["description"] == "referral"
    assert conn.result["referrals"][0].startswith(ara_topology_p1c1.provider.url.rstrip("/"))


def test_restarted_consumer_catches_up_on_the_entry_set(ara_topology_p1c1: Topology) -> None:
    consumer = ara_topology_p1c1.consumers[0]
    consumer.kill()
    _add_ou(ara_topology_p1c1.provider)
    consumer.start()
    ara_topology_p1c1.wait_for_replication()
    assert ara_topology_p1c1.entry_dns(consumer) == ara_topology_p1c1.entry_dns(
        ara_topology_p1c1.provider
    )


def test_consumers_replicate_over_start_tls(topology_factory: Any) -> None:
    topology: Topology = topology_factory(1, tls=True)
    _add_ou(topology.provider)
    topology.wait_for_replication()
    assert OU in topology.entry_dns(topology.consumers[0])


def test_ldaps_listener_presents_a_certificate_the_test_ca_verifies(
    ara_slapd_tls: Slapd, ara_pki: TestPki
) -> None:
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(ara_pki.ca.cert))
    conn = _admin(ara_slapd_tls, ara_slapd_tls.ldaps_url, tls=tls)
    assert conn.extend.standard.who_am_i() == f"dn:{ara_slapd_tls.admin_dn}"


def test_start_tls_on_the_ldap_port_verifies_with_the_test_ca(
    ara_slapd_tls: Slapd, ara_pki: TestPki
) -> None:
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(ara_pki.ca.cert))
    server = ldap3.Server(ara_slapd_tls.url.rstrip("/"), get_info=ldap3.NONE, tls=tls)
    conn = ldap3.Connection(server)
    conn.open()
    assert conn.start_tls()
    assert conn.tls_started


def test_sasl_external_over_ldapi_is_the_peer_credentials(ara_slapd_tls: Slapd) -> None:
    conn = ldap3.Connection(
        ldap3.Server(ara_slapd_tls.ldapi_url, get_info=ldap3.NONE),
        authentication=ldap3.SASL,
        sasl_mechanism=ldap3.EXTERNAL,
        sasl_credentials="",
        auto_bind=True,
    )
    assert "cn=peercred,cn=external,cn=auth" in (conn.extend.standard.who_am_i() or "")


def test_sasl_external_over_tls_is_the_client_certificate_subject(
    ara_slapd_tls: Slapd, ara_pki: TestPki
) -> None:
    tls = ldap3.Tls(
        validate=ssl.CERT_REQUIRED,
        ca_certs_file=str(ara_pki.ca.cert),
        local_certificate_file=str(ara_pki.client.cert),
        local_private_key_file=str(ara_pki.client.key),
    )
    conn = ldap3.Connection(
        ldap3.Server(ara_slapd_tls.ldaps_url.rstrip("/"), get_info=ldap3.NONE, tls=tls),
        authentication=ldap3.SASL,
        sasl_mechanism=ldap3.EXTERNAL,
        sasl_credentials="",
        auto_bind=True,
    )
    assert conn.extend.standard.who_am_i() == f"dn:{CLIENT_SUBJECT_DN}"


def test_a_delta_syncrepl_consumer_receives_a_provider_add(topology_factory: Any) -> None:
    topology: Topology = topology_factory(1, delta=True)
    _add_ou(topology.provider)
    topology.wait_for_replication()
    assert OU in topology.entry_dns(topology.consumers[0])


def test_each_multi_provider_node_replicates_its_writes_to_the_other(
    ara_topology_m2: Topology,
) -> None:
    one, two = ara_topology_m2.nodes
    _add_ou(one)
    two.ldapadd_text("dn: ou=pjsip,dc=example,dc=org\nobjectClass: organizationalUnit\nou: pjsip\n")
    wait_until(lambda: ara_topology_m2.entry_dns(one) == ara_topology_m2.entry_dns(two))
    assert {OU, "ou=pjsip,dc=example,dc=org"} <= ara_topology_m2.entry_dns(one)


def test_a_multi_provider_peer_down_during_a_delete_catches_up(
    ara_topology_m2: Topology,
) -> None:
    # slapd.md §17: compare entry sets, not contextCSN, after a peer missed a delete.
    one, two = ara_topology_m2.nodes
    _add_ou(one)
    ara_topology_m2.wait_for_replication()
    two.kill()
    one.ldapmodify_text(f"dn: {OU}\nchangetype: delete\n")
    one.ldapadd_text("dn: ou=pjsip,dc=example,dc=org\nobjectClass: organizationalUnit\nou: pjsip\n")
    two.start()
    wait_until(lambda: ara_topology_m2.entry_dns(one) == ara_topology_m2.entry_dns(two))
    assert OU not in ara_topology_m2.entry_dns(two)
