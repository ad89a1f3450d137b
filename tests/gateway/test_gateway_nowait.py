"""Cache hits are answered on the event loop (``Realtime.single_nowait``/``multi_nowait``),
misses go to a worker thread, and both roads share one set of failure semantics.

The backend is a real SQLite backend; the "cache" is a unit fixture in front of it: a
``cached_search`` that answers from what the backend returned at set-up time for the
names it was told to hold, and ``None`` (cannot answer) for everything else."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from ara_ldap.criteria import Criterion, Operator
from ara_ldap.gateway.app import GatewayApp
from ara_ldap.gateway.server import GatewayServer
from ara_ldap.realtime import Realtime
from ara_ldap.record import Record
from ara_ldap.testing.conformance.loaders import sql_target
from ara_ldap.testing.curl_client import AsteriskCurlClient
from ara_ldap.testing.databases import sqlite_url


class MemoCache:
    """``cached_search`` over a snapshot of some ``name =`` lookups; records the thread
    each call ran on."""

    def __init__(self, snapshot: dict[str, list[Record]]) -> None:
        self.snapshot = snapshot
        self.threads: list[str] = []

    def __call__(self, family: str, criteria: Sequence[Criterion]) -> list[Record] | None:
        self.threads.append(threading.current_thread().name)
        if family != "sippeers" or len(criteria) != 1:
            return None
        (c,) = criteria
        if c.field != "name" or c.op is not Operator.EQ:
            return None
        return self.snapshot.get(c.value)


class Served:
    def __init__(self, server: GatewayServer, cache: MemoCache, searches: list[str]) -> None:
        self.server = server
        self.cache = cache
        self.searches = searches  # threads that called the backend's blocking search

    def client(self) -> AsteriskCurlClient:
        return AsteriskCurlClient(self.server.url)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    url = sqlite_url(Path(tmp_path_factory.mktemp("gateway-nowait")))
    with sql_target(url, name="sqlite") as target:
        realtime = target.realtime
        assert isinstance(realtime, Realtime)
        backend: Any = realtime.backends["sql"]
        alice = backend.search("sippeers", [Criterion("name", Operator.EQ, "alice")])
        assert alice, "the data set has alice"
        cache = MemoCache({"alice": alice, "ghost": []})
        searches: list[str] = []
        search = backend.search

        def counted(family: str, criteria: Sequence[Criterion]) -> list[Record]:
            searches.append(threading.current_thread().name)
            found: list[Record] = search(family, criteria)
            return found

        backend.cached_search = cache
        backend.search = counted
        app = GatewayApp(realtime, workers=2)
        server = GatewayServer(app, port=0)
        server.start()
        try:
            yield Served(server, cache, searches)
        finally:
            server.stop()


def test_a_cache_hit_is_answered_on_the_event_loop_without_the_backend(served: Served) -> None:
    served.searches.clear()
    served.cache.threads.clear()
    with served.client() as c:
        record = c.single("sippeers", {"name": "alice"})
    assert record is not None and record.get("secret") == "fake-alice-secret"
    assert served.searches == []
    assert served.cache.threads == ["ara-gateway-server"]  # the server's event-loop thread


def test_a_cached_not_found_is_an_empty_answer(served: Served) -> None:
    served.searches.clear()
    with served.client() as c:
        assert c.single("sippeers", {"name": "ghost"}) is None
        assert (c.last_status, c.last_body) == (200, b"")
    assert served.searches == []


def test_a_lookup_the_cache_cannot_answer_goes_to_a_worker_thread(served: Served) -> None:
    served.searches.clear()
    with served.client() as c:
        record = c.single("sippeers", {"name": "bob"})
    assert record is not None and record.get("name") == "bob"
    assert len(served.searches) == 1 and served.searches[0].startswith("ara-gateway-")
    assert served.searches[0] != "ara-gateway-server"


def test_multi_is_answered_from_the_cache_too(served: Served) -> None:
    served.searches.clear()
    with served.client() as c:
        rows = c.multi("sippeers", {"name": "alice"})
    assert [r.get("name") for r in rows] == ["alice"]
    assert served.searches == []


def test_a_bad_request_on_the_event_loop_path_is_400_with_an_empty_body(served: Served) -> None:
    with served.client() as c:
        assert c.single("sippeers", {"nosuchfield": "x"}) is None
        assert (c.last_status, c.last_body) == (400, b"")


def test_a_bug_in_the_cache_is_a_500_with_the_failure_body_as_on_the_worker_path(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(family: str, criteria: Sequence[Criterion]) -> list[Record] | None:
        raise TypeError("a bug in the cache")

    backend = served.server.app.realtime.backends["sql"]
    monkeypatch.setattr(backend, "cached_search", broken)
    with served.client() as c:
        assert c.single("sippeers", {"name": "alice"}) is None
        assert (c.last_status, c.last_body) == (500, b"")
        assert c.multi("sippeers", {"name": "alice"}) == []
