"""The conformance suite on the SQL backend over SQLite (a temporary database file)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ara_ldap.testing.conformance import ReadSuite, Target, WriteSuite, sql_target
from ara_ldap.testing.databases import sqlite_url


@pytest.fixture(scope="module")
def conformance_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    url = sqlite_url(tmp_path_factory.mktemp("conformance-sqlite"))
    with sql_target(url, name="sqlite") as target:
        yield target


class TestReads(ReadSuite):
    pass


class TestWrites(WriteSuite):
    pass
