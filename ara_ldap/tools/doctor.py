"""``ara-ldap doctor``: check a site's directory with the configured identity, say what to fix.

Why: schema, indexes, limits, syncprov and ACLs are set up by the directory's admin, and
every mistake shows up late (lookups that crawl, ``sizeLimitExceeded`` on the first
``LIKE %``, a cache that silently stays off, registrations that cannot be written).
Each check here asks the directory the way ara-ldap will, as the identity ara-ldap binds
with, and never changes data:

* **schema**: the subschema defines every class and attribute the families use (the stock
  Asterisk schema, ara-ldap's additions, pjsip.schema for ``ps_*`` families);
* **indexes**: an equality index for every attribute Asterisk's lookups filter on, read
  from ``olcDbIndex`` in cn=config when the identity (or ``cn_config``) may read it;
* **syncprov**: a base-scope refreshOnly search with the (critical) Sync Request control
  on each family's base: syncprov answers it, anything else refuses it;
* **limits**: an unpaged count of each family, then a paged one: a ``sizeLimitExceeded``
  on the first is the limit this identity hits, and whether paging gets past it;
* **rights**: read = the base and the family's entries are visible; update = a modify that
  deletes a random value that no entry holds (the server checks the ACL first, then
  answers ``noSuchAttribute``; nothing changes); delete/add = a delete carrying an LDAP
  Assertion control (RFC 4528) whose filter is false: slapd checks the delete ACL, then
  fails the assertion, so nothing changes (sent only if the server lists the control);
* **tls**: remote ``ldap://`` URLs must use StartTLS.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import ldap3
from ldap3.core.exceptions import LDAPException
from pyasn1.codec.ber import encoder as ber_encoder

from ara_ldap.backends.ldap.connection import (
    WIRE_ERRORS,
    bind_args,
    make_server,
    start_tls_if_needed,
)
from ara_ldap.backends.ldap.syncrepl import SYNC_REQUEST_OID, encode_sync_request
from ara_ldap.config import LdapBackendSettings, LdapFamily
from ara_ldap.errors import BackendError

__all__ = [
    "QUERY_FIELDS",
    "WRITTEN_BY_ASTERISK",
    "CnConfigAccess",
    "Finding",
    "Report",
    "check_tls",
    "diagnose",
    "equality_indexed",
]

Status = Literal["ok", "warn", "fail", "skip"]

ASSERTION_OID = "1.3.6.1.1.12"
INTEGER_SYNTAX = "1.3.6.1.4.1.1466.115.121.1.27"
REFRESH_ONLY = 1
# RFC 4511 result codes the checks tell apart.
SUCCESS, TIME_LIMIT, SIZE_LIMIT = 0, 3, 4
UNAVAILABLE_CRITICAL, NO_SUCH_ATTRIBUTE, NO_SUCH_OBJECT = 12, 16, 32
INSUFFICIENT_ACCESS, ASSERTION_FAILED = 50, 122
PAGE_SIZE = 500

#: Fields Asterisk's lookups filter on, per family (the rest are read, not searched).
QUERY_FIELDS: dict[str, tuple[str, ...]] = {
    "sippeers": ("name", "ipaddr", "port", "host", "defaultuser"),
    "sipusers": ("name", "ipaddr", "port", "host", "defaultuser"),
    "sipregs": ("name",),
    "iaxpeers": ("name", "ipaddr", "port", "host"),
    "iaxusers": ("name", "ipaddr", "port", "host"),
    "voicemail": ("mailbox", "context"),
    "extensions": ("context", "exten", "priority"),
    "ast_config": ("filename",),
    "ps_contacts": ("id",),
}
#: Families Asterisk itself writes at runtime (registrations, MWI, sorcery).
WRITTEN_BY_ASTERISK = {"sippeers", "sipusers", "sipregs", "iaxpeers", "iaxusers", "voicemail"}
_LOOPBACK = re.compile(r"^ldaps?://(localhost|127\.[0-9.]+|\[::1\])(:\d+)?/?$", re.IGNORECASE)
_NAMES = re.compile(r"NAME\s+(?:'([^']+)'|\(\s*((?:'[^']+'\s*)+)\))")
_FILTER_ATTRS = re.compile(r"\(\s*([A-Za-z][A-Za-z0-9-]*)\s*[~<>]?=")


@dataclass(frozen=True)
class Finding:
    """One line of the report: which check, about what, the verdict, and the fix."""

    check: str
    subject: str
    status: Status
    message: str
    fix: str | None = None


@dataclass
class Report:
    backend: str
    identity: str | None = None
    url: str | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "fail"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "warn"]

    def add(self, *args: Any, **kwargs: Any) -> None:
        self.findings.append(Finding(*args, **kwargs))

    def of(self, check: str, status: Status | None = None) -> list[Finding]:
        return [
            f for f in self.findings if f.check == check and (status is None or f.status == status)
        ]


@dataclass(frozen=True)
class CnConfigAccess:
    """A second identity for reading cn=config (``None`` bind: SASL EXTERNAL over ldapi)."""

    url: str
    bind_dn: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass
class _Schema:
    attributes: dict[str, str] = field(default_factory=dict)  # lower name -> definition
    classes: set[str] = field(default_factory=set)
    known: bool = False

    def attribute(self, name: str) -> str | None:
        return self.attributes.get(name.lower())

    def searchable(self, name: str) -> bool:
        """Has an EQUALITY rule, its own or its SUP's (else it can be neither indexed nor
        matched); unknown attributes count as searchable."""
        text = self.attribute(name)
        for _ in range(8):
            if text is None or "EQUALITY" in text:
                return True
            parent = re.search(r"\bSUP\s+'?([A-Za-z0-9.-]+)", text)
            if parent is None:
                return False
            text = self.attribute(parent.group(1))
        return False

    def is_integer(self, name: str) -> bool:
        text = self.attribute(name)
        return text is not None and INTEGER_SYNTAX in text


@dataclass
class _Database:
    dn: str
    suffix: str
    indexes: list[str]
    size_limit: str | None
    time_limit: str | None
    limits: list[str]
    syncprov: bool
    root_dn: str | None = None


# Connections -------------------------------------------------------------------------------


def _connect(
    settings: LdapBackendSettings, password: str | None, urls: Sequence[str] | None = None
) -> tuple[ldap3.Connection, str]:
    """A bound connection to the first of ``urls`` (the read servers unless given) that
    answers, and its URL."""
    last = "no URL"
    for url in urls or settings.urls:
        conn = ldap3.Connection(
            make_server(settings, url),
            client_strategy=ldap3.SYNC,
            receive_timeout=settings.timeout,
            raise_exceptions=False,
            auto_referrals=False,
            check_names=False,
            return_empty_attributes=False,
            **bind_args(settings, password),
        )
        try:
            conn.open(read_server_info=False)
            start_tls_if_needed(conn, settings, url)
            if conn.bind(read_server_info=False):
                return conn, url
            result = conn.result or {}
            raise BackendError(
                f"{url}: bind as {settings.bind_dn or 'anonymous'} refused "
                f"({result.get('description', 'unknown')}); check bind_dn and the password source"
            )
        except (LDAPException, *WIRE_ERRORS) as exc:
            last = f"{url}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    raise BackendError(f"directory unreachable ({last})")


def _config_connection(access: CnConfigAccess, settings: LdapBackendSettings) -> ldap3.Connection:
    server = ldap3.Server(access.url, get_info=ldap3.NONE, connect_timeout=settings.connect_timeout)
    if access.bind_dn:
        kwargs: dict[str, Any] = {"user": access.bind_dn, "password": access.password}
    else:
        kwargs = {
            "authentication": ldap3.SASL,
            "sasl_mechanism": ldap3.EXTERNAL,
            "sasl_credentials": "",
        }
    conn = ldap3.Connection(
        server, raise_exceptions=False, receive_timeout=settings.timeout, **kwargs
    )
    try:
        conn.open(read_server_info=False)
        if not conn.bind(read_server_info=False):
            raise BackendError(f"{access.url}: bind for cn=config refused")
    except (LDAPException, *WIRE_ERRORS) as exc:
        raise BackendError(f"{access.url}: cannot read cn=config: {exc}") from None
    return conn


def _code(conn: ldap3.Connection) -> int:
    return int((conn.result or {}).get("result", -1))


def _describe(conn: ldap3.Connection) -> str:
    result = conn.result or {}
    text = result.get("message") or ""
    return f"{result.get('description', 'unknown')}{': ' + text if text else ''}"


def _values(entry: dict[str, Any], name: str) -> list[str]:
    for key, vals in (entry.get("raw_attributes") or {}).items():
        if key.lower() == name.lower():
            return [v.decode("utf-8", "replace") for v in vals]
    return []


# Reading the directory ----------------------------------------------------------------------


def _root_dse(conn: ldap3.Connection) -> dict[str, list[str]]:
    attrs = ["supportedControl", "namingContexts", "subschemaSubentry", "supportedExtension"]
    conn.search("", "(objectClass=*)", search_scope=ldap3.BASE, attributes=attrs)
    entry = (conn.response or [{}])[0] if conn.response else {}
    return {a: _values(entry, a) for a in attrs}


def _read_schema(conn: ldap3.Connection, dse: dict[str, list[str]]) -> _Schema:
    base = (dse.get("subschemaSubentry") or ["cn=Subschema"])[0]
    ok = conn.search(
        base,
        "(objectClass=subschema)",
        search_scope=ldap3.BASE,
        attributes=["attributeTypes", "objectClasses"],
    )
    schema = _Schema()
    if not ok or not conn.response:
        return schema
    entry = conn.response[0]
    for text in _values(entry, "attributeTypes"):
        for name in _names(text):
            schema.attributes[name.lower()] = text
    for text in _values(entry, "objectClasses"):
        schema.classes.update(n.lower() for n in _names(text))
    schema.known = bool(schema.attributes)
    return schema


def _names(definition: str) -> list[str]:
    m = _NAMES.search(definition)
    if not m:
        return []
    if m.group(1):
        return [m.group(1)]
    return re.findall(r"'([^']+)'", m.group(2))


def _databases(conn: ldap3.Connection) -> list[_Database] | None:
    """The databases in cn=config, or ``None`` if this connection may not read it."""
    ok = conn.search(
        "cn=config",
        "(olcSuffix=*)",
        attributes=[
            "olcSuffix",
            "olcDbIndex",
            "olcSizeLimit",
            "olcTimeLimit",
            "olcLimits",
            "olcRootDN",
        ],
    )
    if not ok or not conn.response:
        return None
    entries = [e for e in conn.response if e.get("type") == "searchResEntry"]
    conn.search("cn=config", "(objectClass=olcSyncProvConfig)", attributes=["1.1"])
    overlays = [e["dn"].lower() for e in conn.response or [] if e.get("type") == "searchResEntry"]
    frontend: dict[str, Any] = {}
    if (
        conn.search(
            "olcDatabase={-1}frontend,cn=config",
            "(objectClass=*)",
            search_scope=ldap3.BASE,
            attributes=["olcSizeLimit", "olcTimeLimit"],
        )
        and conn.response
    ):
        frontend = conn.response[0]
    out = []
    for entry in entries:
        dn = entry["dn"]
        size = _values(entry, "olcSizeLimit") or _values(frontend, "olcSizeLimit")
        tlimit = _values(entry, "olcTimeLimit") or _values(frontend, "olcTimeLimit")
        for suffix in _values(entry, "olcSuffix"):
            out.append(
                _Database(
                    dn=dn,
                    suffix=suffix,
                    indexes=_values(entry, "olcDbIndex"),
                    size_limit=size[0] if size else None,
                    time_limit=tlimit[0] if tlimit else None,
                    limits=_values(entry, "olcLimits"),
                    syncprov=any(o.endswith("," + dn.lower()) for o in overlays),
                    root_dn=next(iter(_values(entry, "olcRootDN")), None),
                )
            )
    return out


def _norm(dn: str) -> str:
    return ",".join(part.strip().lower() for part in dn.split(","))


def _same_dn(a: str, b: str) -> bool:
    return _norm(a) == _norm(b)


def _database_for(base_dn: str, databases: Sequence[_Database]) -> _Database | None:
    norm = _norm

    base = norm(base_dn)
    best: _Database | None = None
    for db in databases:
        suffix = norm(db.suffix)
        if (base == suffix or base.endswith("," + suffix)) and (
            best is None or len(suffix) > len(norm(best.suffix))
        ):
            best = db
    return best


def equality_indexed(indexes: Iterable[str]) -> set[str]:
    """Lower-cased attributes with an ``eq`` index, from olcDbIndex values (``default``
    types apply to attributes listed without types)."""
    default: set[str] = set()
    parsed: list[tuple[list[str], set[str] | None]] = []
    for value in indexes:
        parts = value.split(None, 1)
        attrs = [a.strip().lower() for a in parts[0].split(",") if a.strip()]
        types = {t.strip().lower() for t in parts[1].split(",")} if len(parts) > 1 else None
        if attrs == ["default"] and types is not None:
            default = types
            continue
        parsed.append((attrs, types))
    out: set[str] = set()
    for attrs, types in parsed:
        if "eq" in (types if types is not None else default):
            out.update(attrs)
    return out


# Checks -----------------------------------------------------------------------------------


def _family_attributes(name: str, spec: LdapFamily) -> list[str]:
    """Attributes our queries on the family filter on: its lookup fields and its filter."""
    by_field = {f.lower(): a for f, a in spec.attributes.items()}
    fields = QUERY_FIELDS.get(name)
    if fields is None and name.startswith("ps_"):
        fields = ("id",)
    if fields is None:
        fields = (spec.rdn,) if isinstance(spec.rdn, str) else tuple(spec.rdn.fields)
    attrs = [by_field[f.lower()] for f in fields if f.lower() in by_field]
    attrs += _FILTER_ATTRS.findall(spec.filter or "")
    # Derived attributes exist to be searched (e.g. astContactAor for "id LIKE aor;@%").
    attrs += list(getattr(spec, "derived", None) or {})
    seen: dict[str, str] = {}
    for attr in attrs:
        seen.setdefault(attr.lower(), attr)
    return list(seen.values())


def _schema_origin(name: str) -> str:
    if name.startswith("Ara"):
        return "ara-ldap's schema/asterisk.schema (or .ldif)"
    if re.match(r"^ast[A-Z]", name):
        return "schema/pjsip.schema (or pjsip.ldif)"
    if name.startswith(("Ast", "Asterisk")):
        return "the Asterisk schema (ara-ldap's schema/asterisk.schema includes it)"
    return "a standard schema (core, cosine, inetorgperson, nis)"


def is_pjsip(spec: LdapFamily) -> bool:
    """A family stored with pjsip.schema's classes (``astPs...``, ``astEndpoint...``)."""
    return any(re.match(r"^ast[A-Z]", c) for c in spec.object_classes)


