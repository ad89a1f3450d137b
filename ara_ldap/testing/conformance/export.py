"""The data set in the formats a driver author loads by hand (``--no-load`` runs).

* ``ldif``: the entries the LDAP loader adds, under ``dc=example,dc=org`` with the
  shipped attribute maps (containers included, the suffix entry not);
* ``sql``: ``INSERT`` statements for the standard Asterisk tables (multi-valued fields
  joined with ``;`` and ``^XX`` escapes, as res_config_odbc reads them);
* ``csv``: one file per family, one column per field, repeated fields joined the same way.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from ara_ldap.testing.conformance.dataset import DATASET, Dataset

__all__ = ["FORMATS", "export_dataset"]

FORMATS = ("ldif", "sql", "csv")
BASE_DN = "dc=example,dc=org"


def _ldif(families: Sequence[str], dataset: Dataset) -> str:
    from ara_ldap.config import LdapBackendSettings, load_settings
    from ara_ldap.testing.conformance.loaders import LdapLoader

    settings = load_settings(
        {"backends": {"d": {"type": "ldap", "urls": ["ldap://localhost"], "base_dn": BASE_DN}}}
    ).backends["d"]
    assert isinstance(settings, LdapBackendSettings)
    loader = LdapLoader(cast(Any, None), settings, dataset)
    bases = {settings.families[f].base_dn.lower() for f in families if f in settings.families}
    keep = [
        (dn, attrs)
        for dn, attrs in loader.entries
        if any(dn.lower().endswith(b) or b.endswith(dn.lower()) for b in bases)
    ]
    from ara_ldap.testing.conformance.loaders import _ldif as render

    return render(keep)


def _sql(families: Sequence[str], dataset: Dataset) -> str:
    import sqlalchemy as sa

    from ara_ldap.backends.sql import standard_metadata
    from ara_ldap.config import SqlBackendSettings, load_settings
    from ara_ldap.testing.conformance.loaders import sql_rows

    settings = load_settings({"backends": {"s": {"type": "sql", "url": "sqlite://"}}}).backends["s"]
    assert isinstance(settings, SqlBackendSettings)
    md = standard_metadata(None)
    dialect = sa.create_engine("sqlite://").dialect
    out = [f"-- ara-ldap conformance data set: {', '.join(families)}"]
    for family in families:
        table = md.tables[settings.families[family].table]
        for row in sql_rows(table, settings, family, dataset.records(family)):
            stmt = table.insert().values(**{k: v for k, v in row.items() if v is not None})
            out.append(
                str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True})) + ";"
            )
    return "\n".join(out) + "\n"


def _csv(family: str, dataset: Dataset) -> str:
    from ara_ldap.backends.sql import chunks

    records = dataset.records(family)
    header: list[str] = []
    for rec in records:
        header += [f for f in rec.fields() if f not in header]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for rec in records:
        grouped = rec.grouped()
        row = []
        for name in header:
            values = [v for v in grouped.get(name, []) if v != ""]
            row.append(chunks.join_chunks(values) or "" if len(values) > 1 else "".join(values))
        writer.writerow(row)
    return buf.getvalue()


def export_dataset(
    fmt: str, families: Sequence[str], output: Path, dataset: Dataset = DATASET
) -> list[Path]:
    """Write the data set of ``families`` as ``fmt`` to ``output`` (a file for ldif/sql,
    a directory of ``<family>.csv`` for csv); the files written."""
    if fmt == "ldif":
        output.write_text(_ldif(families, dataset), encoding="utf-8")
        return [output]
    if fmt == "sql":
        output.write_text(_sql(families, dataset), encoding="utf-8")
        return [output]
    if fmt == "csv":
        output.mkdir(parents=True, exist_ok=True)
        paths = []
        for family in families:
            path = output / f"{family}.csv"
            path.write_text(_csv(family, dataset), encoding="utf-8")
            paths.append(path)
        return paths
    raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
