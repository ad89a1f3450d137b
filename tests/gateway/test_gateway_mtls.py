"""Mutual TLS on the gateway (``gateway.tls.client_ca``), with real certificates from the
throwaway CA: on the lean server, on uvicorn (the ASGI adapter) and with worker processes.

Asterisk presents its client certificate through res_curl.conf's ``ssl_cert``/``ssl_key``
(docs/gateway.md); the Asterisk-faithful client does the same with ``certfile``/``keyfile``.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ara_ldap.bootstrap import open_realtime
from ara_ldap.config import Settings, load_settings
from ara_ldap.errors import ConfigError
from ara_ldap.gateway.server import GatewayServer, create_app, tls_context
from ara_ldap.gateway.workers import from_settings
from ara_ldap.testing.curl_client import AsteriskCurlClient, raw_request, read_raw_response
from ara_ldap.testing.ldap import ldap_backend_config
from ara_ldap.testing.pki import CertFiles, PkiError, TestPki

if TYPE_CHECKING:
    from ara_ldap.testing.slapd import Slapd


@pytest.fixture(scope="module")
def pki() -> Iterator[TestPki]:
    try:
        made = TestPki()
    except PkiError as exc:
        pytest.skip(str(exc))
    yield made
    made.close()


def gateway_settings(slapd: Slapd, **gateway: Any) -> Settings:
    return load_settings(
        {"backends": {"directory": ldap_backend_config(slapd)}, "gateway": {"port": 0, **gateway}}
    )


def mtls(pki: TestPki) -> dict[str, str]:
    return {
        "certfile": str(pki.server.cert),
        "keyfile": str(pki.server.key),
        "client_ca": str(pki.ca.cert),
    }


class Served:
    """A started gateway of one flavour and its URL."""

    def __init__(self, url: str, stop: Any) -> None:
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self.stop = stop


@pytest.fixture(scope="module", params=["lean", "uvicorn", "processes"])
def served(request: pytest.FixtureRequest, ara_slapd: Slapd, pki: TestPki) -> Iterator[Served]:
    """The gateway with mutual TLS on, served by each server flavour the gateway has."""
    settings = gateway_settings(ara_slapd, tls=mtls(pki))
    if request.param == "processes":
        sup = from_settings(settings, processes=2, host="127.0.0.1", port=0)
        sup.start()
        yield Served(sup.url, sup.stop)
        sup.stop()
        return
    realtime = open_realtime(settings)
    app = create_app(settings, realtime)
    if request.param == "uvicorn":
        pytest.importorskip("uvicorn")
        from ara_ldap.gateway.uvicorn_server import UvicornServer

        server: Any = UvicornServer.from_settings(app, settings, host="127.0.0.1", port=0)
    else:
        server = GatewayServer.from_settings(app, settings, host="127.0.0.1", port=0)
    server.start()
    yield Served(server.url, server.stop)
    server.stop()
    realtime.close()


def handshake_and_ask(port: int, context: ssl.SSLContext) -> bytes:
    """One request over a fresh TLS connection; raises when the server refuses us (with
    TLS 1.3 the server's refusal of a client certificate arrives on the first read)."""
    plain = socket.create_connection(("127.0.0.1", port), timeout=10)
    with context.wrap_socket(plain, server_hostname="127.0.0.1") as sock:
        sock.sendall(raw_request(f"127.0.0.1:{port}", b"/sippeers/single", b"name=alice"))
        return read_raw_response(sock)


def client_context(pki: TestPki, cert: CertFiles | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca.cert))
    if cert is not None:
        context.load_cert_chain(str(cert.cert), str(cert.key))
    return context


def test_https_with_a_client_certificate_from_the_configured_ca_is_served(
    served: Served, pki: TestPki
) -> None:
    assert served.url.startswith("https://")
    client = AsteriskCurlClient(
        served.url,
        cafile=str(pki.ca.cert),
        certfile=str(pki.client.cert),
        keyfile=str(pki.client.key),
    )
    with client:
        peer = client.single("sippeers", {"name": "alice"})
        assert peer is not None and peer.get("name") == "alice"
        assert client.single("sippeers", {"name": "bob"}) is not None
        assert client.connections_opened == 1  # one keep-alive TLS connection, as curl


def test_without_a_client_certificate_the_handshake_is_refused(
    served: Served, pki: TestPki
) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError)):
        handshake_and_ask(served.port, client_context(pki, None))
    # What Asterisk sees: CURL() fails, an empty body (a read's "not found" / failure).
    with AsteriskCurlClient(served.url, cafile=str(pki.ca.cert)) as client:
        assert client.single("sippeers", {"name": "alice"}) is None
        assert client.last_status is None  # no HTTP answer at all: refused in TLS


