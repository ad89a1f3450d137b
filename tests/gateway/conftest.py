"""Fixtures for the gateway tests: a real slapd with the shipped fixtures, a Realtime on
it, and the real app on its own HTTP server on a free loopback port in a background thread.

Read-only tests share one directory and one server (``gateway``); tests that write, stop
slapd or need other gateway settings get their own (``make_gateway``)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ara_ldap.bootstrap import open_realtime
from ara_ldap.config import Settings, load_settings
from ara_ldap.gateway.server import GatewayServer, create_app
from ara_ldap.realtime import Realtime
from ara_ldap.testing.curl_client import AsteriskCurlClient
from ara_ldap.testing.ldap import ldap_backend_config
from ara_ldap.testing.slapd import Slapd, find_fixture_ldifs


def pytest_configure(config: pytest.Config) -> None:
    manager = config.pluginmanager
    if not (manager.has_plugin("ara_ldap") or manager.has_plugin("ara_ldap.testing.pytest_plugin")):
        manager.import_plugin("ara_ldap.testing.pytest_plugin")


def gateway_settings(slapd: Slapd, **gateway: Any) -> Settings:
    """Settings with one LDAP backend on ``slapd`` and the given gateway options, loaded as
    the real config loader does (shipped family maps merged in)."""
    return load_settings(
        {"backends": {"directory": ldap_backend_config(slapd)}, "gateway": {"port": 0, **gateway}}
    )


class Gateway:
    """A started gateway: its server, Realtime and settings."""

    def __init__(self, settings: Settings, realtime: Realtime) -> None:
        self.settings = settings
        self.realtime = realtime
        self.app = create_app(settings, realtime)
        self.server = GatewayServer.from_settings(self.app, settings, host="127.0.0.1", port=0)
        self.server.start()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    def client(self, **kwargs: Any) -> AsteriskCurlClient:
        return AsteriskCurlClient(self.url, **kwargs)

    def connect(self, timeout: float = 5.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def stop(self) -> None:
        self.server.stop()
        self.realtime.close()


GatewayFactory = Callable[..., Gateway]


def start_gateway(slapd: Slapd, **gateway: Any) -> Gateway:
    settings = gateway_settings(slapd, **gateway)
    realtime = open_realtime(settings)
    return Gateway(settings, realtime)


@pytest.fixture(scope="session")
def gateway_starter() -> Callable[..., Gateway]:
    """``start_gateway(slapd, **gateway_settings)`` for fixtures of other scopes."""
    return start_gateway


@pytest.fixture(scope="session")
def gateway(ara_slapd: Slapd) -> Iterator[Gateway]:
    """The shared read-only gateway on the session directory."""
    gw = start_gateway(ara_slapd)
    yield gw
    gw.stop()


@pytest.fixture
def client(gateway: Gateway) -> Iterator[AsteriskCurlClient]:
    with gateway.client() as c:
        yield c


@pytest.fixture
def fresh_slapd(slapd_factory: Any) -> Slapd:
    """A new directory with the shipped fixtures: for tests that write or stop it."""
    slapd: Slapd = slapd_factory()
    slapd.ldapadd(*find_fixture_ldifs())
    return slapd


@pytest.fixture
def make_gateway(fresh_slapd: Slapd) -> Iterator[GatewayFactory]:
    """``make_gateway(**gateway_settings)`` → a started gateway on a fresh directory."""
    made: list[Gateway] = []

    def make(**gateway: Any) -> Gateway:
        gw = start_gateway(fresh_slapd, **gateway)
        made.append(gw)
        return gw

    yield make
    for gw in made:
        gw.stop()


@pytest.fixture
def writable(make_gateway: GatewayFactory) -> Gateway:
    """A gateway with default settings on a fresh directory."""
    return make_gateway()
