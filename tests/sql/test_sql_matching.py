"""Property: on every engine, ``search`` returns exactly the records that the core's
in-memory semantics (``record_matches``) select from the whole table.

The WHERE clause is only a superset; this checks that it is never *less* than the exact
answer (a lost row) and that the post-filter removes the rest, for random criteria over a
data set full of the awkward cases: case, trailing spaces, accents, numbers spelled
differently, LIKE metacharacters, escaped multi-values, NULLs.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ara_ldap.criteria import Criterion, Operator, record_matches
from ara_ldap.realtime import Realtime
from ara_ldap.record import Record

DATA: list[list[tuple[str, str]]] = [
    [
        ("name", "alice"),
        ("callerid", "alice"),
        ("allow", "ulaw"),
        ("allow", "alaw"),
        ("port", "5060"),
        ("context", "ctx"),
    ],
    [("name", "Alice"), ("callerid", "Alice"), ("allow", "ULAW"), ("port", "10")],
    [("name", "10"), ("callerid", "10"), ("allow", "x;y"), ("allow", " x"), ("port", "9")],
    [
        ("name", "010"),
        ("callerid", "010"),
        ("setvar", "a=1"),
        ("setvar", "b^c"),
        ("regseconds", "-5"),
    ],
    [("name", "b "), ("callerid", "b "), ("context", "é")],
    [("name", "é"), ("callerid", "é"), ("context", "É"), ("regseconds", "100")],
    [("name", "%_\\"), ("callerid", "%_\\"), ("allow", "_law"), ("port", "0")],
    [("name", "x")],
    [("name", "9"), ("callerid", "9"), ("allow", "alaw"), ("regseconds", "1700000000")],
    [("name", "B"), ("callerid", "B;b"), ("context", "ctx "), ("port", "65535")],
]

VALUES = [
    "",
    "a",
    "A",
    "b",
    "B",
    "alice",
    "Alice",
    "ALICE",
    "ulaw",
    "ULAW",
    "alaw",
    "x;y",
    " x",
    "x",
    "b^c",
    "a=1",
    "10",
    "9",
    "010",
    "1e1",
    "-5",
    "5060",
    "0",
    "65535",
    "100",
    "9.5",
    "%",
    "_",
    "a%",
    "%a%",
    "_l%",
    "\\_%",
    "%\\%%",
    "\\",
    "é",
    "É",
    "e",
    "b ",
    "ctx",
    "ctx ",
    "_law",
    "%law",
    "B;b",
    "1700000000",
    "1x",
    "a\x00",
    "\x00%",
]
FIELDS = ["name", "callerid", "allow", "setvar", "port", "regseconds", "context"]

criteria_strategy = st.lists(
    st.builds(
        Criterion,
        st.sampled_from(FIELDS),
        st.sampled_from(list(Operator)),
        st.one_of(st.sampled_from(VALUES), st.text(max_size=4)),
    ),
    min_size=1,
    max_size=2,
)


@pytest.fixture
def loaded(rt: Realtime) -> tuple[Realtime, list[Record]]:
    for pairs in DATA:
        rt.store("sippeers", pairs)
    everything = rt.backends["sql"].search("sippeers", [])
    assert len(everything) == len(DATA)
    return rt, everything


def key(records: list[Record]) -> list[tuple[tuple[str, str], ...]]:
    return sorted(r.canonical() for r in records)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(criteria=criteria_strategy)
def test_search_equals_the_in_memory_semantics(
    loaded: tuple[Realtime, list[Record]], criteria: list[Criterion]
) -> None:
    rt, everything = loaded
    expected = [r for r in everything if record_matches(r, criteria)]
    assert key(rt.backends["sql"].search("sippeers", criteria)) == key(expected)


def test_the_data_set_reads_back_as_stored(loaded: tuple[Realtime, list[Record]]) -> None:
    _, everything = loaded
    order = {
        name: i
        for i, name in enumerate(
            ["name", "port", "regseconds", "context", "allow", "setvar", "callerid"]
        )
    }

    def normal(pairs: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
        return Record(sorted(pairs, key=lambda p: order[p[0]])).canonical()

    assert sorted(r.canonical() for r in everything) == sorted(normal(p) for p in DATA)
