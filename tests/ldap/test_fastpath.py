"""The LDAP fast path on a real slapd: same answers as ldap3's path, errors mapped the
same, a connection lost mid-reply retried, a reply it cannot read handed back to ldap3.

Faults are made by a real TCP relay between the backend and slapd that cuts or rewrites
the reply to one search; nothing is mocked."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ara_ldap.backends.ldap.backend import LdapBackend
from ara_ldap.backends.ldap.fastpath import ber_integer, tlv
from ara_ldap.bootstrap import open_realtime
from ara_ldap.errors import BackendError
from ara_ldap.realtime import Realtime
from ara_ldap.testing.ldap import ldap_settings
from ara_ldap.testing.slapd import Slapd, find_fixture_ldifs

#: SearchResultDone, success, empty matchedDN and message.
DONE = b"\x65\x07\x0a\x01\x00\x04\x00\x04\x00"
ALL_PEERS = ["#tenant-a", "alice", "bob", "carol", "dave", "trunk", "trunk,provider+1"]


def backend_of(rt: Realtime) -> LdapBackend:
    backend = rt.backends["directory"]
    assert isinstance(backend, LdapBackend)
    return backend


@pytest.fixture(scope="module")
def both(ara_slapd: Slapd) -> Iterator[tuple[Realtime, Realtime]]:
    """The same directory read on the fast path and on ldap3's path."""
    fast = open_realtime(ldap_settings(ara_slapd, fast_path=True))
    slow = open_realtime(ldap_settings(ara_slapd, fast_path=False))
    yield fast, slow
    fast.close()
    slow.close()


def served(rt: Realtime) -> int:
    fast_path = backend_of(rt).fast_path
    assert fast_path is not None
    return fast_path.served


QUERIES: list[tuple[str, dict[str, str]]] = [
    ("sippeers", {"name": "alice"}),
    ("sippeers", {"name": "trunk,provider+1"}),
    ("sippeers", {"name": "nobody"}),
    ("sippeers", {"name LIKE": "%"}),
    ("sippeers", {"name LIKE": "a%"}),
    ("sippeers", {"name LIKE": "%r%"}),
    ("sippeers", {"name LIKE": "%e"}),
    ("sippeers", {"name LIKE": "t%", "host": "dynamic"}),
    ("sippeers", {"context": "from-internal", "name LIKE": "%a%"}),
    ("sippeers", {"name": "a*b)(cn=*"}),
    ("sippeers", {"name": "Dörte"}),
    ("extensions", {"context": "from-internal", "exten": "100"}),
    ("extensions", {"context": "from-internal", "exten LIKE": "1%"}),
]


@pytest.mark.parametrize(("family", "criteria"), QUERIES, ids=[str(q) for q in QUERIES])
def test_fast_path_answers_as_ldap3s_path(
    both: tuple[Realtime, Realtime], family: str, criteria: dict[str, str]
) -> None:
    fast, slow = both
    before = served(fast)
    got = [r.pairs for r in fast.multi(family, criteria)]
    assert served(fast) == before + 1, "the fast path did not serve this shape"
    assert got == [r.pairs for r in slow.multi(family, criteria)]


def test_equality_finds_the_peer_with_its_ordered_values(both: tuple[Realtime, Realtime]) -> None:
    fast, _ = both
    alice = fast.single("sippeers", {"name": "alice"})
    assert alice is not None and alice.get_all("allow") == ["ulaw", "alaw", "g722"]


def test_prefix_like_returns_every_match(both: tuple[Realtime, Realtime]) -> None:
    fast, _ = both
    got = [r.get("name") for r in fast.multi("sippeers", {"name LIKE": "trunk%"})]
    assert got == [n for n in ALL_PEERS if n.startswith("trunk")]


def test_not_found_is_none(both: tuple[Realtime, Realtime]) -> None:
    fast, _ = both
    before = served(fast)
    assert fast.single("sippeers", {"name": "nobody"}) is None
    assert served(fast) == before + 1


def test_fast_path_off_sends_nothing_raw(both: tuple[Realtime, Realtime]) -> None:
    _, slow = both
    assert backend_of(slow).fast_path is None
    assert slow.single("sippeers", {"name": "alice"}) is not None


def test_ldap3_ops_and_fast_searches_interleave_on_one_connection(fresh_slapd: Slapd) -> None:
    rt = open_realtime(ldap_settings(fresh_slapd, pool_size=1))
    try:
        for i in range(5):
            rt.store("sippeers", {"name": f"mix{i}", "host": "dynamic"})
            assert rt.single("sippeers", {"name": f"mix{i}"}) is not None
            assert rt.update("sippeers", "name", f"mix{i}", {"host": "static"}) == 1
            peer = rt.single("sippeers", {"name": f"mix{i}"})
            assert peer is not None and peer.get("host") == "static"
        assert backend_of(rt).pool.opened == 1
        assert served(rt) >= 10
    finally:
        rt.close()


