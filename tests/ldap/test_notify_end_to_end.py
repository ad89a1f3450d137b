"""Done-when of issue 13: an ldapmodify on the demo directory reaches the scripted AMI
peer as exactly the expected actions, within a bounded time, once per burst."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ara_ldap.backends.ldap.backend import LdapBackend
from ara_ldap.backends.ldap.cache import DirectoryCache
from ara_ldap.bootstrap import open_realtime
from ara_ldap.config import load_settings
from ara_ldap.notify.commands import attach, build_notifier
from ara_ldap.notify.service import NotifierThread
from ara_ldap.testing.ami import ScriptedAmi
from ara_ldap.testing.ldap import ldap_backend_config
from ara_ldap.testing.slapd import Slapd

BOUND = 5.0  # seconds from the ldapmodify to the actions
DEBOUNCE = 0.2
SUFFIX = "ou=asterisk,dc=example,dc=org"
ALICE_PEER = f"cn=alice,ou=sip,{SUFFIX}"
ALICE_PJSIP = "uid=alice,ou=people,ou=pjsip,dc=example,dc=org"
FAMILIES = ["sippeers", "ast_config", "ps_endpoints", "ps_aors", "ps_auths", "voicemail"]

RELOAD_SIP = {"Action": "Reload", "Module": "chan_sip.so"}
PRUNE_ALICE = {"Action": "Command", "Command": "sip prune realtime peer alice"}
EXPIRE_1001 = {
    "Action": "SorceryMemoryCacheExpireObject",
    "Cache": "endpoint_cache",
    "Object": "1001",
}


class Stack:
    def __init__(self, slapd: Slapd, ami: ScriptedAmi, tmp_path: Path) -> None:
        secret = tmp_path / "ami.pw"
        secret.write_text(ami.secret + "\n")
        backend = ldap_backend_config(slapd, cache={"probe_interval": 0.05, "families": FAMILIES})
        notify: dict[str, Any] = {
            "servers": [
                {
                    "host": ami.host,
                    "port": ami.port,
                    "username": ami.username,
                    "secret_file": str(secret),
                }
            ],
            "debounce": DEBOUNCE,
            "rtcachefriends": ["sippeers"],
            "sorcery_caches": {"endpoint": "endpoint_cache", "aor": "aor_cache"},
        }
        settings = load_settings({"backends": {"directory": backend}, "notify": notify})
        self.realtime = open_realtime(settings)
        self.notifier = build_notifier(settings)
        self.runner = NotifierThread(self.notifier).start()
        self.watched = attach(self.realtime, self.notifier)
        backend_obj = self.realtime.backends["directory"]
        assert isinstance(backend_obj, LdapBackend)
        assert isinstance(backend_obj.cache, DirectoryCache)
        self.cache = backend_obj.cache
        assert self.cache.wait_synced(10), "cache never live"

    def close(self) -> None:
        self.runner.stop()
        self.realtime.close()


@pytest.fixture
def stack(fresh_slapd: Slapd, tmp_path: Path) -> Iterator[tuple[Stack, ScriptedAmi]]:
    with ScriptedAmi() as ami:
        s = Stack(fresh_slapd, ami, tmp_path)
        assert ami.wait_for(lambda p: p.logins == [(p.username, True)])
        yield s, ami
        s.close()


def _settled(ami: ScriptedAmi, count: int) -> float:
    """Wait for ``count`` actions; then a few debounce windows more, so that a late or
    repeated action would show.  Returns the seconds the first wait took."""
    started = time.monotonic()
    assert ami.wait_for(lambda p: len(p.received()) >= count, timeout=BOUND), ami.received()
    took = time.monotonic() - started
    time.sleep(4 * DEBOUNCE)
    return took


def test_the_mapped_families_are_watched(stack: tuple[Stack, ScriptedAmi]) -> None:
    s, _ = stack
    assert s.watched == ["ast_config", "ps_aors", "ps_endpoints", "sippeers"]


def test_burst_of_static_rows_is_one_reload(
    stack: tuple[Stack, ScriptedAmi], fresh_slapd: Slapd
) -> None:
    _, ami = stack
    changes = "\n".join(
        f"dn: cn=sip.conf:30:{n},ou=config,{SUFFIX}\nchangetype: modify\n"
        f"replace: AstConfigVariableValue\nAstConfigVariableValue: changed{n}\n"
        for n in range(6)
    )
    fresh_slapd.ldapmodify_text(changes)
    took = _settled(ami, 1)
    assert ami.received() == [RELOAD_SIP]
    assert took < BOUND


def test_peer_change_prunes_it(stack: tuple[Stack, ScriptedAmi], fresh_slapd: Slapd) -> None:
    _, ami = stack
    for n in range(5):  # a burst: one prune
        fresh_slapd.ldapmodify_text(
            f"dn: {ALICE_PEER}\nchangetype: modify\nreplace: AstAccountCallerID\n"
            f"AstAccountCallerID: Alice {n} <1000>\n"
        )
    _settled(ami, 1)
    assert ami.received() == [PRUNE_ALICE]


def test_endpoint_change_expires_only_the_endpoint(
    stack: tuple[Stack, ScriptedAmi], fresh_slapd: Slapd
) -> None:
    _, ami = stack
    # The entry also holds alice's aor and auth: their records do not change.
    fresh_slapd.ldapmodify_text(
        f"dn: {ALICE_PJSIP}\nchangetype: modify\nreplace: astEndpointCallerid\n"
        'astEndpointCallerid: "Alice New" <1001>\n'
    )
    _settled(ami, 1)
    assert ami.received() == [EXPIRE_1001]


def test_mixed_burst_sends_each_action_once(
    stack: tuple[Stack, ScriptedAmi], fresh_slapd: Slapd
) -> None:
    _, ami = stack
    ldif = []
    for n in range(3):
        ldif.append(
            f"dn: cn=sip.conf:30:0,ou=config,{SUFFIX}\nchangetype: modify\n"
            f"replace: AstConfigVariableValue\nAstConfigVariableValue: ctx{n}\n"
        )
        ldif.append(
            f"dn: {ALICE_PEER}\nchangetype: modify\nreplace: AstAccountCallerID\n"
            f"AstAccountCallerID: Alice {n}\n"
        )
        ldif.append(
            f"dn: {ALICE_PJSIP}\nchangetype: modify\nreplace: astEndpointCallerid\n"
            f"astEndpointCallerid: Alice {n}\n"
        )
    fresh_slapd.ldapmodify_text("\n".join(ldif))
    _settled(ami, 3)
    got = ami.received()
    assert len(got) == 3
    assert sorted(map(str, got)) == sorted(map(str, [RELOAD_SIP, PRUNE_ALICE, EXPIRE_1001]))


def test_change_outside_the_mapped_families_sends_nothing(
    stack: tuple[Stack, ScriptedAmi], fresh_slapd: Slapd
) -> None:
    s, ami = stack
    fresh_slapd.ldapmodify_text(
        f"dn: cn=1001@default,ou=voicemail,{SUFFIX}\nchangetype: modify\n"
        "replace: AstVoicemailFullname\nAstVoicemailFullname: Alice Renamed\n"
    )
    assert s.cache.wait_synced(BOUND)  # the change has reached the cache
    deadline = time.monotonic() + BOUND
    while s.notifier.metrics["changes_ignored"] < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(4 * DEBOUNCE)
    assert s.notifier.metrics["changes_ignored"] == 1
    assert ami.received() == []
