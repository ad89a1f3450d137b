"""The PJSIP families on a real slapd: every request shape sorcery sends (pjsip.md 2.2,
2.3, 6) against the shipped maps and ldif/60-pjsip.ldif."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ldap3
import pytest

from ara_ldap.backends.ldap.backend import LdapBackend
from ara_ldap.bootstrap import open_realtime
from ara_ldap.config import LdapBackendSettings
from ara_ldap.criteria import parse_criteria
from ara_ldap.errors import Conflict
from ara_ldap.pjsip_columns import COLUMNS, GENERIC_TABLES
from ara_ldap.realtime import Realtime
from ara_ldap.testing.conformance.dataset_pjsip import CONTACT_DIGEST, sorcery_contact
from ara_ldap.testing.ldap import ldap_settings
from ara_ldap.testing.slapd import Slapd

PJSIP = [*COLUMNS, *GENERIC_TABLES]


def conn(slapd: Slapd) -> ldap3.Connection:
    return ldap3.Connection(
        ldap3.Server(slapd.url.rstrip("/")), slapd.admin_dn, slapd.admin_password, auto_bind=True
    )


def raw_entry(slapd: Slapd, dn: str) -> dict[str, list[str]]:
    c = conn(slapd)
    c.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=[ldap3.ALL_ATTRIBUTES])
    entry = c.response[0]
    c.unbind()
    return {k: [v.decode() for v in vs] for k, vs in entry["raw_attributes"].items()}


def ldap_backend(rt: Realtime) -> LdapBackend:
    backend = rt.backends["directory"]
    assert isinstance(backend, LdapBackend)
    return backend


def contact_dn(slapd: Slapd, aor: str) -> str:
    """The DN of :func:`sorcery_contact` ``(aor)`` (the ``;`` of its id escaped)."""
    return f"astContactId={aor}\\;@{CONTACT_DIGEST},ou=contacts,ou=pjsip-volatile,{slapd.suffix}"


# Reading the fixtures ---------------------------------------------------------------------


def test_a_person_entry_serves_the_endpoint_auth_and_aor(shared_rt: Realtime) -> None:
    found = [shared_rt.single(f, {"id": "1001"}) for f in ("ps_endpoints", "ps_auths", "ps_aors")]
    assert [r.get("id") if r else None for r in found] == ["1001", "1001", "1001"]


def test_codecs_come_back_in_the_stored_order(shared_rt: Realtime) -> None:
    record = shared_rt.single("ps_endpoints", {"id": "1001"})
    assert record is not None and record.get_all("allow") == ["g722", "ulaw", "alaw"]


def test_set_var_values_containing_semicolons_are_never_split(shared_rt: Realtime) -> None:
    record = shared_rt.single("ps_endpoints", {"id": "1001"})
    assert record is not None and record.get_all("set_var") == [
        "GROUP=sales;east",
        "__TENANT=a;b;c",
    ]


def test_a_password_containing_a_semicolon_reads_whole(shared_rt: Realtime) -> None:
    record = shared_rt.single("ps_auths", {"id": "1001"})
    assert record is not None and record.get("password") == "fake-alice;pjsip"


def test_unqualified_identify_fetch_returns_every_identify(shared_rt: Realtime) -> None:
    assert [r.get("id") for r in shared_rt.multi("ps_endpoint_id_ips", {"id LIKE": "%"})] == [
        "itsp-identify"
    ]


def test_identify_match_values_repeat(shared_rt: Realtime) -> None:
    record = shared_rt.single("ps_endpoint_id_ips", {"id": "itsp-identify"})
    assert record is not None and record.get_all("match") == ["198.51.100.7", "198.51.100.8/31"]


def test_identify_by_endpoint_equality(shared_rt: Realtime) -> None:
    assert [r.get("id") for r in shared_rt.multi("ps_endpoint_id_ips", {"endpoint": "itsp"})] == [
        "itsp-identify"
    ]


def test_mailboxes_not_empty_selects_the_endpoints_with_mailboxes(shared_rt: Realtime) -> None:
    assert [r.get("id") for r in shared_rt.multi("ps_endpoints", {"mailboxes !=": ""})] == ["1001"]


def test_contact_not_empty_selects_the_aors_with_static_contacts(shared_rt: Realtime) -> None:
    assert [r.get("id") for r in shared_rt.multi("ps_aors", {"contact !=": ""})] == ["itsp"]


def test_an_e164_id_is_found_by_equality(shared_rt: Realtime) -> None:
    record = shared_rt.single("ps_endpoints", {"id": "+4930123456"})
    assert record is not None and record.get("id") == "+4930123456"


def test_the_domain_alias_names_its_domain(shared_rt: Realtime) -> None:
    record = shared_rt.single("ps_domain_aliases", {"id": "example.net"})
    assert record is not None and record.get("domain") == "example.org"


def test_a_long_tail_entry_reads_its_name_value_fields(shared_rt: Realtime) -> None:
    record = shared_rt.single("ps_registrations", {"id": "itsp-reg"})
    assert record is not None
    assert record.get("server_uri") == "sip:sip.itsp.example;transport=udp"


def test_a_long_tail_field_equality_is_served(shared_rt: Realtime) -> None:
    found = shared_rt.multi("ps_registrations", {"endpoint": "itsp"})
    assert [r.get("id") for r in found] == ["itsp-reg"]


def test_long_tail_kinds_do_not_see_each_other(shared_rt: Realtime) -> None:
    assert [r.get("id") for r in shared_rt.multi("ps_globals", {"id LIKE": "%"})] == ["global"]


def test_id_prefix_like_is_an_id_substring_filter(shared_rt: Realtime) -> None:
    backend = ldap_backend(shared_rt)
    fmap = backend.family_map("ps_endpoints")
    flt = backend.search_filter(fmap, fmap.prepare(parse_criteria([("id LIKE", "10%")])))
    assert flt == "(&(objectClass=astPsEndpoint)(astEndpointId=10*))"


def test_id_regex_like_finds_the_ids_containing_the_text(shared_rt: Realtime) -> None:
    assert [r.get("id") for r in shared_rt.multi("ps_endpoints", {"id LIKE": "%00%"})] == [
        "1001",
        "1002",
    ]


@pytest.mark.parametrize("family", PJSIP)
def test_no_pjsip_family_splits_values_on_semicolons(shared_rt: Realtime, family: str) -> None:
    assert ldap_backend(shared_rt).family_map(family).split_fields == set()


# Contacts ----------------------------------------------------------------------------------


def test_a_contact_id_is_escaped_in_the_dn(rt: Realtime, fresh_slapd: Slapd) -> None:
    rt.store("ps_contacts", sorcery_contact("1001"))
    entry = raw_entry(fresh_slapd, contact_dn(fresh_slapd, "1001"))
    assert entry["astContactId"] == [f"1001;@{CONTACT_DIGEST}"]


def test_storing_a_contact_writes_its_aor_as_a_derived_attribute(
    rt: Realtime, fresh_slapd: Slapd
) -> None:
    rt.store("ps_contacts", sorcery_contact("1001"))
    entry = raw_entry(fresh_slapd, contact_dn(fresh_slapd, "1001"))
    assert entry["astContactAor"] == ["1001"]


def test_the_derived_aor_is_not_a_field_of_the_record(rt: Realtime) -> None:
    rt.store("ps_contacts", sorcery_contact("1001"))
    record = rt.single("ps_contacts", {"id": f"1001;@{CONTACT_DIGEST}"})
    assert record is not None and "aor" not in record.grouped()


def test_the_contact_prefix_query_is_an_equality_on_the_derived_aor(rt: Realtime) -> None:
    backend = ldap_backend(rt)
    fmap = backend.family_map("ps_contacts")
    flt = backend.search_filter(fmap, fmap.prepare(parse_criteria([("id LIKE", "1001;@%")])))
    assert flt == "(&(objectClass=astPsContact)(astContactAor=1001))"


def test_expiry_query_is_a_server_side_integer_ordering(rt: Realtime) -> None:
    rt.multi("ps_contacts", {"id LIKE": "%"})  # the schema (ORDERING rules) is read once up
    backend = ldap_backend(rt)
    fmap = backend.family_map("ps_contacts")
    flt = backend.search_filter(fmap, parse_criteria([("expiration_time <=", "1764153600")]))
    assert flt == "(&(objectClass=astPsContact)(astContactExpirationTime<=1764153600))"


# Endpoints, auths, aors -----------------------------------------------------------------------


def test_a_stored_endpoint_gets_a_dedicated_entry(rt: Realtime, fresh_slapd: Slapd) -> None:
    rt.store("ps_endpoints", [("id", "2001"), ("context", "from-internal"), ("allow", "ulaw")])
    entry = raw_entry(fresh_slapd, f"astEndpointId=2001,ou=pjsip,{fresh_slapd.suffix}")
    assert {"astPsObject", "astPsEndpoint"} <= set(entry["objectClass"])


def test_allow_written_by_asterisk_reads_back_as_sent(rt: Realtime) -> None:
    rt.store("ps_endpoints", [("id", "2001"), ("allow", "(ulaw|alaw)")])
    record = rt.single("ps_endpoints", {"id": "2001"})
    assert record is not None and record.get_all("allow") == ["(ulaw|alaw)"]


def test_several_auth_values_are_read_as_one_comma_list(rt: Realtime) -> None:
    rt.store("ps_endpoints", [("id", "2001"), ("auth", "a1"), ("auth", "a2")])
    record = rt.single("ps_endpoints", {"id": "2001"})
    assert record is not None and record.get_all("auth") == ["a1,a2"]


def test_an_extended_field_is_kept_in_the_family_slot(rt: Realtime, fresh_slapd: Slapd) -> None:
    rt.store("ps_endpoints", [("id", "2001"), ("@custom", "x;y")])
    entry = raw_entry(fresh_slapd, f"astEndpointId=2001,ou=pjsip,{fresh_slapd.suffix}")
    assert entry["astEndpointField"] == ["@custom=x;y"]


def test_an_extended_field_reads_back_as_a_field(rt: Realtime) -> None:
    rt.store("ps_endpoints", [("id", "2001"), ("@custom", "x;y")])
    record = rt.single("ps_endpoints", {"id": "2001"})
    assert record is not None and record.get("@custom") == "x;y"


def test_an_e164_endpoint_is_stored_under_an_escaped_dn(rt: Realtime, fresh_slapd: Slapd) -> None:
    rt.store("ps_endpoints", [("id", "+4940555"), ("context", "from-internal")])
    entry = raw_entry(fresh_slapd, f"astEndpointId=\\+4940555,ou=pjsip,{fresh_slapd.suffix}")
    assert entry["astEndpointId"] == ["+4940555"]


def test_storing_an_existing_endpoint_answers_one(rt: Realtime) -> None:
    assert rt.store("ps_endpoints", [("id", "itsp"), ("context", "other")]) == 1


def test_storing_an_existing_endpoint_replaces_it_where_it_lives(rt: Realtime) -> None:
    rt.store("ps_endpoints", [("id", "itsp"), ("context", "other")])
    assert [r.get("context") for r in rt.multi("ps_endpoints", {"id": "itsp"})] == ["other"]


def test_re_storing_a_person_endpoint_keeps_the_person_entry(
    rt: Realtime, fresh_slapd: Slapd
) -> None:
    rt.store("ps_endpoints", [("id", "1001"), ("context", "other")])
    entry = raw_entry(fresh_slapd, f"uid=alice,ou=people,ou=pjsip,{fresh_slapd.suffix}")
    assert (entry["cn"], entry["astEndpointContext"], "astEndpointAllow" in entry) == (
        ["Alice Example"],
        ["other"],
        False,
    )


def test_updating_a_person_endpoint_keeps_the_person_attributes(
    rt: Realtime, fresh_slapd: Slapd
) -> None:
    rt.update("ps_endpoints", "id", "1001", [("context", "elsewhere"), ("mailboxes", "")])
    entry = raw_entry(fresh_slapd, f"uid=alice,ou=people,ou=pjsip,{fresh_slapd.suffix}")
    assert (entry["cn"], entry["astEndpointContext"], "astEndpointMailboxes" in entry) == (
        ["Alice Example"],
        ["elsewhere"],
        False,
    )


def test_a_family_without_store_existing_still_refuses_a_duplicate(
    fresh_slapd: Slapd,
) -> None:
    families = {"ps_endpoints": {"store_existing": "error"}}
    with open_realtime(ldap_settings(fresh_slapd, families=families)) as realtime:
        realtime.store("ps_endpoints", [("id", "2001")])
        with pytest.raises(Conflict):
            realtime.store("ps_endpoints", [("id", "2001")])


# The long tail -----------------------------------------------------------------------------


def test_a_stored_long_tail_object_carries_its_kind(rt: Realtime, fresh_slapd: Slapd) -> None:
    rt.store("ps_registrations", [("id", "reg2"), ("server_uri", "sip:x.example;lr")])
    dn = f"astPsId=reg2,ou=registrations,ou=pjsip,{fresh_slapd.suffix}"
    assert raw_entry(fresh_slapd, dn)["astPsKind"] == ["registration"]


def test_long_tail_fields_are_stored_as_name_value_lines(rt: Realtime, fresh_slapd: Slapd) -> None:
    rt.store("ps_registrations", [("id", "reg2"), ("server_uri", "sip:x.example;lr")])
    dn = f"astPsId=reg2,ou=registrations,ou=pjsip,{fresh_slapd.suffix}"
    assert raw_entry(fresh_slapd, dn)["astPsField"] == ["server_uri=sip:x.example;lr"]


def test_repeated_registration_outbound_auths_read_as_one_comma_list(rt: Realtime) -> None:
    rt.store("ps_registrations", [("id", "reg2"), ("outbound_auth", "a"), ("outbound_auth", "b")])
    record = rt.single("ps_registrations", {"id": "reg2"})
    assert record is not None and record.get_all("outbound_auth") == ["a,b"]


def test_updating_one_long_tail_field_keeps_the_others(rt: Realtime) -> None:
    rt.update("ps_registrations", "id", "itsp-reg", [("expiration", "600"), ("endpoint", "")])
    record = rt.single("ps_registrations", {"id": "itsp-reg"})
    assert record is not None
    assert (record.get("expiration"), record.get("endpoint"), record.get("retry_interval")) == (
        "600",
        None,
        "60",
    )


# Keyed on configuration ----------------------------------------------------------------------


@pytest.fixture
def renamed(fresh_slapd: Slapd) -> Iterator[Realtime]:
    """The testsuite's names (endpoints, contacts) for the shipped PJSIP maps."""
    families: dict[str, Any] = {
        "endpoints": {"extends": "ps_endpoints"},
        "contacts": {"extends": "ps_contacts"},
    }
    realtime = open_realtime(ldap_settings(fresh_slapd, families=families))
    yield realtime
    realtime.close()


