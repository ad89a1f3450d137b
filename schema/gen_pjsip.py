#!/usr/bin/env python3
"""Generate the PJSIP part of the ara-ldap schema from the standard column lists.

Usage: ``python schema/gen_pjsip.py`` (rewrites schema/pjsip.schema, schema/pjsip.ldif and
the PJSIP blocks of ara_ldap/defaults/{ldap,sql}-families.yaml);
``python schema/gen_pjsip.py --check`` exits 1 when the committed files are stale.

Why generated: 208 typed attribute types must follow Asterisk's alembic columns
(ara_ldap/pjsip_columns.py) exactly; written by hand they drift.  OIDs are positional
(family number, column position at alembic head 2285f2ace275), so never reorder the
column lists: a column added by a newer Asterisk is appended and gets the next number.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ara_ldap.pjsip_columns import (  # noqa: E402
    COLUMNS,
    FAMILY_WORDS,
    GENERIC_COLUMNS,
    JOINED,
    REPEATED,
    SECRETS,
    SORCERY_TYPES,
    attribute_name,
    is_integer,
)

#: AraLDAP (schema/README.md) + ".3": the PJSIP sub-arc.  Spelt out in full, not via the
#: AraLDAP macro, so pjsip.schema loads next to asterisk.schema or on its own.
ARC = "2.25.135392608901445576795238962045879708856.3"
DIRSTR = "1.3.6.1.4.1.1466.115.121.1.15"
INTEGER = "1.3.6.1.4.1.1466.115.121.1.27"
FAMILY_NUMBERS = {table: i + 1 for i, table in enumerate(FAMILY_WORDS)}
#: Comma-list fields that may also be stored one value per item (pjsip.md 5.6).
LISTS = JOINED
#: Field numbers above the columns: the generic slot and derived attributes.
FIELD_SLOT = 1000
CONTACT_AOR = 1001

Attr = tuple[str, str, str, list[str]]  # oid, name, desc, body lines


def _attr(table: str, column: str, type_: str, n: int) -> Attr:
    oid = f"AraPjsip:1.{FAMILY_NUMBERS[table]}.{n}"
    name = attribute_name(table, column)
    desc = f"{table}.{column} ({type_})"
    multi = column in REPEATED.get(table, []) or column in LISTS.get(table, [])
    if is_integer(type_):
        body = ["EQUALITY integerMatch", "ORDERING integerOrderingMatch", f"SYNTAX {INTEGER}"]
    elif type_.startswith("S") or type_ == "Text":
        body = ["EQUALITY caseExactMatch", "SUBSTR caseExactSubstringsMatch", f"SYNTAX {DIRSTR}"]
    else:  # astbool, Bool, enums, Float: Asterisk parses any spelling, case-insensitively
        body = ["EQUALITY caseIgnoreMatch", "SUBSTR caseIgnoreSubstringsMatch", f"SYNTAX {DIRSTR}"]
    if not multi:
        body.append("SINGLE-VALUE")
    return oid, name, desc, body


def _string(oid: str, name: str, desc: str, single: bool = True) -> Attr:
    body = ["EQUALITY caseExactMatch", "SUBSTR caseExactSubstringsMatch", f"SYNTAX {DIRSTR}"]
    return oid, name, desc, body + (["SINGLE-VALUE"] if single else [])


def attributes() -> list[Attr]:
    out: list[Attr] = []
    for table, cols in COLUMNS.items():
        fam = FAMILY_NUMBERS[table]
        for n, (column, type_) in enumerate(cols, start=1):
            out.append(_attr(table, column, type_, n))
        word = FAMILY_WORDS[table]
        out.append(
            _string(
                f"AraPjsip:1.{fam}.{FIELD_SLOT}",
                f"ast{word}Field",
                f"{table}: other field as name=value",
                single=False,
            )
        )
    out.append(
        _string(
            f"AraPjsip:1.{FAMILY_NUMBERS['ps_contacts']}.{CONTACT_AOR}",
            "astContactAor",
            "ps_contacts: AOR of the contact id (text before the first semicolon-at)",
        )
    )
    gen = len(FAMILY_WORDS) + 1
    out.append(_string(f"AraPjsip:1.{gen}.1", "astPsKind", "long-tail family kind"))
    out.append(_string(f"AraPjsip:1.{gen}.2", "astPsId", "long-tail object id"))
    out.append(
        _string(f"AraPjsip:1.{gen}.3", "astPsField", "long-tail field as name=value", single=False)
    )
    return out


Cls = tuple[str, str, str, str, list[str], list[str]]  # oid, name, desc, kind, must, may

CLASS_NAMES = {
    "ps_endpoints": "astPsEndpoint",
    "ps_auths": "astPsAuth",
    "ps_aors": "astPsAor",
    "ps_contacts": "astPsContact",
    "ps_domain_aliases": "astPsDomainAlias",
    "ps_endpoint_id_ips": "astPsIdentify",
}


def classes() -> list[Cls]:
    out: list[Cls] = []
    for i, (table, cols) in enumerate(COLUMNS.items(), start=1):
        word = FAMILY_WORDS[table]
        names = [attribute_name(table, c) for c, _ in cols]
        may = [*names[1:], f"ast{word}Field"]
        kind = "STRUCTURAL" if table == "ps_contacts" else "AUXILIARY"
        if table == "ps_contacts":
            may.append("astContactAor")
        out.append(
            (f"AraPjsip:2.{i}", CLASS_NAMES[table], f"PJSIP {table} object", kind, [names[0]], may)
        )
    n = len(COLUMNS)
    out.append(
        (
            f"AraPjsip:2.{n + 1}",
            "astPsObject",
            "structural carrier for dedicated PJSIP entries",
            "STRUCTURAL",
            [],
            ["cn", "description"],
        )
    )
    out.append(
        (
            f"AraPjsip:2.{n + 2}",
            "astPsGeneric",
            "long-tail PJSIP object (name=value)",
            "STRUCTURAL",
            ["astPsKind", "astPsId"],
            ["astPsField", "cn", "description"],
        )
    )
    return out


def _oidlist(names: list[str], indent: str) -> str:
    if len(names) == 1:
        return names[0]
    return "( " + f"\n{indent}$ ".join(names) + " )"


def _attr_text(a: Attr, indent: str) -> str:
    oid, name, desc, body = a
    return (
        f"( {oid} NAME '{name}'\n{indent}DESC '{desc}'\n"
        + "".join(f"{indent}{line}\n" for line in body).rstrip("\n")
        + " )"
    )


def _class_text(c: Cls, indent: str) -> str:
    oid, name, desc, kind, must, may = c
    lines = [f"( {oid} NAME '{name}'", f"{indent}DESC '{desc}'", f"{indent}SUP top {kind}"]
    if must:
        lines.append(f"{indent}MUST {_oidlist(must, indent + '  ')}")
    if may:
        lines.append(f"{indent}MAY {_oidlist(may, indent + '  ')}")
    return "\n".join(lines) + " )"


HEADER = """\
# ara-ldap PJSIP schema ({form}). GENERATED by schema/gen_pjsip.py from
# ara_ldap/pjsip_columns.py (Asterisk alembic head 2285f2ace275): do not edit by hand.
#
# Typed attributes per family (ast<Family><Column>), AUXILIARY classes so an endpoint,
# its auth and its aor can sit on one inetOrgPerson entry or on a dedicated astPsObject
# entry; STRUCTURAL astPsContact for contacts (own container, RDN astContactId with the
# ';' escaped per RFC 4514) with the derived astContactAor; astPsGeneric name=value
# entries for the long-tail families. Needs only core.schema. Loads beside
# asterisk.schema (no shared names or OIDs). OID arc: AraLDAP.3 (see schema/README.md).
"""


def render_schema() -> str:
    parts = [HEADER.format(form="slapd.conf form"), f"objectIdentifier AraPjsip {ARC}\n"]
    parts += [f"attributetype {_attr_text(a, '    ')}\n" for a in attributes()]
    parts += [f"objectclass {_class_text(c, '    ')}\n" for c in classes()]
    return "\n".join(parts)


def render_ldif() -> str:
    lines = [
        HEADER.format(form="cn=config LDIF form"),
        "dn: cn=pjsip,cn=schema,cn=config",
        "objectClass: olcSchemaConfig",
        "cn: pjsip",
        f"olcObjectIdentifier: AraPjsip {ARC}",
    ]
    lines += [f"olcAttributeTypes: {_attr_text(a, '   ')}" for a in attributes()]
    lines += [f"olcObjectClasses: {_class_text(c, '   ')}" for c in classes()]
    return "\n".join(lines) + "\n"


# The shipped family maps ------------------------------------------------------------

BEGIN = "# BEGIN PJSIP families (generated by schema/gen_pjsip.py; edit the generator)"
END = "# END PJSIP families"
#: Long-tail containers under ou=pjsip (one per kind, so equal ids never share a DN).
GENERIC_CONTAINERS = {
    "ps_registrations": "registrations",
    "ps_globals": "globals",
    "ps_systems": "systems",
    "ps_outbound_publishes": "outboundPublishes",
    "ps_inbound_publications": "inboundPublications",
    "ps_asterisk_publications": "asteriskPublications",
    "ps_resource_list": "resourceLists",
    "stir_tn": "tns",
}


def _flow(names: list[str]) -> str:
    return "[" + ", ".join(names) + "]"


def _common(table: str) -> list[str]:
    section, kind = SORCERY_TYPES[table]
    return [
        f"  sorcery: {section}/{kind}",
        "  # Sorcery re-stores existing objects (contacts; update_or_create_on_update_miss).",
        "  store_existing: replace",
        "  literal_like: true",
    ]


def render_ldap_families() -> str:
    out = [
        BEGIN,
        "#",
        "# PJSIP (sorcery) families, pjsip.md section 5: typed attributes per family on",
        "# dedicated astPsObject entries or on person entries (AUXILIARY classes, found by a",
        "# subtree search under ou=pjsip), contacts in their own container with the derived",
        "# astContactAor, and astPsGeneric name=value entries for the long tail. Values are",
        "# never split on ';'. Family names are free (sorcery.conf); these are the usual ones.",
    ]
    for table, cols in COLUMNS.items():
        word = FAMILY_WORDS[table]
        contact = table == "ps_contacts"
        base = "ou=contacts,ou=pjsip-volatile,{base_dn}" if contact else "ou=pjsip,{base_dn}"
        classes = ["top", "astPsContact"] if contact else ["top", "astPsObject", CLASS_NAMES[table]]
        repeated = REPEATED.get(table, [])
        joined = JOINED.get(table, [])
        out += ["", f"{table}:", *_common(table), f'  base_dn: "{base}"']
        out += [f"  object_classes: {_flow(classes)}"]
        out += [f'  filter: "(objectClass={CLASS_NAMES[table]})"', "  rdn: id"]
        if repeated or joined:
            out.append(f"  multi_valued: {_flow(repeated + joined)}")
        if joined:
            out.append(f"  joined: {_flow(joined)}")
        if table in SECRETS:
            out.append(f"  secret_fields: {_flow(SECRETS[table])}")
        out.append(f"  field_slot: ast{word}Field")
        if contact:
            out += ["  derived:", '    astContactAor: {field: id, before: ";@"}']
        out.append("  attributes:")
        out += [f"    {quote(c)}: {attribute_name(table, c)}" for c, _ in cols]
    for table, cols in GENERIC_COLUMNS.items():
        kind = SORCERY_TYPES[table][1]
        base = f"ou={GENERIC_CONTAINERS[table]},ou=pjsip,{{base_dn}}"
        out += ["", f"{table}:", *_common(table), f'  base_dn: "{base}"']
        out += ["  object_classes: [top, astPsGeneric]"]
        out += [f'  filter: "(&(objectClass=astPsGeneric)(astPsKind={kind}))"', "  rdn: id"]
        out += [f"  constants: {{astPsKind: {kind}}}", "  field_slot: astPsField"]
        if JOINED.get(table):
            out.append(f"  joined: {_flow(JOINED[table])}")
        out.append(f"  slot_fields: {_flow([quote(c) for c, _ in cols[1:]])}")
        out += ["  attributes:", "    id: astPsId"]
    return "\n".join([*out, END]) + "\n"


def render_sql_families() -> str:
    out = [
        BEGIN,
        "#",
        "# PJSIP (sorcery) families on the standard ps_* tables: the same records as the",
        "# LDAP map (repeated fields as ';' lists with ^3B escapes, last-wins lists joined",
        "# with ',').",
    ]
    for table in [*COLUMNS, *GENERIC_COLUMNS]:
        out += ["", f"{table}:", f"  table: {table}", *_common(table)]
        if REPEATED.get(table):
            out.append(f"  multi_valued: {_flow(REPEATED[table])}")
        if JOINED.get(table):
            out.append(f"  joined: {_flow(JOINED[table])}")
        if table in SECRETS:
            out.append(f"  secret_fields: {_flow(SECRETS[table])}")
    return "\n".join([*out, END]) + "\n"


def quote(name: str) -> str:
    """A YAML key/flow item: names starting with '@' or a digit are quoted."""
    return f'"{name}"' if not name[:1].isalpha() else name


def with_block(text: str, block: str) -> str:
    """``text`` with its generated block replaced (appended when it has none)."""
    start = text.find(BEGIN)
    if start < 0:
        return text.rstrip("\n") + "\n\n" + block
    stop = text.index(END, start) + len(END) + 1
    return text[:start] + block + text[stop:]


def main(argv: list[str]) -> int:
    defaults = ROOT / "ara_ldap" / "defaults"
    ldap_yaml, sql_yaml = defaults / "ldap-families.yaml", defaults / "sql-families.yaml"
    outputs = {
        ROOT / "schema" / "pjsip.schema": render_schema(),
        ROOT / "schema" / "pjsip.ldif": render_ldif(),
        ldap_yaml: with_block(ldap_yaml.read_text(), render_ldap_families()),
        sql_yaml: with_block(sql_yaml.read_text(), render_sql_families()),
    }
    if "--check" in argv:
        stale = [p.name for p, text in outputs.items() if not p.is_file() or p.read_text() != text]
        if stale:
            print(f"stale: {', '.join(stale)}; run python schema/gen_pjsip.py")
            return 1
        return 0
    for path, text in outputs.items():
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
