"""store, update, destroy on every engine: counts, NULLs, conflicts, refusals."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from ara_ldap.errors import BadRequest, Conflict, UnknownField
from ara_ldap.realtime import Realtime
from ara_ldap.record import Record

RawSelect = Callable[[str, str], list[object]]  # the raw_column fixture (conftest.py)


@pytest.fixture
def three(rt: Realtime) -> Realtime:
    for name in ("a", "b", "c"):
        rt.store("sippeers", {"name": name, "context": "ctx", "host": "dynamic"})
    rt.store("sippeers", {"name": "other", "context": "CTX"})
    return rt


def test_a_duplicate_store_is_a_conflict(rt: Realtime) -> None:
    rt.store("sippeers", {"name": "alice"})
    with pytest.raises(Conflict, match="name='alice' already exists"):
        rt.store("sippeers", {"name": "alice", "host": "h"})


def test_a_conflicting_store_changes_nothing(rt: Realtime) -> None:
    rt.store("sippeers", {"name": "alice", "host": "dynamic"})
    with pytest.raises(Conflict):
        rt.store("sippeers", {"name": "alice", "host": "h"})
    assert rt.multi("sippeers", {"name": "alice"}) == [
        Record([("name", "alice"), ("host", "dynamic")])
    ]


def test_a_duplicate_composite_key_is_a_conflict(rt: Realtime) -> None:
    row = {"context": "c", "exten": "100", "priority": "1", "app": "NoOp"}
    rt.store("extensions", row)
    with pytest.raises(Conflict, match="already exists"):
        rt.store("extensions", row)


def test_a_second_voicemail_box_with_the_same_mailbox_is_stored_as_alembic_allows(
    rt: Realtime,
) -> None:
    # No unique key on voicemail in Asterisk's alembic table (LDAP refuses: docs/backends.md).
    rt.store("voicemail", {"context": "default", "mailbox": "100", "password": "1"})
    assert rt.store("voicemail", {"context": "default", "mailbox": "100", "password": "2"}) == 1
    assert len(rt.multi("voicemail", {"mailbox": "100"})) == 2


def test_names_differing_in_case_are_distinct_records(rt: Realtime) -> None:
    rt.store("sippeers", {"name": "alice"})
    assert rt.store("sippeers", {"name": "Alice"}) == 1


def test_store_with_an_unknown_field_is_refused(rt: Realtime) -> None:
    with pytest.raises(UnknownField, match="bogus"):
        rt.store("sippeers", {"name": "a", "bogus": "1"})
    assert rt.single("sippeers", {"name": "a"}) is None


def test_store_with_a_hidden_column_is_refused(rt: Realtime) -> None:
    with pytest.raises(UnknownField, match="'id'"):
        rt.store("sippeers", {"name": "a", "id": "7"})


def test_a_repeated_single_valued_field_is_a_bad_request(rt: Realtime) -> None:
    with pytest.raises(BadRequest, match="'host' is single-valued but got 2 values"):
        rt.store("sippeers", [("name", "a"), ("host", "h1"), ("host", "h2")])


def test_store_without_a_required_integer_is_a_bad_request(rt: Realtime) -> None:
    with pytest.raises(BadRequest, match="needs a value for 'priority'"):
        rt.store("extensions", {"context": "c", "exten": "100", "app": "NoOp"})


def test_store_without_a_required_text_stores_an_empty_string(
    rt: Realtime, raw_column: RawSelect
) -> None:
    rt.store("extensions", {"context": "c", "exten": "100", "priority": "1", "app": "Answer"})
    assert raw_column("extensions", "appdata") == [""]


def test_an_empty_value_is_stored_as_null(rt: Realtime, raw_column: RawSelect) -> None:
    rt.store("sippeers", {"name": "a", "host": "", "allow": ""})
    assert raw_column("sippeers", "host") == [None]
    assert raw_column("sippeers", "allow") == [None]


def test_a_value_longer_than_its_column_is_refused_on_every_engine(rt: Realtime) -> None:
    with pytest.raises(BadRequest, match="at most 40 characters"):
        rt.store("sippeers", {"name": "x" * 41})


def test_a_non_integer_for_an_integer_column_is_refused_on_every_engine(rt: Realtime) -> None:
    with pytest.raises(BadRequest, match="'port' holds whole numbers"):
        rt.store("sippeers", {"name": "a", "port": "50x"})


def test_an_integer_outside_the_column_type_is_refused_on_every_engine(rt: Realtime) -> None:
    with pytest.raises(BadRequest, match="from -2147483648 to 2147483647"):
        rt.store("sippeers", {"name": "a", "port": "2147483648"})


@pytest.mark.parametrize("value", ["9" * 5000, "5060\n", " 5060", "50.0"])
def test_integer_spellings_other_than_digits_are_refused(rt: Realtime, value: str) -> None:
    with pytest.raises(BadRequest, match="'port' holds whole numbers"):
        rt.store("sippeers", {"name": "a", "port": value})


def test_an_invalid_datetime_is_refused_on_every_engine(rt: Realtime) -> None:
    with pytest.raises(BadRequest, match="'stamp'"):
        rt.store("voicemail", {"context": "c", "mailbox": "1", "stamp": "yesterday"})


def test_a_nul_character_is_refused_on_every_engine(rt: Realtime) -> None:
    with pytest.raises(BadRequest, match="NUL"):
        rt.store("sippeers", {"name": "a\x00b"})


def test_update_returns_the_number_of_matched_rows(three: Realtime) -> None:
    assert three.update("sippeers", "context", "ctx", {"host": "192.0.2.1"}) == 3
    assert [r.get("host") for r in three.multi("sippeers", {"context": "ctx"})] == ["192.0.2.1"] * 3


def test_update_counts_rows_whose_values_do_not_change(three: Realtime) -> None:
    assert three.update("sippeers", "context", "ctx", {"host": "dynamic"}) == 3


def test_update_matching_nothing_returns_zero(three: Realtime) -> None:
    assert three.update("sippeers", "name", "nobody", {"host": "h"}) == 0


def test_update_uses_the_same_exact_matching_as_search(three: Realtime) -> None:
    assert three.update2("sippeers", {"context LIKE": "ct_"}, {"host": "h"}) == 3
    other = three.single("sippeers", {"name": "other"})
    assert other is not None and other.get("host") is None


def test_update_with_an_empty_value_removes_the_field(three: Realtime) -> None:
    assert three.update("sippeers", "name", "a", {"host": ""}) == 1
    assert three.single("sippeers", {"name": "a"}) == Record([("name", "a"), ("context", "ctx")])


def test_update_of_a_multi_valued_field_replaces_all_values(rt: Realtime) -> None:
    rt.store("sippeers", [("name", "a"), ("allow", "ulaw"), ("allow", "alaw")])
    rt.update("sippeers", "name", "a", [("allow", "g722"), ("allow", "opus")])
    record = rt.single("sippeers", {"name": "a"})
    assert record is not None and record.get_all("allow") == ["g722", "opus"]


def test_update_of_a_not_null_text_field_to_empty_reads_as_absent(rt: Realtime) -> None:
    rt.store("voicemail", {"context": "c", "mailbox": "1", "password": "1234"})
    assert rt.update("voicemail", "mailbox", "1", {"password": ""}) == 1
    assert rt.single("voicemail", {"mailbox": "1"}) == Record([("context", "c"), ("mailbox", "1")])


def test_update_of_a_not_null_integer_field_to_empty_is_a_bad_request(rt: Realtime) -> None:
    rt.store("extensions", {"context": "c", "exten": "1", "priority": "1", "app": "NoOp"})
    with pytest.raises(BadRequest, match=r"'priority'.*cannot be empty"):
        rt.update("extensions", "exten", "1", {"priority": ""})


def test_update_ignores_unknown_fields_with_a_warning(
    three: Realtime, caplog: pytest.LogCaptureFixture
) -> None:
    assert three.update("sippeers", "name", "a", {"regserver": "s1", "bogus": "x"}) == 1
    assert "bogus" in caplog.text
    record = three.single("sippeers", {"name": "a"})
    assert record is not None and record.get("regserver") == "s1"


def test_update_with_only_unknown_fields_is_refused(three: Realtime) -> None:
    with pytest.raises(UnknownField, match="bogus"):
        three.update("sippeers", "name", "a", {"bogus": "x"})


def test_update_to_an_existing_unique_name_is_a_conflict(three: Realtime) -> None:
    with pytest.raises(Conflict, match="name='b' already exists"):
        three.update("sippeers", "name", "a", {"name": "b"})
    assert three.single("sippeers", {"name": "a"}) is not None


def test_destroy_returns_the_number_deleted(three: Realtime) -> None:
    assert three.destroy("sippeers", {"context": "ctx"}) == 3
    assert [r.get("name") for r in three.multi("sippeers", {"name LIKE": "%"})] == ["other"]


def test_destroy_deletes_only_exact_matches(three: Realtime) -> None:
    assert three.destroy("sippeers", {"context": "CTX"}) == 1
    assert len(three.multi("sippeers", {"context": "ctx"})) == 3


def test_destroy_matching_nothing_returns_zero(three: Realtime) -> None:
    assert three.destroy("sippeers", {"name": "nobody"}) == 0


def test_concurrent_updates_of_one_row_all_succeed(rt: Realtime) -> None:
    rt.store("sippeers", {"name": "busy"})

    def work(worker: int) -> list[int]:
        return [
            rt.update("sippeers", "name", "busy", {"regseconds": f"{worker}{i}"}) for i in range(10)
        ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = [n for result in pool.map(work, range(8)) for n in result]
    assert counts == [1] * 80


def test_concurrent_stores_of_distinct_records_all_succeed(rt: Realtime) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: rt.store("sippeers", {"name": f"p{i}"}), range(40)))
    assert results == [1] * 40
    assert len(rt.multi("sippeers", {"name LIKE": "p%"})) == 40
