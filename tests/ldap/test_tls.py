"""TLS and SASL EXTERNAL on real slapd: certificate and host-name checks on by default, one
clear line per certificate failure, client certificates, and the cleartext-bind rule."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ara_ldap.backends.ldap.connection import ConnectionPool
from ara_ldap.bootstrap import open_realtime
from ara_ldap.config import LdapBackendSettings, load_settings
from ara_ldap.errors import BackendUnavailable, ConfigError
from ara_ldap.realtime import Realtime
from ara_ldap.testing.ldap import ldap_backend_config, ldap_settings
from ara_ldap.testing.pki import CLIENT_SUBJECT_DN, CertFiles, TestPki
from ara_ldap.testing.slapd import Slapd, TlsFiles, find_fixture_ldifs


def _tls_slapd(factory: Any, pki: TestPki, cert: CertFiles | None = None) -> Slapd:
    cert = cert or pki.server
    slapd: Slapd = factory(tls=TlsFiles(pki.ca.cert, cert.cert, cert.key))
    slapd.ldapadd(*find_fixture_ldifs())
    return slapd


def _realtime(slapd: Slapd, **overrides: Any) -> Realtime:
    return open_realtime(ldap_settings(slapd, **overrides))


def _backend(slapd: Slapd, **overrides: Any) -> LdapBackendSettings:
    settings = load_settings({"backends": {"d": ldap_backend_config(slapd, **overrides)}})
    backend = settings.backends["d"]
    assert isinstance(backend, LdapBackendSettings)
    return backend


def _who_am_i(settings: LdapBackendSettings) -> str:
    pool = ConnectionPool(settings, settings.bind_password())
    try:
        return str(pool.run(lambda conn: conn.extend.standard.who_am_i(), write=False))
    finally:
        pool.close()


def _failure(slapd: Slapd, **overrides: Any) -> str:
    realtime = _realtime(slapd, **overrides)
    try:
        with pytest.raises(BackendUnavailable) as caught:
            realtime.single("sippeers", {"name": "alice"})
    finally:
        realtime.close()
    return str(caught.value)


@pytest.fixture
def tls_slapd(slapd_factory: Any, ara_pki: TestPki) -> Slapd:
    return _tls_slapd(slapd_factory, ara_pki)


@pytest.fixture
def ldaps_rt(tls_slapd: Slapd, ara_pki: TestPki) -> Iterator[Realtime]:
    realtime = _realtime(tls_slapd, urls=[tls_slapd.ldaps_url], ca_file=str(ara_pki.ca.cert))
    yield realtime
    realtime.close()


# -- verified connections ---------------------------------------------------------------
def test_ldaps_to_an_ip_address_reads_with_the_ca_file(ldaps_rt: Realtime) -> None:
    assert ldaps_rt.single("sippeers", {"name": "alice"}) is not None


def test_ldaps_to_localhost_matches_the_dns_name(tls_slapd: Slapd, ara_pki: TestPki) -> None:
    url = tls_slapd.ldaps_url.replace("127.0.0.1", "localhost")
    realtime = _realtime(tls_slapd, urls=[url], ca_file=str(ara_pki.ca.cert))
    try:
        assert realtime.single("sippeers", {"name": "alice"}) is not None
    finally:
        realtime.close()


def test_start_tls_on_loopback_when_asked(tls_slapd: Slapd, ara_pki: TestPki) -> None:
    settings = _backend(tls_slapd, start_tls=True, ca_file=str(ara_pki.ca.cert))
    pool = ConnectionPool(settings, settings.bind_password())
    try:
        assert pool.run(lambda conn: conn.tls_started, write=False)
    finally:
        pool.close()


# -- one clear line per certificate failure ----------------------------------------------
def test_a_certificate_from_another_ca_names_ca_file(tls_slapd: Slapd, ara_pki: TestPki) -> None:
    message = _failure(tls_slapd, urls=[tls_slapd.ldaps_url], ca_file=str(ara_pki.other_ca().cert))
    assert "TLS certificate is not trusted by ca_file" in message
    assert "set ca_file to the CA certificate that issued it" in message


def test_certificates_are_checked_by_default_against_the_system_cas(tls_slapd: Slapd) -> None:
    message = _failure(tls_slapd, urls=[tls_slapd.ldaps_url])
    assert "not trusted by the system CAs (no ca_file set)" in message


def test_a_name_mismatch_names_the_host_and_not_the_certificate(
    slapd_factory: Any, ara_pki: TestPki
) -> None:
    slapd = _tls_slapd(slapd_factory, ara_pki, ara_pki.issue("other", dns=("wrong.example",)))
    message = _failure(slapd, urls=[slapd.ldaps_url], ca_file=str(ara_pki.ca.cert))
    assert "TLS certificate is not issued for '127.0.0.1'" in message
    assert "subjectAltName" in message and "serialNumber" not in message


def test_a_name_mismatch_after_start_tls_is_the_same_line(
    slapd_factory: Any, ara_pki: TestPki
) -> None:
    slapd = _tls_slapd(slapd_factory, ara_pki, ara_pki.issue("other", dns=("wrong.example",)))
    message = _failure(slapd, start_tls=True, ca_file=str(ara_pki.ca.cert))
    assert "TLS certificate is not issued for '127.0.0.1'" in message


def test_an_expired_certificate_says_renew_it(slapd_factory: Any, ara_pki: TestPki) -> None:
    expired = ara_pki.issue("old", dns=("localhost",), ips=("127.0.0.1",), expired=True)
    slapd = _tls_slapd(slapd_factory, ara_pki, expired)
    message = _failure(slapd, urls=[slapd.ldaps_url], ca_file=str(ara_pki.ca.cert))
    assert "TLS certificate has expired; renew it" in message


def test_a_certificate_failure_is_one_line_without_the_password(
    tls_slapd: Slapd, ara_pki: TestPki
) -> None:
    message = _failure(tls_slapd, urls=[tls_slapd.ldaps_url], ca_file=str(ara_pki.other_ca().cert))
    assert "\n" not in message
    assert tls_slapd.admin_password not in message


# -- client certificates and SASL EXTERNAL -------------------------------------------------
def _client_cert(pki: TestPki, *, external: bool = True) -> dict[str, Any]:
    """Backend settings presenting ``pki``'s client certificate; ``external``: no bind_dn
    and no password, so the bind is SASL EXTERNAL as the certificate's subject."""
    settings: dict[str, Any] = {
        "client_cert_file": str(pki.client.cert),
        "client_key_file": str(pki.client.key),
    }
    if external:
        settings.update(bind_dn=None, password_file=None)
    return settings


