"""The in-memory replica of one family (ara_ldap/backends/ldap/replica.py).

Pure: entries are raw attribute dicts of bytes, as ldap3 returns them, mapped through the
shipped attribute maps.  The property test is the contract: ``search`` equals a brute-force
``record_matches`` over every record, whatever the history of changes.
"""

from __future__ import annotations

import gc
import threading
import tracemalloc
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ara_ldap.backends.ldap.mapping import FamilyMap
from ara_ldap.backends.ldap.replica import FamilyReplica
from ara_ldap.config import LdapFamily, load_settings
from ara_ldap.criteria import Criterion, Operator, parse_criteria, record_matches
from ara_ldap.errors import UnknownField
from ara_ldap.record import Record

BASE_DN = "dc=example,dc=org"
SIP_BASE = f"ou=sip,ou=asterisk,{BASE_DN}"


def family_map(name: str) -> FamilyMap:
    backend: dict[str, Any] = {"type": "ldap", "urls": ["ldap://127.0.0.1:389"], "base_dn": BASE_DN}
    spec = load_settings({"backends": {"d": backend}}).backends["d"].families[name]
    assert isinstance(spec, LdapFamily)
    return FamilyMap(name, spec)


SIP = family_map("sippeers")
EXTENSIONS = family_map("extensions")
VOICEMAIL = family_map("voicemail")


def raw(fmap: FamilyMap, **fields: str | Sequence[str]) -> dict[str, list[bytes]]:
    """An entry as ldap3 returns it: ``{attribute: [bytes]}``, plus objectClass."""
    out: dict[str, list[bytes]] = {"objectClass": [b"top"]}
    for name, value in fields.items():
        values = [value] if isinstance(value, str) else list(value)
        out[fmap.attribute(name)] = [v.encode() for v in values]
    return out


def peer(name: str, **fields: str | Sequence[str]) -> dict[str, list[bytes]]:
    return raw(SIP, name=name, **fields)


def uid(n: int) -> bytes:
    return n.to_bytes(16, "big")


def dn(name: str) -> str:
    return f"cn={name},{SIP_BASE}"


def q(replica: FamilyReplica, *pairs: tuple[str, str]) -> list[Record]:
    return replica.search(parse_criteria(pairs))


def names(records: Sequence[Record]) -> list[str]:
    return sorted(r.get("name") or "" for r in records)


@pytest.fixture
def sip() -> FamilyReplica:
    return FamilyReplica(SIP)


# Changes ----------------------------------------------------------------------------------


def test_upserted_entry_is_found_as_its_mapped_record(sip: FamilyReplica) -> None:
    entry = peer("1000", context="default", allow=["ulaw", "alaw"])
    sip.upsert(uid(1), dn("1000"), entry)
    assert q(sip, ("name", "1000")) == [SIP.to_record(entry)]


def test_upsert_of_a_known_uuid_replaces_the_entry(sip: FamilyReplica) -> None:
    sip.upsert(uid(1), dn("1000"), peer("1000", context="old"))
    assert names(q(sip, ("context", "old"))) == ["1000"]
    sip.upsert(uid(1), dn("1000"), peer("1000", context="new"))
    assert q(sip, ("context", "old")) == []
    assert [r.get("context") for r in q(sip, ("name", "1000"))] == ["new"]
    assert len(sip) == 1


def test_rename_moves_the_dn_and_the_rdn_value(sip: FamilyReplica) -> None:
    sip.upsert(uid(1), dn("1000"), peer("1000"))
    q(sip, ("name", "1000"))  # the name index exists before the rename
    sip.upsert(uid(1), dn("2000"), peer("2000"))
    assert sip.dn_of(uid(1)) == dn("2000")
    assert sip.has_dn(dn("2000")) and not sip.has_dn(dn("1000"))
    assert q(sip, ("name", "1000")) == []
    assert names(q(sip, ("name", "2000"))) == ["2000"]


def test_delete_forgets_the_entry_everywhere(sip: FamilyReplica) -> None:
    sip.upsert(uid(1), dn("1000"), peer("1000", context="default"))
    q(sip, ("name", "1000"))
    sip.delete(uid(1))
    assert q(sip, ("name", "1000")) == [] and q(sip, ("context", "default")) == []
    assert len(sip) == 0 and sip.dn_of(uid(1)) is None and not sip.has_dn(dn("1000"))


