"""``res_ldap.conf`` (+ ``extconfig.conf``) → an ara-ldap YAML map, with warnings.

Why: a site moving from Asterisk's ``res_config_ldap`` has its mapping in those two files;
retyping it is where mistakes happen.  The rules followed are the driver's
(realtime-api.md §2-§3): ``[_general]`` holds the connection (``url``, else
``host``/``port``; ``user``/``pass``; ``basedn`` is display only) and global fallback
mappings; every other non-empty section is a table of ``field = attribute`` lines (the
last line for a field wins, as for Asterisk's filters and updates) plus
``additionalFilter``; ``extconfig.conf`` says which family reads which table under which
base DN.  Template sections are hidden, as Asterisk hides them.

The stock sample does not match the stock schema (§3.7): object classes that do not exist,
``AstExtension*`` attribute names, ``AstAccountDirectMedia``, ``fullcontact`` mapped twice,
no ``name`` and no ``var_metric``.  By default (``fix_sample``) those are corrected so the
map works against a directory with the shipped schema, each with a warning; otherwise
they are kept and only warned about.

Secrets: the bind password is never put into the YAML or a message.  The YAML names a
``password_file``; :attr:`ImportResult.password` holds the value so the caller can write
that file (mode 0600) when the user asks for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ara_ldap.config import load_settings, shipped_ldap_families
from ara_ldap.errors import BadRequest, ConfigError
from ara_ldap.tools.conf_parser import ConfCategory, ConfFile, ConfInclude

__all__ = [
    "DEFAULT_PASSWORD_FILE",
    "ExtconfigMapping",
    "ImportResult",
    "import_res_ldap",
    "parse_extconfig",
    "render_yaml",
]

DEFAULT_PASSWORD_FILE = Path("/etc/ara-ldap/ldap.pw")
BACKEND = "ldap"
STATIC_FAMILY = "ast_config"

#: ``[_general]`` keys that are connection settings, not mappings (§3.3).
_CONNECTION_KEYS = {"basedn", "host", "pass", "port", "protocol", "url", "user", "version"}

#: ``[_general]`` keys that look like a password but are not the driver's ``pass``: never
#: taken as a mapping (that would copy the secret into every family and into messages).
_SECRET_LOOKING = {"bindpw", "password", "passwd", "secret", "credentials", "bindpassword"}

#: Object classes the stock sample filters on, and the stock schema's real names (§3.7).
_SAMPLE_CLASSES = {
    "astaccount": "AsteriskSIPUser",
    "astaccountiax": "AsteriskIAXUser",
    "astconfig": "AsteriskConfig",
    "astextension": "AsteriskExtension",
}
#: Attribute names the stock sample uses that the stock schema spells differently.
_SAMPLE_ATTRIBUTES = {
    "astextensioncontext": "AstContext",
    "astextensionexten": "AstExtension",
    "astextensionpriority": "AstPriority",
    "astextensionapplication": "AstApplication",
    "astextensionapplicationdata": "AstApplicationData",
    # directmedia is chan_sip's later name of canreinvite; the schema has only the latter.
    "astaccountdirectmedia": "AstAccountCanReinvite",
}
#: res_config_ldap's static-table field names → the static family's (static.py).
_STATIC_FIELDS = {"variable_name": "var_name", "variable_value": "var_val"}

_SECRET_FIELDS = {
    "secret",
    "md5secret",
    "remotesecret",
    "dbsecret",
    "inkeys",
    "outkeys",
    "password",
    "imappassword",
}
_MULTI_FIELDS = {"allow", "disallow", "permit", "deny", "setvar", "contactpermit", "contactdeny"}

#: Per kind of table: the stock classes a new entry needs, and how its DN is named.
_KINDS: dict[str, tuple[list[str], str | dict[str, str]]] = {
    "sip": (["top", "device", "AsteriskSIPUser"], "name"),
    "iax": (["top", "device", "AsteriskIAXUser"], "name"),
    "voicemail": (
        ["top", "AsteriskMailbox", "AsteriskVoiceMail"],
        {"attribute": "cn", "value": "{mailbox}@{context}"},
    ),
    "extensions": (
        ["top", "AsteriskDialplan", "AsteriskExtension"],
        {"attribute": "cn", "value": "{exten}@{context}/{priority}"},
    ),
    "config": (
        ["top", "applicationProcess", "AsteriskConfig"],
        {"attribute": "cn", "value": "{filename}:{cat_metric}:{var_metric}"},
    ),
}
_KIND_BY_CLASS = {
    "asterisksipuser": "sip",
    "asteriskiaxuser": "iax",
    "asteriskvoicemail": "voicemail",
    "asteriskextension": "extensions",
    "asteriskconfig": "config",
}
_KIND_BY_NAME = {
    "sippeers": "sip",
    "sipusers": "sip",
    "sipregs": "sip",
    "accounts": "sip",
    "sip": "sip",
    "iaxpeers": "iax",
    "iaxusers": "iax",
    "iax": "iax",
    "voicemail": "voicemail",
    "extensions": "extensions",
    "config": "config",
}
_PEER_KINDS = {"sip", "iax"}
_LOOPBACK = re.compile(r"^ldaps?://(localhost|127\.[0-9.]+|\[::1\])(:\d+)?/?$", re.IGNORECASE)
_CLASS_ASSERTION = re.compile(r"\(\s*objectClass\s*=\s*([^()*\s]+)\s*\)", re.IGNORECASE)


@dataclass(frozen=True)
class ExtconfigMapping:
    """One ``family => ldap,"base",table,priority`` line of extconfig.conf (§2)."""

    name: str
    driver: str
    database: str
    table: str
    priority: int
    lineno: int

    @property
    def is_static(self) -> bool:
        return self.name.lower().endswith(".conf") or self.name.lower() == "global"


@dataclass
class ImportResult:
    """The YAML-ready configuration, what to tell the user, and the secret (never shown)."""

    config: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    password: str | None = field(default=None, repr=False)
    password_file: Path | None = None


@dataclass
class _Table:
    name: str
    lineno: int
    mappings: list[tuple[str, str, int]] = field(default_factory=list)
    filter: str | None = None


# extconfig.conf ---------------------------------------------------------------------------


def parse_extconfig(conf: ConfFile) -> tuple[list[ExtconfigMapping], list[str]]:
    """The ``[settings]`` bindings, parsed as ``main/config.c`` does (§2), and warnings."""
    out: list[ExtconfigMapping] = []
    warnings: list[str] = []
    for category in conf.stored_categories():
        if category.name.lower() != "settings":
            continue
        for var in category.variables():
            where = f"{conf.filename} line {var.lineno}"
            driver, comma, rest = var.value.partition(",")
            if not comma:
                warnings.append(f"{where}: {var.name} => {var.value!r} has no comma; ignored")
                continue
            quote = rest.find('"')
            if quote >= 0:
                end = rest.find('"', quote + 1)
                database = rest[quote + 1 : end] if end >= 0 else rest[quote + 1 :]
                after = rest[end + 1 :] if end >= 0 else ""
                _, _, tail = after.partition(",")
            else:
                database, _, tail = rest.partition(",")
            table, _, priority_text = tail.partition(",")
            priority_digits = re.match(r"\s*(\d+)", priority_text)
            priority = int(priority_digits.group(1)) if priority_digits else 0
            mapping = ExtconfigMapping(
                name=var.name.strip(),
                driver=driver.strip().lower(),
                database=database.strip(),
                table=table.strip() or var.name.strip(),
                priority=priority or 1,
                lineno=var.lineno,
            )
            if mapping.name.lower() == "iaxfriends":
                warnings.append(
                    f"{where}: iaxfriends is deprecated; Asterisk maps it as iaxusers and "
                    "iaxpeers, and so does this import"
                )
                for split in ("iaxusers", "iaxpeers"):
                    table_name = table.strip() or "iaxfriends"
                    out.append(
                        ExtconfigMapping(
                            split,
                            mapping.driver,
                            mapping.database,
                            table_name,
                            mapping.priority,
                            var.lineno,
                        )
                    )
                continue
            out.append(mapping)
    return out, warnings


def _clean_base(database: str, where: str, warnings: list[str]) -> str:
    """The search base as the driver cleans it: ``|`` becomes ``,`` (§2)."""
    if "${" in database or "$[" in database:
        warnings.append(
            f"{where}: the base DN {database!r} uses Asterisk variables, which ara-ldap does "
            "not expand; write the DN out in the YAML"
        )
    return database.strip('"').replace("|", ",").strip()


# res_ldap.conf ----------------------------------------------------------------------------


def _sections(conf: ConfFile, warnings: list[str]) -> tuple[list[ConfCategory], dict[str, _Table]]:
    """``[_general]`` categories and the tables (duplicate sections merge, §3.2)."""
    general: list[ConfCategory] = []
    tables: dict[str, _Table] = {}
    for include in conf.preamble:
        warnings.append(f"#include {include.filename} is not followed: import it separately")
    for category in conf.categories:
        if category.template:
            continue
        for item in category.items:
            if isinstance(item, ConfInclude):
                warnings.append(
                    f"{conf.filename}: #include inside [{category.name}] is not followed; "
                    "merge the included lines into the file before importing"
                )
        if category.name.lower() == "_general":
            general.append(category)
            continue
        variables = category.variables()
        if not variables:
            warnings.append(
                f"{conf.filename} line {category.lineno}: [{category.name}] is empty; Asterisk "
                "ignores empty sections (every query on that table fails with 'No table "
                "named'), so it is not imported"
            )
            continue
        table = tables.setdefault(category.name, _Table(category.name, category.lineno))
        for var in variables:
            if not var.name or not var.value:
                continue
            if var.name.lower() == "additionalfilter":
                table.filter = var.value
            else:
                table.mappings.append((var.name, var.value, var.lineno))
    return general, tables


def _general_settings(
    categories: Sequence[ConfCategory], filename: str, warnings: list[str]
) -> tuple[dict[str, str], list[tuple[str, str, int]], str | None]:
    """Connection keys (last occurrence wins), global mappings, the global filter."""
    values: dict[str, list[str]] = {}
    mappings: list[tuple[str, str, int]] = []
    general_filter: str | None = None
    for category in categories:
        for var in category.variables():
            key = var.name.lower()
            if not var.value:
                continue
            if key in _CONNECTION_KEYS:
                values.setdefault(key, []).append(var.value)
            elif key == "additionalfilter":
                general_filter = var.value
            elif key in _SECRET_LOOKING:
                warnings.append(
                    f"{filename} line {var.lineno}: [_general] {var.name} looks like a password "
                    "but res_config_ldap only reads 'pass' (it would take this line as an "
                    "attribute mapping); ignored, and its value is not shown"
                )
            else:
                mappings.append((var.name, var.value, var.lineno))
    connection: dict[str, str] = {}
    for key, seen in values.items():
        if len(set(seen)) > 1:
            warnings.append(
                f"{filename}: [_general] {key} is given {len(seen)} times with different values; "
                "Asterisk 20/22 use the first, 23 and later the last; imported: the last"
            )
        connection[key] = seen[-1]
    return connection, mappings, general_filter


# Building -----------------------------------------------------------------------------------


def _known_attributes() -> dict[str, str]:
    """Attributes of the shipped schema (stock ``Ast*`` and our ``Ara*``), lower → spelling."""
    out: dict[str, str] = {"cn": "cn"}
    for spec in shipped_ldap_families().values():
        for attr in (spec or {}).get("attributes", {}).values():
            out[str(attr).lower()] = str(attr)
    return out


def _fix_filter(text: str, where: str, fix: bool, warnings: list[str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        real = _SAMPLE_CLASSES.get(name.lower())
        if real is None:
            return match.group(0)
        if fix:
            warnings.append(
                f"{where}: object class {name} does not exist in the stock schema (a stock "
                f"sample mistake); using {real}"
            )
            return f"(objectClass={real})"
        warnings.append(
            f"{where}: object class {name} does not exist in the stock schema (use {real}); "
            "kept as written, so the filter matches nothing on a stock directory"
        )
        return match.group(0)

    return _CLASS_ASSERTION.sub(replace, text.strip())


def _filter_classes(text: str | None) -> list[str]:
    return [m.group(1) for m in _CLASS_ASSERTION.finditer(text or "")]


def _combine_filters(*parts: str | None) -> str | None:
    given = [p for p in parts if p]
    if not given:
        return None
    return given[0] if len(given) == 1 else "(&" + "".join(given) + ")"


def _kind(family: str, table: str, classes: Iterable[str]) -> str | None:
    for name in classes:
        kind = _KIND_BY_CLASS.get(name.lower())
        if kind:
            return kind
    return _KIND_BY_NAME.get(family.lower()) or _KIND_BY_NAME.get(table.lower())


def _attribute_map(
    table: _Table,
    general: Sequence[tuple[str, str, int]],
    where: str,
    kind: str | None,
    fix: bool,
    known: dict[str, str],
    warnings: list[str],
) -> dict[str, str]:
    """field → attribute, following Asterisk's precedence and fixing sample names."""
    candidates: dict[str, list[tuple[str, str, int]]] = {}
    for fld, attr, lineno in table.mappings:
        candidates.setdefault(fld.lower(), []).append((fld, attr, lineno))
    out: dict[str, str] = {}
    spelled: dict[str, str] = {}
    for key, lines in candidates.items():
        fld, attr, lineno = lines[-1]
        if len(lines) > 1:
            attrs = [a for _, a, _ in lines]
            stock = [a for a in attrs if a.lower() in known]
            if fix and len(set(stock)) == 1 and attr.lower() not in known:
                chosen = stock[0]
                warnings.append(
                    f"{where} line {lineno}: {fld} is mapped to {', '.join(attrs)}; Asterisk "
                    f"filters and updates on the last ({attr}), which the schema does not "
                    f"define for these entries; using {chosen}"
                )
                attr = chosen
            else:
                warnings.append(
                    f"{where} line {lineno}: {fld} is mapped to {', '.join(attrs)}; ara-ldap "
                    f"maps a field to one attribute: using the last ({attr}), as Asterisk "
                    "does for filters and updates"
                )
        renamed = _SAMPLE_ATTRIBUTES.get(attr.lower())
        if renamed:
            if fix:
                warnings.append(
                    f"{where} line {lineno}: {attr} is not in the stock schema (a stock sample "
                    f"mistake); using {renamed}"
                )
                attr = renamed
            else:
                warnings.append(f"{where} line {lineno}: {attr} is not in the stock schema")
        if kind == "iax" and attr.lower() == "astaccountrealmedpassword":
            if fix:
                warnings.append(
                    f"{where} line {lineno}: AstAccountRealmedPassword is a SIP attribute "
                    "(AsteriskIAXUser has AstMD5secret; a stock sample mistake); using AstMD5secret"
                )
                attr = "AstMD5secret"
            else:
                warnings.append(f"{where} line {lineno}: AsteriskIAXUser has AstMD5secret")
        if kind == "iax" and attr.lower() == "astaccountallowedcodec":
            warnings.append(
                f"{where} line {lineno}: AstAccountAllowedCodec is not in AsteriskIAXUser's "
                "attributes: writing it needs another class on the entry (ara-ldap's AraIAXUser)"
            )
        if attr.lower() == "astaccountfromuser":
            warnings.append(
                f"{where} line {lineno}: AstAccountFromUser has no matching rules in the stock "
                "schema: it is read and written, never found by a search"
            )
        if kind == "config" and key in _STATIC_FIELDS:
            fld = _STATIC_FIELDS[key]
        if key == "accountbasedn":
            warnings.append(
                f"{where} line {lineno}: accountBaseDN defaults are not supported by ara-ldap "
                "(docs/ldap.md); the field is imported as a plain attribute"
            )
        out[fld] = attr
        spelled[fld.lower()] = fld
    for fld, attr, lineno in general:
        if fld.lower() not in spelled:
            out[fld] = attr
            spelled[fld.lower()] = fld
            warnings.append(
                f"[_general] line {lineno}: global mapping {fld} = {attr} copied into "
                f"[{table.name}] (Asterisk uses it as a fallback for every table)"
            )
    if kind in _PEER_KINDS and "name" not in spelled:
        if fix:
            out = {"name": "cn", **out}
            spelled["name"] = "name"
            warnings.append(
                f"{where}: no 'name' mapping (a stock sample gap): a lookup by name would "
                "filter on (name=...); mapped name = cn"
            )
        else:
            warnings.append(f"{where}: no 'name' mapping; lookups by name filter on (name=...)")
    if kind == "config" and "var_metric" not in spelled:
        if fix:
            out["var_metric"] = "AraConfigVariableMetric"
            warnings.append(
                f"{where}: no var_metric mapping (the stock schema has no such attribute, so "
                "stock static realtime cannot work); mapped var_metric = "
                "AraConfigVariableMetric from ara-ldap's schema (schema/README.md)"
            )
        else:
            warnings.append(f"{where}: no var_metric mapping: static files cannot be assembled")
    # One attribute, one field (our map is two-way): keep the first field that claims it.
    owner: dict[str, str] = {}
    for fld, attr in list(out.items()):
        previous = owner.get(attr.lower())
        if previous is not None:
            warnings.append(
                f"{where}: {attr} is mapped from both {previous} and {fld}; kept {previous}"
            )
            del out[fld]
        else:
            owner[attr.lower()] = fld
    return out


