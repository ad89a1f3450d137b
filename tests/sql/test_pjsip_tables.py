"""The PJSIP families on the standard ps_* tables (SQLite, PostgreSQL, MariaDB): the same
sorcery request shapes as on LDAP (pjsip.md 2.2, 2.3, 6)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from ara_ldap.backends.sql import SqlBackend
from ara_ldap.backends.sql.columns import Kind
from ara_ldap.backends.sql.family import Cond
from ara_ldap.criteria import parse_criteria
from ara_ldap.errors import Conflict
from ara_ldap.pjsip_columns import COLUMNS, GENERIC_COLUMNS, is_integer
from ara_ldap.realtime import Realtime
from ara_ldap.testing.conformance.dataset_pjsip import sorcery_contact
from tests.sql.conftest import RawInsert, RawSelect, Target

INTEGER_COLUMNS = [
    (table, column)
    for table, cols in {**COLUMNS, **GENERIC_COLUMNS}.items()
    for column, type_ in cols
    if is_integer(type_)
]


@pytest.mark.parametrize(("table", "column"), INTEGER_COLUMNS)
def test_integer_columns_are_integers(backend: SqlBackend, table: str, column: str) -> None:
    info = next(c for c in backend.table_info(table).columns if c.name == column)
    assert info.kind is Kind.INTEGER


def test_expiration_time_is_a_big_integer(backend: SqlBackend) -> None:
    column = backend.table_info("ps_contacts").table.c.expiration_time
    assert isinstance(column.type, sa.BigInteger)


def test_the_contact_id_is_the_table_key(backend: SqlBackend) -> None:
    key = backend.table_info("ps_contacts").key_columns
    assert [c.name for c in key] == ["id"]


def test_a_contact_uri_with_semicolons_is_stored_raw(rt: Realtime, raw_column: RawSelect) -> None:
    rt.store("ps_contacts", sorcery_contact("1001"))
    assert raw_column("ps_contacts", "uri") == [dict(sorcery_contact("1001"))["uri"]]


def test_unqualified_fetch_returns_every_sorcery_contact(rt: Realtime) -> None:
    rt.store("ps_contacts", sorcery_contact("1001"))
    rt.store("ps_contacts", sorcery_contact("1002"))
    assert len(rt.multi("ps_contacts", {"id LIKE": "%"})) == 2


def test_expiry_is_an_integer_comparison_on_the_server(backend: SqlBackend) -> None:
    shape, _ = backend.family_table("ps_contacts").plan(
        parse_criteria([("expiration_time <=", "1764153600")])
    )
    assert shape == (("expiration_time", Cond.INT_LE),)


def test_a_family_without_store_existing_refuses_a_duplicate(target: Target) -> None:
    from ara_ldap.bootstrap import open_realtime

    families = {"ps_contacts": {"store_existing": "error"}}
    with open_realtime(target.settings(families=families)) as realtime:
        backend = realtime.backends["sql"]
        assert isinstance(backend, SqlBackend)
        with backend.engine.begin() as conn:
            conn.execute(backend.table_info("ps_contacts").table.delete())
        realtime.store("ps_contacts", sorcery_contact("1001"))
        with pytest.raises(Conflict):
            realtime.store("ps_contacts", sorcery_contact("1001"))


def test_several_auths_are_stored_as_one_comma_list(rt: Realtime, raw_column: RawSelect) -> None:
    rt.store("ps_endpoints", [("id", "1001"), ("auth", "a1"), ("auth", "a2")])
    assert raw_column("ps_endpoints", "auth") == ["a1,a2"]


def test_mailboxes_not_empty_selects_the_endpoints_with_mailboxes(rt: Realtime) -> None:
    rt.store("ps_endpoints", [("id", "1001"), ("mailboxes", "1001@default")])
    rt.store("ps_endpoints", [("id", "1002"), ("mailboxes", "")])
    assert [r.get("id") for r in rt.multi("ps_endpoints", {"mailboxes !=": ""})] == ["1001"]


def test_contact_not_empty_selects_the_aors_with_static_contacts(
    rt: Realtime, raw_insert: RawInsert
) -> None:
    raw_insert(
        "ps_aors", {"id": "itsp", "contact": "sip:198.51.100.7"}, {"id": "1001", "contact": ""}
    )
    assert [r.get("id") for r in rt.multi("ps_aors", {"contact !=": ""})] == ["itsp"]


def test_an_extended_column_of_the_long_tail_is_a_field(rt: Realtime) -> None:
    rt.store("ps_outbound_publishes", [("id", "p"), ("@context", "default")])
    record = rt.single("ps_outbound_publishes", {"id": "p"})
    assert record is not None and record.get("@context") == "default"