def _checked_families(
    settings: LdapBackendSettings, schema: _Schema, report: Report
) -> dict[str, LdapFamily]:
    """The families to check: the PJSIP ones only if pjsip.schema is loaded at all (the
    shipped map always lists them; a site without PJSIP in LDAP has neither schema nor
    containers for them)."""
    pjsip = {n for n, spec in settings.families.items() if is_pjsip(spec)}
    loaded = any(name.startswith("astps") for name in schema.classes)
    if pjsip and schema.known and not loaded:
        report.add(
            "schema",
            f"{len(pjsip)} PJSIP families",
            "warn",
            "pjsip.schema is not loaded, so the PJSIP families (ps_*) are not checked",
            "if Asterisk reads PJSIP from this directory, load schema/pjsip.ldif into cn=config",
        )
        return {n: spec for n, spec in settings.families.items() if n not in pjsip}
    return dict(settings.families)


def check_tls(settings: LdapBackendSettings, report: Report) -> None:
    for url in dict.fromkeys([*settings.urls, *(settings.write_urls or [])]):
        if url.startswith("ldapi://"):
            report.add("tls", url, "ok", "local socket (ldapi)")
        elif url.startswith("ldaps://") or settings.uses_start_tls(url):
            how = "ldaps" if url.startswith("ldaps://") else "StartTLS"
            if settings.verify_tls:
                report.add("tls", url, "ok", f"{how}, certificate verified")
            else:
                report.add(
                    "tls",
                    url,
                    "warn",
                    f"{how} without certificate verification",
                    "set verify_tls: true (and ca_file)",
                )
        elif _LOOPBACK.match(url):
            report.add("tls", url, "ok", "loopback: no TLS needed")
        else:
            report.add(
                "tls",
                url,
                "fail",
                "remote server over plain LDAP: the bind password and all data travel in clear",
                "set start_tls: true (with ca_file) or use an ldaps:// URL",
            )