def test_a_client_certificate_from_another_ca_is_refused(served: Served, pki: TestPki) -> None:
    stranger = pki.issue("stranger", subject="/CN=stranger", client=True, issuer=pki.other_ca())
    with pytest.raises((ssl.SSLError, ConnectionError)):
        handshake_and_ask(served.port, client_context(pki, stranger))


def test_the_right_client_certificate_passes_the_raw_handshake(
    served: Served, pki: TestPki
) -> None:
    response = handshake_and_ask(served.port, client_context(pki, pki.client))
    assert response.split(b"\r\n\r\n", 1)[1].startswith(b"name=alice&")


# Start-up errors: one line naming the setting and the file ---------------------------------


def test_a_missing_certificate_file_is_one_config_error(tmp_path: Path, pki: TestPki) -> None:
    settings = gateway_settings_offline(
        {"certfile": str(tmp_path / "nope.crt"), "keyfile": str(pki.server.key)}
    )
    with pytest.raises(ConfigError, match=r"gateway\.tls\.certfile: cannot read .*nope\.crt"):
        tls_context(settings.gateway.tls)


def test_an_unreadable_key_file_is_one_config_error(tmp_path: Path, pki: TestPki) -> None:
    key = tmp_path / "server.key"
    key.mkdir()  # unreadable as a file even for root (a mode-0 file is not, for root)
    settings = gateway_settings_offline({"certfile": str(pki.server.cert), "keyfile": str(key)})
    with pytest.raises(
        ConfigError, match=r"gateway\.tls\.keyfile: cannot read .*server\.key: Is a"
    ):
        tls_context(settings.gateway.tls)


def test_a_key_that_is_not_the_certificates_is_one_config_error(pki: TestPki) -> None:
    settings = gateway_settings_offline(
        {"certfile": str(pki.server.cert), "keyfile": str(pki.client.key)}
    )
    with pytest.raises(ConfigError, match=r"gateway\.tls: .* are not a PEM certificate and its"):
        tls_context(settings.gateway.tls)


def test_a_missing_client_ca_file_is_one_config_error(tmp_path: Path, pki: TestPki) -> None:
    settings = gateway_settings_offline({**mtls(pki), "client_ca": str(tmp_path / "ca.pem")})
    with pytest.raises(ConfigError, match=r"gateway\.tls\.client_ca: cannot read .*ca\.pem"):
        tls_context(settings.gateway.tls)


def test_serve_reports_a_missing_certificate_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    import yaml

    config = tmp_path / "ara-ldap.yaml"
    offline = {
        "type": "ldap",
        "urls": ["ldap://127.0.0.1:9"],
        "base_dn": "dc=example,dc=org",
    }
    tls = {"certfile": str(tmp_path / "missing.crt")}
    config.write_text(yaml.safe_dump({"backends": {"directory": offline}, "gateway": {"tls": tls}}))
    result = subprocess.run(
        [sys.executable, "-m", "ara_ldap.cli", "--config", str(config), "serve"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"ara-ldap: error: gateway.tls.certfile: cannot read {tls['certfile']}: "
        "No such file or directory"
    ]


def gateway_settings_offline(tls: dict[str, str]) -> Settings:
    backend = {"type": "ldap", "urls": ["ldap://127.0.0.1:9"], "base_dn": "dc=example,dc=org"}
    return load_settings({"backends": {"directory": backend}, "gateway": {"tls": tls}})


def test_extconfig_tells_asterisk_to_present_its_client_certificate(
    tmp_path: Path, pki: TestPki
) -> None:
    import subprocess
    import sys

    import yaml

    config = tmp_path / "ara-ldap.yaml"
    backend = {"type": "ldap", "urls": ["ldap://127.0.0.1:9"], "base_dn": "dc=example,dc=org"}
    settings = {"backends": {"directory": backend}, "gateway": {"tls": mtls(pki)}}
    config.write_text(yaml.safe_dump(settings))
    command = [sys.executable, "-m", "ara_ldap.cli", "--config", str(config), "extconfig"]
    result = subprocess.run(
        [*command, "--url", "https://gw:8389"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert ";ssl_cert=/etc/asterisk/keys/ara-client.crt" in lines
    assert ";ssl_key=/etc/asterisk/keys/ara-client.key" in lines
