"""DirectoryCache change listeners on a real slapd: what a notifier is fed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ara_ldap.backends.ldap.mapping import FamilyMap
from ara_ldap.backends.ldap.replica import FamilyReplica
from ara_ldap.backends.ldap.syncrepl import SyncConsumer
from ara_ldap.bootstrap import open_realtime
from ara_ldap.config import LdapBackendSettings
from ara_ldap.realtime import Realtime
from ara_ldap.record import Record
from ara_ldap.testing.ldap import directory_cache, ldap_settings
from ara_ldap.testing.slapd import Slapd
from ara_ldap.testing.waiting import poll

ALICE = "cn=alice,ou=sip,ou=asterisk,dc=example,dc=org"
Seen = list[tuple[str, str, Record | None, Record | None]]


@pytest.fixture
def watched(fresh_slapd: Slapd) -> Iterator[tuple[Realtime, Seen]]:
    rt = open_realtime(
        ldap_settings(fresh_slapd, cache={"probe_interval": 0.05, "families": ["sippeers"]})
    )
    seen: Seen = []
    lock = threading.Lock()

    def listener(family: str, kind: str, before: Record | None, after: Record | None) -> None:
        with lock:
            seen.append((family, kind, before, after))

    directory_cache(rt).add_listener(listener)
    assert poll(lambda: directory_cache(rt).live("sippeers")), "cache never went live"
    yield rt, seen
    rt.close()


def test_initial_refresh_is_not_reported(watched: tuple[Realtime, Seen]) -> None:
    rt, seen = watched
    assert directory_cache(rt).wait_synced()
    assert seen == []


def test_modify_reports_before_and_after(
    watched: tuple[Realtime, Seen], fresh_slapd: Slapd
) -> None:
    _, seen = watched
    fresh_slapd.ldapmodify_text(
        f"dn: {ALICE}\nchangetype: modify\nreplace: AstAccountCallerID\n"
        "AstAccountCallerID: Alice New <1000>\n"
    )
    assert poll(lambda: len(seen) == 1)
    family, kind, before, after = seen[0]
    assert (family, kind) == ("sippeers", "modify")
    assert before is not None and after is not None
    assert before.get("name") == after.get("name") == "alice"
    assert after.get("callerid") == "Alice New <1000>"


def test_rename_reports_old_and_new_name(
    watched: tuple[Realtime, Seen], fresh_slapd: Slapd
) -> None:
    _, seen = watched
    fresh_slapd.ldapmodify_text(
        f"dn: {ALICE}\nchangetype: modrdn\nnewrdn: cn=alicia\ndeleteoldrdn: 1\n"
    )
    assert poll(lambda: len(seen) == 1)
    _, kind, before, after = seen[0]
    assert kind == "rename"
    assert before is not None and after is not None
    assert (before.get("name"), after.get("name")) == ("alice", "alicia")


def test_delete_reports_the_gone_record(watched: tuple[Realtime, Seen], fresh_slapd: Slapd) -> None:
    _, seen = watched
    fresh_slapd.ldapmodify_text(f"dn: {ALICE}\nchangetype: delete\n")
    assert poll(lambda: len(seen) == 1)
    _, kind, before, after = seen[0]
    assert kind == "delete" and after is None
    assert before is not None and before.get("name") == "alice"


def test_failing_listener_leaves_the_stream_live(
    watched: tuple[Realtime, Seen], fresh_slapd: Slapd
) -> None:
    rt, seen = watched

    def broken(family: str, kind: str, before: Record | None, after: Record | None) -> None:
        raise RuntimeError("listener bug")

    directory_cache(rt).add_listener(broken)
    for n in (1, 2):
        fresh_slapd.ldapmodify_text(
            f"dn: {ALICE}\nchangetype: modify\nreplace: AstAccountCallerID\n"
            f"AstAccountCallerID: Alice {n}\n"
        )
    assert poll(lambda: len(seen) == 2)
    assert poll(lambda: directory_cache(rt).live("sippeers"))
    rec = rt.single("sippeers", {"name": "alice"})
    assert rec is not None and rec.get("callerid") == "Alice 2"


def _stream(slapd: Slapd, replica: Any, cookie: bytes | None, seen: Seen) -> SyncConsumer:
    settings = ldap_settings(slapd).backends["directory"]
    assert isinstance(settings, LdapBackendSettings)
    consumer = SyncConsumer(
        settings,
        settings.bind_password(),
        replica.fmap,
        replica,
        cookie=cookie,
        on_record=lambda kind, before, after: seen.append(("sippeers", kind, before, after)),
        report_refresh=cookie is not None,
    )
    consumer.start()
    assert consumer.refreshed.wait(5), "refresh never completed"
    return consumer


def test_refresh_resumed_from_a_cookie_reports_what_changed_meanwhile(
    fresh_slapd: Slapd,
) -> None:
    settings = ldap_settings(fresh_slapd).backends["directory"]
    assert isinstance(settings, LdapBackendSettings)
    replica = FamilyReplica(FamilyMap("sippeers", settings.families["sippeers"]))
    seen: Seen = []
    first = _stream(fresh_slapd, replica, None, seen)
    assert seen == []  # a full refresh reports nothing
    first.close()
    cookie = first.cookie
    fresh_slapd.ldapmodify_text(  # while no stream runs
        f"dn: {ALICE}\nchangetype: modify\nreplace: AstAccountCallerID\n"
        "AstAccountCallerID: Changed While Down\n"
    )
    second = _stream(fresh_slapd, replica, cookie, seen)
    try:
        changes = [(kind, b.get("name") if b else None) for _, kind, b, _ in seen]
        assert changes == [("modify", "alice")]
        assert seen[0][3] is not None and seen[0][3].get("callerid") == "Changed While Down"
    finally:
        second.close()


def test_refresh_resumed_from_a_cookie_reports_deletes_meanwhile(fresh_slapd: Slapd) -> None:
    settings = ldap_settings(fresh_slapd).backends["directory"]
    assert isinstance(settings, LdapBackendSettings)
    replica = FamilyReplica(FamilyMap("sippeers", settings.families["sippeers"]))
    seen: Seen = []
    first = _stream(fresh_slapd, replica, None, seen)
    first.close()
    fresh_slapd.ldapmodify_text(f"dn: {ALICE}\nchangetype: delete\n")
    second = _stream(fresh_slapd, replica, first.cookie, seen)
    try:
        changes = [(kind, b.get("name") if b else None) for _, kind, b, _ in seen]
        assert changes == [("delete", "alice")]
    finally:
        second.close()
