"""Key fields name a record: they can never be set empty (LDAP refuses it too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ara_ldap.backends.sql import init_schema
from ara_ldap.bootstrap import open_realtime
from ara_ldap.config import load_settings
from ara_ldap.errors import BadRequest
from ara_ldap.realtime import Realtime


@pytest.fixture
def rt(tmp_path: Path) -> Realtime:
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'rt.db'}"
    engine = sa.create_engine(url)
    init_schema(engine)
    engine.dispose()
    realtime = open_realtime(load_settings({"backends": {"s": {"type": "sql", "url": url}}}))
    realtime.store("sippeers", {"name": "alice", "host": "dynamic"})
    return realtime


def test_update_cannot_empty_a_key_field(rt: Realtime) -> None:
    with pytest.raises(BadRequest, match="names the record"):
        rt.update("sippeers", "name", "alice", {"name": ""})
    assert rt.single("sippeers", {"name": "alice"}) is not None


def test_store_without_its_key_field_is_refused(rt: Realtime) -> None:
    with pytest.raises(BadRequest, match="name"):
        rt.store("sippeers", {"host": "dynamic"})


def test_other_not_null_text_fields_may_still_be_emptied(rt: Realtime) -> None:
    rt.store("voicemail", {"context": "default", "mailbox": "1", "password": "1234"})
    assert rt.update2("voicemail", {"mailbox": "1"}, {"password": ""}) == 1
