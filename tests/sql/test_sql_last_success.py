"""``SqlBackend.last_success``: the time of the last successful statement, which /healthz
takes as proof of life instead of pinging (backends.base.LastSuccess)."""

from __future__ import annotations

import time

from ara_ldap.backends.base import LastSuccess
from ara_ldap.backends.sql import SqlBackend
from ara_ldap.criteria import parse_criterion
from ara_ldap.record import Record


def test_a_search_on_the_read_path_records_its_success(backend: SqlBackend) -> None:
    assert isinstance(backend, LastSuccess)
    before = time.monotonic()
    backend.search("sippeers", [parse_criterion("name", "nobody")])
    assert backend.last_success >= before


def test_a_write_records_its_success(backend: SqlBackend) -> None:
    before = time.monotonic()
    assert backend.store("sippeers", Record([("name", "ls1"), ("host", "dynamic")])) == 1
    assert backend.last_success >= before
