"""Writes on a production-shaped directory (service account, entries another tool wrote):
renames are refused before anything changes when they would collide, a no-op never
renames, DN templates never give two records one name, and a write that stopped part-way
is reported exactly and never replayed on another backend."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ara_ldap.bootstrap import open_realtime
from ara_ldap.config import load_settings
from ara_ldap.errors import Conflict, PartialWrite, WriteIncomplete
from ara_ldap.realtime import Realtime
from ara_ldap.testing.ldap import ldap_backend_config, ldap_settings
from ara_ldap.testing.slapd import ProductionSlapd

SUFFIX = "dc=example,dc=org"
SUBTREES = ("sip", "voicemail", "extensions")
Make = Callable[..., ProductionSlapd]


def containers() -> str:
    blocks = [f"dn: ou=asterisk,{SUFFIX}\nobjectClass: organizationalUnit\nou: asterisk\n"]
    blocks += [
        f"dn: ou={ou},ou=asterisk,{SUFFIX}\nobjectClass: organizationalUnit\nou: {ou}\n"
        for ou in SUBTREES
    ]
    return "\n".join(blocks)


def peers(*names: str, host: str = "h") -> str:
    return "\n".join(
        f"dn: cn={n},ou=sip,ou=asterisk,{SUFFIX}\nobjectClass: device\n"
        f"objectClass: AsteriskSIPUser\ncn: {n}\nAstAccountHost: {host}\n"
        for n in names
    )


@pytest.fixture
def make(production_slapd_factory: Any) -> Make:
    def build(ldif: str = "") -> ProductionSlapd:
        slapd: ProductionSlapd = production_slapd_factory()
        slapd.ldapadd_text(containers() + ("\n" + ldif if ldif else ""))
        return slapd

    return build


@pytest.fixture
def opened() -> Iterator[list[Realtime]]:
    realtimes: list[Realtime] = []
    yield realtimes
    for rt in realtimes:
        rt.close()


def realtime(slapd: ProductionSlapd, opened: list[Realtime]) -> Realtime:
    rt = open_realtime(ldap_settings(slapd))
    opened.append(rt)
    return rt


def names(rt: Realtime, family: str = "sippeers") -> list[str]:
    return sorted(r.get("name") or "" for r in rt.multi(family, {"name LIKE": "%"}))


# Item 5 ------------------------------------------------------------------------------


def test_renaming_two_records_to_one_name_changes_nothing(
    make: Make, opened: list[Realtime]
) -> None:
    rt = realtime(make(peers("q1", "q2")), opened)
    with pytest.raises(Conflict):
        rt.update2("sippeers", {"host": "h"}, {"name": "q9"})
    assert names(rt) == ["q1", "q2"]


# Item 6 ------------------------------------------------------------------------------


def test_an_update_repeating_the_naming_fields_never_renames(
    make: Make, opened: list[Realtime]
) -> None:
    legacy = (
        f"dn: cn=legacyvm,ou=voicemail,ou=asterisk,{SUFFIX}\nobjectClass: AsteriskMailbox\n"
        "objectClass: AsteriskVoiceMail\ncn: legacyvm\nAstContext: default\n"
        "AstVoicemailMailbox: 1234\nAstVoicemailPassword: 0000\n"
    )
    slapd = make(legacy)
    rt = realtime(slapd, opened)
    changed = rt.update2(
        "voicemail", {"mailbox": "1234"}, {"mailbox": "1234", "fullname": "Legacy"}
    )
    assert changed == 1
    backend = rt.backends["directory"]
    fmap = backend.family_map("voicemail")  # type: ignore[attr-defined]
    entries = backend._entries(fmap, [])  # type: ignore[attr-defined]
    assert [e.dn.split(",")[0] for e in entries] == ["cn=legacyvm"]
    assert entries[0].record.get("fullname") == "Legacy"


# Item 7 ------------------------------------------------------------------------------


def test_two_extensions_whose_fields_join_alike_are_two_entries(
    make: Make, opened: list[Realtime]
) -> None:
    rt = realtime(make(), opened)
    first = {"context": "b", "exten": "1@a", "priority": "1", "app": "NoOp"}
    second = {"context": "a@b", "exten": "1", "priority": "1", "app": "Hangup"}
    assert rt.store("extensions", first) == 1
    assert rt.store("extensions", second) == 1
    found = rt.single("extensions", {"context": "a@b", "exten": "1"})
    assert found is not None and found.get("app") == "Hangup"
    found = rt.single("extensions", {"context": "b", "exten": "1@a"})
    assert found is not None and found.get("app") == "NoOp"


# Item 4 ------------------------------------------------------------------------------


def two_directories(make: Make, opened: list[Realtime]) -> tuple[Realtime, Realtime, Realtime]:
    """Route [a, b], both holding p0..p3; on a, p2 has a child (so it cannot be deleted)."""
    child = f"dn: cn=phone,cn=p2,ou=sip,ou=asterisk,{SUFFIX}\nobjectClass: device\ncn: phone\n"
    a = make(peers("p0", "p1", "p2", "p3") + "\n" + child)
    b = make(peers("p0", "p1", "p2", "p3"))
    settings = load_settings(
        {
            "backends": {"a": ldap_backend_config(a), "b": ldap_backend_config(b)},
            "families": {"sippeers": ["a", "b"]},
        }
    )
    rt = open_realtime(settings)
    only_a, only_b = realtime(a, opened), realtime(b, opened)
    opened.append(rt)
    return rt, only_a, only_b


def test_a_destroy_that_stops_part_way_says_how_many_and_does_not_fail_over(
    make: Make, opened: list[Realtime]
) -> None:
    rt, only_a, only_b = two_directories(make, opened)
    with pytest.raises(PartialWrite) as caught:
        rt.destroy("sippeers", {"name LIKE": "p%"})
    assert (caught.value.done, caught.value.total) == (2, 4)
    assert "2 of 4 records deleted" in str(caught.value)
    assert names(only_a) == ["p2", "p3"]
    assert names(only_b) == ["p0", "p1", "p2", "p3"]


class SwallowingRelay:
    """A TCP relay to slapd that forwards an AddRequest, then drops the connection before
    slapd's answer reaches the client: the store happened, the caller cannot know."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.removeprefix("ldap://").rstrip("/").partition(":")
        self.upstream = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ldap://127.0.0.1:{self.listener.getsockname()[1]}/"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        server = socket.create_connection(self.upstream)
        gate = threading.Event()  # set: stop forwarding slapd's bytes

        def pump() -> None:
            try:
                while data := server.recv(65536):
                    if gate.is_set():
                        return
                    client.sendall(data)
            except OSError:
                pass

        threading.Thread(target=pump, daemon=True).start()
        try:
            while data := client.recv(65536):
                if _operation_tag(data) == 0x68:  # AddRequest
                    gate.set()
                    server.sendall(data)
                    break
                server.sendall(data)
        except OSError:
            pass
        client.close()
        threading.Timer(1.0, server.close).start()  # let slapd apply the add


def _operation_tag(data: bytes) -> int | None:
    """The protocolOp tag of the LDAPMessage at the start of ``data``."""
    if len(data) < 2:
        return None
    i = 2 if data[1] < 0x80 else 2 + (data[1] & 0x7F)
    if len(data) <= i + 1:
        return None
    n = data[i + 1]
    end = i + 2 + n
    return data[end] if len(data) > end else None


def test_a_store_whose_outcome_is_unknown_is_not_replayed_on_the_next_backend(
    make: Make, opened: list[Realtime]
) -> None:
    a, b = make(), make()
    relay = SwallowingRelay(a.url)
    try:
        settings = load_settings(
            {
                "backends": {
                    "a": ldap_backend_config(a, urls=[relay.url]),
                    "b": ldap_backend_config(b),
                },
                "families": {"sippeers": ["a", "b"]},
            }
        )
        rt = open_realtime(settings)
        opened.append(rt)
        with pytest.raises(WriteIncomplete, match="may or may not"):
            rt.store("sippeers", {"name": "q1", "host": "dynamic"})
        assert names(realtime(b, opened)) == []
    finally:
        relay.close()
