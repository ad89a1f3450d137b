"""The change-driven cache on a real slapd: changes made beside ara-ldap arrive, own
writes are read back at once, and a stream that is down, dead or frozen is never used."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from ara_ldap.backends.ldap.backend import LdapBackend
from ara_ldap.bootstrap import open_realtime
from ara_ldap.realtime import Realtime
from ara_ldap.testing.ldap import directory_cache, ldap_settings
from ara_ldap.testing.slapd import Slapd, find_fixture_ldifs
from ara_ldap.testing.waiting import poll

ALICE = "cn=alice,ou=sip,ou=asterisk,dc=example,dc=org"
BOUND = 5.0  # seconds: every "within a bounded time" below


def _open(slapd: Slapd, **cache: Any) -> Realtime:
    options = {"enabled": "auto", "probe_interval": 0.05, "families": ["sippeers"], **cache}
    return open_realtime(ldap_settings(slapd, cache=options))


@pytest.fixture
def cached(fresh_slapd: Slapd) -> Iterator[Realtime]:
    rt = _open(fresh_slapd)
    assert poll(lambda: directory_cache(rt).live("sippeers")), "cache never went live"
    yield rt
    rt.close()


def _callerid(rt: Realtime, name: str) -> str | None:
    rec = rt.single("sippeers", {"name": name})
    return None if rec is None else rec.get("callerid")


def test_external_modify_is_visible(cached: Realtime, fresh_slapd: Slapd) -> None:
    fresh_slapd.ldapmodify_text(
        f"dn: {ALICE}\nchangetype: modify\nreplace: AstAccountCallerID\nAstAccountCallerID: new\n"
    )
    assert poll(lambda: _callerid(cached, "alice") == "new")
    assert directory_cache(cached).live("sippeers")


def test_external_add_is_visible(cached: Realtime, fresh_slapd: Slapd) -> None:
    assert cached.single("sippeers", {"name": "zed"}) is None
    fresh_slapd.ldapadd_text(
        "dn: cn=zed,ou=sip,ou=asterisk,dc=example,dc=org\nobjectClass: top\n"
        "objectClass: device\nobjectClass: AsteriskSIPUser\ncn: zed\n"
        "AstAccountCallerID: Zed\n"
    )
    assert poll(lambda: _callerid(cached, "zed") == "Zed")


def test_external_delete_is_visible(cached: Realtime, fresh_slapd: Slapd) -> None:
    fresh_slapd.ldapmodify_text(f"dn: {ALICE}\nchangetype: delete\n")
    assert poll(lambda: cached.single("sippeers", {"name": "alice"}) is None)
    assert directory_cache(cached).live("sippeers")


def test_external_rename_is_visible(cached: Realtime, fresh_slapd: Slapd) -> None:
    fresh_slapd.ldapmodify_text(
        f"dn: {ALICE}\nchangetype: modrdn\nnewrdn: cn=alicia\ndeleteoldrdn: 1\n"
    )
    assert poll(lambda: cached.single("sippeers", {"name": "alicia"}) is not None)
    assert cached.single("sippeers", {"name": "alice"}) is None


def test_own_update_is_read_back_at_once(cached: Realtime) -> None:
    for i in range(20):
        cached.update2("sippeers", {"name": "alice"}, {"callerid": f"v{i}"})
        assert _callerid(cached, "alice") == f"v{i}"
    assert directory_cache(cached).live("sippeers")


def test_own_store_and_destroy_are_read_back_at_once(cached: Realtime) -> None:
    cached.store("sippeers", {"name": "yan", "callerid": "Yan"})
    assert _callerid(cached, "yan") == "Yan"
    cached.destroy("sippeers", {"name": "yan"})
    assert cached.single("sippeers", {"name": "yan"}) is None


def test_reads_are_served_from_memory_once_live(cached: Realtime) -> None:
    backend = cached.backends["directory"]
    assert isinstance(backend, LdapBackend)
    assert backend.cached_search("sippeers", []) is not None


def test_restarted_slapd_falls_back_then_resyncs(cached: Realtime, fresh_slapd: Slapd) -> None:
    cache = directory_cache(cached)
    fresh_slapd.stop()
    assert poll(lambda: not cache.live("sippeers"))
    fresh_slapd.start()
    # Changed while the stream is down: the read must not be the old value.
    fresh_slapd.ldapmodify_text(
        f"dn: {ALICE}\nchangetype: modify\nreplace: AstAccountCallerID\nAstAccountCallerID: x\n"
    )
    assert _callerid(cached, "alice") == "x"
    assert poll(lambda: cache.live("sippeers"))
    assert _callerid(cached, "alice") == "x"


def test_dead_stream_socket_falls_back(cached: Realtime) -> None:
    cache = directory_cache(cached)
    consumer = cache.consumer("sippeers")
    assert consumer is not None
    consumer.socket_for_tests().close()
    assert poll(lambda: not cache.live("sippeers") or cache.consumer("sippeers") is not consumer)
    assert _callerid(cached, "alice") == '"Alice Example" <1001>'
    assert poll(lambda: cache.live("sippeers"))


def test_frozen_provider_stops_thedirectory_cache(cached: Realtime, fresh_slapd: Slapd) -> None:
    cache = directory_cache(cached)
    pid = fresh_slapd.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        assert poll(lambda: not cache.live("sippeers"), timeout=2.0)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert poll(lambda: cache.live("sippeers"))


def test_no_syncprov_leaves_the_cache_off(
    slapd_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    slapd: Slapd = slapd_factory(syncprov=False)
    slapd.ldapadd(*find_fixture_ldifs())
    with caplog.at_level(logging.INFO, logger="ara_ldap.ldap.cache"):
        rt = _open(slapd)
        try:
            assert poll(lambda: directory_cache(rt).state("sippeers") == "off")
            assert _callerid(rt, "alice") == '"Alice Example" <1001>'
        finally:
            rt.close()
    lines = [r.getMessage() for r in caplog.records if "does not offer syncrepl" in r.message]
    assert len(lines) == 1
    assert "syncprov" in lines[0]


def test_wait_synced_after_a_direct_change(cached: Realtime, fresh_slapd: Slapd) -> None:
    fresh_slapd.ldapmodify_text(
        f"dn: {ALICE}\nchangetype: modify\nreplace: AstAccountCallerID\nAstAccountCallerID: w\n"
    )
    assert directory_cache(cached).wait_synced(BOUND)
    assert _callerid(cached, "alice") == "w"


def test_common_fields_are_indexed_before_going_live(cached: Realtime) -> None:
    replica = directory_cache(cached).replica("sippeers")
    assert replica is not None
    indexed = replica.indexed()
    assert indexed.get("name") is True  # hashed and sorted (LIKE 'prefix%')
    assert "context" in indexed and "mailbox" in indexed


def test_wait_synced_counts_a_family_that_turns_off_while_it_waits(
    slapd_factory: Any,
) -> None:
    slapd = slapd_factory()  # the suffix only: every family's stream finds no base and
    slapd.create_suffix()  # turns the family off (it was starting when the wait began)
    rt = _open(slapd, families=["sippeers", "iaxpeers"])
    try:
        assert directory_cache(rt).wait_synced(BOUND)
        assert directory_cache(rt).state("iaxpeers") == "off"
    finally:
        rt.close()
