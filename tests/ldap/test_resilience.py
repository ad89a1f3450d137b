"""The directory going away and coming back: fail fast, reconnect, lose no write."""

from __future__ import annotations

import time

import pytest

from ara_ldap.bootstrap import open_realtime
from ara_ldap.errors import BackendError, BackendUnavailable
from ara_ldap.realtime import Realtime
from ara_ldap.testing.ldap import ldap_settings
from ara_ldap.testing.slapd import Slapd, find_fixture_ldifs, free_port


def test_next_call_succeeds_after_slapd_restarts(rt: Realtime, fresh_slapd: Slapd) -> None:
    assert rt.single("sippeers", {"name": "alice"}) is not None
    fresh_slapd.restart()
    assert rt.single("sippeers", {"name": "alice"}) is not None


def test_no_write_is_lost_across_a_restart(rt: Realtime, fresh_slapd: Slapd) -> None:
    rt.store("sippeers", {"name": "before"})
    fresh_slapd.restart()
    rt.store("sippeers", {"name": "after"})
    assert rt.update("sippeers", "name", "before", {"host": "dynamic"}) == 1
    assert rt.single("sippeers", {"name": "before"}) is not None
    assert rt.single("sippeers", {"name": "after"}) is not None


def test_calls_fail_fast_while_slapd_is_down_then_recover(rt: Realtime, fresh_slapd: Slapd) -> None:
    rt.single("sippeers", {"name": "alice"})
    fresh_slapd.kill()
    started = time.monotonic()
    with pytest.raises(BackendUnavailable):
        rt.single("sippeers", {"name": "alice"})
    with pytest.raises(BackendError):
        rt.store("sippeers", {"name": "lost"})
    assert time.monotonic() - started < 2.0
    fresh_slapd.start()
    assert rt.single("sippeers", {"name": "alice"}) is not None
    assert rt.single("sippeers", {"name": "lost"}) is None


def test_starting_while_the_directory_is_down(slapd_factory) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    slapd = slapd_factory(port=port)
    slapd.ldapadd(*find_fixture_ldifs())
    slapd.stop()
    realtime = open_realtime(ldap_settings(slapd))
    try:
        started = time.monotonic()
        with pytest.raises(BackendUnavailable, match="unreachable"):
            realtime.single("sippeers", {"name": "alice"})
        assert time.monotonic() - started < 1.0
        slapd.start()
        assert realtime.single("sippeers", {"name": "alice"}) is not None
    finally:
        realtime.close()


def test_a_second_url_takes_over_when_the_first_is_down(slapd_factory) -> None:  # type: ignore[no-untyped-def]
    dead_port = free_port()
    slapd = slapd_factory()
    slapd.ldapadd(*find_fixture_ldifs())
    settings = ldap_settings(slapd, urls=[f"ldap://127.0.0.1:{dead_port}", slapd.url])
    realtime = open_realtime(settings)
    try:
        assert realtime.single("sippeers", {"name": "alice"}) is not None
    finally:
        realtime.close()


def test_wrong_bind_password_is_a_clear_error_without_the_password(
    fresh_slapd: Slapd, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    secret = "Wr0ng-Pa55word-XYZ"
    pw = tmp_path / "pw"
    pw.write_text(secret)
    realtime = open_realtime(ldap_settings(fresh_slapd, password_file=str(pw)))
    try:
        with pytest.raises(BackendError) as info:
            realtime.single("sippeers", {"name": "alice"})
        assert "invalidCredentials" in str(info.value)
        assert secret not in str(info.value)
    finally:
        realtime.close()


def test_a_frozen_directory_times_out_instead_of_hanging(fresh_slapd: Slapd) -> None:
    realtime = open_realtime(ldap_settings(fresh_slapd, timeout=1, connect_timeout=1))
    try:
        assert realtime.single("sippeers", {"name": "alice"}) is not None
        # freeze() waits until every slapd thread is stopped: right after a bare SIGSTOP a
        # request may still be answered (the test then failed with "DID NOT RAISE").
        fresh_slapd.freeze()
        try:
            started = time.monotonic()
            with pytest.raises(BackendUnavailable):
                realtime.single("sippeers", {"name": "alice"})
            assert time.monotonic() - started < 6.0
        finally:
            fresh_slapd.thaw()
        assert realtime.single("sippeers", {"name": "alice"}) is not None
    finally:
        realtime.close()
