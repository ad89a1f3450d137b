"""A value the store refuses is the caller's mistake (BadRequest) on every backend: the
router does not fail over to the next backend, which would then hold a record the first
one refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ara_ldap.backends.sql import init_schema
from ara_ldap.bootstrap import open_realtime
from ara_ldap.config import load_settings
from ara_ldap.criteria import as_criteria
from ara_ldap.errors import BackendError, BadRequest
from ara_ldap.realtime import Realtime
from ara_ldap.testing.databases import sqlite_url
from ara_ldap.testing.ldap import ldap_backend_config
from ara_ldap.testing.slapd import ProductionSlapd, Slapd


def routed(slapd: Slapd, url: str, first: str) -> Realtime:
    backends = {"directory": ldap_backend_config(slapd), "sql": {"type": "sql", "url": url}}
    order = [first, *(b for b in backends if b != first)]
    return open_realtime(load_settings({"backends": backends, "families": {"sippeers": order}}))


@pytest.fixture
def sqlite(tmp_path: Path) -> str:
    url = sqlite_url(tmp_path)
    engine = sa.create_engine(url)
    init_schema(engine)
    engine.dispose()
    return url


@pytest.fixture
def directory(production_slapd_factory: Any) -> Iterator[ProductionSlapd]:
    slapd: ProductionSlapd = production_slapd_factory()
    slapd.ldapadd_text(
        f"dn: ou=asterisk,{slapd.suffix}\nobjectClass: organizationalUnit\nou: asterisk\n\n"
        f"dn: ou=sip,ou=asterisk,{slapd.suffix}\nobjectClass: organizationalUnit\nou: sip\n"
    )
    yield slapd


def test_a_value_the_directory_schema_refuses_is_a_bad_request_without_failover(
    directory: ProductionSlapd, sqlite: str
) -> None:
    rt = routed(directory, sqlite, "directory")
    try:
        with pytest.raises(BadRequest) as caught:
            rt.store("sippeers", {"name": "q1", "qualifyfreq": "often"})
        assert not isinstance(caught.value, BackendError)
        assert rt.backends["sql"].search("sippeers", []) == []
    finally:
        rt.close()


def test_a_value_a_sql_column_refuses_is_a_bad_request_without_failover(
    directory: ProductionSlapd, sqlite: str
) -> None:
    rt = routed(directory, sqlite, "sql")
    try:
        with pytest.raises(BadRequest):
            rt.store("sippeers", {"name": "q1", "port": "50x"})
        assert rt.backends["directory"].search("sippeers", as_criteria({"name": "q1"})) == []
    finally:
        rt.close()
