"""Injection attempts, unreachable servers, and secrets kept out of messages."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from sqlalchemy import exc as sa_exc

from ara_ldap.backends.sql import SqlBackend
from ara_ldap.config import SqlBackendSettings, load_settings
from ara_ldap.criteria import Criterion, Operator
from ara_ldap.errors import (
    SECRET_MASK,
    BackendError,
    BackendUnavailable,
    BadRequest,
    UnknownField,
)
from ara_ldap.realtime import Realtime

INJECTIONS = [
    "x'; DROP TABLE sippeers; --",
    "x' OR '1'='1",
    "\\'; DELETE FROM sippeers; --",
    '"; DROP TABLE sippeers; --',
    "%' OR 1=1 --",
]


def still_there(rt: Realtime) -> list[str]:
    return sorted(r.get("name") or "" for r in rt.multi("sippeers", {"name LIKE": "%"}))


@pytest.mark.parametrize("value", INJECTIONS)
def test_an_injection_in_a_value_is_stored_and_found_literally(rt: Realtime, value: str) -> None:
    rt.store("sippeers", {"name": "victim"})
    rt.store("sippeers", {"name": "attacker", "callerid": value})
    found = rt.multi("sippeers", {"callerid": value})
    assert [r.get("callerid") for r in found] == [value]
    assert still_there(rt) == ["attacker", "victim"]


@pytest.mark.parametrize("value", INJECTIONS)
def test_an_injection_in_a_like_pattern_matches_literally(rt: Realtime, value: str) -> None:
    rt.store("sippeers", {"name": "victim"})
    assert rt.multi("sippeers", {"name LIKE": value}) == []
    assert still_there(rt) == ["victim"]


@pytest.mark.parametrize("value", INJECTIONS)
def test_an_injection_in_an_update_value_is_written_literally(rt: Realtime, value: str) -> None:
    rt.store("sippeers", {"name": "victim"})
    rt.store("sippeers", {"name": "other"})
    assert rt.update("sippeers", "name", "victim", {"callerid": value}) == 1
    other = rt.single("sippeers", {"name": "other"})
    assert other is not None and other.get("callerid") is None


def test_an_injection_in_a_field_name_is_refused_by_the_parser(rt: Realtime) -> None:
    rt.store("sippeers", {"name": "victim"})
    with pytest.raises(BadRequest, match="invalid field name"):
        rt.multi("sippeers", {"name = 'x' OR 1=1; DROP TABLE sippeers; --": "x"})
    assert still_there(rt) == ["victim"]


def test_an_injection_in_a_criterion_built_directly_is_an_unknown_field(rt: Realtime) -> None:
    rt.store("sippeers", {"name": "victim"})
    backend = rt.backends["sql"]
    with pytest.raises(UnknownField):
        backend.search("sippeers", [Criterion("name; DROP TABLE sippeers", Operator.EQ, "x")])
    assert still_there(rt) == ["victim"]


def test_an_injection_in_a_stored_field_name_is_an_unknown_field(rt: Realtime) -> None:
    with pytest.raises(UnknownField):
        rt.store("sippeers", {"name": "x", "host`) VALUES ('a'); DROP TABLE sippeers; --": "y"})
    assert still_there(rt) == []


def test_an_injection_in_an_update_field_name_is_never_used(rt: Realtime) -> None:
    rt.store("sippeers", {"name": "victim"})
    with pytest.raises(UnknownField):
        rt.update("sippeers", "name", "victim", {"host = 'x'; DROP TABLE sippeers; --": "y"})
    assert still_there(rt) == ["victim"]


# Unreachable servers --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def sql_backend(url: str, **extra: object) -> SqlBackend:
    settings = load_settings({"backends": {"db": {"type": "sql", "url": url, **extra}}})
    spec = settings.backends["db"]
    assert isinstance(spec, SqlBackendSettings)
    return SqlBackend("db", spec)


UNREACHABLE = {
    "postgresql": "postgresql+psycopg://asterisk:s3cretpw@127.0.0.1:{port}/astdb",
    "mariadb": "mysql+pymysql://asterisk:s3cretpw@127.0.0.1:{port}/astdb",
}


@pytest.mark.parametrize("engine", sorted(UNREACHABLE))
def test_an_unreachable_server_is_backend_unavailable(engine: str) -> None:
    backend = sql_backend(UNREACHABLE[engine].format(port=free_port()), connect_timeout=2)
    with pytest.raises(BackendUnavailable):
        backend.search("sippeers", [Criterion("name", Operator.EQ, "a")])


@pytest.mark.parametrize("engine", sorted(UNREACHABLE))
def test_unavailable_message_names_host_and_database_but_not_the_password(engine: str) -> None:
    port = free_port()
    backend = sql_backend(UNREACHABLE[engine].format(port=port), connect_timeout=2)
    with pytest.raises(BackendUnavailable) as info:
        backend.ping()
    message = str(info.value)
    assert f"127.0.0.1:{port}/astdb" in message and "asterisk@" in message
    assert "s3cretpw" not in message


def test_a_password_from_the_environment_never_appears_in_messages(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ARA_TEST_SQL_PASSWORD", "envpw123")
    url = f"postgresql+psycopg://asterisk@127.0.0.1:{free_port()}/astdb"
    backend = sql_backend(url, password_env="ARA_TEST_SQL_PASSWORD", connect_timeout=2)
    with pytest.raises(BackendUnavailable) as info:
        backend.search("sippeers", [])
    assert "envpw123" not in str(info.value) and "envpw123" not in repr(backend)


def test_an_unopenable_sqlite_file_is_backend_unavailable(tmp_path: Path) -> None:
    backend = sql_backend(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    with pytest.raises(BackendUnavailable, match=r"x\.db"):
        backend.ping()


def test_a_missing_table_is_a_backend_error_that_says_how_to_create_it(tmp_path: Path) -> None:
    backend = sql_backend(f"sqlite:///{tmp_path}/empty.db")
    with pytest.raises(BackendError, match="sql init"):
        backend.search("sippeers", [])


def test_fields_fall_back_to_the_standard_table_while_the_database_is_down() -> None:
    backend = sql_backend(UNREACHABLE["postgresql"].format(port=free_port()), connect_timeout=2)
    fields = list(backend.fields("sippeers"))
    assert fields[:3] == ["name", "ipaddr", "port"] and "id" not in fields


# Secrets ----------------------------------------------------------------------------------


def test_a_refused_secret_value_is_masked_in_the_message(rt: Realtime) -> None:
    with pytest.raises(BadRequest) as info:
        rt.store("sippeers", {"name": "a", "secret": "TopSecret" * 5})
    assert "TopSecret" not in str(info.value) and SECRET_MASK in str(info.value)


def test_a_database_error_never_echoes_a_secret_value(rt: Realtime) -> None:
    backend = rt.backends["sql"]
    assert isinstance(backend, SqlBackend)
    driver_error = Exception('invalid input "TopSecret" for column secret')
    with pytest.raises(BackendError) as info, backend._errors("store sippeers", ["TopSecret"]):
        raise sa_exc.DBAPIError("INSERT ...", {"secret": "TopSecret"}, driver_error)
    assert "TopSecret" not in str(info.value)


# Health ---------------------------------------------------------------------------------


def test_ping_answers_when_the_database_is_up(rt: Realtime) -> None:
    rt.backends["sql"].ping()


def test_capabilities_are_declared_honestly(rt: Realtime) -> None:
    caps = rt.backends["sql"].capabilities
    assert caps.store and caps.destroy and caps.ordered_multi_values
    assert caps.unicode_values and caps.schema_require
    assert caps.bounded_text and caps.repeated_values and not caps.unique_keys_all_families


def test_secret_fields_are_the_familys(rt: Realtime) -> None:
    assert rt.secret_fields("voicemail") == {"password", "imappassword"}
