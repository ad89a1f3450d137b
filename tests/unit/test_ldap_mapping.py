"""Field ⇄ attribute mapping of the shipped LDAP families (realtime-api.md §3.2, §6).

The maps are the ones in ``ara_ldap/defaults/ldap-families.yaml``, loaded through the
configuration loader exactly as a deployment does.
"""

from __future__ import annotations

from typing import Any

import pytest

from ara_ldap.backends.ldap.mapping import FamilyMap
from ara_ldap.config import LdapFamily, load_settings
from ara_ldap.errors import SECRET_MASK, BadRequest, UnknownField
from ara_ldap.record import Record

BASE_DN = "dc=example,dc=org"


def family_map(name: str, **overrides: Any) -> FamilyMap:
    backend: dict[str, Any] = {
        "type": "ldap",
        "urls": ["ldap://127.0.0.1:389"],
        "base_dn": BASE_DN,
    }
    if overrides:
        backend["families"] = {name: overrides}
    settings = load_settings({"backends": {"d": backend}})
    spec = settings.backends["d"].families[name]
    assert isinstance(spec, LdapFamily)
    return FamilyMap(name, spec)


@pytest.fixture(scope="module")
def sip() -> FamilyMap:
    return family_map("sippeers")


@pytest.fixture(scope="module")
def voicemail() -> FamilyMap:
    return family_map("voicemail")


@pytest.fixture(scope="module")
def extensions() -> FamilyMap:
    return family_map("extensions")


# The shipped maps -----------------------------------------------------------------------


def test_shipped_sippeers_map_lives_under_the_backend_base(sip: FamilyMap) -> None:
    assert sip.base_dn == f"ou=sip,ou=asterisk,{BASE_DN}"
    assert sip.filter == "(objectClass=AsteriskSIPUser)"
    assert sip.rdn_attribute == "cn"
    assert sip.rdn_fields == ["name"]
    assert sip.value_order == "server"


def test_field_names_resolve_case_insensitively_to_their_canonical_spelling(
    sip: FamilyMap,
) -> None:
    assert sip.field("NAME") == "name"
    assert sip.attribute("Host") == "AstAccountHost"
    assert sip.has_field("Session-Timers")


def test_an_unmapped_field_name_is_unknown_field(sip: FamilyMap) -> None:
    assert not sip.has_field("objectClass")
    with pytest.raises(UnknownField, match="nosuchfield"):
        sip.field("nosuchfield")


def test_the_requested_attributes_are_the_mapped_ones_in_map_order(sip: FamilyMap) -> None:
    assert sip.attributes[:3] == ["cn", "AstAccountIPAddress", "AstAccountPort"]
    assert len(sip.attributes) == len(sip.fields)


# Reading entries -------------------------------------------------------------------------


def test_to_record_orders_fields_by_the_attribute_map_not_the_entry(sip: FamilyMap) -> None:
    record = sip.to_record(
        {
            "AstAccountHost": [b"dynamic"],
            "AstAccountContext": [b"from-internal"],
            "cn": [b"alice"],
        }
    )
    assert list(record) == [("name", "alice"), ("host", "dynamic"), ("context", "from-internal")]


def test_to_record_drops_unmapped_attributes(sip: FamilyMap) -> None:
    record = sip.to_record(
        {"cn": [b"alice"], "objectClass": [b"top", b"device"], "description": [b"x"]}
    )
    assert record == Record([("name", "alice")])


def test_to_record_matches_attribute_names_case_insensitively(sip: FamilyMap) -> None:
    record = sip.to_record({"CN": [b"alice"], "astaccounthost": [b"dynamic"]})
    assert record == Record([("name", "alice"), ("host", "dynamic")])


def test_to_record_keeps_the_order_of_multi_valued_attributes(sip: FamilyMap) -> None:
    record = sip.to_record(
        {"cn": [b"alice"], "AstAccountAllowedCodec": [b"g722", b"ulaw", b"alaw"]}
    )
    assert record.get_all("allow") == ["g722", "ulaw", "alaw"]


def test_to_record_decodes_utf8(sip: FamilyMap) -> None:
    record = sip.to_record({"cn": ["José".encode()]})
    assert record.get("name") == "José"


def test_to_record_drops_empty_values_and_empty_attributes(sip: FamilyMap) -> None:
    record = sip.to_record({"cn": [b"alice"], "AstAccountHost": [], "AstAccountContext": [b""]})
    assert record == Record([("name", "alice")])


@pytest.mark.parametrize("stored", [b"{md5}0123abcd", b"{MD5}0123abcd", b"0123abcd"])
def test_to_record_strips_the_md5_prefix_from_md5secret(sip: FamilyMap, stored: bytes) -> None:
    record = sip.to_record({"AstAccountRealmedPassword": [stored]})
    assert record.get("md5secret") == "0123abcd"


def test_the_md5_prefix_is_stripped_only_from_md5secret(sip: FamilyMap) -> None:
    record = sip.to_record({"AstAccountSecret": [b"{md5}notahash"]})
    assert record.get("secret") == "{md5}notahash"


