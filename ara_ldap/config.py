"""The configuration file (``ara-ldap.yaml``) turned into validated settings.

One file describes the backends (like the connection part of ``res_ldap.conf``), each
backend's families (like its table sections), and the routing of families to backends in
priority order (like ``extconfig.conf``).  Everything is checked at load, so a typo fails
at start-up with the YAML path of the bad key instead of on the first call from Asterisk.

Secrets: the bind password comes from a file or an environment variable (inline is allowed
for throwaway setups) and is held as a ``SecretStr`` so it never shows in a repr or log.
"""

from __future__ import annotations

import copy
import os
import re
import string
from collections.abc import Iterator, Mapping
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from ara_ldap.errors import ConfigError
from ara_ldap.secrets import read_secret, read_secret_file

CONFIG_ENV = "ARA_LDAP_CONFIG"
DEFAULT_CONFIG_PATHS = (
    Path("ara-ldap.yaml"),
    Path.home() / ".config" / "ara-ldap" / "ara-ldap.yaml",
    Path("/etc/ara-ldap/ara-ldap.yaml"),
)

_FIELD_RE = re.compile(r"^[A-Za-z0-9_@-]+$")
_ATTR_RE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# LDAP ---------------------------------------------------------------------------------


class RdnTemplate(_Model):
    """An RDN built from several fields, e.g. ``cn={mailbox}@{context}`` for voicemail."""

    attribute: str
    value: str

    @cached_property
    def fields(self) -> list[str]:
        return [name for _, name, _, _ in string.Formatter().parse(self.value) if name]

    @field_validator("value")
    @classmethod
    def _check_template(cls, v: str) -> str:
        try:
            names = [n for _, n, spec, conv in string.Formatter().parse(v) if n is not None]
        except ValueError as exc:
            raise ValueError(f"invalid template: {exc}") from None
        if not names or any(not n for n in names):
            raise ValueError("the template must name at least one field, e.g. '{name}'")
        return v


#: What ``store`` does when the record's key already exists: refuse it (a Conflict), or
#: replace the stored object with the one given and answer 1 (sorcery re-stores PJSIP
#: contacts and stores after an update miss; pjsip.md 5.7).
StoreExisting = Literal["error", "replace"]


class DerivedAttribute(_Model):
    """An attribute computed from a field on every write, never a field itself: the text
    of ``field`` before the first ``before`` (absent when ``before`` does not occur).

    ``field LIKE '<x><before>%'`` is then served by the indexed ``(attribute=<x>)``
    (e.g. astContactAor for ``id LIKE '<aor>;@%'``, pjsip.md 5.7)."""

    field: str
    before: str = Field(min_length=1)


