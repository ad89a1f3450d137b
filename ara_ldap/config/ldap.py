"""LDAP backend settings: connection, TLS, the cache, and each family's attribute map."""

from __future__ import annotations

import re
import string
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from ara_ldap.config.common import _ATTR_RE, _FIELD_RE, StoreExisting, _Model, _PasswordSource


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
    #: Servers for writes (e.g. the providers), when ``urls`` lists read-only consumers;
    #: unset: writes go to ``urls``.  Each list has its own failover and failback.
    write_urls: list[str] | None = None
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

    @field_validator("urls", "write_urls", mode="before")
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

    @field_validator("write_urls")
    @classmethod
    def _check_write_urls(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        if not v:
            raise ValueError("list at least one write server, or leave write_urls unset")
        return cls._check_urls(v)

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
            for url in [*self.urls, *(self.write_urls or [])]:
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