def test_semicolons_are_not_split_by_default(sip: FamilyMap) -> None:
    record = sip.to_record({"AstAccountAllowedCodec": [b"ulaw;alaw"]})
    assert record.get_all("allow") == ["ulaw;alaw"]


def test_legacy_split_semicolons_true_splits_the_multi_valued_fields() -> None:
    fmap = family_map("sippeers", split_semicolons=True)
    record = fmap.to_record(
        {
            "AstAccountAllowedCodec": [b"ulaw; alaw;", b"g722"],
            "AstAccountFullContact": [b"sip:a@b;transport=udp"],
        }
    )
    assert record.get_all("allow") == ["ulaw", "alaw", "g722"]
    assert record.get("fullcontact") == "sip:a@b;transport=udp"


def test_legacy_split_semicolons_list_splits_only_the_listed_fields() -> None:
    fmap = family_map("sippeers", split_semicolons=["setvar"])
    record = fmap.to_record(
        {"AstAccountSetVar": [b"A=1;B=2"], "AstAccountAllowedCodec": [b"ulaw;alaw"]}
    )
    assert record.get_all("setvar") == ["A=1", "B=2"]
    assert record.get_all("allow") == ["ulaw;alaw"]


def test_prefix_mode_sorts_by_position_and_strips_the_prefix() -> None:
    fmap = family_map("sippeers", value_order="prefix")
    record = fmap.to_record(
        {"AstAccountAllowedCodec": [b"{2}gsm", b"{0}g722", b"{10}alaw", b"{1}ulaw"]}
    )
    assert record.get_all("allow") == ["g722", "ulaw", "gsm", "alaw"]


def test_prefix_mode_leaves_values_alone_unless_all_carry_a_prefix() -> None:
    fmap = family_map("sippeers", value_order="prefix")
    record = fmap.to_record({"AstAccountAllowedCodec": [b"{1}ulaw", b"alaw"]})
    assert record.get_all("allow") == ["{1}ulaw", "alaw"]


def test_prefix_mode_applies_only_to_multi_valued_fields() -> None:
    fmap = family_map("sippeers", value_order="prefix")
    assert fmap.is_prefixed("allow")
    assert not fmap.is_prefixed("name")
    record = fmap.to_record({"cn": [b"{0}odd"]})
    assert record.get("name") == "{0}odd"


def test_value_order_of_the_backend_applies_when_the_family_sets_none() -> None:
    spec = family_map("sippeers").spec
    assert FamilyMap("sippeers", spec, "prefix").value_order == "prefix"


def test_voicemail_reads_its_fields_in_map_order(voicemail: FamilyMap) -> None:
    record = voicemail.to_record(
        {
            "cn": [b"100@default"],
            "AstVoicemailMailbox": [b"100"],
            "AstContext": [b"default"],
            "AstVoicemailPassword": [b"1234"],
        }
    )
    assert list(record) == [("context", "default"), ("mailbox", "100"), ("password", "1234")]


def test_extensions_reads_its_fields_in_map_order(extensions: FamilyMap) -> None:
    record = extensions.to_record(
        {
            "AstApplicationData": [b"PJSIP/100"],
            "AstPriority": [b"1"],
            "AstApplication": [b"Dial"],
            "AstExtension": [b"100"],
            "AstContext": [b"internal"],
        }
    )
    assert record.fields() == ["context", "exten", "priority", "app", "appdata"]


# Writing entries -------------------------------------------------------------------------


def test_entry_for_maps_fields_to_attributes(sip: FamilyMap) -> None:
    entry = sip.entry_for(Record([("name", "alice"), ("host", "dynamic")]))
    assert entry.attributes == {"cn": ["alice"], "AstAccountHost": ["dynamic"]}
    assert entry.rdn_attribute == "cn"
    assert entry.rdn_value == "alice"


def test_entry_for_accepts_field_names_in_any_case(sip: FamilyMap) -> None:
    entry = sip.entry_for(Record([("NAME", "alice"), ("Host", "dynamic")]))
    assert entry.attributes == {"cn": ["alice"], "AstAccountHost": ["dynamic"]}


def test_entry_for_rejects_an_unknown_field(sip: FamilyMap) -> None:
    with pytest.raises(UnknownField, match="nosuchfield"):
        sip.entry_for(Record([("name", "alice"), ("nosuchfield", "x")]))


def test_entry_for_rejects_a_repeated_single_valued_field(sip: FamilyMap) -> None:
    with pytest.raises(BadRequest, match="single-valued"):
        sip.entry_for(Record([("name", "alice"), ("host", "a"), ("host", "b")]))


def test_entry_for_writes_multi_valued_fields_in_order(sip: FamilyMap) -> None:
    entry = sip.entry_for(
        Record([("name", "alice"), ("allow", "g722"), ("allow", "ulaw"), ("allow", "alaw")])
    )
    assert entry.attributes["AstAccountAllowedCodec"] == ["g722", "ulaw", "alaw"]


def test_entry_for_rejects_duplicate_values_in_server_mode(sip: FamilyMap) -> None:
    with pytest.raises(BadRequest, match="repeats a value"):
        sip.entry_for(Record([("name", "alice"), ("allow", "ulaw"), ("allow", "ULAW")]))