def test_size_limit_is_the_same_error_as_on_ldap3s_path(slapd_factory: Any) -> None:
    slapd: Slapd = slapd_factory(size_limit="2")
    slapd.ldapadd(*find_fixture_ldifs())
    messages = []
    for fast_path in (True, False):
        # Anonymous: the rootdn is exempt from size limits.
        rt = open_realtime(
            ldap_settings(slapd, fast_path=fast_path, bind_dn=None, password_file=None)
        )
        try:
            with pytest.raises(BackendError) as caught:
                rt.multi("sippeers", {"name LIKE": "%"})
            messages.append(str(caught.value))
            if fast_path:
                assert served(rt) == 1
        finally:
            rt.close()
    assert "size limit" in messages[0]
    assert messages[0] == messages[1]


class Relay:
    """A TCP relay to slapd that can cut or rewrite the reply to the next search."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        #: "cut": forward half the reply then close; "garble": answer with a reply to
        #: another message id.  Applies to the next search only.
        self.fault: str | None = None
        self.faults_done = 0
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._stop = True
        self.listener.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        server = socket.create_connection(self.upstream)
        session = _Session()
        threading.Thread(target=_pump, args=(server, client, session), daemon=True).start()
        try:
            while data := client.recv(65536):
                fault = self.fault if _is_search(data) else None
                if fault is None:
                    server.sendall(data)
                    continue
                self.fault = None
                self.faults_done += 1
                if fault == "cut":
                    session.intercept = True
                    server.sendall(data)
                    session.replied.wait(5)
                    reply = bytes(session.captured)
                    client.sendall(reply[: len(reply) // 2])
                else:
                    other_id = tlv(0x02, ber_integer(_message_id(data) + 1000))
                    client.sendall(tlv(0x30, other_id + DONE))
                break
        except OSError:
            pass
        client.close()
        server.close()


class _Session:
    """One relayed connection: while ``intercept`` is set, slapd's bytes are kept here
    instead of forwarded."""

    def __init__(self) -> None:
        self.intercept = False
        self.captured = bytearray()
        self.replied = threading.Event()


def _pump(src: socket.socket, dst: socket.socket, session: _Session) -> None:
    try:
        while data := src.recv(65536):
            if session.intercept:
                session.captured += data
                # A search reply ends with SearchResultDone: 0x65 0x07 plus a success code.
                if DONE in session.captured:
                    session.replied.set()
                continue
            dst.sendall(data)
    except OSError:
        pass


def _message_id(data: bytes) -> int:
    # 0x30 len(1 or more octets) 0x02 n id...
    i = 2 if data[1] < 0x80 else 2 + (data[1] & 0x7F)
    n = data[i + 1]
    return int.from_bytes(data[i + 2 : i + 2 + n], "big")


def _is_search(data: bytes) -> bool:
    i = 2 if data[1] < 0x80 else 2 + (data[1] & 0x7F)
    n = data[i + 1]
    return len(data) > i + 2 + n and data[i + 2 + n] == 0x63


@pytest.fixture
def relay(ara_slapd: Slapd) -> Iterator[Relay]:
    host, _, port = ara_slapd.url.removeprefix("ldap://").rstrip("/").partition(":")
    r = Relay((host, int(port)))
    yield r
    r.close()


def test_connection_dropped_mid_reply_is_retried(relay: Relay, ara_slapd: Slapd) -> None:
    rt = open_realtime(ldap_settings(ara_slapd, urls=[relay.url]))
    try:
        assert rt.single("sippeers", {"name": "alice"}) is not None
        relay.fault = "cut"
        alice = rt.single("sippeers", {"name": "alice"})
        assert relay.faults_done == 1
        assert alice is not None and alice.get("name") == "alice"
        assert backend_of(rt).pool.opened == 2
        assert served(rt) == 2  # the retry also went the fast way
    finally:
        rt.close()


def test_an_unreadable_reply_hands_the_family_back_to_ldap3(relay: Relay, ara_slapd: Slapd) -> None:
    rt = open_realtime(ldap_settings(ara_slapd, urls=[relay.url]))
    try:
        rt.multi("iaxpeers", {"name LIKE": "%"})  # connected, schema read
        relay.fault = "garble"
        alice = rt.single("sippeers", {"name": "alice"})
        assert relay.faults_done == 1
        assert alice is not None and alice.get("name") == "alice"
        before = served(rt)
        assert rt.single("sippeers", {"name": "bob"}) is not None
        assert served(rt) == before  # sippeers now reads through ldap3
        rt.multi("iaxpeers", {"name LIKE": "%"})
        assert served(rt) == before + 1  # other families keep the fast path
    finally:
        rt.close()