def _check_schema(
    settings: LdapBackendSettings, families: dict[str, LdapFamily], schema: _Schema, report: Report
) -> None:
    if not schema.known:
        report.add(
            "schema",
            "subschema",
            "skip",
            "the subschema (cn=Subschema) is not readable by this identity: could not check",
            "allow read on cn=Subschema, or check with: ldapsearch -x -H URL -b cn=Subschema "
            "-s base objectClasses attributeTypes",
        )
        return
    missing: dict[str, set[str]] = {}
    for name, spec in families.items():
        for cls in spec.object_classes:
            if cls.lower() not in schema.classes:
                missing.setdefault(cls, set()).add(name)
        for attr in spec.attributes.values():
            if re.match(r"^\d", attr):
                continue
            if schema.attribute(attr) is None:
                missing.setdefault(attr, set()).add(name)
    if not missing:
        report.add(
            "schema",
            "families",
            "ok",
            f"every class and attribute of the {len(families)} families is defined",
        )
        return
    by_origin: dict[str, list[str]] = {}
    for name in sorted(missing):
        by_origin.setdefault(_schema_origin(name), []).append(name)
    for origin, names in by_origin.items():
        users = sorted({f for n in names for f in missing[n]})
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        report.add(
            "schema",
            ", ".join(users[:4]) + ("..." if len(users) > 4 else ""),
            "fail",
            f"{len(names)} names not in the directory's schema: {shown}",
            f"load {origin} into cn=config (ldapadd -Y EXTERNAL -H ldapi:/// -f FILE.ldif)",
        )