def test_delete_of_an_unknown_uuid_is_a_no_op(sip: FamilyReplica) -> None:
    sip.upsert(uid(1), dn("1000"), peer("1000"))
    sip.delete(uid(2))
    assert len(sip) == 1


def test_retain_drops_every_other_entry_and_counts_them(sip: FamilyReplica) -> None:
    for i in range(5):
        sip.upsert(uid(i), dn(str(i)), peer(str(i), context="c"))
    assert sip.retain([uid(1), uid(3), uid(99)]) == 3
    assert sip.uuids() == {uid(1), uid(3)}
    assert names(q(sip, ("context", "c"))) == ["1", "3"]


def test_clear_empties_the_store_and_indexes_still_work_after(sip: FamilyReplica) -> None:
    sip.upsert(uid(1), dn("a"), peer("a", regseconds="5"))
    q(sip, ("name LIKE", "a%"))
    q(sip, ("regseconds <=", "9"))
    sip.clear()
    assert len(sip) == 0 and sip.uuids() == set() and q(sip, ("name", "a")) == []
    sip.upsert(uid(2), dn("ab"), peer("ab", regseconds="7"))
    assert names(q(sip, ("name LIKE", "a%"))) == ["ab"]
    assert names(q(sip, ("regseconds <=", "9"))) == ["ab"]


def test_has_dn_ignores_case_and_spaces_after_separators(sip: FamilyReplica) -> None:
    sip.upsert(uid(1), "cn=Peer1,ou=sip,ou=asterisk,dc=example,dc=org", peer("Peer1"))
    assert sip.has_dn("CN=peer1, ou=SIP, ou=asterisk, dc=example, dc=org")
    assert not sip.has_dn("cn=peer2,ou=sip,ou=asterisk,dc=example,dc=org")


# Indexes, and their upkeep after changes --------------------------------------------------


def test_equality_bucket_follows_a_value_change(sip: FamilyReplica) -> None:
    for i in range(3):
        sip.upsert(uid(i), dn(str(i)), peer(str(i), context="a"))
    assert names(q(sip, ("context", "a"))) == ["0", "1", "2"]
    sip.upsert(uid(1), dn("1"), peer("1", context="b"))
    sip.upsert(uid(2), dn("2"), peer("2", context="b"))
    assert names(q(sip, ("context", "a"))) == ["0"]
    assert names(q(sip, ("context", "b"))) == ["1", "2"]
    sip.delete(uid(0))
    assert q(sip, ("context", "a")) == []


def test_equality_is_case_sensitive_as_on_a_text_column(sip: FamilyReplica) -> None:
    sip.upsert(uid(1), dn("1"), peer("1", context="Default"))
    assert q(sip, ("context", "default")) == []
    assert names(q(sip, ("CONTEXT", "Default"))) == ["1"]


def test_multi_valued_field_is_indexed_under_each_value(sip: FamilyReplica) -> None:
    sip.upsert(uid(1), dn("1"), peer("1", allow=["ulaw", "alaw", "g722"]))
    sip.upsert(uid(2), dn("2"), peer("2", allow=["alaw"]))
    assert names(q(sip, ("allow", "alaw"))) == ["1", "2"]
    assert names(q(sip, ("allow LIKE", "g7%"))) == ["1"]
    sip.upsert(uid(1), dn("1"), peer("1", allow=["ulaw", "g729"]))
    assert names(q(sip, ("allow", "alaw"))) == ["2"]
    assert names(q(sip, ("allow LIKE", "g7%"))) == ["1"]
    assert names(q(sip, ("allow LIKE", "g722"))) == []


def test_multi_valued_entry_is_returned_once_by_a_prefix_spanning_values(
    sip: FamilyReplica,
) -> None:
    sip.upsert(uid(1), dn("1"), peer("1", allow=["g722", "g729"]))
    assert names(q(sip, ("allow LIKE", "g72%"))) == ["1"]


def test_prefix_index_is_maintained_and_case_sensitive(sip: FamilyReplica) -> None:
    for name in ["peer1", "peer2", "Peer3", "pe", "peez"]:
        sip.upsert(uid(hash(name) % 1000), dn(name), peer(name))
    assert names(q(sip, ("name LIKE", "peer%"))) == ["peer1", "peer2"]
    sip.upsert(uid(7777), dn("peer10"), peer("peer10"))
    sip.delete(uid(hash("peer1") % 1000))
    assert names(q(sip, ("name LIKE", "peer%"))) == ["peer10", "peer2"]
    assert names(q(sip, ("name LIKE", "Peer%"))) == ["Peer3"]
    assert names(q(sip, ("name LIKE", "pee_"))) == ["peez"]


