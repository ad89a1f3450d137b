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
from tests.sql.conftest import RawInsert, RawSelect, Target

HASH = "0123456789abcdef0123456789abcdef"
INTEGER_COLUMNS = [
    (table, column)
    for table, cols in {**COLUMNS, **GENERIC_COLUMNS}.items()
    for column, type_ in cols
    if is_integer(type_)
]


def contact(aor: str, expires: str = "1764153600", digest: str = HASH) -> list[tuple[str, str]]:
    """A contact store body in the order Asterisk 20.20.1 sends it (pjsip.md 6)."""
    return [
        ("id", f"{aor};@{digest}"),
        ("via_addr", "192.0.2.10"),
        ("qualify_2xx_only", "false"),
        ("call_id", "a84b4c76e66710"),
        ("reg_server", ""),
        ("prune_on_boot", "no"),
        ("path", ""),
        ("endpoint", aor),
        ("via_port", "5060"),
        ("authenticate_qualify", "no"),
        ("uri", f"sip:{aor}@192.0.2.10:5060;transport=udp;rinstance=x;ob"),
        ("qualify_frequency", "0"),
        ("user_agent", "Phone/1.0 (X11; Linux x86_64)"),
        ("expiration_time", expires),
        ("outbound_proxy", ""),
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


def test_reg_server_may_be_empty(rt: Realtime) -> None:
    assert rt.store("ps_contacts", contact("1001")) == 1


def test_empty_values_of_a_store_are_omitted_from_the_row(rt: Realtime) -> None:
    rt.store("ps_contacts", contact("1001"))
    record = rt.single("ps_contacts", {"id": f"1001;@{HASH}"})
    assert record is not None and not {"reg_server", "path", "outbound_proxy"} & set(
        record.grouped()
    )


def test_a_contact_uri_with_semicolons_is_stored_raw(rt: Realtime, raw_column: RawSelect) -> None:
    rt.store("ps_contacts", contact("1001"))
    assert raw_column("ps_contacts", "uri") == [dict(contact("1001"))["uri"]]


def test_the_contact_prefix_query_returns_the_aors_contacts(rt: Realtime) -> None:
    rt.store("ps_contacts", contact("1001"))
    rt.store("ps_contacts", contact("1002"))
    found = rt.multi("ps_contacts", {"id LIKE": "1001;@%"})
    assert [r.get("id") for r in found] == [f"1001;@{HASH}"]


def test_an_underscore_in_an_aor_prefix_is_literal(rt: Realtime) -> None:
    rt.store("ps_contacts", contact("a_b"))
    rt.store("ps_contacts", contact("axb"))
    found = rt.multi("ps_contacts", {"id LIKE": "a_b;@%"})
    assert [r.get("id") for r in found] == [f"a_b;@{HASH}"]


def test_unqualified_fetch_returns_every_contact(rt: Realtime) -> None:
    rt.store("ps_contacts", contact("1001"))
    rt.store("ps_contacts", contact("1002"))
    assert len(rt.multi("ps_contacts", {"id LIKE": "%"})) == 2


def test_expiry_is_an_integer_comparison_on_the_server(backend: SqlBackend) -> None:
    shape, _ = backend.family_table("ps_contacts").plan(
        parse_criteria([("expiration_time <=", "1764153600")])
    )
    assert shape == (("expiration_time", Cond.INT_LE),)


def test_expiry_compares_numbers_not_text(rt: Realtime) -> None:
    rt.store("ps_contacts", contact("1001", expires="9", digest="1" * 32))
    rt.store("ps_contacts", contact("1001", expires="10", digest="2" * 32))
    found = rt.multi("ps_contacts", {"expiration_time <=": "9"})
    assert [r.get("expiration_time") for r in found] == ["9"]


def test_storing_an_existing_contact_answers_one(rt: Realtime) -> None:
    rt.store("ps_contacts", contact("1001"))
    assert rt.store("ps_contacts", contact("1001", expires="1764153700")) == 1


def test_storing_an_existing_contact_replaces_it(rt: Realtime) -> None:
    rt.store("ps_contacts", contact("1001"))
    body = [(k, v) for k, v in contact("1001", expires="1764153700") if k != "user_agent"]
    rt.store("ps_contacts", body)
    record = rt.single("ps_contacts", {"id": f"1001;@{HASH}"})
    assert record is not None
    assert (record.get("expiration_time"), record.get("user_agent")) == ("1764153700", None)


def test_a_family_without_store_existing_refuses_a_duplicate(target: Target) -> None:
    from ara_ldap.bootstrap import open_realtime

    families = {"ps_contacts": {"store_existing": "error"}}
    with open_realtime(target.settings(families=families)) as realtime:
        backend = realtime.backends["sql"]
        assert isinstance(backend, SqlBackend)
        with backend.engine.begin() as conn:
            conn.execute(backend.table_info("ps_contacts").table.delete())
        realtime.store("ps_contacts", contact("1001"))
        with pytest.raises(Conflict):
            realtime.store("ps_contacts", contact("1001"))


def test_a_refresh_update_without_id_answers_one(rt: Realtime) -> None:
    rt.store("ps_contacts", contact("1001"))
    assert rt.update("ps_contacts", "id", f"1001;@{HASH}", contact("1001")[1:]) == 1


def test_an_empty_value_in_an_update_clears_the_field(rt: Realtime) -> None:
    rt.store("ps_contacts", contact("1001"))
    body = [(k, "" if k == "user_agent" else v) for k, v in contact("1001")[1:]]
    rt.update("ps_contacts", "id", f"1001;@{HASH}", body)
    record = rt.single("ps_contacts", {"id": f"1001;@{HASH}"})
    assert record is not None and record.get("user_agent") is None


def test_updating_a_missing_contact_answers_zero(rt: Realtime) -> None:
    assert rt.update("ps_contacts", "id", f"nobody;@{HASH}", contact("nobody")[1:]) == 0


def test_destroying_a_contact_answers_one_then_zero(rt: Realtime) -> None:
    rt.store("ps_contacts", contact("1001"))
    first = rt.destroy("ps_contacts", {"id": f"1001;@{HASH}"})
    assert (first, rt.destroy("ps_contacts", {"id": f"1001;@{HASH}"})) == (1, 0)


def test_set_var_values_with_semicolons_read_back_unsplit(rt: Realtime) -> None:
    rt.store("ps_endpoints", [("id", "1001"), ("set_var", "A=x;y"), ("set_var", "B=z")])
    record = rt.single("ps_endpoints", {"id": "1001"})
    assert record is not None and record.get_all("set_var") == ["A=x;y", "B=z"]


def test_codecs_read_back_in_the_stored_order(rt: Realtime) -> None:
    rt.store("ps_endpoints", [("id", "1001"), ("allow", "g722"), ("allow", "ulaw")])
    record = rt.single("ps_endpoints", {"id": "1001"})
    assert record is not None and record.get_all("allow") == ["g722", "ulaw"]


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


def test_identify_by_endpoint_equality(rt: Realtime) -> None:
    rt.store("ps_endpoint_id_ips", [("id", "i1"), ("endpoint", "itsp"), ("match", "192.0.2.1")])
    rt.store("ps_endpoint_id_ips", [("id", "i2"), ("endpoint", "other")])
    assert [r.get("id") for r in rt.multi("ps_endpoint_id_ips", {"endpoint": "itsp"})] == ["i1"]


def test_registration_outbound_auths_read_as_one_comma_list(rt: Realtime) -> None:
    rt.store("ps_registrations", [("id", "r"), ("outbound_auth", "a"), ("outbound_auth", "b")])
    record = rt.single("ps_registrations", {"id": "r"})
    assert record is not None and record.get_all("outbound_auth") == ["a,b"]


def test_an_extended_column_of_the_long_tail_is_a_field(rt: Realtime) -> None:
    rt.store("ps_outbound_publishes", [("id", "p"), ("@context", "default")])
    record = rt.single("ps_outbound_publishes", {"id": "p"})
    assert record is not None and record.get("@context") == "default"
