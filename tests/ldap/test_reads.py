"""single/multi on a real slapd loaded with ldif/: filters, escaping, exact SQL semantics."""

from __future__ import annotations

import pytest

from ara_ldap.errors import BadRequest, UnknownField
from ara_ldap.realtime import Realtime

ALL_PEERS = ["#tenant-a", "alice", "bob", "carol", "dave", "trunk", "trunk,provider+1"]


def names(records: list) -> list[str | None]:
    return [r.get("name") for r in records]


def test_single_returns_the_peer_with_fields_in_attribute_map_order(shared_rt: Realtime) -> None:
    alice = shared_rt.single("sippeers", {"name": "alice"})
    assert alice is not None
    assert alice.fields()[:4] == ["name", "host", "type", "context"]
    assert alice.get("secret") == "fake-alice-secret"


def test_multi_valued_codecs_come_back_in_written_order(shared_rt: Realtime) -> None:
    alice = shared_rt.single("sippeers", {"name": "alice"})
    assert alice is not None
    assert alice.get_all("allow") == ["ulaw", "alaw", "g722"]


def test_fullcontact_with_semicolons_is_one_value(shared_rt: Realtime) -> None:
    carol = shared_rt.single("sippeers", {"name": "carol"})
    assert carol is not None
    assert carol.get_all("fullcontact") == ["sip:carol@192.0.2.10:5060;transport=udp;ob"]


@pytest.mark.parametrize("name", ["trunk,provider+1", "#tenant-a"])
def test_names_that_need_dn_escaping_are_found(shared_rt: Realtime, name: str) -> None:
    peer = shared_rt.single("sippeers", {"name": name})
    assert peer is not None and peer.get("name") == name


def test_non_ascii_values_are_read_as_text(shared_rt: Realtime) -> None:
    dave = shared_rt.single("sippeers", {"name": "dave"})
    assert dave is not None and "Dörte Müller" in (dave.get("callerid") or "")


def test_a_missing_peer_is_none_not_an_error(shared_rt: Realtime) -> None:
    assert shared_rt.single("sippeers", {"name": "nobody"}) is None
    assert shared_rt.multi("sippeers", {"name": "nobody"}) == []


def test_multi_like_percent_returns_every_peer_sorted_by_name(shared_rt: Realtime) -> None:
    assert names(shared_rt.multi("sippeers", {"name LIKE": "%"})) == ALL_PEERS


def test_equality_is_case_sensitive_like_sql(shared_rt: Realtime) -> None:
    assert shared_rt.single("sippeers", {"name": "ALICE"}) is None


def test_like_is_case_sensitive(shared_rt: Realtime) -> None:
    assert names(shared_rt.multi("sippeers", {"name LIKE": "A%"})) == []


def test_like_underscore_matches_exactly_one_character(shared_rt: Realtime) -> None:
    assert names(shared_rt.multi("sippeers", {"name LIKE": "bo_"})) == ["bob"]
    assert names(shared_rt.multi("sippeers", {"name LIKE": "b_"})) == []


def test_like_escaped_underscore_is_literal(shared_rt: Realtime) -> None:
    rows = shared_rt.multi("extensions", [("exten LIKE", "\\_%"), ("context", "from-internal")])
    assert rows and all((r.get("exten") or "").startswith("_") for r in rows)
    literal = shared_rt.multi("extensions", [("exten LIKE", "\\_%"), ("context", "default")])
    assert literal == []


def test_switch_canmatch_prefix_query(shared_rt: Realtime) -> None:
    rows = shared_rt.multi(
        "extensions", [("exten LIKE", "100%"), ("priority", "1"), ("context", "default")]
    )
    assert sorted(r.get("exten") for r in rows) == ["100", "1000"]


def test_switch_matchmore_query_needs_one_more_character(shared_rt: Realtime) -> None:
    rows = shared_rt.multi(
        "extensions", [("exten LIKE", "100_%"), ("priority", "1"), ("context", "default")]
    )
    assert [r.get("exten") for r in rows] == ["1000"]


def test_percent_in_a_like_value_can_be_escaped(shared_rt: Realtime) -> None:
    assert shared_rt.multi("sippeers", {"name LIKE": "ali\\%"}) == []


def test_less_than_is_numeric_on_a_string_attribute(shared_rt: Realtime) -> None:
    assert names(shared_rt.multi("sippeers", {"regseconds <": "1800000000"})) == ["carol"]
    assert shared_rt.multi("sippeers", {"regseconds >=": "1767225601"}) == []


