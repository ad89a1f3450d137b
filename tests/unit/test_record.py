"""Record: one realtime row as Asterisk sees it (realtime-api.md §11.1, §11.6).

A row is an ordered list of ``(name, value)`` variables in which a name may repeat (that
is how multi-valued options such as ``allow`` travel), and Asterisk compares column names
case-insensitively.
"""

from __future__ import annotations

from ara_ldap.record import Record

PEER = Record(
    [
        ("name", "alice"),
        ("allow", "ulaw"),
        ("host", "dynamic"),
        ("allow", "alaw"),
        ("Allow", "g722"),
    ]
)


# Order and repeats ----------------------------------------------------------------------


def test_pairs_keep_the_order_they_were_given_in() -> None:
    record = Record([("z", "1"), ("a", "2"), ("m", "3")])
    assert list(record) == [("z", "1"), ("a", "2"), ("m", "3")]
    assert record.pairs == (("z", "1"), ("a", "2"), ("m", "3"))


def test_a_field_may_repeat_and_every_value_is_kept() -> None:
    assert len(PEER) == 5
    assert [v for f, v in PEER if f.lower() == "allow"] == ["ulaw", "alaw", "g722"]


def test_indexing_and_slicing_follow_the_pair_order() -> None:
    assert PEER[0] == ("name", "alice")
    assert PEER[-1] == ("Allow", "g722")
    assert list(PEER[1:3]) == [("allow", "ulaw"), ("host", "dynamic")]


def test_names_and_values_are_coerced_to_strings() -> None:
    record = Record([("port", 5060)])  # type: ignore[list-item]
    assert record.pairs == (("port", "5060"),)


def test_from_mapping_turns_lists_into_repeated_fields_in_order() -> None:
    record = Record.from_mapping({"name": "bob", "allow": ["ulaw", "alaw"], "host": "dynamic"})
    assert list(record) == [
        ("name", "bob"),
        ("allow", "ulaw"),
        ("allow", "alaw"),
        ("host", "dynamic"),
    ]


def test_an_empty_record_is_falsy_and_empty() -> None:
    assert not Record()
    assert len(Record()) == 0


# Case-insensitive access ----------------------------------------------------------------


def test_get_returns_the_first_value_whatever_the_case_of_the_name() -> None:
    assert PEER.get("ALLOW") == "ulaw"
    assert PEER.get("Name") == "alice"


def test_get_returns_the_default_for_a_missing_field() -> None:
    assert PEER.get("secret") is None
    assert PEER.get("secret", "none") == "none"


def test_get_all_returns_every_value_in_order_across_spellings() -> None:
    assert PEER.get_all("allow") == ["ulaw", "alaw", "g722"]
    assert PEER.get_all("ALLOW") == ["ulaw", "alaw", "g722"]


def test_get_all_of_a_missing_field_is_an_empty_list() -> None:
    assert PEER.get_all("deny") == []


def test_contains_a_field_name_is_case_insensitive() -> None:
    assert "HOST" in PEER
    assert "host" in PEER
    assert "secret" not in PEER


def test_contains_a_pair_compares_the_exact_pair() -> None:
    assert ("allow", "alaw") in PEER
    assert ("allow", "gsm") not in PEER
    assert ("ALLOW", "ulaw") not in PEER  # pairs are compared exactly


def test_contains_something_that_is_neither_a_name_nor_a_pair_is_false() -> None:
    assert 42 not in PEER
    assert None not in PEER


def test_fields_lists_distinct_names_in_first_seen_order_with_first_spelling() -> None:
    assert PEER.fields() == ["name", "allow", "host"]


# Grouping and filtering ------------------------------------------------------------------


def test_grouped_collects_values_under_the_first_spelling_in_first_seen_order() -> None:
    assert PEER.grouped() == {
        "name": ["alice"],
        "allow": ["ulaw", "alaw", "g722"],
        "host": ["dynamic"],
    }
    assert list(PEER.grouped()) == ["name", "allow", "host"]


def test_without_empty_drops_empty_values_as_ast_load_realtime_does() -> None:
    record = Record([("name", "bob"), ("secret", ""), ("host", " "), ("allow", "")])
    assert record.without_empty() == Record([("name", "bob"), ("host", " ")])


def test_without_empty_returns_a_record() -> None:
    assert isinstance(PEER.without_empty(), Record)


def test_canonical_sorts_by_field_name_case_insensitively() -> None:
    record = Record([("name", "bob"), ("Host", "dynamic"), ("allow", "ulaw")])
    assert record.canonical() == (("allow", "ulaw"), ("Host", "dynamic"), ("name", "bob"))


def test_canonical_keeps_the_order_of_the_values_of_one_field() -> None:
    record = Record([("name", "bob"), ("allow", "ulaw"), ("host", "x"), ("allow", "alaw")])
    assert record.canonical() == (
        ("allow", "ulaw"),
        ("allow", "alaw"),
        ("host", "x"),
        ("name", "bob"),
    )


def test_canonical_is_equal_for_records_differing_only_in_field_order() -> None:
    a = Record([("name", "bob"), ("allow", "ulaw"), ("allow", "alaw")])
    b = Record([("allow", "ulaw"), ("allow", "alaw"), ("name", "bob")])
    assert a != b
    assert a.canonical() == b.canonical()


def test_canonical_differs_when_the_value_order_differs() -> None:
    a = Record([("allow", "ulaw"), ("allow", "alaw")])
    b = Record([("allow", "alaw"), ("allow", "ulaw")])
    assert a.canonical() != b.canonical()


# Equality and hashing -------------------------------------------------------------------


def test_records_with_the_same_pairs_in_the_same_order_are_equal() -> None:
    assert Record([("a", "1"), ("b", "2")]) == Record([("a", "1"), ("b", "2")])


def test_records_are_not_equal_when_the_order_differs() -> None:
    assert Record([("a", "1"), ("b", "2")]) != Record([("b", "2"), ("a", "1")])


def test_field_name_case_matters_for_equality() -> None:
    assert Record([("a", "1")]) != Record([("A", "1")])


def test_a_record_is_not_equal_to_a_plain_tuple_of_its_pairs() -> None:
    assert Record([("a", "1")]) != (("a", "1"),)


def test_equal_records_hash_equal_and_work_as_set_members() -> None:
    a = Record([("a", "1"), ("b", "2")])
    b = Record([("a", "1"), ("b", "2")])
    assert hash(a) == hash(b)
    assert len({a, b, Record([("a", "1")])}) == 2


def test_repr_shows_the_pairs() -> None:
    assert repr(Record([("a", "1")])) == "Record([('a', '1')])"
