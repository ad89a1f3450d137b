"""Random bytes, encodings and field names at every endpoint: never a 500, never a hang,
never a crash; writes always answer an integer.  A private directory, since random
stores and destroys change it."""

from __future__ import annotations

import http.client
import re
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ara_ldap.gateway.protocol import asterisk_encode

if TYPE_CHECKING:
    from conftest import Gateway

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ALLOWED = {200, 400, 404, 405, 409, 413}
INTEGER = re.compile(rb"^-?\d+$")
FIELDS = [
    "name",
    "host",
    "secret",
    "context",
    "allow",
    "exten",
    "priority",
    "mailbox",
    "password",
    "defaultuser",
    "filename",
    "NAME",
    "session-timers",
    "100rel",
    "@x",
]
OPERATORS = ["", " LIKE", " NOT LIKE", " <", "<=", " >= ", " !=", " <>", " =", " ~"]


@pytest.fixture(scope="module")
def fuzz_gateway(gateway_starter: Any) -> Iterator[Gateway]:
    from ara_ldap.testing.pytest_plugin import _require_slapd
    from ara_ldap.testing.slapd import asterisk_slapd, find_fixture_ldifs

    _require_slapd()
    with asterisk_slapd() as slapd:
        slapd.ldapadd(*find_fixture_ldifs())
        gw = gateway_starter(slapd, max_body_bytes=4096)
        yield gw
        gw.stop()


@pytest.fixture(scope="module")
def conn(fuzz_gateway: Gateway) -> Iterator[http.client.HTTPConnection]:
    c = http.client.HTTPConnection("127.0.0.1", fuzz_gateway.port, timeout=10)
    yield c
    c.close()


def send(
    conn: http.client.HTTPConnection, method: str, target: str, body: bytes | None
) -> tuple[int, bytes]:
    """One request on the keep-alive connection (reopened after a close)."""
    for attempt in (1, 2):
        try:
            conn.request(
                method,
                target,
                body=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            response = conn.getresponse()
            return response.status, response.read()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            conn.close()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


# Strategies ---------------------------------------------------------------------------------

_encoders = st.sampled_from(
    [
        lambda s: asterisk_encode(s).encode(),
        lambda s: quote(s, safe="").encode(),
        lambda s: quote_plus(s).encode(),
        lambda s: s.encode("utf-8", "surrogatepass"),
        lambda s: s.encode("latin-1", "replace"),
    ]
)

_names = st.one_of(
    st.builds(lambda f, op: f + op, st.sampled_from(FIELDS), st.sampled_from(OPERATORS)),
    st.text(max_size=12),
)


@st.composite
def form_bodies(draw: Any) -> bytes:
    """Form-encoded-looking bodies: real and random names, random values, mixed encodings,
    stray separators (the shapes Asterisk and its bugs produce, and worse)."""
    if draw(st.integers(0, 4)) == 0:
        return bytes(draw(st.binary(max_size=300)))
    pairs = draw(st.lists(st.tuples(_names, st.text(max_size=40)), max_size=6))
    encode = draw(_encoders)
    parts = [
        encode(n) + draw(st.sampled_from([b"=", b"", b"==", b"=&"])) + encode(v) for n, v in pairs
    ]
    sep = draw(st.sampled_from([b"&", b"", b"&&"]))
    return draw(st.sampled_from([b"", b"&"])) + sep.join(parts) + draw(st.sampled_from([b"", b"&"]))


_families = st.sampled_from(
    [
        "sippeers",
        "sipregs",
        "iaxpeers",
        "voicemail",
        "extensions",
        "ast_config",
        "nosuch",
        "SIPPEERS",
        "",
        "%00",
        "a%2Fb",
    ]
)


def _check(operation: str, status: int, body: bytes) -> None:
    assert status in ALLOWED, (status, body[:200])
    if operation in ("update", "store", "destroy", "require") and status != 404:
        assert INTEGER.match(body), body[:200]


# Endpoint fuzzing ------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["single", "multi", "store", "destroy", "require"])
def test_random_post_bodies_never_break_the_endpoint(
    fuzz_gateway: Gateway, conn: http.client.HTTPConnection, operation: str
) -> None:
    @FUZZ
    @given(family=_families, body=form_bodies())
    def run(family: str, body: bytes) -> None:
        status, answer = send(conn, "POST", f"/{family}/{operation}", body)
        if family.lower() in (
            "sippeers",
            "sipregs",
            "iaxpeers",
            "voicemail",
            "extensions",
            "ast_config",
        ):
            _check(operation, status, answer)
        else:
            assert status in (404, 400), status

    run()


def test_random_update_queries_and_bodies_never_break_update(
    fuzz_gateway: Gateway, conn: http.client.HTTPConnection
) -> None:
    @FUZZ
    @given(query=form_bodies(), body=form_bodies())
    def run(query: bytes, body: bytes) -> None:
        target = "/sippeers/update?" + quote(query, safe="=&%+")
        status, answer = send(conn, "POST", target, body)
        _check("update", status, answer)

    run()


def test_random_static_queries_never_break_static(
    fuzz_gateway: Gateway, conn: http.client.HTTPConnection
) -> None:
    @FUZZ
    @given(
        query=st.one_of(
            form_bodies(), st.builds(lambda t: b"file=" + quote(t).encode(), st.text(max_size=30))
        )
    )
    def run(query: bytes) -> None:
        status, answer = send(conn, "GET", "/ast_config/static?" + quote(query, safe="=&%+"), None)
        _check("static", status, answer)

    run()


def test_random_bytes_instead_of_http_never_hang_or_crash(fuzz_gateway: Gateway) -> None:
    @settings(
        max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(data=st.binary(min_size=1, max_size=400))
    def run(data: bytes) -> None:
        with socket.create_connection(("127.0.0.1", fuzz_gateway.port), timeout=5) as sock:
            sock.sendall(data + b"\r\n\r\n")
            sock.shutdown(socket.SHUT_WR)
            try:
                answer = sock.recv(200)
            except ConnectionResetError:
                answer = b""
            assert not answer.startswith(b"HTTP/1.1 500")

    run()
    with fuzz_gateway.client() as c:
        assert c.multi("extensions", {"exten LIKE": "%"}) is not None
        assert c.last_status == 200


# A property that must hold for any text -------------------------------------------------------

_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20
).filter(lambda v: v.strip() != "")


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=_values)
def test_any_text_value_round_trips_through_update_and_single(
    fuzz_gateway: Gateway, value: str
) -> None:
    with fuzz_gateway.client() as c:  # the endpoint fuzzing may have destroyed peers
        if c.update("sippeers", "name", "roundtrip", {"callerid": value}) == 0:
            assert c.store("sippeers", {"name": "roundtrip", "callerid": value}) == 1
        peer = c.single("sippeers", {"name": "roundtrip"})
    assert peer is not None and peer.get("callerid") == value