def _check_indexes(
    settings: LdapBackendSettings,
    families: dict[str, LdapFamily],
    schema: _Schema,
    databases: Sequence[_Database] | None,
    how: str,
    report: Report,
) -> None:
    if databases is None:
        report.add(
            "indexes",
            "cn=config",
            "skip",
            f"cn=config is not readable {how}: could not check the equality indexes",
            "run doctor with --cn-config-url ldapi:/// on the directory host (SASL EXTERNAL as "
            "root), or check: ldapsearch -Q -Y EXTERNAL -H ldapi:/// -b cn=config "
            "'(olcSuffix=*)' olcDbIndex",
        )
        return
    wanted: dict[str, dict[str, set[str]]] = {}  # database dn -> attr -> families
    dbs: dict[str, _Database] = {}
    for name, spec in families.items():
        db = _database_for(spec.base_dn, databases)
        if db is None:
            report.add("indexes", name, "warn", f"no database holds {spec.base_dn}")
            continue
        dbs[db.dn] = db
        attrs = _family_attributes(name, spec)
        if settings.cache.enabled is not False:
            attrs += ["entryCSN", "entryUUID"]  # syncprov's own lookups
        for attr in attrs:
            if schema.known and not schema.searchable(attr):
                continue  # no EQUALITY rule: cannot be indexed (nor matched)
            wanted.setdefault(db.dn, {}).setdefault(attr, set()).add(name)
    for dn, needed in wanted.items():
        have = equality_indexed(dbs[dn].indexes)
        lacking = {a: f for a, f in needed.items() if a.lower() not in have}
        if not lacking:
            report.add(
                "indexes",
                dbs[dn].suffix,
                "ok",
                f"equality indexes on all {len(needed)} filtered attributes",
            )
            continue
        ordered = sorted(lacking.items(), key=lambda item: item[0].lower())
        ldif = "".join(f"olcDbIndex: {attr} eq\n" for attr, _ in ordered)
        for i, (attr, users) in enumerate(ordered):
            report.add(
                "indexes",
                ", ".join(sorted(users)),
                "fail",
                f"no equality index on {attr} (lookups filter on it: every one scans the base)",
                None
                if i < len(ordered) - 1
                else (
                    f"ldapmodify -Y EXTERNAL -H ldapi:/// <<'EOF'\n"
                    f"dn: {dn}\nchangetype: modify\nadd: olcDbIndex\n{ldif}EOF"
                ),
            )