def test_sasl_external_over_ldaps_binds_as_the_client_certificate(
    tls_slapd: Slapd, ara_pki: TestPki
) -> None:
    settings = _backend(
        tls_slapd,
        urls=[tls_slapd.ldaps_url],
        ca_file=str(ara_pki.ca.cert),
        **_client_cert(ara_pki),
    )
    assert _who_am_i(settings) == f"dn:{CLIENT_SUBJECT_DN}"


def test_sasl_external_after_start_tls_binds_as_the_client_certificate(
    tls_slapd: Slapd, ara_pki: TestPki
) -> None:
    settings = _backend(
        tls_slapd,
        start_tls=True,
        ca_file=str(ara_pki.ca.cert),
        **_client_cert(ara_pki),
    )
    assert _who_am_i(settings) == f"dn:{CLIENT_SUBJECT_DN}"


def test_a_client_certificate_with_a_simple_bind_keeps_the_bind_dn(
    tls_slapd: Slapd, ara_pki: TestPki
) -> None:
    settings = _backend(
        tls_slapd,
        urls=[tls_slapd.ldaps_url],
        ca_file=str(ara_pki.ca.cert),
        **_client_cert(ara_pki, external=False),
    )
    assert _who_am_i(settings) == f"dn:{tls_slapd.admin_dn}"


def test_sasl_external_over_ldapi_binds_as_the_process_uid(tls_slapd: Slapd) -> None:
    settings = _backend(tls_slapd, urls=[tls_slapd.ldapi_url], bind_dn=None, password_file=None)
    assert _who_am_i(settings).endswith(",cn=peercred,cn=external,cn=auth")


def test_realtime_reads_over_sasl_external_with_a_client_certificate(
    tls_slapd: Slapd, ara_pki: TestPki
) -> None:
    realtime = _realtime(
        tls_slapd,
        urls=[tls_slapd.ldaps_url],
        ca_file=str(ara_pki.ca.cert),
        **_client_cert(ara_pki),
    )
    try:
        assert realtime.single("sippeers", {"name": "alice"}) is not None
    finally:
        realtime.close()


# -- StartTLS default and the cleartext rule (configuration only) ---------------------------
def _remote(**extra: Any) -> dict[str, Any]:
    backend = {"type": "ldap", "urls": ["ldap://ldap.example.org"], "base_dn": "dc=example,dc=org"}
    backend.update(extra)
    return {"backends": {"d": backend}}


def _ldap_backend(data: dict[str, Any]) -> LdapBackendSettings:
    backend = load_settings(data).backends["d"]
    assert isinstance(backend, LdapBackendSettings)
    return backend


def test_start_tls_defaults_on_for_a_remote_ldap_url() -> None:
    assert _ldap_backend(_remote()).uses_start_tls("ldap://ldap.example.org")


def test_start_tls_defaults_off_on_loopback() -> None:
    backend = _ldap_backend(_remote(urls=["ldap://127.0.0.1:389", "ldap://localhost"]))
    assert not any(backend.uses_start_tls(url) for url in backend.urls)


def test_a_cleartext_simple_bind_to_a_remote_host_is_refused() -> None:
    data = _remote(start_tls=False, bind_dn="cn=ara,dc=example,dc=org", password="x")
    with pytest.raises(ConfigError, match="allow_cleartext_bind: true"):
        load_settings(data)


def test_allow_cleartext_bind_lets_a_remote_plain_bind_through() -> None:
    data = _remote(
        start_tls=False, bind_dn="cn=ara,dc=example,dc=org", password="x", allow_cleartext_bind=True
    )
    assert not _ldap_backend(data).uses_start_tls("ldap://ldap.example.org")


def test_a_cleartext_bind_on_loopback_needs_no_permission() -> None:
    data = _remote(urls=["ldap://127.0.0.1"], bind_dn="cn=ara,dc=example,dc=org", password="x")
    assert _ldap_backend(data).bind_dn == "cn=ara,dc=example,dc=org"