def test_prefix_with_escaped_wildcards_is_literal(sip: FamilyReplica) -> None:
    for i, name in enumerate(["a%b1", "a_b2", "axb3", "a\\b4"]):
        sip.upsert(uid(i), dn(str(i)), peer(name))
    assert names(q(sip, ("name LIKE", "a\\%%"))) == ["a%b1"]
    assert names(q(sip, ("name LIKE", "a\\_%"))) == ["a_b2"]
    assert names(q(sip, ("name LIKE", "a_b%"))) == ["a%b1", "a\\b4", "a_b2", "axb3"]
    assert names(q(sip, ("name LIKE", "a\\\\%"))) == ["a\\b4"]


def test_numeric_range_compares_numbers_numerically(sip: FamilyReplica) -> None:
    for i, seconds in enumerate(["9", "10", "0100", "1e2", "-5", "1700000000"]):
        sip.upsert(uid(i), dn(str(i)), peer(str(i), regseconds=seconds))
    assert names(q(sip, ("regseconds <=", "100"))) == ["0", "1", "2", "3", "4"]
    assert names(q(sip, ("regseconds <", "100"))) == ["0", "1", "4"]
    assert names(q(sip, ("regseconds >", "99.5"))) == ["2", "3", "5"]
    assert names(q(sip, ("regseconds >=", "1.7e9"))) == ["5"]


def test_numeric_range_compares_non_numbers_as_text(sip: FamilyReplica) -> None:
    for i, seconds in enumerate(["abc", "5", "~", "10"]):
        sip.upsert(uid(i), dn(str(i)), peer(str(i), regseconds=seconds))
    # "abc" and "~" are not numbers: they compare with "7" as text ("7" < "abc" < "~").
    assert names(q(sip, ("regseconds >", "7"))) == ["0", "2", "3"]
    # A non-numeric operand: every value compares as text ("10" < "5" < "6").
    assert names(q(sip, ("regseconds <", "6x"))) == ["1", "3"]


def test_range_index_is_maintained_after_changes(sip: FamilyReplica) -> None:
    for i in range(10):
        sip.upsert(uid(i), dn(str(i)), peer(str(i), regseconds=str(1000 + i)))
    assert len(q(sip, ("regseconds <=", "1004"))) == 5
    sip.upsert(uid(0), dn("0"), peer("0", regseconds="2000"))
    sip.upsert(uid(20), dn("20"), peer("20", regseconds="5"))
    sip.delete(uid(1))
    assert names(q(sip, ("regseconds <=", "1004"))) == ["2", "20", "3", "4"]
    assert names(q(sip, ("regseconds >", "1500"))) == ["0"]


def test_conjunction_uses_any_index_and_checks_every_criterion(sip: FamilyReplica) -> None:
    vm = FamilyReplica(VOICEMAIL)
    for i, (mailbox, context) in enumerate(
        [("1234", "default"), ("1234", "other"), ("9", "default")]
    ):
        vm.upsert(
            uid(i), f"cn={mailbox}@{context}", raw(VOICEMAIL, mailbox=mailbox, context=context)
        )
    found = q(vm, ("mailbox", "1234"), ("context", "default"))
    assert [(r.get("mailbox"), r.get("context")) for r in found] == [("1234", "default")]


def test_selective_equality_spares_building_indexes_for_other_criteria(
    sip: FamilyReplica,
) -> None:
    for i in range(20):
        sip.upsert(uid(i), dn(str(i)), peer(str(i), context="c", regseconds=str(i)))
    found = q(sip, ("regseconds <=", "100"), ("context LIKE", "c%"), ("name", "7"))
    assert names(found) == ["7"]
    assert set(sip._indexes) == {"name"}


def test_dialplan_lookup_by_context_exten_and_priority() -> None:
    ext = FamilyReplica(EXTENSIONS)
    for i, (exten, prio) in enumerate([("100", "1"), ("100", "2"), ("_1XX", "1"), ("200", "1")]):
        entry = raw(EXTENSIONS, context="internal", exten=exten, priority=prio, app="Dial")
        ext.upsert(uid(i), f"cn={exten}@internal/{prio}", entry)
    found = q(ext, ("context", "internal"), ("exten", "100"), ("priority", "2"))
    assert [(r.get("exten"), r.get("priority")) for r in found] == [("100", "2")]
    assert len(q(ext, ("context", "internal"), ("exten LIKE", "\\_%"))) == 1


