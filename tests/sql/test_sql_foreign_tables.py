"""Tables the backend did not create: alembic's real ENUM columns, and an older table that
lacks columns.  The backend reflects what is there and adapts (docs/backends.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ara_ldap.backends.base import Requirement
from ara_ldap.backends.sql import init_schema
from ara_ldap.bootstrap import open_realtime
from ara_ldap.config import load_settings
from ara_ldap.errors import BadRequest, Conflict, UnknownField
from ara_ldap.realtime import Realtime
from ara_ldap.testing.databases import mariadb_url, postgres_url, sqlite_url, temporary_schema


def open_on(url: str, schema: str | None) -> Realtime:
    spec: dict[str, object] = {"type": "sql", "url": url}
    if schema:
        spec["schema"] = schema
    return open_realtime(load_settings({"backends": {"sql": spec}}))


@pytest.fixture(params=["postgresql", "mariadb"])
def enum_rt(request: pytest.FixtureRequest) -> Iterator[Realtime]:
    """A sippeers table as alembic creates it for PostgreSQL/MySQL: ``type`` and
    ``dtmfmode`` are real ENUMs."""
    url = postgres_url() if request.param == "postgresql" else mariadb_url()
    with temporary_schema(url) as schema:
        md = sa.MetaData(schema=schema)
        sa.Table(
            "sippeers",
            md,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(40), nullable=False, unique=True),
            sa.Column("type", sa.Enum("friend", "user", "peer", name="type_values", schema=schema)),
            sa.Column(
                "dtmfmode",
                sa.Enum(
                    "rfc2833",
                    "info",
                    "shortinfo",
                    "inband",
                    "auto",
                    name="sip_dtmfmode_values",
                    schema=schema,
                ),
            ),
        )
        engine = sa.create_engine(url)
        md.create_all(engine)
        engine.dispose()
        realtime = open_on(url, schema)
        realtime.store("sippeers", {"name": "a", "type": "friend", "dtmfmode": "rfc2833"})
        realtime.store("sippeers", {"name": "b", "type": "peer"})
        yield realtime
        realtime.close()


def test_an_enum_column_reads_as_its_label(enum_rt: Realtime) -> None:
    record = enum_rt.single("sippeers", {"name": "a"})
    assert record is not None and record.get("type") == "friend"


def test_equality_on_an_enum_column(enum_rt: Realtime) -> None:
    assert [r.get("name") for r in enum_rt.multi("sippeers", {"type": "peer"})] == ["b"]


def test_like_on_an_enum_column(enum_rt: Realtime) -> None:
    assert [r.get("name") for r in enum_rt.multi("sippeers", {"type LIKE": "fr%"})] == ["a"]


def test_a_value_outside_the_enum_matches_nothing_without_error(enum_rt: Realtime) -> None:
    assert enum_rt.multi("sippeers", {"type": "Friend"}) == []


def test_storing_a_value_outside_the_enum_is_refused_with_the_labels(enum_rt: Realtime) -> None:
    with pytest.raises(BadRequest, match="friend, user, peer"):
        enum_rt.store("sippeers", {"name": "c", "type": "bogus"})


@pytest.fixture
def old_rt(tmp_path: Path) -> Iterator[Realtime]:
    """An old sippeers table with only a few columns (SQLite is enough for this)."""
    url = sqlite_url(tmp_path)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE sippeers (id INTEGER PRIMARY KEY, name VARCHAR(80) NOT NULL UNIQUE, "
                "host VARCHAR(31), allow VARCHAR(100))"
            )
        )
    engine.dispose()
    with temporary_schema(url) as schema:
        realtime = open_on(url, schema)
        yield realtime
        realtime.close()


def test_fields_are_the_columns_the_table_has(old_rt: Realtime) -> None:
    assert old_rt.fields("sippeers") == ["name", "host", "allow"]


def test_a_column_the_table_lacks_is_an_unknown_field(old_rt: Realtime) -> None:
    with pytest.raises(UnknownField, match="useragent"):
        old_rt.multi("sippeers", {"useragent": "x"})


def test_an_update_of_a_lacking_column_is_ignored(old_rt: Realtime) -> None:
    old_rt.store("sippeers", {"name": "a"})
    assert old_rt.update("sippeers", "name", "a", {"host": "h", "useragent": "x"}) == 1


def test_require_reports_the_lacking_column_and_the_narrow_one(old_rt: Realtime) -> None:
    assert old_rt.require(
        "sippeers",
        [Requirement.parse("useragent", "char:20"), Requirement.parse("host", "char:40")],
    ) == [
        "useragent: table sippeers has no such column",
        "host: column sippeers.host holds at most 31 characters, 40 required",
    ]


def test_a_unique_index_added_by_the_site_makes_duplicates_a_conflict(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    engine = sa.create_engine(url)
    init_schema(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE UNIQUE INDEX vm_box ON voicemail (mailbox, context)"))
    engine.dispose()
    realtime = open_on(url, None)
    realtime.store("voicemail", {"context": "default", "mailbox": "100"})
    with pytest.raises(Conflict, match="mailbox='100', context='default' already exists"):
        realtime.store("voicemail", {"context": "default", "mailbox": "100"})
    realtime.close()
