"""The notifier against the scripted AMI peer: batching, deduplication, reconnects."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ara_ldap.config import NotifySettings, StaticSettings
from ara_ldap.notify.rules import Rules
from ara_ldap.notify.service import Notifier, NotifierThread
from ara_ldap.record import Record
from ara_ldap.testing.ami import ScriptedAmi

SORCERY = {"ps_endpoints": "res_pjsip/endpoint"}


@pytest.fixture
def ami() -> Iterator[ScriptedAmi]:
    with ScriptedAmi() as peer:
        yield peer


def _settings(peer: ScriptedAmi, tmp_path: Path, **extra: Any) -> NotifySettings:
    secret = tmp_path / "ami.pw"
    secret.write_text(peer.secret + "\n")
    options: dict[str, Any] = {
        "servers": [
            {
                "host": peer.host,
                "port": peer.port,
                "username": peer.username,
                "secret_file": str(secret),
                "action_timeout": 2.0,
            }
        ],
        "debounce": 0.2,
        "max_backoff": 0.5,
        "rtcachefriends": ["sippeers"],
        "sorcery_caches": {"endpoint": "endpoint_cache"},
        **extra,
    }
    return NotifySettings.model_validate(options)


def _start(settings: NotifySettings, **kw: Any) -> NotifierThread:
    rules = Rules(settings, StaticSettings(), SORCERY)
    return NotifierThread(Notifier(settings, rules, **kw)).start()


def _row(n: int, filename: str = "sip.conf") -> Record:
    return Record.from_mapping({"filename": filename, "var_name": f"v{n}", "var_val": "x"})


@pytest.fixture
def running(ami: ScriptedAmi, tmp_path: Path) -> Iterator[NotifierThread]:
    runner = _start(_settings(ami, tmp_path))
    assert ami.wait_for(lambda p: p.logins == [(p.username, True)]), "never logged in"
    yield runner
    runner.stop()


def test_burst_of_1000_static_rows_is_one_reload(ami: ScriptedAmi, running: NotifierThread) -> None:
    for n in range(1000):
        running.notifier.submit("ast_config", "modify", _row(n), _row(n))
    assert ami.wait_for(lambda p: len(p.received()) >= 1)
    time.sleep(0.6)  # longer than the debounce: nothing else may follow
    assert ami.received() == [{"Action": "Reload", "Module": "chan_sip.so"}]
    metrics = running.notifier.metrics
    assert metrics["changes"] == 1000 and metrics["batches"] == 1


def test_expiries_are_deduplicated_per_object(ami: ScriptedAmi, running: NotifierThread) -> None:
    for n in range(50):
        for object_id in ("1001", "1002"):
            ep = Record.from_mapping({"id": object_id, "callerid": str(n)})
            running.notifier.submit("ps_endpoints", "modify", ep, ep)
    assert ami.wait_for(lambda p: len(p.received()) >= 2)
    time.sleep(0.6)
    assert ami.received() == [
        {"Action": "SorceryMemoryCacheExpireObject", "Cache": "endpoint_cache", "Object": o}
        for o in ("1001", "1002")
    ]


def test_unmapped_family_sends_nothing(ami: ScriptedAmi, running: NotifierThread) -> None:
    vm = Record.from_mapping({"mailbox": "1000", "context": "default"})
    running.notifier.submit("voicemail", "modify", vm, vm)
    peer = Record.from_mapping({"name": "alice"})
    running.notifier.submit("sippeers", "modify", peer, peer)  # a marker after it
    assert ami.wait_for(lambda p: len(p.received()) >= 1)
    time.sleep(0.4)
    assert ami.received() == [{"Action": "Command", "Command": "sip prune realtime peer alice"}]
    assert running.notifier.metrics["changes_ignored"] == 1


def test_actions_after_a_disconnect_are_sent_on_the_new_session(
    ami: ScriptedAmi, running: NotifierThread
) -> None:
    ami.drop_clients()
    peer = Record.from_mapping({"name": "bob"})
    running.notifier.submit("sippeers", "delete", peer, None)
    assert ami.wait_for(lambda p: len(p.received()) == 1, timeout=5)
    assert ami.connections == 2
    assert ami.received() == [{"Action": "Command", "Command": "sip prune realtime peer bob"}]


def test_changes_while_asterisk_is_down_are_one_reload_when_it_is_back(
    ami: ScriptedAmi, running: NotifierThread
) -> None:
    ami.stop_listening()
    for n in range(200):
        running.notifier.submit("ast_config", "add", None, _row(n))
        if n == 100:
            time.sleep(0.5)  # two batches while down
    time.sleep(1.0)  # reconnects fail with backoff meanwhile
    assert ami.received() == []
    assert running.notifier.metrics["connect_failures"] >= 1
    ami.listen_again()
    assert ami.wait_for(lambda p: len(p.received()) >= 1, timeout=5)
    time.sleep(0.5)
    assert ami.received() == [{"Action": "Reload", "Module": "chan_sip.so"}]
    assert running.notifier.metrics["actions_deduplicated"] >= 1


def test_slow_responses_delay_but_keep_order(ami: ScriptedAmi, running: NotifierThread) -> None:
    ami.delay = 0.3
    for name in ("a", "b", "c"):
        running.notifier.submit("sippeers", "modify", *[Record.from_mapping({"name": name})] * 2)
    assert ami.wait_for(lambda p: len(p.received()) == 3, timeout=5)
    assert [a["Command"].rsplit(" ", 1)[1] for a in ami.received()] == ["a", "b", "c"]
    deadline = time.monotonic() + 2  # the last response is still on its way
    while running.notifier.metrics["actions_sent"] < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert running.notifier.metrics["actions_sent"] == 3


def test_refused_login_sends_nothing_and_is_counted(ami: ScriptedAmi, tmp_path: Path) -> None:
    settings = _settings(ami, tmp_path)
    (tmp_path / "ami.pw").write_text("not-the-secret\n")
    runner = _start(settings, secrets=["not-the-secret"])
    try:
        runner.notifier.submit("ast_config", "add", None, _row(1))
        assert ami.wait_for(lambda p: len(p.logins) >= 3, timeout=5)  # retried with backoff
        assert all(not ok for _, ok in ami.logins)
        assert ami.received() == []
        assert runner.notifier.metrics["login_failures"] >= 2
        assert runner.notifier.outbox_sizes() == [1]  # kept for when the login works
    finally:
        runner.stop()


def test_dry_run_prints_the_actions_and_connects_nowhere(ami: ScriptedAmi, tmp_path: Path) -> None:
    printed: list[str] = []
    runner = _start(_settings(ami, tmp_path), dry_run=True, out=printed.append)
    try:
        for n in range(10):
            runner.notifier.submit("ast_config", "modify", _row(n), _row(n, "extensions.conf"))
        deadline = time.monotonic() + 5
        while len(printed) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        runner.stop()
    assert printed[0].startswith("# batch 1: 10 changes, to ara-notify@127.0.0.1:")
    assert printed[1:] == [
        "Action: Reload\nModule: chan_sip.so\n",
        "Action: Reload\nModule: pbx_config.so\n",
    ]
    assert ami.connections == 0


class _BrokenRules(Rules):
    """Rules that fail on one family: a bug in mapping one record."""

    def actions(self, family: str, kind: str, before: Record | None, after: Record | None) -> Any:
        if family == "broken":
            raise RuntimeError("mapping bug")
        return super().actions(family, kind, before, after)


def test_a_failing_mapping_is_counted_and_later_changes_still_go_out(
    ami: ScriptedAmi, tmp_path: Path
) -> None:
    settings = _settings(ami, tmp_path)
    rules = _BrokenRules(settings, StaticSettings(), SORCERY)
    runner = NotifierThread(Notifier(settings, rules)).start()
    try:
        runner.notifier.submit("broken", "modify", _row(1), _row(1))
        runner.notifier.submit("ast_config", "modify", _row(1), _row(1))
        assert ami.wait_for(lambda p: len(p.received()) == 1)
        assert ami.received() == [{"Action": "Reload", "Module": "chan_sip.so"}]
        assert runner.notifier.metrics["errors"] == 1
    finally:
        runner.stop()


def test_a_server_that_is_down_does_not_hold_back_the_others(tmp_path: Path) -> None:
    with ScriptedAmi() as up, ScriptedAmi() as down:
        down.stop_listening()
        one = _settings(up, tmp_path).servers[0]
        other = one.model_copy(update={"port": down.port})
        settings = _settings(up, tmp_path).model_copy(update={"servers": [one, other]})
        runner = _start(settings)
        try:
            runner.notifier.submit("ast_config", "add", None, _row(1))
            assert up.wait_for(lambda p: len(p.received()) == 1)
            assert down.received() == []
            down.listen_again()
            assert down.wait_for(lambda p: len(p.received()) == 1, timeout=5)
            assert (
                down.received() == up.received() == [{"Action": "Reload", "Module": "chan_sip.so"}]
            )
        finally:
            runner.stop()
