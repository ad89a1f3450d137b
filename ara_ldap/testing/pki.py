"""A throwaway certificate authority for TLS tests, made with the ``openssl`` command.

The ``cryptography`` package is not a dependency of ara-ldap, and the harness already needs
OpenLDAP's command-line tools, so the certificates are made by ``openssl`` (OpenSSL 3.0
and later), which every Debian system with slapd has.  Keys are P-256 (cheap to make).

What a :class:`TestPki` holds, all in its directory (0700):

* ``ca``: the test CA (``ca.crt`` is what a client's ``ca_file`` points at);
* ``server``: a server certificate for ``localhost`` and ``127.0.0.1`` (both as
  subjectAltName), valid for two days;
* ``client``: a client certificate whose subject is ``cn=ara-client,dc=example,dc=org``
  (slapd maps it to that DN for SASL EXTERNAL);
* :meth:`TestPki.issue` makes more: a certificate for other names (a name mismatch), an
  expired one, or one signed by :meth:`TestPki.other_ca` (a wrong CA).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["CLIENT_SUBJECT_DN", "CertFiles", "PkiError", "TestPki"]

#: The DN slapd derives from the client certificate's subject (SASL EXTERNAL identity).
CLIENT_SUBJECT_DN = "cn=ara-client,dc=example,dc=org"
_CLIENT_SUBJECT = "/DC=org/DC=example/CN=ara-client"


class PkiError(Exception):
    """openssl is missing or refused to make a certificate."""


@dataclass(frozen=True)
class CertFiles:
    """A certificate and its private key (PEM files)."""

    cert: Path
    key: Path


class TestPki:
    """A CA with server and client certificates in a private directory; close() removes it."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, directory: Path | None = None, *, openssl: str = "openssl") -> None:
        found = shutil.which(openssl)
        if found is None:
            raise PkiError(f"{openssl} not found: install the openssl package")
        self._openssl = found
        self._own_dir = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="ara-pki-"))
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._serial = 1
        self.ca = self._make_ca("ca", "ara-ldap test CA")
        self.server = self.issue("server", dns=("localhost",), ips=("127.0.0.1",))
        self.client = self.issue("client", subject=_CLIENT_SUBJECT, client=True)
        self._other_ca: CertFiles | None = None

    # -- issuing --------------------------------------------------------------------
    def other_ca(self) -> CertFiles:
        """A second, unrelated CA: certificates it signs are not trusted by ``ca``."""
        if self._other_ca is None:
            self._other_ca = self._make_ca("other-ca", "an unrelated CA")
        return self._other_ca

    def issue(
        self,
        name: str,
        *,
        dns: tuple[str, ...] = (),
        ips: tuple[str, ...] = (),
        subject: str | None = None,
        client: bool = False,
        expired: bool = False,
        issuer: CertFiles | None = None,
    ) -> CertFiles:
        """A leaf certificate ``name.crt``/``name.key`` signed by ``issuer`` (the test CA).

        ``expired`` makes one valid from 2020-01-01 to 2020-01-02, so every check of its
        dates fails; the names go in subjectAltName (``dns`` and ``ips``).
        """
        issuer = issuer or self.ca
        key = self.directory / f"{name}.key"
        csr = self.directory / f"{name}.csr"
        cert = self.directory / f"{name}.crt"
        subj = subject or f"/CN={(dns or ips or (name,))[0]}"
        self._run("req", "-new", *self._new_key(key), "-subj", subj, "-out", str(csr))
        ext = self.directory / f"{name}.ext"
        alt = [f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips]
        lines = [
            "basicConstraints = critical,CA:FALSE",
            "keyUsage = critical,digitalSignature,keyEncipherment",
            f"extendedKeyUsage = {'clientAuth' if client else 'serverAuth'}",
        ]
        if alt:
            lines.append(f"subjectAltName = {','.join(alt)}")
        ext.write_text("[leaf]\n" + "\n".join(lines) + "\n")
        self._serial += 1
        if expired:
            self._sign_expired(csr, cert, ext, issuer)
        else:
            self._run(
                "x509", "-req", "-in", str(csr), "-CA", str(issuer.cert), "-CAkey",
                str(issuer.key), "-set_serial", str(self._serial), "-days", "2",
                "-sha256", "-extfile", str(ext), "-extensions", "leaf", "-out", str(cert),
            )  # fmt: skip
        csr.unlink()
        return CertFiles(cert, key)

    # -- lifecycle --------------------------------------------------------------------
    def close(self) -> None:
        """Delete the directory if this object created it."""
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------
    def _new_key(self, key: Path) -> list[str]:
        return [
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key),
        ]  # fmt: skip

    def _make_ca(self, name: str, common_name: str) -> CertFiles:
        key = self.directory / f"{name}.key"
        cert = self.directory / f"{name}.crt"
        self._run(
            "req", "-x509", *self._new_key(key), "-subj", f"/CN={common_name}", "-days", "2",
            "-sha256", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", str(cert),
        )  # fmt: skip
        return CertFiles(cert, key)

    def _sign_expired(self, csr: Path, cert: Path, ext: Path, issuer: CertFiles) -> None:
        """``openssl x509`` cannot back-date before OpenSSL 3.4; ``openssl ca`` can."""
        db = self.directory / "ca-db"
        db.mkdir(exist_ok=True)
        (db / "index.txt").write_text("")
        (db / "serial").write_text(f"{self._serial:04X}\n")
        config = db / "ca.cnf"
        config.write_text(
            "[ca]\ndefault_ca = test\n[test]\n"
            f"database = {db / 'index.txt'}\nnew_certs_dir = {db}\nserial = {db / 'serial'}\n"
            "default_md = sha256\npolicy = anything\nunique_subject = no\n"
            "[anything]\ncommonName = supplied\n"
        )
        self._run(
            "ca", "-batch", "-notext", "-config", str(config), "-cert", str(issuer.cert),
            "-keyfile", str(issuer.key), "-in", str(csr), "-out", str(cert),
            "-startdate", "20200101000000Z", "-enddate", "20200102000000Z",
            "-extfile", str(ext),
            "-extensions", "leaf",
        )  # fmt: skip

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            [self._openssl, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            cwd=self.directory,
        )
        if result.returncode != 0:
            raise PkiError(f"openssl {args[0]} failed: {result.stderr.strip()[-2000:]}")