def _check_syncprov(
    conn: ldap3.Connection,
    settings: LdapBackendSettings,
    families: dict[str, LdapFamily],
    dse: dict[str, list[str]],
    report: Report,
) -> None:
    if settings.cache.enabled is False:
        report.add("syncprov", "cache", "skip", "the cache is off (cache.enabled: false)")
        return
    cached = settings.cache.families or list(families)
    advertised = SYNC_REQUEST_OID in dse.get("supportedControl", [])
    bases: dict[str, list[str]] = {}
    for name in cached:
        spec = families.get(name)
        if spec is not None:
            bases.setdefault(spec.base_dn, []).append(name)
    control = (SYNC_REQUEST_OID, True, encode_sync_request(mode=REFRESH_ONLY))
    for base, names in bases.items():
        conn.search(
            base,
            "(objectClass=*)",
            search_scope=ldap3.BASE,
            attributes=["1.1"],
            dereference_aliases=ldap3.DEREF_NEVER,
            controls=[control],
        )
        code = _code(conn)
        subject = ", ".join(names)
        if code == SUCCESS:
            report.add("syncprov", subject, "ok", f"syncprov serves {base}")
        elif code == NO_SUCH_OBJECT:
            report.add("syncprov", subject, "skip", f"{base} does not exist (see rights)")
        else:
            why = "" if advertised else f" (the rootDSE does not list {SYNC_REQUEST_OID})"
            report.add(
                "syncprov",
                subject,
                "fail",
                f"a sync search on {base} was refused ({_describe(conn)}){why}: the cache "
                "stays off and every read goes to the directory",
                "add the syncprov overlay to the database (docs/cache.md), or set "
                "cache.enabled: false",
            )


