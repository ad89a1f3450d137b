"""The AMI client against the scripted peer: real framing over loopback TCP."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest

from ara_ldap.notify.ami import AmiClient, AmiClosed, AmiError, AmiLoginError, encode_action
from ara_ldap.testing.ami import ScriptedAmi

T = TypeVar("T")


@pytest.fixture
def ami() -> Iterator[ScriptedAmi]:
    with ScriptedAmi() as peer:
        yield peer


def _client(peer: ScriptedAmi, secret: str | None = None, **kw: float) -> AmiClient:
    return AmiClient(peer.host, peer.port, peer.username, secret or peer.secret, **kw)


def _run(fn: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await fn()

    return asyncio.run(main())


def test_login_reads_the_banner_version(ami: ScriptedAmi) -> None:
    async def go() -> str | None:
        client = _client(ami)
        await client.connect()
        await client.close()
        return client.version

    assert _run(go) == ami.version
    assert ami.logins == [(ami.username, True)]


def test_refused_login_raises_without_the_secret(ami: ScriptedAmi) -> None:
    async def go() -> str:
        client = _client(ami, secret="wrong-secret-123")
        with pytest.raises(AmiLoginError) as info:
            await client.connect()
        assert not client.connected
        return str(info.value) + repr(client)

    text = _run(go)
    assert "Authentication failed" in text
    assert "wrong-secret-123" not in text
    assert ami.logins == [(ami.username, False)]


def test_response_is_matched_by_action_id_not_by_a_preceding_event(ami: ScriptedAmi) -> None:
    async def go() -> dict[str, str]:
        client = _client(ami)
        await client.connect()
        try:
            return await client.send("Reload", [("Module", "chan_sip.so")])
        finally:
            await client.close()

    headers = _run(go)
    assert headers["Response"] == "Success"
    assert headers["Message"] == "Reload done"
    assert ami.received() == [{"Action": "Reload", "Module": "chan_sip.so"}]


def test_error_response_raises_amierror(ami: ScriptedAmi) -> None:
    ami.refuse = {"SorceryMemoryCacheExpireObject"}

    async def go() -> None:
        client = _client(ami)
        await client.connect()
        try:
            with pytest.raises(AmiError, match="refused by script"):
                await client.send(
                    "SorceryMemoryCacheExpireObject", [("Cache", "c"), ("Object", "o")]
                )
            assert client.connected  # a refusal leaves the session up
        finally:
            await client.close()

    _run(go)


def test_slow_response_past_the_timeout_closes_the_session(ami: ScriptedAmi) -> None:
    async def go() -> None:
        client = _client(ami, action_timeout=0.2)
        await client.connect()
        ami.delay = 1.0
        with pytest.raises(AmiClosed, match="no response"):
            await client.send("Reload", [("Module", "chan_sip.so")])
        assert not client.connected

    _run(go)


def test_slow_response_within_the_timeout_is_awaited(ami: ScriptedAmi) -> None:
    async def go() -> dict[str, str]:
        client = _client(ami, action_timeout=3.0)
        await client.connect()
        ami.delay = 0.3
        try:
            return await client.send("Reload", [("Module", "chan_sip.so")])
        finally:
            await client.close()

    assert _run(go)["Response"] == "Success"


def test_dropped_connection_fails_pending_and_later_sends(ami: ScriptedAmi) -> None:
    async def go() -> None:
        client = _client(ami)
        await client.connect()
        ami.drop_clients()
        await asyncio.sleep(0.1)
        assert not client.connected
        with pytest.raises(AmiClosed):
            await client.send("Reload", [("Module", "chan_sip.so")])

    _run(go)


def test_values_with_line_breaks_are_never_sent() -> None:
    with pytest.raises(ValueError, match="line break"):
        encode_action("Command", "1", [("Command", "sip prune realtime peer x\r\nAction: Logoff")])


def test_non_asterisk_banner_is_refused() -> None:
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
        conn.recv(10)
        conn.close()

    threading.Thread(target=serve, daemon=True).start()

    async def go() -> None:
        client = AmiClient("127.0.0.1", server.getsockname()[1], "u", "s")
        with pytest.raises(AmiClosed, match="not an Asterisk manager"):
            await client.connect()

    try:
        _run(go)
    finally:
        server.close()