def _rdn(
    kind: str | None, attributes: dict[str, str], where: str, warnings: list[str]
) -> str | dict[str, str]:
    fields = {f.lower(): f for f in attributes}
    if kind in _KINDS:
        rdn = _KINDS[kind][1]
        if isinstance(rdn, str) and rdn in fields:
            return fields[rdn]
        if isinstance(rdn, dict) and all(
            name in fields for name in re.findall(r"\{(\w+)\}", rdn["value"])
        ):
            return rdn
    by_cn = [f for f, a in attributes.items() if a.lower() == "cn"]
    chosen = by_cn[0] if by_cn else next(iter(attributes))
    warnings.append(
        f"{where}: res_ldap.conf does not say how entries are named (the stock driver cannot "
        f"create them); new entries will be named by {chosen} - check 'rdn'"
    )
    return chosen


def _family(
    name: str,
    base_dn: str,
    table: _Table,
    general_mappings: Sequence[tuple[str, str, int]],
    general_filter: str | None,
    filename: str,
    fix: bool,
    known: dict[str, str],
    warnings: list[str],
) -> dict[str, Any]:
    where = f"{filename} [{table.name}]"
    table_filter = _fix_filter(table.filter, where, fix, warnings) if table.filter else None
    if table_filter == "(objectClass=*)":
        table_filter = None
    classes = _filter_classes(table_filter)
    kind = _kind(name, table.name, classes)
    attributes = _attribute_map(table, general_mappings, where, kind, fix, known, warnings)
    if not attributes:
        raise BadRequest(f"{where}: no attribute mappings; nothing to import")
    if kind in _KINDS:
        object_classes = list(_KINDS[kind][0])
        if "AraConfigVariableMetric" in attributes.values():
            object_classes.append("AraConfig")
    else:
        object_classes = ["top", *classes]
        warnings.append(
            f"{where}: object classes for new entries are guessed ({', '.join(object_classes)}); "
            "add a structural class before storing entries"
        )
    spec: dict[str, Any] = {
        "base_dn": base_dn,
        "object_classes": object_classes,
        "filter": _combine_filters(table_filter, general_filter),
        "rdn": _rdn(kind, attributes, where, warnings),
        "attributes": attributes,
    }
    if spec["filter"] is None:
        del spec["filter"]
    secrets = [f for f in attributes if f.lower() in _SECRET_FIELDS]
    if secrets:
        spec["secret_fields"] = secrets
    multi = [f for f in attributes if f.lower() in _MULTI_FIELDS]
    if multi:
        spec["multi_valued"] = multi
    return spec


