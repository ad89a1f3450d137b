"""One row->record conversion for the SQL backend (fastpath.row_to_record): the read path
and FamilyTable.to_record (the write path's reads) give the same Record for a row."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from ara_ldap.backends.sql.columns import TableInfo, render
from ara_ldap.backends.sql.family import FamilyTable
from ara_ldap.backends.sql.fastpath import row_to_record
from ara_ldap.config import SqlFamily
from ara_ldap.record import Record

PLAN = (("name", False), ("allow", True), ("port", False), ("rate", False), ("note", False))


def test_null_and_empty_columns_are_left_out() -> None:
    assert row_to_record(["a", None, None, None, ""], PLAN, render) == Record([("name", "a")])


def test_a_multi_valued_column_is_split_into_repeated_fields() -> None:
    record = row_to_record(["a", "ulaw;alaw", None, None, None], PLAN, render)
    assert record.get_all("allow") == ["ulaw", "alaw"]


def test_numbers_are_rendered_as_asterisk_sees_them() -> None:
    record = row_to_record(["a", None, 5060, Decimal("1.50"), None], PLAN, render)
    assert (record.get("port"), record.get("rate")) == ("5060", "1.50")


def test_family_table_to_record_is_the_same_conversion() -> None:
    metadata = sa.MetaData()
    table = sa.Table(
        "sippeers",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(40)),
        sa.Column("allow", sa.String(200)),
        sa.Column("port", sa.Integer),
    )
    engine = sa.create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert().values(id=1, name="a", allow="ulaw;alaw", port=5060))
        row = conn.execute(sa.select(table)).one()
    spec = SqlFamily(table="sippeers", multi_valued=["allow"])
    ft = FamilyTable.build("sippeers", spec, TableInfo.from_table(table))
    values = [row._mapping[info.column] for info in ft.fields]
    assert ft.to_record(row) == row_to_record(values, ft.field_plan, render)
