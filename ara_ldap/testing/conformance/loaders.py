"""Load the data set (:mod:`.dataset`) into each backend its own way, and wrap the result
in a :class:`Target` the cases run against.

* LDAP (:class:`LdapLoader`): the records become LDIF through the backend's own family
  maps (:meth:`FamilyMap.entry_for`, :meth:`FamilyMap.dn_for`), with the ``ou``
  containers above each family, and are added with the harness's ``ldapadd``, exactly as
  a user's CI would load fixtures.
* SQL (:class:`SqlLoader`): the standard tables are created with the backend's
  ``init_schema`` and the records bulk-inserted with SQLAlchemy Core, multi-valued
  fields joined with the backend's ``;``/``^XX`` convention
  (:mod:`ara_ldap.backends.sql.chunks`).

Nothing goes through ``store``: the read cases must not depend on the write path they
check independently.  ``restore()`` puts the data set back after a write case by
comparing what the store holds with what was loaded and re-loading only the entries or
rows that differ (a few milliseconds), so every write case starts from the same data.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ara_ldap.backends.base import Capabilities
from ara_ldap.config import LdapBackendSettings, SqlBackendSettings
from ara_ldap.record import Record
from ara_ldap.testing.conformance.dataset import (
    DATASET,
    FAMILIES,
    KEYS,
    PJSIP_FAMILIES,
    Dataset,
)
from ara_ldap.testing.conformance.requirements import RealtimeLike
from ara_ldap.testing.slapd import ProductionSlapd, ldif_line

if TYPE_CHECKING:
    import sqlalchemy as sa

    from ara_ldap.testing.slapd import Slapd

__all__ = [
    "LdapLoader",
    "SqlLoader",
    "Target",
    "ldap_target",
    "sql_rows",
    "sql_target",
]


@dataclass
class Target:
    """One backend loaded with the data set: what the conformance fixtures hand to cases.

    ``reload`` restores the data set (``None``: a read-only target, write cases skip).
    ``dirty`` is set by the ``fresh`` fixture before a write case runs, so the next case
    that needs the data set restores it first; read cases then share one load.
    """

    name: str
    realtime: RealtimeLike
    capabilities: Capabilities
    reload: Callable[[], object] | None = None
    dirty: bool = False
    reloads: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def ensure_loaded(self) -> None:
        if self.dirty and self.reload is not None:
            self.reload()
            self.reloads += 1
        self.dirty = False

    def with_capabilities(self, **flags: bool) -> Target:
        """A copy of this target with some capability flags set (a test module declaring
        what its backend can do, as a SQLAlchemy dialect's requirements class does)."""
        return dataclasses.replace(
            self, capabilities=dataclasses.replace(self.capabilities, **flags)
        )


def loaded_families(configured: Collection[str]) -> list[str]:
    """The data set's families a backend configuring ``configured`` is loaded with: every
    classic one (a missing one is the loader's error), the PJSIP ones only if all are
    configured (a deployment may leave PJSIP out; its cases then skip)."""
    if all(f in configured for f in PJSIP_FAMILIES):
        return list(FAMILIES)
    return [f for f in FAMILIES if f not in PJSIP_FAMILIES]


def has_pjsip(configured: Collection[str]) -> bool:
    """Whether the target gets the PJSIP families (the ``pjsip`` capability)."""
    return all(f in configured for f in PJSIP_FAMILIES)


# LDAP ---------------------------------------------------------------------------------

Entry = tuple[str, list[tuple[str, list[str]]]]
Fingerprint = tuple[tuple[str, tuple[str, ...]], ...]


def _ldif(entries: list[Entry]) -> str:
    blocks = []
    for dn, attributes in entries:
        lines = [ldif_line("dn", dn)]
        lines += [ldif_line(attr, v) for attr, values in attributes for v in values]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _containers(base_dns: list[str], suffix: str) -> list[str]:
    """The ``ou=`` entries between ``suffix`` and each base DN, parents first."""
    out: list[str] = []
    for base in base_dns:
        if not base.lower().endswith(suffix.lower()):
            raise ValueError(f"family base {base!r} is not below the suffix {suffix!r}")
        rdns = base[: len(base) - len(suffix)].rstrip(",").split(",") if base != suffix else []
        for i in range(len(rdns) - 1, -1, -1):
            dn = ",".join([*rdns[i:], suffix])
            if dn not in out:
                out.append(dn)
    return out


def _fingerprint(attributes: Mapping[str, list[str]]) -> Fingerprint:
    """An entry's content, comparable between what was loaded and what the server holds:
    attribute names folded, objectClass as a set, other values in their order."""
    out = []
    for attr, values in attributes.items():
        key = attr.lower()
        if key == "objectclass":
            out.append((key, tuple(sorted(v.lower() for v in values))))
        else:
            out.append((key, tuple(values)))
    return tuple(sorted(out))


class LdapLoader:
    """The data set as directory entries for one backend's settings (suffix = base_dn)."""

    def __init__(
        self, slapd: Slapd, settings: LdapBackendSettings, dataset: Dataset = DATASET
    ) -> None:
        self.slapd = slapd
        self.settings = settings
        self.dataset = dataset
        self.entries = self._entries()
        self._order = {dn: i for i, (dn, _) in enumerate(self.entries)}
        #: DNs outside the data set that :meth:`restore` leaves alone (lower-cased): the
        #: service account and entries "another tool" wrote on a production directory.
        self.keep: set[str] = set()

    def _entries(self) -> list[Entry]:
        """``(dn, [(attribute, values)])`` for the containers and every record, parents
        first; objectClass first in each entry."""
        from ara_ldap.backends.ldap.mapping import FamilyMap

        settings = self.settings
        maps = [
            FamilyMap(family, settings.families[family], settings.value_order)
            for family in loaded_families(settings.families)
        ]
        entries: list[Entry] = []
        #: The loaded families' bases (a production directory adds foreign entries there).
        self.bases = sorted({m.base_dn for m in maps})
        for dn in _containers([m.base_dn for m in maps], settings.base_dn):
            rdn_attr, _, value = dn.split(",", 1)[0].partition("=")
            if rdn_attr.strip().lower() != "ou":
                raise ValueError(f"cannot create container {dn!r}: only ou= containers")
            entries.append((dn, [("objectClass", ["top", "organizationalUnit"]), ("ou", [value])]))
        for fmap in maps:
            for rec in self.dataset.records(fmap.name):
                entry = fmap.entry_for(rec.without_empty())
                attributes = [("objectClass", list(fmap.object_classes))]
                attributes += list(entry.attributes.items())
                entries.append((fmap.dn_for(entry.rdn_value), attributes))
        return entries

    def ldif(self) -> str:
        """The whole data set as LDIF (the suffix entry must exist)."""
        return _ldif(self.entries)

    def load(self) -> None:
        """Add the data set with ``ldapadd``."""
        self.slapd.ldapadd_text(self.ldif())

    def restore(self) -> int:
        """Make the directory hold exactly the data set again: entries that differ are
        deleted, missing ones re-added with ``ldapadd``; the number of entries touched."""
        import ldap3

        wanted: dict[Fingerprint, list[Entry]] = {}
        for entry in self.entries:
            wanted.setdefault(_fingerprint(dict(entry[1])), []).append(entry)
        slapd, suffix = self.slapd, self.settings.base_dn
        conn = ldap3.Connection(
            ldap3.Server(slapd.url.rstrip("/")),
            slapd.admin_dn,
            slapd.admin_password,
            auto_bind=True,
        )
        try:
            conn.search(
                suffix,
                "(objectClass=*)",
                search_scope=ldap3.SUBTREE,
                attributes=[ldap3.ALL_ATTRIBUTES],
            )
            unexpected: list[str] = []
            for item in conn.response or []:
                if item.get("type") != "searchResEntry" or item["dn"] == suffix:
                    continue
                if item["dn"].lower() in self.keep:
                    continue
                raw = item.get("raw_attributes") or {}
                attrs = {k: [v.decode("utf-8") for v in vals] for k, vals in raw.items()}
                candidates = wanted.get(_fingerprint(attrs))
                if candidates:
                    candidates.pop()
                else:
                    unexpected.append(item["dn"])
            # Children before parents: the DNs with the most RDNs first.
            for dn in sorted(unexpected, key=lambda d: d.count(","), reverse=True):
                conn.delete(dn)
        finally:
            conn.unbind()
        missing = sorted((e for es in wanted.values() for e in es), key=lambda e: self._order[e[0]])
        if missing:
            slapd.ldapadd_text(_ldif(missing))
        return len(unexpected) + len(missing)


@contextlib.contextmanager
def ldap_target(
    slapd: Slapd, name: str = "ldap", dataset: Dataset = DATASET, **overrides: Any
) -> Iterator[Target]:
    """A started, empty ``slapd`` loaded with the data set, and a Realtime on it.

    ``overrides`` go to the backend's settings (e.g. ``value_order="prefix"``).
    """
    from ara_ldap.bootstrap import open_realtime
    from ara_ldap.testing.ldap import ldap_settings

    settings = ldap_settings(slapd, **overrides)
    backend_settings = settings.backends["directory"]
    assert isinstance(backend_settings, LdapBackendSettings)
    loader = LdapLoader(slapd, backend_settings, dataset)
    slapd.create_suffix()
    loader.load()
    if isinstance(slapd, ProductionSlapd):
        bases = sorted({dn for dn, _ in loader.entries} & set(loader.bases))
        loader.keep = {slapd.service_dn.lower()}
        loader.keep |= {dn.lower() for dn in slapd.add_foreign_entries(bases)}
    realtime = open_realtime(settings)
    try:
        backend = realtime.backends["directory"]
        yield Target(
            name,
            realtime,
            dataclasses.replace(backend.capabilities, pjsip=has_pjsip(backend_settings.families)),
            loader.restore,
            extra={"slapd": slapd, "loader": loader},
        )
    finally:
        realtime.close()


# SQL ----------------------------------------------------------------------------------


def _column_value(column: sa.Column[Any], value: str) -> object:
    """A data-set string as the column's Python value (what a DBA's INSERT would hold)."""
    import sqlalchemy as sa

    type_ = column.type
    if isinstance(type_, sa.Integer):
        return int(value)
    if isinstance(type_, sa.Float):
        return float(value)
    if isinstance(type_, sa.Numeric):
        return Decimal(value)
    if isinstance(type_, sa.DateTime):
        return datetime.fromisoformat(value)
    return value


def sql_rows(
    table: sa.Table, settings: SqlBackendSettings, family: str, records: tuple[Record, ...]
) -> list[dict[str, object]]:
    """Rows for ``table``, every visible column present (one executemany): hidden columns
    left to the database, multi-valued fields joined with ``;`` and ``^XX`` escapes, empty
    values NULL, or ``''`` in a NOT NULL text column without a default."""
    from ara_ldap.backends.sql import chunks

    spec = settings.families[family]
    multi = {f.lower() for f in spec.multi_valued}
    hidden = {h.lower() for h in spec.hidden}
    columns = {c.name.lower(): c for c in table.columns if c.name.lower() not in hidden}
    rows: list[dict[str, object]] = []
    for rec in records:
        values: dict[str, object] = {}
        for name, given in rec.grouped().items():
            column = columns.get(name.lower())
            if column is None:
                raise ValueError(f"{family}: field {name!r} is not a column of {table.name}")
            present = [v for v in given if v != ""]
            if name.lower() in multi:
                values[column.name] = chunks.join_chunks(present)
            elif present:
                (single,) = present
                values[column.name] = _column_value(column, single)
        row: dict[str, object] = {}
        for column in columns.values():
            value = values.get(column.name)
            if value is None and not column.nullable:
                if column.server_default is not None:
                    raise ValueError(f"{family}: give {column.name} in every record")
                value = ""  # NOT NULL text: '' reads back as absent
            row[column.name] = value
        rows.append(row)
    return rows


def _text(row: Mapping[Any, Any], columns: list[str]) -> tuple[str | None, ...]:
    """A row's content as text, comparable between what was loaded and what is stored."""
    return tuple(None if row.get(c) is None else str(row.get(c)) for c in columns)


class SqlLoader:
    """The data set as rows of the standard tables (``schema``: PostgreSQL schema or
    MySQL database holding them)."""

    def __init__(
        self,
        engine: sa.Engine,
        settings: SqlBackendSettings,
        schema: str | None = None,
        dataset: Dataset = DATASET,
    ) -> None:
        from ara_ldap.backends.sql import standard_metadata

        self.engine = engine
        self.settings = settings
        self.schema = schema
        self.dataset = dataset
        md = standard_metadata(schema)
        self.tables: dict[str, sa.Table] = {}
        self.rows: dict[str, list[dict[str, object]]] = {}
        self.columns: dict[str, list[str]] = {}
        for family in loaded_families(settings.families):
            name = settings.families[family].table
            table = md.tables[f"{schema}.{name}" if schema else name]
            self.tables[family] = table
            self.rows[family] = sql_rows(table, settings, family, dataset.records(family))
            hidden = {h.lower() for h in settings.families[family].hidden}
            self.columns[family] = [c.name for c in table.columns if c.name.lower() not in hidden]

    def create(self) -> None:
        """Create the standard tables that are missing (the backend's ``init_schema``)."""
        from ara_ldap.backends.sql import init_schema

        init_schema(self.engine, self.schema)

    def load(self) -> None:
        """Empty the families' tables and bulk-insert the data set, in one transaction."""
        with self.engine.begin() as conn:
            for family, table in self.tables.items():
                conn.execute(table.delete())
                conn.execute(table.insert(), self.rows[family])

    def restore(self) -> int:
        """Make the tables hold exactly the data set again: rows that differ are deleted by
        primary key and the missing ones re-inserted, in one transaction; rows touched."""
        import sqlalchemy as sa

        touched = 0
        with self.engine.begin() as conn:
            for family, table in self.tables.items():
                columns = self.columns[family]
                wanted: dict[tuple[str | None, ...], list[dict[str, object]]] = {}
                for row in self.rows[family]:
                    wanted.setdefault(_text(row, columns), []).append(row)
                # The ps_* tables have no primary key (a unique ``id``, as in alembic).
                key = list(table.primary_key.columns) or [table.c[f] for f in KEYS[family]]
                stale = []
                for stored in conn.execute(sa.select(table)):
                    mapping = stored._mapping
                    candidates = wanted.get(_text(mapping, columns))
                    if candidates:
                        candidates.pop()
                    else:
                        stale.append(sa.and_(*(c == mapping[c] for c in key)))
                if stale:
                    conn.execute(table.delete().where(sa.or_(*stale)))
                missing = [r for rows in wanted.values() for r in rows]
                if missing:
                    conn.execute(table.insert(), missing)
                touched += len(stale) + len(missing)
        return touched


@contextlib.contextmanager
def sql_target(
    url: str,
    schema: str | None = None,
    name: str | None = None,
    dataset: Dataset = DATASET,
    **overrides: Any,
) -> Iterator[Target]:
    """The standard tables on ``url`` (in ``schema``) loaded with the data set, and a
    Realtime on them.  Missing tables are created; the families' tables are emptied
    first; other tables are not touched."""
    import sqlalchemy as sa

    from ara_ldap.bootstrap import open_realtime
    from ara_ldap.config import load_settings

    spec: dict[str, Any] = {"type": "sql", "url": url, **overrides}
    if schema:
        spec["schema"] = schema
    settings = load_settings({"backends": {"sql": spec}})
    backend_settings = settings.backends["sql"]
    assert isinstance(backend_settings, SqlBackendSettings)
    engine = sa.create_engine(url, pool_size=1, max_overflow=0)
    try:
        loader = SqlLoader(engine, backend_settings, schema, dataset)
        loader.create()
        loader.load()
        realtime = open_realtime(settings)
        try:
            backend = realtime.backends["sql"]
            yield Target(
                name or engine.dialect.name,
                realtime,
                dataclasses.replace(
                    backend.capabilities, pjsip=has_pjsip(backend_settings.families)
                ),
                loader.restore,
                extra={"engine": engine, "schema": schema, "loader": loader},
            )
        finally:
            realtime.close()
    finally:
        engine.dispose()