def _backend(
    connection: dict[str, str],
    filename: str,
    url: str | None,
    bind_dn: str | None,
    base_dn: str | None,
    password_file: Path,
    warnings: list[str],
) -> tuple[dict[str, Any], str | None]:
    urls_text = url or connection.get("url")
    if not urls_text and connection.get("host"):
        port_text = connection.get("port", "")
        port = int(port_text[:5]) if port_text[:5].isdigit() else 0
        if not 0 < port <= 65535:
            if port_text:
                warnings.append(f"{filename}: port {port_text!r} is not valid; Asterisk uses 389")
            port = 389
        urls_text = f"ldap://{connection['host']}:{port}"
    if not urls_text:
        raise BadRequest(
            f"{filename}: [_general] has no url or host (the stock sample has them commented "
            "out); pass --url"
        )
    backend: dict[str, Any] = {"type": "ldap", "urls": urls_text.split()}
    base = base_dn or connection.get("basedn")
    if base:
        backend["base_dn"] = base
    user = bind_dn or connection.get("user")
    password = connection.get("pass") if user else None
    if connection.get("pass") and not user:
        warnings.append(f"{filename}: pass is set without user; Asterisk ignores it (anonymous)")
    if user:
        backend["bind_dn"] = user
        backend["password_file"] = str(password_file)
        if password is None and not bind_dn:
            warnings.append(
                f"{filename}: user is set without pass: Asterisk then binds with the literal "
                f"password 'asterisk'; put the real password into {password_file}"
            )
    version = connection.get("version") or connection.get("protocol")
    if version and version.strip() != "3":
        warnings.append(f"{filename}: protocol version {version} ignored: ara-ldap speaks LDAPv3")
    remote = [u for u in backend["urls"] if u.startswith("ldap://") and not _LOOPBACK.match(u)]
    if remote:
        warnings.append(
            f"{', '.join(remote)}: plain LDAP to a remote server; res_ldap.conf has no StartTLS "
            "option, ara-ldap runs StartTLS there unless start_tls: false: make sure the "
            "server offers it and set ca_file (or use ldaps://)"
        )
    backend["default_families"] = False
    return backend, password