def test_like_percent_alone_matches_every_non_empty_value(sip: FamilyReplica) -> None:
    sip.upsert(uid(1), dn("1"), peer("1", context="x"))
    sip.upsert(uid(2), dn("2"), peer("2", context=""))
    sip.upsert(uid(3), dn("3"), peer("3"))
    assert names(q(sip, ("context LIKE", "%"))) == ["1"]


def test_negative_operators_scan_and_skip_nulls(sip: FamilyReplica) -> None:
    sip.upsert(uid(1), dn("1"), peer("1", context="x"))
    sip.upsert(uid(2), dn("2"), peer("2", context="y"))
    sip.upsert(uid(3), dn("3"), peer("3"))
    assert names(q(sip, ("context !=", "x"))) == ["2"]
    assert names(q(sip, ("context NOT LIKE", "%y%"))) == ["1"]


def test_search_for_an_absent_value_builds_no_candidates(sip: FamilyReplica) -> None:
    sip.upsert(uid(1), dn("1"), peer("1", context="x"))
    assert q(sip, ("context", "nope"), ("name LIKE", "%")) == []


def test_ensure_index_prebuilds_and_rejects_unknown_fields(sip: FamilyReplica) -> None:
    sip.upsert(uid(1), dn("peer1"), peer("peer1", regseconds="5"))
    sip.ensure_index("Name", ordered=True)
    sip.ensure_index("regseconds", numeric=True)
    sip.upsert(uid(2), dn("peer2"), peer("peer2", regseconds="50"))
    assert names(q(sip, ("name LIKE", "peer%"))) == ["peer1", "peer2"]
    assert names(q(sip, ("regseconds >", "10"))) == ["peer2"]
    with pytest.raises(UnknownField):
        sip.ensure_index("nosuchfield")


# The property: identical to brute force ----------------------------------------------------

FIELDS = ["name", "context", "regseconds", "allow", "callerid"]
VALUES = [
    "a", "A", "ab", "aB", "Ab", "abc", "a%b", "a_b", "a\\b", "b", "ba", "10", "010", "9",
    "-1.5", ".5", "1e3", "1E3", "+2", "x y", "é", "ab\u00ff", "", "100", "1e2",
]  # fmt: skip
value_st = st.one_of(
    st.sampled_from(VALUES), st.sampled_from(VALUES), st.text(alphabet="aAb_%\\01.e-", max_size=4)
)
raw_st = st.fixed_dictionaries(
    {},
    optional={f: st.lists(value_st, min_size=0, max_size=3 if f == "allow" else 2) for f in FIELDS},
)
# A criterion is drawn as a recipe; its operand is resolved against the values present
# when it is asked (so ranges and prefixes land on real values and their edges).
criterion_st = st.tuples(
    st.sampled_from(FIELDS),
    st.sampled_from([str, str.upper, str.title]),
    st.sampled_from(list(Operator)),
    st.one_of(st.none(), st.integers(0, 50)),
    value_st,
    st.integers(0, 4),
    st.sampled_from(["%", "_", "%b", "_%", "", "\\%", "%%", "\\_", "\\", "a%"]),
)


def resolve(recipe: tuple[Any, ...], model: dict[bytes, Record]) -> Criterion:
    field, case, op, pick, fresh, cut, tail = recipe
    present = sorted({v for r in model.values() for v in r.get_all(field)})
    base = present[pick % len(present)] if pick is not None and present else fresh
    if op in (Operator.LIKE, Operator.NOT_LIKE):
        return Criterion(case(field), op, base[:cut] + tail)
    return Criterion(case(field), op, base)


op_st = st.one_of(
    st.tuples(st.just("upsert"), st.integers(0, 5), raw_st),
    st.tuples(st.just("upsert"), st.integers(0, 5), raw_st),
    st.tuples(st.just("delete"), st.integers(0, 5)),
    st.tuples(st.just("retain"), st.sets(st.integers(0, 5))),
    st.tuples(st.just("query"), st.lists(criterion_st, min_size=1, max_size=3)),
)


def pairs_of(records: Sequence[Record]) -> list[tuple[tuple[str, str], ...]]:
    return sorted(r.pairs for r in records)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op_st, min_size=10, max_size=40))
