"""The cache's saved state on a real slapd: a restart sends the saved cookie and receives
only the changes; changes made while stopped are applied before anything is served; a
damaged, foreign or refused state leads to a full refresh, never to wrong answers."""

from __future__ import annotations

import base64
import json
import logging
import shutil
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ara_ldap.backends.ldap.backend import LdapBackend
from ara_ldap.bootstrap import open_realtime
from ara_ldap.criteria import Criterion, Operator
from ara_ldap.realtime import Realtime
from ara_ldap.testing.ldap import directory_cache, ldap_settings
from ara_ldap.testing.slapd import Slapd, find_fixture_ldifs
from ara_ldap.testing.waiting import poll

SIP = "ou=sip,ou=asterisk,dc=example,dc=org"
ALICE = f"cn=alice,{SIP}"
BOUND = 5.0
EXTRA = 40  # more entries than changes, so "only the changes" is visible in the counts


def _poll(check: Callable[[], bool], timeout: float = BOUND) -> bool:
    return poll(check, timeout, interval=0.002)  # finer than the default: lags are measured


def _open(slapd: Slapd, state_dir: Path, **cache: Any) -> Realtime:
    options = {
        "enabled": "auto",
        "probe_interval": 0.05,
        "families": ["sippeers"],
        "state_dir": str(state_dir),
        **cache,
    }
    rt = open_realtime(ldap_settings(slapd, cache=options))
    assert _poll(lambda: directory_cache(rt).live("sippeers")), "cache never went live"
    return rt


def _peer_ldif(name: str, callerid: str) -> str:
    return (
        f"dn: cn={name},{SIP}\nobjectClass: top\nobjectClass: device\n"
        f"objectClass: AsteriskSIPUser\ncn: {name}\nAstAccountCallerID: {callerid}\n"
    )


def _callerid(rt: Realtime, name: str) -> str | None:
    rec = rt.single("sippeers", {"name": name})
    return None if rec is None else rec.get("callerid")


def _state_files(state_dir: Path) -> list[Path]:
    return sorted(state_dir.glob("*.state"))


@pytest.fixture
def slapd(fresh_slapd: Slapd) -> Slapd:
    fresh_slapd.ldapadd_text("\n".join(_peer_ldif(f"p{i:03d}", f"P{i}") for i in range(EXTRA)))
    return fresh_slapd


@pytest.fixture
def saved(slapd: Slapd, tmp_path: Path) -> Path:
    """A state directory holding the state of a cache that ran and was closed."""
    rt = _open(slapd, tmp_path)
    assert directory_cache(rt).wait_synced(BOUND)
    rt.close()
    assert len(_state_files(tmp_path)) == 1
    return tmp_path


def test_clean_close_saves_a_private_state_file(saved: Path) -> None:
    (path,) = _state_files(saved)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    header = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert header["version"] == 1 and header["count"] > EXTRA


def test_restart_with_saved_cookie_receives_only_the_changes(saved: Path, slapd: Slapd) -> None:
    slapd.ldapmodify_text(
        f"dn: {ALICE}\nchangetype: modify\nreplace: AstAccountCallerID\nAstAccountCallerID: m\n"
    )
    rt = _open(slapd, saved)
    try:
        stats = directory_cache(rt).stats("sippeers")
        assert stats["loaded"] > EXTRA
        assert stats["from_cookie"] == 1 and stats["full_refreshes"] == 0
        assert stats["refresh_entries"] == 1  # alice only, not the other loaded entries
        assert _callerid(rt, "alice") == "m"
    finally:
        rt.close()


def test_changes_made_while_stopped_are_applied_before_serving(saved: Path, slapd: Slapd) -> None:
    slapd.ldapmodify_text(
        f"dn: {ALICE}\nchangetype: modify\nreplace: AstAccountCallerID\nAstAccountCallerID: m\n"
    )
    slapd.ldapadd_text(_peer_ldif("zed", "Zed"))
    slapd.ldapmodify_text(f"dn: cn=p007,{SIP}\nchangetype: delete\n")
    rt = _open(slapd, saved)  # returns at the first moment the family is served
    try:
        assert _callerid(rt, "alice") == "m"
        assert _callerid(rt, "zed") == "Zed"
        assert rt.single("sippeers", {"name": "p007"}) is None
        assert directory_cache(rt).live("sippeers")
        assert directory_cache(rt).wait_synced(BOUND)
    finally:
        rt.close()


def test_a_corrupt_state_file_is_ignored_with_a_log_line(
    saved: Path, slapd: Slapd, caplog: pytest.LogCaptureFixture
) -> None:
    (path,) = _state_files(saved)
    path.write_bytes(path.read_bytes()[:-40])  # truncated in the middle of the last lines
    with caplog.at_level(logging.WARNING, logger="ara_ldap.ldap.cache"):
        rt = _open(slapd, saved)
    try:
        stats = directory_cache(rt).stats("sippeers")
        assert stats["loaded"] == 0 and stats["full_refreshes"] == 1
        assert directory_cache(rt).wait_synced(BOUND)
    finally:
        rt.close()
    lines = [r.getMessage() for r in caplog.records if "saved state" in r.getMessage()]
    assert len(lines) == 1 and "damaged" in lines[0] and "ignored" in lines[0]


