"""The conformance suite through the res_config_curl gateway over the SQL backend on
PostgreSQL (a scratch schema, dropped afterwards); skips when the server does not
answer, fails then under CI=true."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ara_ldap.testing.conformance import ReadSuite, Target, WriteSuite, sql_target
from ara_ldap.testing.conformance.curl import gateway_target
from ara_ldap.testing.databases import postgres_url, temporary_schema


@pytest.fixture(scope="module")
def conformance_target() -> Iterator[Target]:
    url = postgres_url()
    with (
        temporary_schema(url) as schema,
        sql_target(url, schema, name="postgresql") as inner,
        gateway_target(inner) as target,
    ):
        yield target


class TestReads(ReadSuite):
    pass


class TestWrites(WriteSuite):
    pass
