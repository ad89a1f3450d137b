"""The res_config_curl gateway's settings (``ara-ldap serve``; docs/gateway.md)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from ara_ldap.config.common import _Model
from ara_ldap.secrets import read_secret

_PREFIX_RE = re.compile(r"^(?:/[A-Za-z0-9._~-]+)*$")


class GatewayAuth(_Model):
    """HTTP Basic credentials the gateway requires (Asterisk sends them from ``userpwd=`` in
    res_curl.conf, or from ``user:password@`` in the extconfig URL)."""

    username: str = Field(min_length=1)
    password_file: Path | None = None
    password_env: str | None = None

    @field_validator("username")
    @classmethod
    def _check_username(cls, v: str) -> str:
        if ":" in v:
            raise ValueError("a Basic auth user name cannot contain ':'")
        return v

    @model_validator(mode="after")
    def _one_password_source(self) -> GatewayAuth:
        given = [k for k in ("password_file", "password_env") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of password_file, password_env")
        return self

    def password(self) -> str:
        """The password (read at start-up; never logged)."""
        value = read_secret(file=self.password_file, env=self.password_env, where="gateway.auth.")
        assert value is not None  # the validator requires exactly one source
        return value


class GatewayTls(_Model):
    """Serve HTTPS (libcurl verifies the certificate by default); with ``client_ca``,
    mutual TLS: Asterisk must present a client certificate (res_curl.conf ``ssl_cert`` and
    ``ssl_key``) signed by that CA, or the handshake is refused."""

    certfile: Path
    keyfile: Path | None = None  # None: the key is in certfile
    #: PEM CA certificate(s) that sign the accepted client certificates (None: no client
    #: certificate asked for).  Only these CAs are trusted, never the system's.
    client_ca: Path | None = None


class GatewaySettings(_Model):
    """The res_config_curl gateway (``ara-ldap serve``); see docs/gateway.md."""

    host: str = "127.0.0.1"
    port: int = Field(default=8389, ge=0, le=65535)  # 0: any free port (tests)
    #: Common path prefix before ``/<family>/<operation>``, e.g. ``/rt``.
    prefix: str = ""
    auth: GatewayAuth | None = None
    tls: GatewayTls | None = None
    #: Larger request bodies get 413 (Asterisk's own buffers keep bodies far smaller).
    max_body_bytes: int = Field(default=65536, ge=256, le=64 * 1024 * 1024)
    #: HTTP status for backend failures of reads, for sites listing it in ``failurecodes``
    #: (default: 200; the failure is always in the body too, as Asterisk expects).
    failure_status: int | None = Field(default=None, ge=400, le=599)
    #: Threads calling the backends, per process (default: the largest backend
    #: ``pool_size``).
    workers: int | None = Field(default=None, ge=1, le=256)
    #: Requests waiting for a worker thread at most, per process (default: 4 per
    #: worker); past it a request is answered at once with the failure encoding (shed).
    max_queue: int | None = Field(default=None, ge=1, le=65536)
    #: Serving processes (default: the CPU count; 1: no supervisor).  Each has its own
    #: backends, cache and ``workers`` threads; connections are spread over them.
    processes: int | None = Field(default=None, ge=1, le=64)
    #: Idle seconds before a keep-alive connection is closed (Asterisk keeps one per thread).
    keepalive_timeout: float = Field(default=75.0, gt=0)

    @field_validator("prefix")
    @classmethod
    def _check_prefix(cls, v: str) -> str:
        v = v.rstrip("/")
        if v and not v.startswith("/"):
            v = "/" + v
        if not _PREFIX_RE.match(v):
            raise ValueError(
                f"{v!r}: use path segments of letters, digits, '.', '_', '~', '-' "
                "(no '?' or ',': Asterisk appends to the URL and splits it on commas)"
            )
        return v