def test_greater_equal_uses_integer_ordering_when_the_schema_has_it(shared_rt: Realtime) -> None:
    assert names(shared_rt.multi("sippeers", {"qualifyfreq >=": "60"})) == ["alice"]
    assert shared_rt.multi("sippeers", {"qualifyfreq >": "60"}) == []


def test_numbers_compare_as_numbers_not_strings(shared_rt: Realtime) -> None:
    # "2" > "10" as strings; numerically 2 < 10.
    assert names(shared_rt.multi("sippeers", {"busylevel <": "10"})) == ["carol"]


def test_not_equal_keeps_only_present_and_different_values(shared_rt: Realtime) -> None:
    rows = shared_rt.multi("sippeers", {"host !=": "dynamic"})
    assert rows and all(r.get("host") not in (None, "dynamic") for r in rows)


def test_not_equal_empty_means_present(shared_rt: Realtime) -> None:
    rows = shared_rt.multi("sippeers", {"fullcontact !=": ""})
    assert names(rows) == ["carol"]


def test_several_criteria_are_anded(shared_rt: Realtime) -> None:
    box = shared_rt.single("voicemail", {"mailbox": "1001", "context": "sales"})
    assert box is not None and box.get("context") == "sales"
    assert len(shared_rt.multi("voicemail", {"mailbox": "1001"})) == 2


def test_attribute_without_matching_rules_is_still_searchable(shared_rt: Realtime) -> None:
    # Stock AstAccountFromUser has no EQUALITY rule: the server cannot filter on it.
    peer = shared_rt.single("sippeers", {"fromuser": "4420001"})
    assert peer is not None and peer.get("name") == "trunk,provider+1"


@pytest.mark.parametrize(
    "value",
    [
        "*",
        "a)(cn=*",
        "*)(|(objectClass=*)",
        "\\",
        "alice\x00",
        "a,b",
        "a+b",
        "a=b",
        "#x",
        "ünïcödé",
        "(",
        ")",
        "al*",
        "%",
    ],
)
def test_filter_metacharacters_in_values_match_only_themselves(
    shared_rt: Realtime, value: str
) -> None:
    assert shared_rt.single("sippeers", {"name": value}) is None


def test_a_star_in_like_is_a_literal_not_a_wildcard(shared_rt: Realtime) -> None:
    assert shared_rt.multi("sippeers", {"name LIKE": "a*"}) == []


def test_unknown_field_in_criteria_is_a_bad_request(shared_rt: Realtime) -> None:
    with pytest.raises(UnknownField):
        shared_rt.single("sippeers", {"nosuchfield": "x"})


def test_lookup_without_criteria_is_refused(shared_rt: Realtime) -> None:
    with pytest.raises(BadRequest):
        shared_rt.multi("sippeers", {})


def test_require_answers_from_the_server_schema(shared_rt: Realtime) -> None:
    from ara_ldap.backends.base import Requirement

    ok = [
        Requirement.parse("name", "char:10"),
        Requirement.parse("port", "uinteger2:5"),
        Requirement.parse("regseconds", "integer4:11"),
    ]
    assert shared_rt.require("sippeers", ok) == []
    problems = shared_rt.require(
        "sippeers",
        [Requirement.parse("nosuch", "char:1"), Requirement.parse("busylevel", "char:10")],
    )
    assert len(problems) == 2
    assert "nosuch" in problems[0] and "integers" in problems[1]


def test_connections_are_reused_across_calls(shared_rt: Realtime) -> None:
    backend = shared_rt.backends["directory"]
    for _ in range(20):
        shared_rt.single("sippeers", {"name": "alice"})
    assert backend.pool.opened <= backend.settings.pool_size  # type: ignore[attr-defined]


def test_like_prefix_is_narrowed_by_the_server_with_a_substring_filter(shared_rt: Realtime) -> None:
    # ldap3 parses SUBSTR rules under another name; a presence filter here would make
    # every LIKE lookup fetch the whole family.
    from ara_ldap.backends.ldap.backend import LdapBackend
    from ara_ldap.criteria import as_criteria

    shared_rt.single("sippeers", {"name": "alice"})
    backend = shared_rt.backends["directory"]
    assert isinstance(backend, LdapBackend)
    fmap = backend.family_map("sippeers")
    flt = backend.search_filter(fmap, as_criteria({"name LIKE": "ali%"}))
    assert flt == "(&(objectClass=AsteriskSIPUser)(cn=ali*))"