def test_search_equals_brute_force_record_matches(ops: list[tuple[Any, ...]]) -> None:
    replica = FamilyReplica(SIP)
    model: dict[bytes, Record] = {}
    asked: list[list[Criterion]] = []  # every query is asked again after each change

    def check(criteria: list[Criterion]) -> None:
        expected = [r for r in model.values() if record_matches(r, criteria)]
        assert pairs_of(replica.search(criteria)) == pairs_of(expected), criteria

    for op in ops:
        if op[0] == "upsert":
            fields = {f: [v.encode() for v in vs] for f, vs in op[2].items()}
            entry = {SIP.attribute(f): vs for f, vs in fields.items()}
            replica.upsert(uid(op[1]), dn(str(op[1])), entry)
            model[uid(op[1])] = SIP.to_record(entry)
        elif op[0] == "delete":
            replica.delete(uid(op[1]))
            model.pop(uid(op[1]), None)
        elif op[0] == "retain":
            keep = {uid(i) for i in op[1]}
            dropped = replica.retain(keep)
            assert dropped == len(set(model) - keep)
            model = {u: r for u, r in model.items() if u in keep}
        else:
            asked.append([resolve(recipe, model) for recipe in op[1]])
        for criteria in asked:
            check(criteria)
        assert len(replica) == len(model)


# Memory -----------------------------------------------------------------------------------


def typical_peer(i: int) -> dict[str, list[bytes]]:
    """A sippeers entry as bench/lookup.py loads it (about 20 attributes)."""
    name = f"peer{i:05d}"
    ip = f"192.0.2.{i % 250 + 1}"
    return peer(
        name,
        host="dynamic", type="friend", context="from-internal", secret=f"s{i:08x}",
        transport="udp", dtmfmode="rfc2833", nat="force_rport,comedia", disallow="all",
        allow=["ulaw", "alaw", "g722"], callerid=f'"Peer {i}" <{2000 + i}>',
        mailbox=f"{2000 + i}@default", qualify="yes", ipaddr=ip, port="5060",
        regseconds=str(1767225600 + i), useragent=f"ExamplePhone/{i % 7}.0",
        fullcontact=f"sip:{name}@{ip}:5060;transport=udp",
    )  # fmt: skip


def test_memory_estimate_is_close_to_what_tracemalloc_sees() -> None:
    count = 10_000
    entries = [(uid(i), dn(f"peer{i:05d}"), typical_peer(i)) for i in range(count)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        replica = FamilyReplica(SIP)
        for uuid, entry_dn, entry in entries:
            replica.upsert(uuid, entry_dn, entry)
        q(replica, ("name", "peer00001"))
        q(replica, ("name LIKE", "peer0001%"))
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    estimate = replica.memory_bytes()
    assert 0.75 <= estimate / traced <= 1.25, (estimate, traced)
    assert traced / count <= 2048, traced / count


# Concurrency ------------------------------------------------------------------------------


def test_readers_always_see_a_whole_state_while_a_writer_churns(sip: FamilyReplica) -> None:
    stable = 20
    for i in range(stable):
        sip.upsert(uid(i), dn(f"s{i}"), peer(f"s{i}", context="c0", regseconds="0"))
    for crit in [("context LIKE", "c%"), ("name", "s1"), ("regseconds >=", "0")]:
        q(sip, crit)  # build the indexes the writer must keep up to date
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            i = n % stable
            # Stable entries move between buckets; temporary ones come and go.
            sip.upsert(uid(i), dn(f"s{i}"), peer(f"s{i}", context=f"c{n % 5}", regseconds=str(n)))
            sip.upsert(uid(1000 + n % 50), dn(f"t{n}"), peer(f"t{n}", context="t", regseconds="-1"))
            if n % 3 == 0:
                sip.delete(uid(1000 + (n + 7) % 50))

    def read() -> None:
        try:
            for _ in range(1500):
                assert len(q(sip, ("context LIKE", "c%"))) == stable
                assert len(q(sip, ("regseconds >=", "0"))) == stable
                assert len(q(sip, ("name", "s1"))) == 1
                records = q(sip, ("context", "t"))
                assert all(r.get("regseconds") == "-1" for r in records)
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    writer = threading.Thread(target=write)
    readers = [threading.Thread(target=read) for _ in range(3)]
    writer.start()
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    stop.set()
    writer.join()
    assert errors == []
