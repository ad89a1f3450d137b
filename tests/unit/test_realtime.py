"""Realtime: routing families to backends by priority, and what the core owns.

References: realtime-api.md §11.2-§11.4 (functions, failover, static loading), with the
project's deliberate change: only a *failure* fails over; "not found" is an answer unless
the route sets ``failover_on_not_found`` (Asterisk's behaviour).

The backends here are small in-memory fakes of the Backend protocol: these are unit tests
of the routing; the LDAP backend itself is tested against a real slapd elsewhere.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import pytest

from ara_ldap.backends.base import Backend, Capabilities, FieldType, Requirement
from ara_ldap.config import Route, StaticSettings
from ara_ldap.criteria import Criterion, Operator, record_matches
from ara_ldap.errors import (
    AraError,
    BackendError,
    BackendUnavailable,
    BadRequest,
    Conflict,
    NotFound,
    PartialWrite,
    UnknownFamily,
    Unsupported,
    WriteIncomplete,
)
from ara_ldap.realtime import Realtime, order_records
from ara_ldap.record import Record

EQ = Operator.EQ


class FakeBackend:
    """An in-memory store; ``fail`` makes every operation raise that error."""

    capabilities = Capabilities()

    def __init__(
        self,
        name: str,
        data: dict[str, list[Record]] | None = None,
        fail: AraError | None = None,
        secret: Collection[str] = (),
    ) -> None:
        self.name = name
        self.data = {k.lower(): list(v) for k, v in (data or {}).items()}
        self.fail = fail
        self.secret = set(secret)
        self.calls: list[tuple[str, str, object]] = []
        self.closed = False

    def _enter(self, op: str, family: str, arg: object = None) -> list[Record]:
        self.calls.append((op, family, arg))
        if self.fail is not None:
            raise self.fail
        return self.data.setdefault(family.lower(), [])  # families are case-insensitive

    def families(self) -> Collection[str]:
        return list(self.data)

    def fields(self, family: str) -> Collection[str]:
        return sorted({f for r in self.data.get(family.lower(), []) for f in r.fields()})

    def secret_fields(self, family: str) -> Collection[str]:
        return self.secret

    def search(self, family: str, criteria: Sequence[Criterion]) -> list[Record]:
        rows = self._enter("search", family, list(criteria))
        return [r for r in rows if record_matches(r, criteria)]

    def update(self, family: str, criteria: Sequence[Criterion], changes: Record) -> int:
        rows = self._enter("update", family, (list(criteria), changes))
        count = 0
        for i, r in enumerate(rows):
            if record_matches(r, criteria):
                changed = {c.lower() for c in changes.fields()}
                kept = [(f, v) for f, v in r if f.lower() not in changed]
                rows[i] = Record([*kept, *((f, v) for f, v in changes if v != "")])
                count += 1
        return count

    def store(self, family: str, record: Record) -> int:
        rows = self._enter("store", family, record)
        if any(r.get("name") == record.get("name") for r in rows):
            raise Conflict(f"{record.get('name')} exists")
        rows.append(record)
        return 1

    def destroy(self, family: str, criteria: Sequence[Criterion]) -> int:
        rows = self._enter("destroy", family, list(criteria))
        keep = [r for r in rows if not record_matches(r, criteria)]
        self.data[family.lower()] = keep
        return len(rows) - len(keep)

    def require(self, family: str, requirements: Sequence[Requirement]) -> list[str]:
        self._enter("require", family, list(requirements))
        return []

    def ping(self) -> None:
        if self.fail is not None:
            raise self.fail

    def close(self) -> None:
        self.closed = True


def peer(name: str, **fields: str) -> Record:
    return Record([("name", name), *fields.items()])


def realtime(
    *backends: FakeBackend,
    family: str = "sippeers",
    failover_on_not_found: bool = False,
    static: StaticSettings | None = None,
    routes: dict[str, Route] | None = None,
) -> Realtime:
    if routes is None:
        routes = {
            family: Route(
                backends=[b.name for b in backends], failover_on_not_found=failover_on_not_found
            )
        }
    return Realtime({b.name: b for b in backends}, routes, static)


ALICE = peer("alice", host="dynamic")
ALICE_2 = peer("alice", host="10.0.0.2")


def test_the_fake_backend_implements_the_protocol() -> None:
    assert isinstance(FakeBackend("a"), Backend)


# Routing ---------------------------------------------------------------------------------


def test_a_lookup_goes_to_the_first_priority() -> None:
    first = FakeBackend("first", {"sippeers": [ALICE]})
    second = FakeBackend("second", {"sippeers": [ALICE_2]})
    assert realtime(first, second).single("sippeers", {"name": "alice"}) == ALICE
    assert second.calls == []


def test_family_names_are_case_insensitive() -> None:
    rt = realtime(FakeBackend("a", {"sippeers": [ALICE]}))
    assert rt.single("SIPpeers", {"name": "alice"}) == ALICE


def test_an_unknown_family_is_unknown_family_naming_the_configured_ones() -> None:
    rt = realtime(FakeBackend("a", {"sippeers": [ALICE]}))
    with pytest.raises(UnknownFamily, match="sippeers"):
        rt.single("queues", {"name": "x"})


def test_unknown_family_is_a_bad_request() -> None:
    assert issubclass(UnknownFamily, BadRequest)


def test_families_lists_the_routed_families() -> None:
    routes = {"sippeers": Route(backends=["a"]), "Voicemail": Route(backends=["a"])}
    rt = realtime(FakeBackend("a"), routes=routes)
    assert rt.families() == ["sippeers", "voicemail"]


def test_route_returns_the_backends_in_priority_order() -> None:
    a, b = FakeBackend("a"), FakeBackend("b")
    rt = Realtime({"a": a, "b": b}, {"sippeers": Route(backends=["b", "a"])})
    assert rt.route("sippeers") == [b, a]


def test_secret_fields_are_collected_from_every_backend_of_the_route() -> None:
    rt = realtime(FakeBackend("a", secret={"Secret"}), FakeBackend("b", secret={"md5secret"}))
    assert rt.secret_fields("sippeers") == {"secret", "md5secret"}


def test_fields_come_from_the_first_backend() -> None:
    rt = realtime(FakeBackend("a", {"sippeers": [ALICE]}), FakeBackend("b"))
    assert rt.fields("sippeers") == ["host", "name"]


# Failover (§11.3) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error", [BackendError("boom"), BackendUnavailable("down"), Unsupported("no search")]
)
def test_a_failing_backend_fails_over_to_the_next_priority(error: BackendError) -> None:
    broken = FakeBackend("broken", fail=error)
    good = FakeBackend("good", {"sippeers": [ALICE]})
    assert realtime(broken, good).single("sippeers", {"name": "alice"}) == ALICE
    assert len(broken.calls) == 1 and len(good.calls) == 1


@pytest.mark.parametrize(
    "error", [WriteIncomplete("outcome unknown"), PartialWrite("2 of 4 deleted", 2, 4)]
)
def test_a_write_applied_in_part_or_maybe_is_never_replayed_on_the_next_backend(
    error: WriteIncomplete,
) -> None:
    broken = FakeBackend("broken", fail=error)
    good = FakeBackend("good")
    with pytest.raises(WriteIncomplete) as caught:
        realtime(broken, good).store("sippeers", ALICE)
    assert caught.value is error
    assert good.calls == []


def test_failover_continues_through_several_failing_backends() -> None:
    down1 = FakeBackend("down1", fail=BackendUnavailable("down"))
    down2 = FakeBackend("down2", fail=BackendError("boom"))
    good = FakeBackend("good", {"sippeers": [ALICE]})
    assert realtime(down1, down2, good).multi("sippeers", {"name": "alice"}) == [ALICE]


def test_not_found_does_not_fail_over_by_default() -> None:
    empty = FakeBackend("empty", {"sippeers": []})
    full = FakeBackend("full", {"sippeers": [ALICE]})
    rt = realtime(empty, full)
    assert rt.single("sippeers", {"name": "alice"}) is None
    assert rt.multi("sippeers", {"name": "alice"}) == []
    assert full.calls == []


def test_not_found_fails_over_when_the_route_asks_for_it() -> None:
    empty = FakeBackend("empty", {"sippeers": []})
    full = FakeBackend("full", {"sippeers": [ALICE]})
    rt = realtime(empty, full, failover_on_not_found=True)
    assert rt.single("sippeers", {"name": "alice"}) == ALICE


def test_not_found_everywhere_with_failover_is_still_not_found() -> None:
    rt = realtime(FakeBackend("a"), FakeBackend("b"), failover_on_not_found=True)
    assert rt.multi("sippeers", {"name": "alice"}) == []


def test_not_found_then_failure_with_failover_answers_not_found() -> None:
    rt = realtime(
        FakeBackend("a"), FakeBackend("b", fail=BackendUnavailable("down")),
        failover_on_not_found=True,
    )
    assert rt.single("sippeers", {"name": "alice"}) is None


def test_an_update_matching_nothing_fails_over_only_when_asked() -> None:
    empty = FakeBackend("empty", {"sippeers": []})
    full = FakeBackend("full", {"sippeers": [ALICE]})
    assert realtime(empty, full).update("sippeers", "name", "alice", {"host": "x"}) == 0
    assert full.calls == []
    rt = realtime(empty, full, failover_on_not_found=True)
    assert rt.update("sippeers", "name", "alice", {"host": "x"}) == 1


def test_a_destroy_matching_nothing_fails_over_only_when_asked() -> None:
    empty = FakeBackend("empty", {"sippeers": []})
    full = FakeBackend("full", {"sippeers": [ALICE]})
    assert realtime(empty, full).destroy("sippeers", {"name": "alice"}) == 0
    rt = realtime(empty, full, failover_on_not_found=True)
    assert rt.destroy("sippeers", {"name": "alice"}) == 1


@pytest.mark.parametrize(
    "error", [BadRequest("wrong"), UnknownFamily("no such family"), Conflict("exists")]
)
def test_a_bad_request_never_fails_over(error: BadRequest) -> None:
    refusing = FakeBackend("refusing", fail=error)
    good = FakeBackend("good", {"sippeers": [ALICE]})
    with pytest.raises(type(error)):
        realtime(refusing, good, failover_on_not_found=True).single("sippeers", {"name": "a"})
    assert good.calls == []


def test_a_conflict_on_store_does_not_store_on_the_next_priority() -> None:
    first = FakeBackend("first", {"sippeers": [ALICE]})
    second = FakeBackend("second", {"sippeers": []})
    with pytest.raises(Conflict):
        realtime(first, second).store("sippeers", ALICE)
    assert second.calls == []


def test_a_store_fails_over_to_a_backend_that_supports_it() -> None:
    ldap_only = FakeBackend("ldap", fail=Unsupported("no store"))
    sql = FakeBackend("sql", {"sippeers": []})
    assert realtime(ldap_only, sql).store("sippeers", ALICE) == 1
    assert sql.data["sippeers"] == [ALICE]


def test_all_backends_unavailable_is_backend_unavailable() -> None:
    rt = realtime(
        FakeBackend("a", fail=BackendUnavailable("a down")),
        FakeBackend("b", fail=BackendUnavailable("b down")),
    )
    with pytest.raises(BackendUnavailable, match="b down"):
        rt.single("sippeers", {"name": "alice"})


def test_all_backends_unsupported_is_unsupported_naming_the_operation() -> None:
    rt = realtime(
        FakeBackend("a", fail=Unsupported("a: no destroy")),
        FakeBackend("b", fail=Unsupported("b: no destroy")),
    )
    with pytest.raises(Unsupported, match="destroy"):
        rt.destroy("sippeers", {"name": "alice"})


def test_mixed_failures_are_a_backend_error_but_not_unavailable() -> None:
    rt = realtime(
        FakeBackend("a", fail=BackendUnavailable("a down")),
        FakeBackend("b", fail=BackendError("b broke")),
    )
    with pytest.raises(BackendError, match="b broke") as info:
        rt.single("sippeers", {"name": "alice"})
    assert not isinstance(info.value, BackendUnavailable)


def test_the_last_failure_is_chained_as_the_cause() -> None:
    last = BackendUnavailable("b down")
    rt = realtime(FakeBackend("a", fail=BackendUnavailable("a down")), FakeBackend("b", fail=last))
    with pytest.raises(BackendUnavailable) as info:
        rt.single("sippeers", {"name": "alice"})
    assert info.value.__cause__ is last


# Argument checks -------------------------------------------------------------------------------


def test_single_without_criteria_is_a_bad_request() -> None:
    backend = FakeBackend("a", {"sippeers": [ALICE]})
    with pytest.raises(BadRequest):
        realtime(backend).single("sippeers", {})
    assert backend.calls == []


def test_multi_without_criteria_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        realtime(FakeBackend("a")).multi("sippeers", [])


def test_update2_without_criteria_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        realtime(FakeBackend("a")).update2("sippeers", [], {"host": "x"})


def test_destroy_without_criteria_is_a_bad_request() -> None:
    backend = FakeBackend("a", {"sippeers": [ALICE]})
    with pytest.raises(BadRequest):
        realtime(backend).destroy("sippeers", {})
    assert backend.data["sippeers"] == [ALICE]


@pytest.mark.parametrize("changes", [{}, [], Record()])
def test_update2_with_no_changes_is_a_bad_request(changes: object) -> None:
    with pytest.raises(BadRequest):
        realtime(FakeBackend("a")).update2("sippeers", {"name": "alice"}, changes)  # type: ignore[arg-type]


def test_update_with_no_changes_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        realtime(FakeBackend("a")).update("sippeers", "name", "alice", {})


def test_store_of_an_empty_record_is_a_bad_request() -> None:
    with pytest.raises(BadRequest):
        realtime(FakeBackend("a")).store("sippeers", {})


def test_an_invalid_field_name_is_a_bad_request_before_any_backend_is_asked() -> None:
    backend = FakeBackend("a", {"sippeers": [ALICE]})
    with pytest.raises(BadRequest):
        realtime(backend).multi("sippeers", {"name; DROP": "x"})
    assert backend.calls == []


def test_criteria_reach_the_backend_parsed_and_in_order() -> None:
    backend = FakeBackend("a", {"sippeers": [ALICE]})
    realtime(backend).multi("sippeers", [("name LIKE", "a%"), ("host !=", "")])
    assert backend.calls == [
        (
            "search",
            "sippeers",
            [Criterion("name", Operator.LIKE, "a%"), Criterion("host", Operator.NE, "")],
        )
    ]


# Result order ----------------------------------------------------------------------------------


def test_multi_orders_numbers_numerically_before_text() -> None:
    rows = [peer(n) for n in ("abc", "10", "9", "2", "Zed", "1.5")]
    backend = FakeBackend("a", {"sippeers": rows})
    result = realtime(backend).multi("sippeers", {"name LIKE": "%"})
    assert [r.get("name") for r in result] == ["1.5", "2", "9", "10", "Zed", "abc"]


def test_multi_orders_by_the_first_criterion_field() -> None:
    rows = [
        peer("a", port="5062", host="dynamic"),
        peer("b", port="5060", host="dynamic"),
        peer("c", port="5061", host="dynamic"),
    ]
    result = realtime(FakeBackend("a", {"sippeers": rows})).multi(
        "sippeers", [("port >", "0"), ("host", "dynamic")]
    )
    assert [r.get("name") for r in result] == ["b", "c", "a"]


def test_multi_breaks_ties_by_record_content_not_storage_order() -> None:
    rows_one = [peer("alice", host="b"), peer("alice", host="a")]
    rows_two = list(reversed(rows_one))
    first = realtime(FakeBackend("x", {"sippeers": rows_one})).multi("sippeers", {"name": "alice"})
    second = realtime(FakeBackend("x", {"sippeers": rows_two})).multi("sippeers", {"name": "alice"})
    assert first == second
    assert [r.get("host") for r in first] == ["a", "b"]


def test_records_lacking_the_first_field_sort_last() -> None:
    rows = [Record([("host", "x")]), peer("b"), peer("a")]
    assert order_records(rows, "name") == [peer("a"), peer("b"), Record([("host", "x")])]


def test_order_records_without_a_first_field_orders_by_content() -> None:
    rows = [peer("b"), peer("a")]
    assert order_records(rows, None) == [peer("a"), peer("b")]


def test_single_returns_the_first_record_in_multi_order() -> None:
    rows = [peer("10"), peer("9"), peer("abc")]
    rt = realtime(FakeBackend("a", {"sippeers": rows}))
    assert rt.single("sippeers", {"name LIKE": "%"}) == peer("9")
    assert rt.single("sippeers", {"name LIKE": "%"}) == rt.multi("sippeers", {"name LIKE": "%"})[0]


def test_single_returns_none_when_nothing_matches() -> None:
    rt = realtime(FakeBackend("a", {"sippeers": [ALICE]}))
    assert rt.single("sippeers", {"name": "x"}) is None


# Writes --------------------------------------------------------------------------------------


def test_update_is_update2_with_one_equality_criterion() -> None:
    backend = FakeBackend("a", {"sippeers": [ALICE]})
    count = realtime(backend).update("sippeers", "name", "alice", {"host": "10.0.0.9"})
    assert count == 1
    assert backend.calls == [
        ("update", "sippeers", ([Criterion("name", EQ, "alice")], Record([("host", "10.0.0.9")])))
    ]


def test_update_keyfield_is_not_parsed_for_an_operator() -> None:
    backend = FakeBackend("a", {"sippeers": [ALICE]})
    realtime(backend).update("sippeers", "name", "a%", {"host": "x"})
    assert backend.calls == [
        ("update", "sippeers", ([Criterion("name", EQ, "a%")], Record([("host", "x")])))
    ]


def test_update2_passes_changes_as_a_record_in_order() -> None:
    backend = FakeBackend("a", {"sippeers": [ALICE]})
    realtime(backend).update2(
        "sippeers", [("name", "alice")], [("allow", "ulaw"), ("allow", "alaw"), ("host", "")]
    )
    changes = Record([("allow", "ulaw"), ("allow", "alaw"), ("host", "")])
    assert backend.calls == [("update", "sippeers", ([Criterion("name", EQ, "alice")], changes))]


def test_update2_returns_the_count_and_stops_at_the_first_backend_that_matched() -> None:
    first = FakeBackend("first", {"sippeers": [ALICE, peer("bob", host="dynamic")]})
    second = FakeBackend("second", {"sippeers": [ALICE]})
    rt = realtime(first, second, failover_on_not_found=True)
    assert rt.update2("sippeers", {"host": "dynamic"}, {"host": "static"}) == 2
    assert second.calls == []


def test_store_then_destroy() -> None:
    backend = FakeBackend("a", {"sippeers": []})
    rt = realtime(backend)
    assert rt.store("sippeers", {"name": "carol", "host": "dynamic"}) == 1
    assert rt.single("sippeers", {"name": "carol"}) == Record(
        [("name", "carol"), ("host", "dynamic")]
    )
    assert rt.destroy("sippeers", {"name": "carol"}) == 1
    assert rt.single("sippeers", {"name": "carol"}) is None


def test_require_is_routed() -> None:
    backend = FakeBackend("a", {"sippeers": []})
    reqs = [Requirement("regseconds", FieldType.UINTEGER4, 11)]
    assert realtime(backend).require("sippeers", reqs) == []
    assert backend.calls == [("require", "sippeers", reqs)]


def test_close_closes_every_backend_and_works_as_a_context_manager() -> None:
    a, b = FakeBackend("a"), FakeBackend("b")
    with realtime(a, b):
        pass
    assert a.closed and b.closed


# Static (§11.4) -------------------------------------------------------------------------------


def conf_row(
    filename: str,
    category: str,
    var_name: str,
    var_val: str,
    cat_metric: int = 0,
    var_metric: int = 0,
) -> Record:
    return Record(
        [
            ("filename", filename),
            ("category", category),
            ("cat_metric", str(cat_metric)),
            ("var_metric", str(var_metric)),
            ("var_name", var_name),
            ("var_val", var_val),
            ("commented", "0"),
        ]
    )


def static_realtime(*backends: FakeBackend, static: StaticSettings | None = None) -> Realtime:
    routes = {}
    for b in backends:
        for family in b.families():
            routes[family] = Route(backends=[b.name])
    return Realtime({b.name: b for b in backends}, routes, static)


def test_static_asks_the_static_family_for_the_file_rows() -> None:
    backend = FakeBackend(
        "a",
        {
            "ast_config": [
                conf_row("sip.conf", "general", "context", "default"),
                conf_row("other.conf", "x", "y", "z"),
            ]
        },
    )
    config = static_realtime(backend).static("sip.conf")
    assert [(c.name, c.variables) for c in config.categories()] == [
        ("general", [("context", "default")])
    ]
    assert backend.calls == [
        ("search", "ast_config", [Criterion("filename", EQ, "sip.conf")])
    ]


def test_static_uses_the_configured_order() -> None:
    rows = [
        conf_row("sip.conf", "low", "a", "1", cat_metric=0),
        conf_row("sip.conf", "high", "b", "2", cat_metric=1),
    ]
    asterisk = static_realtime(FakeBackend("a", {"ast_config": rows})).static("sip.conf")
    ldap = static_realtime(
        FakeBackend("a", {"ast_config": rows}), static=StaticSettings(order="ldap")
    ).static("sip.conf")
    assert [c.name for c in asterisk.categories()] == ["high", "low"]
    assert [c.name for c in ldap.categories()] == ["low", "high"]


def test_a_file_with_no_rows_is_not_found_naming_file_and_family() -> None:
    rt = static_realtime(FakeBackend("a", {"ast_config": []}))
    with pytest.raises(NotFound) as info:
        rt.static("sip.conf")
    assert "sip.conf" in str(info.value) and "ast_config" in str(info.value)


def test_a_file_may_be_mapped_to_its_own_family() -> None:
    pjsip = FakeBackend("p", {"pjsip_conf": [conf_row("pjsip.conf", "global", "type", "global")]})
    rt = static_realtime(pjsip, static=StaticSettings(files={"pjsip.conf": "pjsip_conf"}))
    assert rt.static_family("pjsip.conf") == "pjsip_conf"
    assert rt.static_family("sip.conf") == "ast_config"
    assert [c.name for c in rt.static("pjsip.conf").categories()] == ["global"]


def test_includes_are_loaded_through_static_routing() -> None:
    main = FakeBackend(
        "main",
        {
            "ast_config": [
                conf_row("sip.conf", "general", "context", "default", var_metric=0),
                conf_row("sip.conf", "general", "#include", "peers.conf", var_metric=1),
            ]
        },
    )
    peers = FakeBackend("peers", {"peer_conf": [conf_row("peers.conf", "alice", "type", "friend")]})
    rt = static_realtime(main, peers, static=StaticSettings(files={"peers.conf": "peer_conf"}))
    config = rt.static("sip.conf")
    assert [(c.name, c.source) for c in config.categories()] == [
        ("general", "sip.conf"),
        ("alice", "peers.conf"),
    ]
    assert peers.calls == [("search", "peer_conf", [Criterion("filename", EQ, "peers.conf")])]


def test_static_fails_over_like_any_lookup() -> None:
    down = FakeBackend("down", fail=BackendUnavailable("down"))
    good = FakeBackend("good", {"ast_config": [conf_row("sip.conf", "general", "a", "1")]})
    rt = Realtime(
        {"down": down, "good": good}, {"ast_config": Route(backends=["down", "good"])}
    )
    assert [c.name for c in rt.static("sip.conf").categories()] == ["general"]


def test_a_missing_include_is_not_found_naming_it() -> None:
    backend = FakeBackend(
        "a", {"ast_config": [conf_row("sip.conf", "general", "#include", "gone.conf")]}
    )
    with pytest.raises(NotFound, match=r"gone\.conf"):
        static_realtime(backend).static("sip.conf")


def test_an_include_loop_across_files_is_a_bad_request() -> None:
    backend = FakeBackend(
        "a",
        {
            "ast_config": [
                conf_row("a.conf", "a", "#include", "b.conf"),
                conf_row("b.conf", "b", "#include", "a.conf"),
            ]
        },
    )
    with pytest.raises(BadRequest, match="loop"):
        static_realtime(backend).static("a.conf")


def test_static_of_an_unrouted_static_family_is_unknown_family() -> None:
    rt = realtime(FakeBackend("a", {"sippeers": [ALICE]}))
    with pytest.raises(UnknownFamily, match="ast_config"):
        rt.static("sip.conf")