def _count(conn: ldap3.Connection, spec: LdapFamily) -> tuple[int, int, float]:
    """(entries, result code, seconds) of one unpaged search over the family."""
    start = time.monotonic()
    conn.search(
        spec.base_dn,
        spec.filter or "(objectClass=*)",
        attributes=["1.1"],
        dereference_aliases=ldap3.DEREF_NEVER,
    )
    entries = sum(1 for e in conn.response or [] if e.get("type") == "searchResEntry")
    return entries, _code(conn), time.monotonic() - start


def _paged_count(conn: ldap3.Connection, spec: LdapFamily) -> tuple[int, int]:
    total, cookie = 0, None
    while True:
        conn.search(
            spec.base_dn,
            spec.filter or "(objectClass=*)",
            attributes=["1.1"],
            dereference_aliases=ldap3.DEREF_NEVER,
            paged_size=PAGE_SIZE,
            paged_cookie=cookie,
        )
        total += sum(1 for e in conn.response or [] if e.get("type") == "searchResEntry")
        code = _code(conn)
        controls = (conn.result or {}).get("controls") or {}
        cookie = controls.get("1.2.840.113556.1.4.319", {}).get("value", {}).get("cookie")
        if code != SUCCESS or not cookie:
            return total, code


def _who(settings: LdapBackendSettings) -> str:
    return f'dn.exact="{settings.bind_dn}"' if settings.bind_dn else "anonymous"


def _limits_line(settings: LdapBackendSettings) -> str:
    return (
        f"olcLimits: {_who(settings)} size.soft=unlimited size.hard=unlimited "
        "size.prtotal=unlimited"
    )