def test_entry_for_in_prefix_mode_writes_position_prefixes() -> None:
    fmap = family_map("sippeers", value_order="prefix")
    entry = fmap.entry_for(Record([("name", "alice"), ("allow", "a"), ("allow", "b")]))
    assert entry.attributes["AstAccountAllowedCodec"] == ["{0}a", "{1}b"]
    assert entry.attributes["cn"] == ["alice"]


def test_entry_for_in_prefix_mode_allows_repeated_values() -> None:
    fmap = family_map("sippeers", value_order="prefix")
    entry = fmap.entry_for(Record([("name", "alice"), ("setvar", "A=1"), ("setvar", "A=1")]))
    assert entry.attributes["AstAccountSetVar"] == ["{0}A=1", "{1}A=1"]


def test_entry_for_drops_empty_values(sip: FamilyMap) -> None:
    entry = sip.entry_for(
        Record([("name", "alice"), ("host", ""), ("allow", ""), ("allow", "ulaw")])
    )
    assert entry.attributes == {"cn": ["alice"], "AstAccountAllowedCodec": ["ulaw"]}


def test_entry_for_needs_the_rdn_field(sip: FamilyMap) -> None:
    with pytest.raises(BadRequest, match="name"):
        sip.entry_for(Record([("host", "dynamic")]))


def test_entry_for_rejects_an_empty_rdn_field(sip: FamilyMap) -> None:
    with pytest.raises(BadRequest):
        sip.entry_for(Record([("name", ""), ("host", "dynamic")]))


def test_the_dn_of_a_record_comes_from_its_rdn_field(sip: FamilyMap) -> None:
    entry = sip.entry_for(Record([("name", "alice")]))
    assert sip.dn_for(entry.rdn_value) == f"cn=alice,ou=sip,ou=asterisk,{BASE_DN}"


def test_the_dn_escapes_special_characters_of_the_rdn_value(sip: FamilyMap) -> None:
    entry = sip.entry_for(Record([("name", "a,b+c")]))
    assert sip.dn_for(entry.rdn_value) == f"cn=a\\,b\\+c,ou=sip,ou=asterisk,{BASE_DN}"


def test_the_voicemail_rdn_comes_from_its_template(voicemail: FamilyMap) -> None:
    entry = voicemail.entry_for(
        Record([("context", "default"), ("mailbox", "100"), ("password", "1234")])
    )
    assert entry.rdn_attribute == "cn"
    assert entry.rdn_value == "100@default"
    assert entry.attributes["cn"] == ["100@default"]
    assert entry.attributes["AstVoicemailMailbox"] == ["100"]
    assert voicemail.dn_for(entry.rdn_value) == f"cn=100@default,ou=voicemail,ou=asterisk,{BASE_DN}"


def test_a_template_rdn_needs_every_field_it_names(voicemail: FamilyMap) -> None:
    with pytest.raises(BadRequest, match="context"):
        voicemail.entry_for(Record([("mailbox", "100")]))


def test_the_extensions_rdn_template_combines_three_fields(extensions: FamilyMap) -> None:
    entry = extensions.entry_for(
        Record([("context", "internal"), ("exten", "_X."), ("priority", "1"), ("app", "Dial")])
    )
    assert entry.rdn_value == "_X.@internal/1"
    assert extensions.dn_for(entry.rdn_value) == (
        f"cn=_X.@internal/1,ou=extensions,ou=asterisk,{BASE_DN}"
    )


def test_a_template_rdn_value_is_dn_escaped(voicemail: FamilyMap) -> None:
    entry = voicemail.entry_for(Record([("context", "a,b"), ("mailbox", "1+2")]))
    assert voicemail.dn_for(entry.rdn_value).startswith("cn=1\\+2@a\\,b,ou=voicemail,")


def test_group_collects_values_by_canonical_field_and_reports_unknowns(sip: FamilyMap) -> None:
    grouped, unknown = sip.group(
        Record([("Allow", "ulaw"), ("regserver", "x"), ("allow", "alaw"), ("bogus", "1")]),
        strict=False,
    )
    assert grouped == {"allow": ["ulaw", "alaw"], "regserver": ["x"]}
    assert unknown == ["bogus"]


# Secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["secret", "md5secret", "remotesecret", "SECRET"])
def test_describe_masks_secret_fields(sip: FamilyMap, field: str) -> None:
    assert sip.describe(field, "hunter2") == SECRET_MASK


def test_describe_quotes_ordinary_fields(sip: FamilyMap) -> None:
    assert sip.describe("name", "alice") == "'alice'"


def test_describe_shortens_long_values(sip: FamilyMap) -> None:
    described = sip.describe("fullcontact", "x" * 100)
    assert described.endswith("...'")
    assert len(described) < 70


def test_voicemail_passwords_are_secret(voicemail: FamilyMap) -> None:
    assert voicemail.describe("password", "1234") == SECRET_MASK
    assert voicemail.describe("imappassword", "pw") == SECRET_MASK