def test_a_renamed_contact_family_uses_the_derived_aor(renamed: Realtime) -> None:
    renamed.store("contacts", sorcery_contact("a_b"))
    renamed.store("contacts", sorcery_contact("axb"))
    assert [r.get("id") for r in renamed.multi("contacts", {"id LIKE": "a_b;@%"})] == [
        f"a_b;@{CONTACT_DIGEST}"
    ]


def test_a_renamed_endpoint_family_re_stores_existing_objects(renamed: Realtime) -> None:
    assert renamed.store("endpoints", [("id", "itsp"), ("context", "x")]) == 1


def test_settings_load_every_pjsip_family_for_ldap(fresh_slapd: Slapd) -> None:
    settings = ldap_settings(fresh_slapd).backends["directory"]
    assert isinstance(settings, LdapBackendSettings)
    assert set(PJSIP) <= set(settings.families)


@pytest.mark.parametrize("endpoint_id", ["alice@example.org", "trunk,provider+1", "a;b", "#x "])
def test_ids_needing_rfc4514_escapes_store_and_read_back(rt: Realtime, endpoint_id: str) -> None:
    rt.store("ps_endpoints", [("id", endpoint_id), ("context", "c")])
    record = rt.single("ps_endpoints", {"id": endpoint_id})
    assert record is not None and record.get("id") == endpoint_id