def _check_limits(
    conn: ldap3.Connection,
    settings: LdapBackendSettings,
    families: dict[str, LdapFamily],
    databases: Sequence[_Database] | None,
    report: Report,
) -> dict[str, int]:
    """Size and time limits against each family's size; returns the visible counts."""
    counts: dict[str, int] = {}
    for name, spec in families.items():
        n, code, seconds = _count(conn, spec)
        db = _database_for(spec.base_dn, databases) if databases else None
        configured = f" (olcSizeLimit {db.size_limit})" if db and db.size_limit else ""
        if code == NO_SUCH_OBJECT:
            continue  # reported by the rights check
        if code == SIZE_LIMIT:
            paged, paged_code = _paged_count(conn, spec)
            counts[name] = paged
            if paged_code == SUCCESS:
                detail = (
                    f"{paged} entries, but an unpaged search stops at {n}{configured}: "
                    "searches over the whole family (LIKE %, static files, copy) fail unless paged"
                )
            else:
                detail = (
                    f"more than {n} entries and this identity hits a size limit of {n}"
                    f"{configured}, even with paging: searches over the whole family fail"
                )
            report.add(
                "limits",
                name,
                "fail",
                detail,
                f"add to {db.dn if db else 'the database'}: {_limits_line(settings)}",
            )
            continue
        if code == TIME_LIMIT:
            report.add(
                "limits",
                name,
                "fail",
                f"a search over the family hit the time limit after {seconds:.1f} s",
                f"add to the database: olcLimits: ... time=unlimited; {_limits_line(settings)}",
            )
            continue
        if code != SUCCESS:
            report.add("limits", name, "warn", f"counting failed: {_describe(conn)}")
            continue
        counts[name] = n
        limit = db.size_limit if db else None
        exempt = bool(
            db and db.root_dn and settings.bind_dn and _same_dn(db.root_dn, settings.bind_dn)
        )
        if limit and limit.isdigit() and n >= 0.8 * int(limit) and not exempt:
            report.add(
                "limits",
                name,
                "warn",
                f"{n} entries, close to olcSizeLimit {limit}",
                _limits_line(settings),
            )
        elif seconds > settings.timeout / 2:
            report.add(
                "limits",
                name,
                "warn",
                f"counting {n} entries took {seconds:.1f} s of the {settings.timeout} s timeout",
            )
        else:
            report.add(
                "limits", name, "ok", f"{n} entries, within the limits ({seconds * 1000:.0f} ms)"
            )
    return counts


def _first_entry(conn: ldap3.Connection, spec: LdapFamily) -> dict[str, Any] | None:
    conn.search(
        spec.base_dn,
        spec.filter or "(objectClass=*)",
        attributes=["1.1"],
        size_limit=1,
        dereference_aliases=ldap3.DEREF_NEVER,
    )
    for entry in conn.response or []:
        if entry.get("type") == "searchResEntry":
            return dict(entry)
    return None


def _assertion_false() -> tuple[str, bool, bytes]:
    """An Assertion control (RFC 4528) whose filter ``(!(objectClass=*))`` never holds."""
    from ldap3.operation.search import compile_filter, parse_filter

    tree = parse_filter("(!(objectClass=*))", None, True, True, None, False)
    return (ASSERTION_OID, True, bytes(ber_encoder.encode(compile_filter(tree.elements[0]))))


def _check_rootdn(
    settings: LdapBackendSettings,
    families: dict[str, LdapFamily],
    databases: Sequence[_Database] | None,
    report: Report,
) -> None:
    """Bound as a database's rootdn, no ACL and no limit applies: the rights and limits
    found are not the ones a service account would meet."""
    if not databases or not settings.bind_dn:
        return
    roots = {
        db.suffix
        for spec in families.values()
        if (db := _database_for(spec.base_dn, databases)) is not None
        and db.root_dn
        and _same_dn(db.root_dn, settings.bind_dn)
    }
    if roots:
        report.add(
            "rights",
            settings.bind_dn,
            "warn",
            f"this is the rootdn of {', '.join(sorted(roots))}: ACLs and limits do not apply "
            "to it, so the rights and limits below say nothing about a production identity",
            "bind as a service account with write on the Asterisk subtrees only (docs/doctor.md)",
        )


