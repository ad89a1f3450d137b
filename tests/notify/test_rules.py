"""Change -> AMI actions (no I/O)."""

from __future__ import annotations

from ara_ldap.config import NotifySettings, StaticSettings
from ara_ldap.notify.rules import Rules, expire_object, prune_peer, reload
from ara_ldap.record import Record


def _rules(**notify: object) -> Rules:
    sorcery = {
        "ps_endpoints": "res_pjsip/endpoint",
        "my_aors": "res_pjsip/aor",
        "ps_contacts": "res_pjsip/contact",
        "sippeers": None,
    }
    return Rules(NotifySettings.model_validate(notify), StaticSettings(), sorcery)


def _row(filename: str) -> Record:
    return Record.from_mapping({"filename": filename, "category": "general", "var_name": "x"})


def test_static_row_reloads_the_module_reading_its_file() -> None:
    rules = _rules()
    for kind in ("add", "modify", "delete"):
        before = None if kind == "add" else _row("sip.conf")
        after = None if kind == "delete" else _row("sip.conf")
        assert rules.actions("ast_config", kind, before, after) == [reload("chan_sip.so")]


def test_static_row_moved_between_files_reloads_both_modules() -> None:
    got = _rules().actions("ast_config", "modify", _row("sip.conf"), _row("extensions.conf"))
    assert got == [reload("chan_sip.so"), reload("pbx_config.so")]


def test_module_map_overrides_and_drops_defaults() -> None:
    rules = _rules(modules={"features.conf": "res_features.so", "sip.conf": None})
    assert rules.actions("ast_config", "add", None, _row("features.conf")) == [
        reload("res_features.so")
    ]
    assert rules.actions("ast_config", "add", None, _row("sip.conf")) == []


def test_file_without_a_module_sends_nothing() -> None:
    assert _rules().actions("ast_config", "add", None, _row("musiconhold.conf")) == []


def test_peer_is_pruned_only_with_rtcachefriends() -> None:
    peer = Record.from_mapping({"name": "alice", "host": "dynamic"})
    assert _rules().actions("sippeers", "modify", peer, peer) == []
    rules = _rules(rtcachefriends=["sippeers"])
    assert rules.actions("sippeers", "modify", peer, peer) == [prune_peer("alice")]
    assert rules.actions("sippeers", "delete", peer, None) == [prune_peer("alice")]


def test_renamed_peer_prunes_its_old_name() -> None:
    old = Record.from_mapping({"name": "alice"})
    new = Record.from_mapping({"name": "alicia"})
    got = _rules(rtcachefriends=["sippeers"]).actions("sippeers", "rename", old, new)
    assert got == [prune_peer("alice")]


def test_added_objects_need_no_expiry_or_prune() -> None:
    rules = _rules(rtcachefriends=["sippeers"], sorcery_caches={"endpoint": "ep"})
    assert rules.actions("sippeers", "add", None, Record.from_mapping({"name": "new"})) == []
    assert rules.actions("ps_endpoints", "add", None, Record.from_mapping({"id": "new"})) == []


def test_sorcery_expiry_is_keyed_on_the_object_type_not_the_family_name() -> None:
    rules = _rules(sorcery_caches={"endpoint": "endpoint_cache", "aor": "aor_cache"})
    ep = Record.from_mapping({"id": "1001"})
    assert rules.actions("ps_endpoints", "modify", ep, ep) == [
        expire_object("endpoint_cache", "1001")
    ]
    assert rules.actions("my_aors", "delete", ep, None) == [expire_object("aor_cache", "1001")]


def test_sorcery_type_without_a_cache_sends_nothing() -> None:
    rules = _rules(sorcery_caches={"endpoint": "endpoint_cache"})
    contact = Record.from_mapping({"id": "1001;@abc"})
    assert rules.actions("ps_contacts", "modify", contact, contact) == []


def test_unmapped_family_sends_nothing() -> None:
    rules = _rules(rtcachefriends=["sippeers"], sorcery_caches={"endpoint": "ep"})
    vm = Record.from_mapping({"mailbox": "1000", "context": "default"})
    assert rules.actions("voicemail", "modify", vm, vm) == []
    assert "voicemail" not in rules.families()