def import_res_ldap(
    res_ldap: ConfFile,
    extconfig: ConfFile | None = None,
    *,
    url: str | None = None,
    bind_dn: str | None = None,
    base_dn: str | None = None,
    password_file: Path = DEFAULT_PASSWORD_FILE,
    fix_sample: bool = True,
) -> ImportResult:
    """Translate the two files (see the module docstring); the result validates."""
    warnings: list[str] = []
    general, tables = _sections(res_ldap, warnings)
    connection, general_mappings, general_filter = _general_settings(
        general, res_ldap.filename, warnings
    )
    if general_filter:
        general_filter = _fix_filter(
            general_filter, f"{res_ldap.filename} [_general]", fix_sample, warnings
        )
    backend, password = _backend(
        connection, res_ldap.filename, url, bind_dn, base_dn, password_file, warnings
    )
    known = _known_attributes()

    mappings: list[ExtconfigMapping] = []
    if extconfig is not None:
        mappings, ext_warnings = parse_extconfig(extconfig)
        warnings.extend(ext_warnings)
    else:
        if "base_dn" not in backend:
            raise BadRequest(
                "without extconfig.conf the families' base DNs are unknown: give "
                "extconfig.conf, or --base-dn (then every family searches under it)"
            )
        warnings.append(
            "no extconfig.conf: one family per section, named after it and searching under "
            "the base DN; rename them to the families Asterisk asks for (e.g. sippeers)"
        )
        mappings = [
            ExtconfigMapping(name, "ldap", backend["base_dn"], name, 1, 0)
            for name in tables
            if name.lower() != "config"
        ]
        if any(name.lower() == "config" for name in tables):
            mappings.append(ExtconfigMapping("global", "ldap", backend["base_dn"], "config", 1, 0))

    families: dict[str, Any] = {}
    static_files: dict[str, str] = {}
    static_family_by_source: dict[tuple[str, str], str] = {}
    chosen: dict[str, ExtconfigMapping] = {}
    used: set[str] = set()
    first_family: dict[tuple[str, str], str] = {}
    ext_name = extconfig.filename if extconfig is not None else "extconfig.conf"
    # The same family at the same priority: the later line wins (find_engine, §2).
    latest: dict[tuple[str, int], ExtconfigMapping] = {}
    for mapping in mappings:
        slot = (mapping.name.lower(), mapping.priority)
        if slot in latest:
            warnings.append(
                f"{ext_name} line {mapping.lineno}: {mapping.name} is mapped twice at priority "
                f"{mapping.priority}; Asterisk uses the later line, and so does this import"
            )
        latest[slot] = mapping
    for mapping in sorted(latest.values(), key=lambda m: (m.priority, m.lineno)):
        where = f"{ext_name} line {mapping.lineno}"
        if mapping.driver != "ldap":
            warnings.append(
                f"{where}: {mapping.name} priority {mapping.priority} uses {mapping.driver}: not "
                "imported; add that backend to the YAML and list it in the family's route"
            )
            continue
        key = mapping.name.lower()
        if key in chosen:
            warnings.append(
                f"{where}: {mapping.name} has a second LDAP mapping (priority "
                f"{mapping.priority}); only priority {chosen[key].priority} is imported"
            )
            continue
        chosen[key] = mapping
        table = tables.get(mapping.table)
        if table is not None:
            used.add(table.name)
        if table is None:
            other = [t for t in tables if t.lower() == mapping.table.lower()]
            hint = (
                f" (section names are case-sensitive: [{other[0]}] exists)"
                if other
                else " (or it is empty)"
            )
            warnings.append(
                f"{where}: {mapping.name} reads table {mapping.table!r}, which res_ldap.conf "
                f"does not define{hint}; Asterisk fails every query on it: not imported"
            )
            continue
        base = _clean_base(mapping.database, where, warnings)
        if not base:
            warnings.append(f"{where}: {mapping.name} has no base DN: not imported")
            continue
        if mapping.is_static:
            source = (base.lower(), table.name)
            family = static_family_by_source.get(source)
            if family is None:
                family = (
                    STATIC_FAMILY
                    if not static_family_by_source
                    else (f"{STATIC_FAMILY}_{len(static_family_by_source) + 1}")
                )
                static_family_by_source[source] = family
                families[family] = _family(
                    family,
                    base,
                    table,
                    general_mappings,
                    general_filter,
                    res_ldap.filename,
                    fix_sample,
                    known,
                    warnings,
                )
                if table.name.lower() != "config":
                    warnings.append(
                        f"{where}: static table {table.name!r} is not [config]; Asterisk then "
                        "splits values the dynamic way (§3.4); ara-ldap does not care"
                    )
            if mapping.name.lower() != "global":
                static_files[mapping.name] = family
            continue
        source = (base.lower(), table.name)
        if source in first_family:
            # Same table, same base: share the map (as chan_sip's sippeers/sipusers do).
            families[mapping.name] = {"extends": first_family[source]}
            continue
        first_family[source] = mapping.name
        families[mapping.name] = _family(
            mapping.name,
            base,
            table,
            general_mappings,
            general_filter,
            res_ldap.filename,
            fix_sample,
            known,
            warnings,
        )
    for name in tables:
        if name not in used:
            warnings.append(
                f"{res_ldap.filename} [{name}]: no extconfig.conf line reads this table: "
                "not imported"
            )
    if not families:
        raise BadRequest("no family could be imported (see the warnings)")

    backend["families"] = families
    config: dict[str, Any] = {"backends": {BACKEND: backend}}
    if static_family_by_source:
        default_static = static_files.get("global") or next(iter(static_family_by_source.values()))
        static: dict[str, Any] = {"family": default_static, "order": "ldap"}
        extra = {f: fam for f, fam in static_files.items() if fam != default_static}
        if extra:
            static["files"] = extra
        config["static"] = static
        warnings.append(
            "static files: order 'ldap' (cat_metric ascending) as res_config_ldap sorts them "
            "(docs/ldap.md)"
        )
    if any(t.mappings for t in tables.values()):
        warnings.append(
            "res_config_ldap splits every value containing ';' into several values; ara-ldap "
            "keeps values whole: add split_semicolons: true to a family whose entries hold "
            "'ulaw;alaw'-style values"
        )
    unique = list(dict.fromkeys(warnings))
    result = ImportResult(config, unique, password, password_file if password else None)
    _validate(result)
    return result


def _validate(result: ImportResult) -> None:
    """The map must load with our own loader (password file need not exist yet)."""
    try:
        load_settings(result.config, source="<imported>")
    except ConfigError as exc:
        raise BadRequest(f"the imported map does not validate: {exc}") from None


def render_yaml(result: ImportResult, sources: Sequence[str] = ()) -> str:
    """The YAML text, with a header naming the sources and where the password goes."""
    header = ["# ara-ldap configuration imported by 'ara-ldap import-res-ldap'"]
    if sources:
        header.append(f"# from {', '.join(sources)}")
    if result.password_file is not None:
        header.append(
            f"# The bind password is not in this file: it is read from {result.password_file}"
        )
    text = yaml.safe_dump(result.config, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(header) + "\n" + text