def _check_rights(
    conn: ldap3.Connection,
    settings: LdapBackendSettings,
    families: dict[str, LdapFamily],
    schema: _Schema,
    dse: dict[str, list[str]],
    report: Report,
) -> None:
    can_assert = ASSERTION_OID in dse.get("supportedControl", [])
    probe = f"ara-ldap-doctor-{secrets.token_hex(8)}"  # a value no entry holds
    for name, spec in families.items():
        conn.search(spec.base_dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["1.1"])
        if _code(conn) != SUCCESS:
            report.add(
                "rights",
                name,
                "fail",
                f"cannot read the base {spec.base_dn} ({_describe(conn)})",
                "create the entry, or grant this identity read on it (olcAccess)",
            )
            continue
        entry = _first_entry(conn, spec)
        if entry is None:
            report.add(
                "rights",
                name,
                "ok",
                "the base is readable; no entry of the family is visible under it (empty, or "
                "not readable by this identity: then check the read ACL)",
            )
        target = entry["dn"] if entry else spec.base_dn
        severity: Status = "fail" if name in WRITTEN_BY_ASTERISK else "warn"
        rdn_attr = target.split("=", 1)[0].strip().lower()
        attrs = [
            a
            for a in (spec.attributes.values() if entry else ["description"])
            if a.lower() != rdn_attr
            and not re.match(r"^\d", a)
            and (not schema.known or (schema.attribute(a) and schema.searchable(a)))
            and not schema.is_integer(a)
        ]
        if not attrs:
            report.add("rights", name, "skip", "no attribute to test the update right on")
            continue
        changes = {a: [(ldap3.MODIFY_DELETE, [probe])] for a in attrs}
        conn.modify(target, changes)
        code = _code(conn)
        where = "its entries" if entry else f"the base {spec.base_dn} (the family is empty)"
        if code == NO_SUCH_ATTRIBUTE:
            report.add("rights", name, "ok", f"read and update rights on {where}")
        elif code == INSUFFICIENT_ACCESS:
            report.add(
                "rights",
                name,
                severity,
                f"no write right on {where} for this identity: updates fail"
                + (" (Asterisk writes here at runtime)" if severity == "fail" else ""),
                f'grant write: olcAccess: to dn.subtree="{spec.base_dn}" by {_who(settings)} '
                "write by * read",
            )
            continue
        else:
            report.add(
                "rights",
                name,
                "warn",
                f"the update test on {target} was inconclusive ({_describe(conn)})",
            )
        if entry is None:
            continue
        if not can_assert:
            report.add(
                "rights",
                name,
                "skip",
                f"the server does not list the Assertion control ({ASSERTION_OID}): the "
                "add/delete right was not tested",
            )
            continue
        conn.delete(target, controls=[_assertion_false()])
        code = _code(conn)
        if code == ASSERTION_FAILED:
            report.add("rights", name, "ok", "delete (and so store) right on its entries")
        elif code == INSUFFICIENT_ACCESS:
            report.add(
                "rights",
                name,
                "warn",
                "no delete right on its entries: destroy fails (store usually too)",
                f"grant write on entry and children under {spec.base_dn}",
            )
        else:
            report.add(
                "rights", name, "warn", f"the delete test was inconclusive ({_describe(conn)})"
            )


def diagnose(
    settings: LdapBackendSettings,
    name: str = "ldap",
    *,
    password: str | None = None,
    cn_config: CnConfigAccess | None = None,
) -> Report:
    """Run every check against the backend's directory (see the module docstring)."""
    report = Report(name)
    check_tls(settings, report)
    conn, report.url = _connect(settings, password)
    try:
        identity = conn.extend.standard.who_am_i()
        report.identity = identity or "anonymous"
        dse = _root_dse(conn)
        schema = _read_schema(conn, dse)
        families = _checked_families(settings, schema, report)
        _check_schema(settings, families, schema, report)
        databases = _databases(conn)
        how = "by this identity"
        if databases is None and cn_config is not None:
            cfg = _config_connection(cn_config, settings)
            try:
                databases = _databases(cfg)
            finally:
                cfg.unbind()
            how = f"via {cn_config.url} either"
        _check_indexes(settings, families, schema, databases, how, report)
        _check_syncprov(conn, settings, families, dse, report)
        _check_limits(conn, settings, families, databases, report)
        _check_rootdn(settings, families, databases, report)
        if settings.write_urls:
            _check_rights_on_write_servers(settings, password, families, schema, report)
        else:
            _check_rights(conn, settings, families, schema, dse, report)
    finally:
        conn.unbind()
    return report


def _check_rights_on_write_servers(
    settings: LdapBackendSettings,
    password: str | None,
    families: dict[str, LdapFamily],
    schema: _Schema,
    report: Report,
) -> None:
    """With ``write_urls`` the writes go there (the read servers may be read-only
    consumers), so that is where the rights are tested."""
    try:
        conn, url = _connect(settings, password, settings.write_urls)
    except BackendError as exc:
        report.add(
            "rights",
            "write_urls",
            "fail",
            f"no write server answered, rights not checked: {exc}",
            "check write_urls and that the providers run",
        )
        return
    try:
        report.add("rights", "write_urls", "ok", f"rights checked on the write server {url}")
        _check_rights(conn, settings, families, schema, _root_dse(conn), report)
    finally:
        conn.unbind()