def test_a_state_saved_for_another_server_is_ignored(
    saved: Path, slapd: Slapd, slapd_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    other: Slapd = slapd_factory()
    other.ldapadd(*find_fixture_ldifs())
    other_dir = saved / "other"
    _open(other, other_dir).close()
    (mine,) = _state_files(saved)
    (theirs,) = _state_files(other_dir)
    shutil.copyfile(mine, theirs)  # same family, same name, but saved for another server
    with caplog.at_level(logging.WARNING, logger="ara_ldap.ldap.cache"):
        rt = _open(other, other_dir)
    try:
        assert directory_cache(rt).stats("sippeers")["loaded"] == 0
        assert rt.single("sippeers", {"name": "p001"}) is None  # only in the first server
        assert directory_cache(rt).wait_synced(BOUND)
    finally:
        rt.close()
    lines = [r.getMessage() for r in caplog.records if "saved state" in r.getMessage()]
    assert len(lines) == 1 and "another server" in lines[0]


def test_a_refused_cookie_drops_the_state_and_refreshes_fully(
    saved: Path, slapd: Slapd, caplog: pytest.LogCaptureFixture
) -> None:
    (path,) = _state_files(saved)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = json.loads(lines[0])
    # A cookie from the future: slapd answers "consumer state is newer than provider!".
    header["cookie"] = base64.b64encode(
        b"rid=000,csn=20991231235959.000000Z#000000#000#000000"
    ).decode()
    path.write_text(json.dumps(header) + "\n" + "".join(lines[1:]), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="ara_ldap.ldap.cache"):
        rt = _open(slapd, saved)
    try:
        stats = directory_cache(rt).stats("sippeers")
        assert stats["loaded"] > EXTRA and stats["full_refreshes"] == 1
        assert stats["refresh_entries"] > EXTRA
        assert directory_cache(rt).wait_synced(BOUND)
    finally:
        rt.close()
    assert any("refused the sync cookie" in r.getMessage() for r in caplog.records)


def test_refresh_required_drops_the_state_and_refreshes_fully(
    saved: Path, slapd: Slapd, caplog: pytest.LogCaptureFixture
) -> None:
    rt = _open(slapd, saved)
    try:
        cache = directory_cache(rt)
        assert cache.stats("sippeers")["full_refreshes"] == 0
        # Moving the family's base away makes syncprov end the persistent search with
        # e-syncRefreshRequired ("search base has changed"); it is moved back at once.
        with caplog.at_level(logging.WARNING, logger="ara_ldap.ldap.cache"):
            slapd.ldapmodify_text(
                f"dn: {SIP}\nchangetype: modrdn\nnewrdn: ou=sipx\ndeleteoldrdn: 1\n"
            )
            slapd.ldapmodify_text(
                "dn: ou=sipx,ou=asterisk,dc=example,dc=org\nchangetype: modrdn\n"
                "newrdn: ou=sip\ndeleteoldrdn: 1\n"
            )
            assert _poll(lambda: cache.stats("sippeers")["full_refreshes"] == 1)
        assert _poll(lambda: cache.live("sippeers"))
        assert cache.wait_synced(BOUND)
        assert _callerid(rt, "p001") == "P1"
    finally:
        rt.close()
    assert any("4096" in r.getMessage() for r in caplog.records)


def test_a_live_cache_saves_after_enough_changes(slapd: Slapd, tmp_path: Path) -> None:
    rt = _open(slapd, tmp_path, state_save_changes=2)
    try:
        cache = directory_cache(rt)
        # The refresh itself is more than 2 changes: a first save follows going live.
        assert _poll(lambda: cache.stats("sippeers")["saves"] >= 1)
        before = cache.stats("sippeers")["saves"]
        for i in range(3):
            slapd.ldapmodify_text(
                f"dn: {ALICE}\nchangetype: modify\nreplace: AstAccountCallerID\n"
                f"AstAccountCallerID: s{i}\n"
            )
        assert _poll(lambda: cache.stats("sippeers")["saves"] > before)
        (path,) = _state_files(tmp_path)
        assert json.loads(path.read_text(encoding="utf-8").splitlines()[0])["count"] > EXTRA
    finally:
        rt.close()


def test_a_loaded_state_is_not_served_before_its_refresh(saved: Path, slapd: Slapd) -> None:
    slapd.stop()  # the refresh from the saved cookie cannot happen yet
    options = {"enabled": "auto", "probe_interval": 0.05, "families": ["sippeers"]}
    rt = open_realtime(ldap_settings(slapd, cache={**options, "state_dir": str(saved)}))
    try:
        cache = directory_cache(rt)
        backend = rt.backends["directory"]
        assert isinstance(backend, LdapBackend)
        assert _poll(lambda: cache.stats("sippeers")["loaded"] > EXTRA)
        time.sleep(0.5)  # ten watchdog ticks
        assert not cache.live("sippeers")
        assert backend.cached_search("sippeers", [Criterion("name", Operator.EQ, "alice")]) is None
        slapd.start()
        assert _poll(lambda: cache.live("sippeers"))
        assert cache.stats("sippeers")["full_refreshes"] == 0
    finally:
        rt.close()