class LdapFamily(_Model):
    """How one family is stored: where, with which classes, and the field ⇄ attribute map."""

    base_dn: str
    object_classes: list[str] = Field(min_length=1)
    filter: str | None = None
    rdn: str | RdnTemplate
    attributes: dict[str, str] = Field(min_length=1)
    multi_valued: list[str] = []
    secret_fields: list[str] = []
    split_semicolons: bool | list[str] = False
    value_order: Literal["server", "prefix"] | None = None
    #: An attribute holding every field not in ``attributes`` as ``name=value`` values
    #: (PJSIP's astPsGeneric entries, sorcery's ``@`` extended fields).
    field_slot: str | None = None
    #: Fields expected in the slot (listed by ``fields``, ordered first in records).
    slot_fields: list[str] = []
    #: Multi-valued fields read back as one value joined with "," (last-wins lists).
    joined: list[str] = []
    #: Attribute values every entry of the family carries, written on store.
    constants: dict[str, str] = {}
    derived: dict[str, DerivedAttribute] = {}
    store_existing: StoreExisting = "error"
    #: LIKE as sorcery means it: only a leading and a trailing ``%`` are wildcards; ``_``,
    #: ``\\`` and inner ``%`` are literal (sorcery does not escape ids; pjsip.md C6).
    literal_like: bool = False
    #: The sorcery object this family serves, as ``section/type`` (``ara-ldap extconfig``
    #: prints the sorcery.conf lines from it), e.g. ``res_pjsip/endpoint``.
    sorcery: str | None = None

    @field_validator("attributes")
    @classmethod
    def _check_attributes(cls, v: dict[str, str]) -> dict[str, str]:
        seen_fields: dict[str, str] = {}
        seen_attrs: dict[str, str] = {}
        for fld, attr in v.items():
            if not _FIELD_RE.match(fld):
                raise ValueError(f"field {fld!r}: names may use letters, digits, '_', '-', '@'")
            if not isinstance(attr, str) or not _ATTR_RE.match(attr):
                raise ValueError(f"field {fld!r}: {attr!r} is not a valid LDAP attribute name")
            if fld.lower() in seen_fields:
                raise ValueError(f"field {fld!r} is mapped twice (fields are case-insensitive)")
            if attr.lower() in seen_attrs:
                raise ValueError(
                    f"attribute {attr!r} is mapped from both {seen_attrs[attr.lower()]!r} and "
                    f"{fld!r}; each attribute must belong to one field"
                )
            seen_fields[fld.lower()] = fld
            seen_attrs[attr.lower()] = fld
        return v

    @field_validator("filter")
    @classmethod
    def _check_filter(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        v = v.strip()
        depth = 0
        for ch in v:
            depth += ch == "("
            depth -= ch == ")"
            if depth < 0:
                break
        if not (v.startswith("(") and v.endswith(")")) or depth != 0:
            raise ValueError(
                f"{v!r} is not a parenthesised LDAP filter, e.g. '(objectClass=AsteriskSIPUser)'"
            )
        return v

    @model_validator(mode="after")
    def _check_references(self) -> LdapFamily:
        known = {f.lower() for f in self.attributes}
        rdn_fields = [self.rdn] if isinstance(self.rdn, str) else self.rdn.fields
        for name in rdn_fields:
            if name.lower() not in known:
                raise ValueError(f"rdn uses field {name!r}, which is not in attributes")
        for key in ("multi_valued", "secret_fields"):
            for name in getattr(self, key):
                if name.lower() not in known and key == "multi_valued":
                    raise ValueError(f"{key}: field {name!r} is not in attributes")
        if isinstance(self.split_semicolons, list):
            for name in self.split_semicolons:
                if name.lower() not in known:
                    raise ValueError(f"split_semicolons: field {name!r} is not in attributes")
        attrs = {a.lower() for a in self.attributes.values()}
        if self.field_slot is not None:
            if not _ATTR_RE.match(self.field_slot) or self.field_slot.lower() in attrs:
                raise ValueError(
                    f"field_slot {self.field_slot!r} must be an LDAP attribute name not "
                    "mapped from a field"
                )
        elif self.slot_fields:
            raise ValueError("slot_fields needs a field_slot")
        known_or_slot = known | {f.lower() for f in self.slot_fields}
        for name in self.joined:
            if name.lower() not in known_or_slot:
                raise ValueError(f"joined: field {name!r} is not in attributes or slot_fields")
        for attr, spec in self.derived.items():
            if not _ATTR_RE.match(attr) or attr.lower() in attrs:
                raise ValueError(f"derived {attr!r} must be an attribute not mapped from a field")
            if spec.field.lower() not in known:
                raise ValueError(f"derived {attr!r}: field {spec.field!r} is not in attributes")
        for attr in self.constants:
            if not _ATTR_RE.match(attr) or attr.lower() in attrs:
                raise ValueError(
                    f"constants: {attr!r} must be an attribute not mapped from a field"
                )
        return self


class _PasswordSource(_Model):
    """A secret given inline (throwaway setups), in a file, or in an environment variable;
    at most one, read when the backend starts, never shown in a repr or a message."""

    password: SecretStr | None = None
    password_file: Path | None = None
    password_env: str | None = None

    def password_sources(self) -> list[str]:
        return [k for k in ("password", "password_file", "password_env") if getattr(self, k)]

    @model_validator(mode="after")
    def _one_password_source(self) -> _PasswordSource:
        given = self.password_sources()
        if len(given) > 1:
            raise ValueError(f"give only one of password, password_file, password_env: {given}")
        return self

    def resolve_password(self) -> str | None:
        inline = None if self.password is None else self.password.get_secret_value()
        return read_secret(inline=inline, file=self.password_file, env=self.password_env)


class LdapCacheSettings(_Model):
    """The change-driven cache (docs/cache.md): an in-memory replica per family, kept
    current by an RFC 4533 syncrepl stream from the directory."""

    #: ``auto``: on when the directory offers syncprov (else off, with one log line);
    #: ``true``: the same, but a directory without syncprov is logged as an error;
    #: ``false``: every read goes to the directory.
    enabled: bool | Literal["auto"] = "auto"
    #: Families to cache (default: every family of the backend).
    families: list[str] | None = None
    #: Where each family's syncrepl cookie is saved with its replica (files 0600: they
    #: hold the family's records), so a restart receives only the changes.
    state_dir: Path | None = None
    #: The state is saved on a clean close, and while live once ``state_save_changes``
    #: changes arrived or ``state_save_interval`` seconds passed since the last save with
    #: at least one change (a save writes the whole family: its cost is bounded by these).
    state_save_interval: float = Field(default=60.0, gt=0)
    state_save_changes: int = Field(default=1000, ge=1)
    #: How often the watchdog checks the stream and the provider (seconds).
    probe_interval: float = Field(default=0.25, gt=0, le=60)
    #: How long a writer waits for its own change to arrive before that family's reads
    #: go to the directory until the stream catches up (read-your-writes).
    write_wait: float = Field(default=0.5, gt=0, le=30)


_LOOPBACK_URL = re.compile(r"^ldaps?://(localhost|127\.[0-9.]+|\[::1\])(:\d+)?/?$", re.IGNORECASE)


def is_loopback_url(url: str) -> bool:
    """An ldap:// or ldaps:// URL naming this machine (localhost, 127.0.0.0/8, [::1])."""
    return bool(_LOOPBACK_URL.match(url))


class LdapBackendSettings(_PasswordSource):
    """Connection settings of an LDAP backend (the ``[_general]`` part of res_ldap.conf)."""

    type: Literal["ldap"]
    urls: list[str] = Field(min_length=1)
    base_dn: str = ""
    bind_dn: str | None = None
    connect_timeout: float = Field(3.0, gt=0)
    timeout: int = Field(5, ge=1, description="operation (receive) timeout in whole seconds")
    pool_size: int = Field(4, ge=1, le=256)
    retry_interval: float = Field(1.0, ge=0)
    #: StartTLS on ldap:// URLs; unset: on for remote hosts, off on loopback (docs/replication.md).
    start_tls: bool | None = None
    ca_file: Path | None = None
    verify_tls: bool = True
    #: A client certificate (PEM; the key in client_key_file or in the same file): sent in
    #: every TLS handshake; without bind_dn the bind is SASL EXTERNAL as its subject.
    client_cert_file: Path | None = None
    client_key_file: Path | None = None
    #: A simple bind (password) over plain ldap:// to a non-loopback host is refused unless set.
    allow_cleartext_bind: bool = False
    value_order: Literal["server", "prefix"] = "server"
    #: Pre-encoded searches for the hot query shapes (docs/ldap.md, "fast path").
    fast_path: bool = True
    cache: LdapCacheSettings = LdapCacheSettings()
    default_families: bool = True
    families: dict[str, LdapFamily] = {}

    @field_validator("urls", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        if isinstance(v, str):
            return v.split()
        return v

    @field_validator("urls")
    @classmethod
    def _check_urls(cls, v: list[str]) -> list[str]:
        out = []
        for url in v:
            m = re.match(r"^(ldaps?)://([^/:]+|\[[0-9a-fA-F:]+\])(?::(\d+))?/?$", url)
            if m:
                port = m.group(3)
                if port is not None and not 0 < int(port) < 65536:
                    raise ValueError(f"{url!r}: port {port} is out of range")
                out.append(url.rstrip("/"))  # ldap3 rejects a trailing slash
            elif url.startswith("ldapi://"):
                out.append(url)
            else:
                raise ValueError(
                    f"{url!r}: use ldap://host[:port], ldaps://host[:port] or ldapi://SOCKET"
                )
        return out

    def bind_password(self) -> str | None:
        """The bind password from whichever source is configured (read at start-up)."""
        return self.resolve_password()

    @model_validator(mode="after")
    def _check_bind_dn(self) -> LdapBackendSettings:
        given = self.password_sources()
        if given and not self.bind_dn:
            raise ValueError(f"{given[0]} is set but bind_dn is not")
        if self.client_key_file and not self.client_cert_file:
            raise ValueError("client_key_file is set but client_cert_file is not")
        if self.bind_dn and not self.allow_cleartext_bind:
            for url in self.urls:
                cleartext = url.startswith("ldap://") and not self.uses_start_tls(url)
                if cleartext and not is_loopback_url(url):
                    raise ValueError(
                        f"{url}: a simple bind as {self.bind_dn} would send the password in "
                        "cleartext to a remote host; use ldaps://, or StartTLS (leave start_tls "
                        "unset or true), or set allow_cleartext_bind: true"
                    )
        return self

    def uses_start_tls(self, url: str) -> bool:
        """Whether connections to ``url`` run StartTLS: ``start_tls`` when set, else on for
        ldap:// to a remote host (a password or data must not cross a network in clear)
        and off on loopback, where there is no network to protect."""
        if not url.startswith("ldap://"):
            return False
        if self.start_tls is not None:
            return self.start_tls
        return not is_loopback_url(url)


_TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]*\Z")
_SQL_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_URL_PASSWORD_RE = re.compile(r"^([^:/]+://[^:/@]*):[^@]*@")


class SqlFamily(_Model):
    """How one family is stored in SQL: its table, and how the columns read as fields."""

    table: str
    hidden: list[str] = []
    multi_valued: list[str] = []
    secret_fields: list[str] = []
    #: Fields whose repeated values are stored as one ","-joined value (last-wins lists).
    joined: list[str] = []
    store_existing: StoreExisting = "error"
    #: See LdapFamily.literal_like.
    literal_like: bool = False
    #: See LdapFamily.sorcery.
    sorcery: str | None = None

    @field_validator("table")
    @classmethod
    def _check_table(cls, v: str) -> str:
        if not _TABLE_RE.match(v):
            raise ValueError(f"{v!r} is not a table name (letters, digits, '_', '$', '-')")
        return v

    @field_validator("hidden", "multi_valued", "secret_fields", "joined")
    @classmethod
    def _check_fields(cls, v: list[str]) -> list[str]:
        for name in v:
            if not _FIELD_RE.match(name):
                raise ValueError(f"field {name!r}: names may use letters, digits, '_', '-', '@'")
        return v


class SqlBackendSettings(_PasswordSource):
    """A SQL backend on the standard Asterisk realtime tables (see docs/backends.md).

    ``families`` starts from the shipped map (defaults/sql-families.yaml) unless
    ``default_families`` is false; a family given here overrides the shipped keys it names.
    The password may be in ``url`` (throwaway setups) or come from ``password``,
    ``password_file`` or ``password_env``; it is never shown in a repr or a message.
    """

    type: Literal["sql"]
    url: str
    #: PostgreSQL schema, or MySQL/MariaDB database, holding the tables (default: the URL's).
    db_schema: str | None = Field(None, alias="schema")
    pool_size: int = Field(4, ge=1, le=256)
    connect_timeout: float = Field(3.0, gt=0)
    default_families: bool = True
    families: dict[str, SqlFamily] = {}

    @property
    def tables(self) -> dict[str, str]:
        """Family → table name (the families this backend serves)."""
        return {family: spec.table for family, spec in self.families.items()}

    @model_validator(mode="before")
    @classmethod
    def _with_shipped_families(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        try:
            families = merge_sql_families(
                data.get("families"), bool(data.get("default_families", True))
            )
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return {**data, "families": families}

    @field_validator("url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        if not _SQL_URL_RE.match(v):
            raise ValueError(
                "expected a SQLAlchemy URL: sqlite:///path.db, "
                "postgresql+psycopg://user@host/db or mysql+pymysql://user@host/db"
            )
        return v

    @field_validator("db_schema")
    @classmethod
    def _check_schema(cls, v: str | None) -> str | None:
        if v is not None and not _TABLE_RE.match(v):
            raise ValueError(f"{v!r} is not a schema name (letters, digits, '_', '$', '-')")
        return v

    def connect_password(self) -> str | None:
        """The password from ``password``/``password_env``/``password_file`` (None: the URL's)."""
        return self.resolve_password()

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if name == "url" and isinstance(value, str):
                value = _URL_PASSWORD_RE.sub(r"\1:***@", value)
            yield name, value


def shipped_sql_families() -> dict[str, Any]:
    """The shipped default SQL family map (ara_ldap/defaults/sql-families.yaml)."""
    text = resources.files("ara_ldap").joinpath("defaults/sql-families.yaml").read_text()
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def merge_sql_families(own: Any, default_families: bool = True) -> dict[str, Any]:
    """A SQL backend's families: the shipped map (unless disabled) under the site's own
    settings, key by key, with ``extends`` resolved (as :func:`_prepare` does for LDAP)."""
    if own is None:
        own = {}
    if not isinstance(own, Mapping):
        raise ConfigError("expected a mapping of families", "families")
    families: dict[str, Any] = shipped_sql_families() if default_families else {}
    for family, override in own.items():
        if override is None:
            override = {}
        if not isinstance(override, Mapping):
            raise ConfigError("expected a mapping of family settings", f"families.{family}")
        try:
            families[family] = _merge(families.get(family, {}), override)
        except ConfigError as exc:
            raise ConfigError(exc.message, f"families.{family}.{exc.path}") from None
    return _resolve_families(families, "families", "")


BackendSettings = Annotated[LdapBackendSettings | SqlBackendSettings, Field(discriminator="type")]


# Routing ------------------------------------------------------------------------------


class Route(_Model):
    """One family's backends in priority order (``extconfig.conf`` priorities 1, 2, ...)."""

    backends: list[str] = Field(min_length=1)
    failover_on_not_found: bool = False


class StaticSettings(_Model):
    """Static realtime: which family holds config files, and their order."""

    family: str = "ast_config"
    files: dict[str, str] = {}
    order: Literal["asterisk", "ldap"] = "asterisk"


# The gateway ---------------------------------------------------------------------------

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
    """Serve HTTPS (libcurl verifies the certificate by default)."""

    certfile: Path
    keyfile: Path | None = None  # None: the key is in certfile


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


# The notifier ----------------------------------------------------------------------------

#: Which module reads a static file (``Action: Reload`` of it when the file's rows change).
DEFAULT_RELOAD_MODULES = {
    "sip.conf": "chan_sip.so",
    "pjsip.conf": "res_pjsip.so",
    "extensions.conf": "pbx_config.so",
    "voicemail.conf": "app_voicemail.so",
}


class AmiServer(_Model):
    """One Asterisk manager (AMI) the notifier keeps a session to (docs/notify.md)."""

    host: str = "127.0.0.1"
    port: int = Field(default=5038, ge=1, le=65535)
    username: str = Field(min_length=1)
    #: The manager.conf ``secret`` (read at start-up; never logged).
    secret_file: Path
    connect_timeout: float = Field(default=5.0, gt=0)
    #: Seconds to wait for an action's response before the session is dropped.
    action_timeout: float = Field(default=10.0, gt=0)

    @field_validator("username")
    @classmethod
    def _one_line(cls, v: str) -> str:
        if any(c in v for c in "\r\n"):
            raise ValueError("an AMI user name cannot contain a line break")
        return v

    def secret(self) -> str:
        return read_secret_file(self.secret_file, "notify.servers.secret_file")

    def label(self) -> str:
        return f"{self.username}@{self.host}:{self.port}"


class NotifySettings(_Model):
    """``ara-ldap notify``: directory changes pushed to Asterisk over AMI (docs/notify.md)."""

    servers: list[AmiServer] = []
    #: Seconds without a new change before a batch is sent (a burst is one batch).
    debounce: float = Field(default=0.5, ge=0, le=60)
    #: A batch is sent at most this long after its first change, even in a steady stream.
    max_delay: float = Field(default=5.0, gt=0, le=600)
    #: Static file -> module to reload; merged over DEFAULT_RELOAD_MODULES (a ``null``
    #: value drops a default).
    modules: dict[str, str | None] = {}
    #: chan_sip peer families of servers with ``rtcachefriends=yes``: a change of a peer
    #: sends ``sip prune realtime peer NAME``.  Empty (the default): nothing is pruned.
    rtcachefriends: list[str] = []
    #: Sorcery object type (the family's ``sorcery`` setting's type: endpoint, aor, auth)
    #: -> the ``name=`` of its ``memory_cache`` in sorcery.conf.  Types not listed: nothing.
    sorcery_caches: dict[str, str] = {}
    #: Longest wait between reconnect attempts to a server that is down (seconds).
    max_backoff: float = Field(default=30.0, gt=0, le=3600)

    def reload_modules(self) -> dict[str, str]:
        merged: dict[str, str | None] = {**DEFAULT_RELOAD_MODULES, **self.modules}
        return {f.lower(): m for f, m in merged.items() if m}


class Settings(_Model):
    backends: dict[str, BackendSettings] = Field(min_length=1)
    families: dict[str, Route] = {}
    static: StaticSettings = StaticSettings()
    gateway: GatewaySettings = GatewaySettings()
    notify: NotifySettings = NotifySettings()
    source: str | None = None

    @field_validator("families", mode="before")
    @classmethod
    def _short_routes(cls, v: Any) -> Any:
        if not isinstance(v, Mapping):
            return v
        out: dict[str, Any] = {}
        for family, route in v.items():
            if isinstance(route, str):
                route = {"backends": [route]}
            elif isinstance(route, list):
                route = {"backends": route}
            out[family] = route
        return out

    def check_routes(self) -> None:
        """Routes may name only defined backends (checked after validation so the error
        carries the route's YAML path)."""
        for family, route in self.families.items():
            for name in route.backends:
                if name not in self.backends:
                    raise ConfigError(
                        f"backend {name!r} is not defined under backends "
                        f"(defined: {', '.join(sorted(self.backends))})",
                        f"families.{family}",
                        self.source,
                    )

    def routes(self) -> dict[str, Route]:
        """Explicit routes, plus every family a backend defines, routed to its backends in
        the order the backends are listed."""
        out = dict(self.families)
        for name, backend in self.backends.items():
            for family in backend_families(backend):
                if family in self.families:
                    continue
                route = out.get(family)
                backends = [*route.backends, name] if route else [name]
                out[family] = Route(backends=backends)
        return out


def backend_families(backend: BackendSettings) -> list[str]:
    if isinstance(backend, LdapBackendSettings):
        return list(backend.families)
    return list(backend.tables)


# Loading ------------------------------------------------------------------------------


def shipped_ldap_families() -> dict[str, Any]:
    """The shipped default attribute maps (ara_ldap/defaults/ldap-families.yaml)."""
    text = resources.files("ara_ldap").joinpath("defaults/ldap-families.yaml").read_text()
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Override keys of a family; ``attributes`` merge key by key, ``secret_fields`` adds
    to the inherited list (``{replace: [...]}`` replaces it), other keys replace."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if key == "secret_fields":
            out[key] = _merged_secrets(out.get(key), value)
        elif (
            key == "attributes" and isinstance(value, Mapping) and isinstance(out.get(key), Mapping)
        ):
            merged = dict(out[key])
            for fld, attr in value.items():
                if attr is None:
                    merged.pop(fld, None)
                else:
                    merged[fld] = attr
            out[key] = merged
        else:
            out[key] = copy.deepcopy(value)
    return out


def _merged_secrets(inherited: Any, value: Any) -> Any:
    """A site's ``secret_fields`` on top of the shipped (or ``extends``) list: a list adds
    names, so a typo can never unmask the shipped secrets; ``{replace: [...]}`` is the
    explicit way to drop some.  Anything else is left for validation to reject."""
    if isinstance(value, Mapping):
        if set(value) != {"replace"}:
            raise ConfigError(
                "expected a list of fields (added to the shipped ones) or {replace: [fields]}",
                "secret_fields",
            )
        return copy.deepcopy(value["replace"])
    if isinstance(value, list) and isinstance(inherited, list):
        seen = {str(f).lower() for f in inherited}
        return [*inherited, *(f for f in value if str(f).lower() not in seen)]
    return copy.deepcopy(value)


def _check_secret_fields(families: Mapping[str, Any], where: str) -> None:
    """Every ``secret_fields`` name is a field of its family (LDAP: mapped or a slot
    field), so a misspelt name fails loudly instead of masking nothing."""
    for name, body in families.items():
        attributes = body.get("attributes")
        secrets_ = body.get("secret_fields") or []
        if not isinstance(attributes, Mapping) or not isinstance(secrets_, list):
            continue  # validation reports the shape
        known = {str(f).lower() for f in attributes}
        known |= {str(f).lower() for f in body.get("slot_fields") or []}
        unknown = [str(f) for f in secrets_ if str(f).lower() not in known]
        if unknown:
            raise ConfigError(
                f"{', '.join(repr(f) for f in unknown)} "
                f"{'is not a field' if len(unknown) == 1 else 'are not fields'} of family "
                f"{name!r} (not in its attributes); check the spelling",
                f"{where}.{name}.secret_fields",
            )


def _resolve_families(raw: Mapping[str, Any], where: str, base_dn: str) -> dict[str, Any]:
    """Apply ``extends`` and ``{base_dn}`` so each family is complete before validation."""
    resolved: dict[str, Any] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> dict[str, Any]:
        if name in resolved:
            return dict(resolved[name])
        if name in chain:
            raise ConfigError(f"'extends' loops: {' -> '.join([*chain, name])}", f"{where}.{name}")
        spec = raw[name]
        if spec is None:
            spec = {}
        if not isinstance(spec, Mapping):
            raise ConfigError("expected a mapping of family settings", f"{where}.{name}")
        parent = spec.get("extends")
        body = {k: v for k, v in spec.items() if k != "extends"}
        if parent is not None:
            if parent not in raw:
                raise ConfigError(f"extends unknown family {parent!r}", f"{where}.{name}.extends")
            body = _merge(resolve(parent, (*chain, name)), body)
        resolved[name] = body
        return dict(body)

    for name in raw:
        resolve(name, ())
    for name, body in resolved.items():
        if isinstance(body.get("base_dn"), str):
            if "{base_dn}" in body["base_dn"] and not base_dn:
                raise ConfigError(
                    "uses {base_dn} but the backend has no base_dn", f"{where}.{name}.base_dn"
                )
            body["base_dn"] = body["base_dn"].replace("{base_dn}", base_dn)
    return resolved


def _prepare(data: Mapping[str, Any]) -> dict[str, Any]:
    """Merge the shipped family maps under each LDAP backend's own family settings."""
    out = dict(data)
    backends = data.get("backends")
    if not isinstance(backends, Mapping):
        return out
    prepared: dict[str, Any] = {}
    for name, spec in backends.items():
        if not isinstance(spec, Mapping) or spec.get("type") != "ldap":
            prepared[name] = spec
            continue
        spec = dict(spec)
        own = spec.get("families") or {}
        if not isinstance(own, Mapping):
            raise ConfigError("expected a mapping of families", f"backends.{name}.families")
        families: dict[str, Any] = {}
        if spec.get("default_families", True):
            families = shipped_ldap_families()
        for family, override in own.items():
            if override is None:
                override = {}
            if not isinstance(override, Mapping):
                raise ConfigError(
                    "expected a mapping of family settings", f"backends.{name}.families.{family}"
                )
            try:
                families[family] = _merge(families.get(family, {}), override)
            except ConfigError as exc:
                raise ConfigError(
                    exc.message, f"backends.{name}.families.{family}.{exc.path}"
                ) from None
        base_dn = spec.get("base_dn") or ""
        where = f"backends.{name}.families"
        spec["families"] = _resolve_families(families, where, str(base_dn))
        _check_secret_fields(spec["families"], where)
        prepared[name] = spec
    out["backends"] = prepared
    return out


def _format_validation_error(exc: ValidationError) -> tuple[str, str]:
    errors = exc.errors()
    first = errors[0]
    loc = [str(p) for p in first["loc"]]
    if len(loc) > 2 and loc[0] == "backends" and loc[2] in ("ldap", "sql"):
        del loc[2]  # the discriminator tag pydantic inserts for the backend type
    path = ".".join(loc)
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key (check its spelling and docs/configuration.md)"
    elif first["type"] == "missing":
        msg = "required key is missing"
    if len(errors) > 1:
        msg += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return path, msg


def load_settings(data: Mapping[str, Any], source: str | None = None) -> Settings:
    """Validate already-parsed YAML (used by tests and by :func:`load_config`)."""
    if not isinstance(data, Mapping):
        raise ConfigError("the file must contain a YAML mapping at the top level", source=source)
    try:
        prepared = _prepare(data)
        settings = Settings.model_validate({**prepared, "source": source})
        settings.check_routes()
        return settings
    except ValidationError as exc:
        path, msg = _format_validation_error(exc)
        raise ConfigError(msg, path or None, source) from None
    except ConfigError as exc:
        if exc.source is None and source is not None:
            raise ConfigError(exc.message, exc.path, source) from None
        raise


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config file to use: ``--config``, ``$ARA_LDAP_CONFIG``, then the default paths."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    for candidate in DEFAULT_CONFIG_PATHS:
        if candidate.is_file():
            return candidate
    searched = ", ".join(str(p) for p in DEFAULT_CONFIG_PATHS)
    raise ConfigError(
        f"no configuration file found (searched {searched}); pass --config FILE, set "
        f"{CONFIG_ENV}, or run 'make demo' to get a demo configuration"
    )


def load_config(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read and validate the YAML configuration file."""
    file = find_config(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the configuration file: {exc.strerror}", source=str(file)
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"invalid YAML{where}: {problem}", source=str(file)) from None
    if data is None:
        raise ConfigError("the file is empty", source=str(file))
    return load_settings(data, source=str(file))
