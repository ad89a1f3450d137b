"""TLS for the directory connections: one ``ldap3.Tls`` per backend, and failures told in
words an administrator can act on.

ldap3's own ``Tls()`` accepts any certificate (slapd.md §16), so checking is on unless
``verify_tls: false``; ldap3 then also matches the host name of the URL against the
certificate (subjectAltName), on ldaps:// and after StartTLS alike.  Its failures arrive
as a socket or StartTLS error whose text holds OpenSSL's reason (or, for a name mismatch,
the whole certificate); :func:`describe_tls_failure` turns them into one line naming the
fix, without the certificate dump.
"""

from __future__ import annotations

import ssl
import urllib.parse

import ldap3

from ara_ldap.config import LdapBackendSettings

__all__ = ["describe_tls_failure", "make_tls", "needs_tls"]


def needs_tls(settings: LdapBackendSettings) -> bool:
    """Whether any URL of the backend is TLS (ldaps://) or runs StartTLS."""
    return any(u.startswith("ldaps://") or settings.uses_start_tls(u) for u in settings.urls)


def make_tls(settings: LdapBackendSettings) -> ldap3.Tls | None:
    """The TLS settings every connection of a backend uses (the pool's, the cache's)."""
    if not needs_tls(settings):
        return None
    return ldap3.Tls(
        validate=ssl.CERT_REQUIRED if settings.verify_tls else ssl.CERT_NONE,
        ca_certs_file=str(settings.ca_file) if settings.ca_file else None,
        local_certificate_file=str(settings.client_cert_file)
        if settings.client_cert_file
        else None,
        local_private_key_file=str(settings.client_key_file) if settings.client_key_file else None,
    )


def describe_tls_failure(url: str, text: str, settings: LdapBackendSettings) -> str | None:
    """One line for a certificate failure on ``url`` (``None`` if ``text`` is not one)."""
    host = urllib.parse.urlsplit(url).hostname or url
    ca = f"ca_file {settings.ca_file}" if settings.ca_file else "the system CAs (no ca_file set)"
    if "certificate has expired" in text:
        return (
            f"{url}: the server's TLS certificate has expired; renew it on the directory "
            "server (olcTLSCertificateFile)"
        )
    if "certificate is not yet valid" in text:
        return f"{url}: the server's TLS certificate is not valid yet; check the clocks"
    if "doesn't match any name" in text or "Hostname mismatch" in text:
        return (
            f"{url}: the server's TLS certificate is not issued for {host!r}; put a name it "
            "holds (its subjectAltName) in the URL, or reissue the certificate with this name"
        )
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        reason = text.split("certificate verify failed:", 1)[-1].split("(_ssl", 1)[0]
        reason = reason.strip(" '\",()") or "not trusted"
        return (
            f"{url}: the server's TLS certificate is not trusted by {ca} ({reason}); set "
            "ca_file to the CA certificate that issued it"
        )
    if "TLSV1_ALERT" in text or ("alert" in text.lower() and "certificate" in text.lower()):
        return (
            f"{url}: the server refused the TLS handshake ({_short(text)}); check "
            "client_cert_file/client_key_file against the server's olcTLSCACertificateFile"
        )
    return None


def _short(text: str) -> str:
    return text.splitlines()[0][:160] if text else "no detail"
