"""The conformance suite on the SQL backend over PostgreSQL and over MariaDB (a scratch
schema each, dropped afterwards); a server that does not answer is skipped, or fails the
run under CI=true."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from ara_ldap.testing.conformance import ReadSuite, Target, WriteSuite, sql_target
from ara_ldap.testing.databases import mariadb_url, postgres_url, temporary_schema

SERVERS: dict[str, Callable[[], str]] = {"postgresql": postgres_url, "mariadb": mariadb_url}


@pytest.fixture(scope="module", params=sorted(SERVERS))
def conformance_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    name: str = request.param
    url = SERVERS[name]()
    with temporary_schema(url) as schema, sql_target(url, schema, name=name) as target:
        yield target


class TestReads(ReadSuite):
    pass


class TestWrites(WriteSuite):
    pass
