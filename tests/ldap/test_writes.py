"""store, update, update2, destroy on a real slapd: counts, deletes, order, escaping."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ldap3
import pytest

from ara_ldap.bootstrap import open_realtime
from ara_ldap.errors import BadRequest, Conflict, UnknownField
from ara_ldap.realtime import Realtime
from ara_ldap.testing.ldap import ldap_settings
from ara_ldap.testing.slapd import Slapd, find_fixture_ldifs, production_slapd

INJECTION_NAMES = [
    "*",
    "a)(cn=*",
    "x\\y",
    "nul\x00byte",
    "a,b",
    "a+b",
    "a=b",
    "#lead",
    " lead-space",
    "trail-space ",
    "ünïcödé",
    'q"uote',
    "semi;colon",
    "<lt>",
]


@pytest.fixture(params=["rootdn", "production"])
def fresh_slapd(request: pytest.FixtureRequest, slapd_factory: Any) -> Iterator[Slapd]:
    """The shipped fixtures on the rootdn directory, and on a production-shaped one (bound
    as a service account, a size limit of 3, entries another tool wrote)."""
    if request.param == "rootdn":
        slapd: Slapd = slapd_factory()
        slapd.ldapadd(*find_fixture_ldifs())
        yield slapd
        return
    with production_slapd(size_limit=3) as production:
        production.ldapadd(*find_fixture_ldifs())
        production.add_service_account()
        production.add_foreign_entries([f"ou=sip,ou=asterisk,{production.suffix}"])
        yield production


def raw_values(slapd: Slapd, dn_filter: str, attribute: str) -> list[str]:
    """The stored values, read as the rootdn (ACLs may hide them from others)."""
    conn = ldap3.Connection(
        ldap3.Server(slapd.url.rstrip("/")), slapd.admin_dn, slapd.admin_password, auto_bind=True
    )
    conn.search(f"ou=sip,ou=asterisk,{slapd.suffix}", dn_filter, attributes=[attribute])
    values = [v.decode() for e in conn.response for v in e["raw_attributes"].get(attribute, [])]
    conn.unbind()
    return values


def test_store_load_update_destroy_round_trip_with_exact_counts(rt: Realtime) -> None:
    assert rt.store("sippeers", [("name", "zoe"), ("host", "dynamic"), ("secret", "s3")]) == 1
    assert rt.single("sippeers", {"name": "zoe"}) is not None
    assert rt.update("sippeers", "name", "zoe", {"host": "192.0.2.9"}) == 1
    zoe = rt.single("sippeers", {"name": "zoe"})
    assert zoe is not None and zoe.get("host") == "192.0.2.9"
    assert rt.destroy("sippeers", {"name": "zoe"}) == 1
    assert rt.single("sippeers", {"name": "zoe"}) is None
    assert rt.destroy("sippeers", {"name": "zoe"}) == 0


def test_store_of_a_duplicate_is_a_conflict_and_changes_nothing(rt: Realtime) -> None:
    with pytest.raises(Conflict, match="already exists"):
        rt.store("sippeers", [("name", "alice"), ("host", "198.51.100.1")])
    alice = rt.single("sippeers", {"name": "alice"})
    assert alice is not None and alice.get("host") == "dynamic"


def test_store_with_an_unknown_field_is_refused_and_writes_nothing(rt: Realtime) -> None:
    with pytest.raises(UnknownField, match="bogus"):
        rt.store("sippeers", [("name", "yan"), ("bogus", "1")])
    assert rt.single("sippeers", {"name": "yan"}) is None


def test_store_without_the_rdn_field_is_refused(rt: Realtime) -> None:
    with pytest.raises(BadRequest, match="name"):
        rt.store("sippeers", [("host", "dynamic")])


def test_codec_order_round_trips_on_store_and_update(rt: Realtime) -> None:
    rt.store(
        "sippeers", [("name", "codecs"), ("allow", "g729"), ("allow", "ulaw"), ("allow", "alaw")]
    )
    peer = rt.single("sippeers", {"name": "codecs"})
    assert peer is not None and peer.get_all("allow") == ["g729", "ulaw", "alaw"]
    rt.update(
        "sippeers", "name", "codecs", [("allow", "alaw"), ("allow", "g729"), ("allow", "ulaw")]
    )
    peer = rt.single("sippeers", {"name": "codecs"})
    assert peer is not None and peer.get_all("allow") == ["alaw", "g729", "ulaw"]


def test_prefix_value_order_stores_positions_and_reads_them_back(fresh_slapd: Slapd) -> None:
    realtime = open_realtime(ldap_settings(fresh_slapd, value_order="prefix"))
    try:
        realtime.store("sippeers", [("name", "pfx"), ("allow", "gsm"), ("allow", "alaw")])
        assert raw_values(fresh_slapd, "(cn=pfx)", "AstAccountAllowedCodec") == [
            "{0}gsm",
            "{1}alaw",
        ]
        peer = realtime.single("sippeers", {"name": "pfx"})
        assert peer is not None and peer.get_all("allow") == ["gsm", "alaw"]
        # Unprefixed values written by other tools (the fixtures) still match.
        found = [r.get("name") for r in realtime.multi("sippeers", {"allow": "alaw"})]
        assert "pfx" in found and "alice" in found
        assert realtime.multi("sippeers", {"allow": "{1}alaw"}) == []
    finally:
        realtime.close()


def test_update_to_an_empty_value_deletes_the_attribute(rt: Realtime, fresh_slapd: Slapd) -> None:
    assert rt.update("sippeers", "name", "carol", {"fullcontact": ""}) == 1
    carol = rt.single("sippeers", {"name": "carol"})
    assert carol is not None and "fullcontact" not in carol
    assert raw_values(fresh_slapd, "(cn=carol)", "AstAccountFullContact") == []


def test_update_deleting_an_absent_attribute_succeeds(rt: Realtime) -> None:
    assert rt.update("sippeers", "name", "bob", {"fullcontact": ""}) == 1


def test_update_counts_every_matching_record(rt: Realtime) -> None:
    n = rt.update2("voicemail", [("mailbox", "1001")], {"email": "shared@example.org"})
    assert n == 2
    assert {r.get("email") for r in rt.multi("voicemail", {"mailbox": "1001"})} == {
        "shared@example.org"
    }


def test_update2_matches_on_every_lookup_field(rt: Realtime) -> None:
    assert (
        rt.update2("voicemail", [("context", "sales"), ("mailbox", "1001")], {"password": "9999"})
        == 1
    )
    default_box = rt.single("voicemail", {"mailbox": "1001", "context": "default"})
    assert default_box is not None and default_box.get("password") == "4242"


def test_update_of_nothing_matching_returns_zero(rt: Realtime) -> None:
    assert rt.update("sippeers", "name", "nobody", {"host": "dynamic"}) == 0


def test_update_with_unchanged_values_still_counts(rt: Realtime) -> None:
    assert rt.update("sippeers", "name", "alice", {"host": "dynamic"}) == 1


def test_update_ignores_fields_outside_the_map_like_sql_drivers(rt: Realtime) -> None:
    assert rt.update("sippeers", "name", "alice", [("nosuch", "1"), ("port", "5062")]) == 1
    alice = rt.single("sippeers", {"name": "alice"})
    assert alice is not None and alice.get("port") == "5062"


def test_update_of_the_name_renames_the_entry(rt: Realtime) -> None:
    assert rt.update("sippeers", "name", "bob", {"name": "robert"}) == 1
    assert rt.single("sippeers", {"name": "bob"}) is None
    robert = rt.single("sippeers", {"name": "robert"})
    assert robert is not None and robert.get("secret") == "fake-bob-secret"


def test_update_adds_missing_auxiliary_classes_to_old_entries(
    rt: Realtime, fresh_slapd: Slapd
) -> None:
    fresh_slapd.ldapadd_text(
        f"dn: cn=legacy,ou=sip,ou=asterisk,{fresh_slapd.suffix}\n"
        "objectClass: device\nobjectClass: AsteriskSIPUser\ncn: legacy\n"
        "AstAccountHost: dynamic\n"
    )
    assert rt.update("sippeers", "name", "legacy", {"trustrpid": "yes"}) == 1
    legacy = rt.single("sippeers", {"name": "legacy"})
    assert legacy is not None and legacy.get("trustrpid") == "yes"


def test_destroy_counts_every_deleted_record(rt: Realtime) -> None:
    assert rt.destroy("voicemail", {"mailbox": "1001"}) == 2
    assert rt.multi("voicemail", {"mailbox": "1001"}) == []


def test_destroy_without_criteria_is_refused(rt: Realtime) -> None:
    with pytest.raises(BadRequest):
        rt.destroy("sippeers", {})


def test_voicemail_store_names_the_entry_from_mailbox_and_context(rt: Realtime) -> None:
    rt.store("voicemail", {"context": "sales", "mailbox": "3000", "password": "1234"})
    box = rt.single("voicemail", {"mailbox": "3000", "context": "sales"})
    assert box is not None and box.get("password") == "1234"


@pytest.mark.parametrize("name", INJECTION_NAMES)
def test_injection_values_round_trip_through_every_operation(rt: Realtime, name: str) -> None:
    before = len(rt.multi("sippeers", {"name LIKE": "%"}))
    assert rt.store("sippeers", [("name", name), ("host", "dynamic"), ("callerid", name)]) == 1
    peer = rt.single("sippeers", {"name": name})
    assert peer is not None and peer.get("name") == name and peer.get("callerid") == name
    assert rt.update("sippeers", "name", name, {"host": name}) == 1
    assert rt.single("sippeers", {"host": name}) is not None
    assert len(rt.multi("sippeers", {"name LIKE": "%"})) == before + 1
    assert rt.destroy("sippeers", {"name": name}) == 1
    assert len(rt.multi("sippeers", {"name LIKE": "%"})) == before
