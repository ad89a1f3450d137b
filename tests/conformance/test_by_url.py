"""The conformance suite by URL (issue 14): ``ara-ldap serve`` on SQLite, started as a
separate process, judged over the wire only; and two deliberately broken servers (a proxy
in front of it that ignores LIKE escapes, and one that returns ``multi`` rows in another
order) whose reports name exactly the cases their defect breaks."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

import pytest
import yaml

from ara_ldap.backends.base import Capabilities
from ara_ldap.testing.conformance import sql_target
from ara_ldap.testing.conformance.curl import FAILURE_STATUS, gateway_target
from ara_ldap.testing.conformance.dataset import FAMILIES, KEYS
from ara_ldap.testing.conformance.report import Report
from ara_ldap.testing.conformance.runner import (
    RecordingClient,
    UnsafeServer,
    family_urls,
    run_target,
    run_url,
    url_target,
)
from ara_ldap.testing.curl_client import AsteriskCurlClient
from ara_ldap.testing.databases import sqlite_url
from ara_ldap.testing.slapd import free_port

Urls = dict[str, str]


def _wait_for_port(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"ara-ldap serve exited with status {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail("ara-ldap serve did not listen within 30 s")


@pytest.fixture(scope="module")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database with the standard tables (what a fresh deployment has)."""
    import sqlalchemy as sa

    from ara_ldap.backends.sql import init_schema

    url = sqlite_url(tmp_path_factory.mktemp("by-url-db"))
    engine = sa.create_engine(url)
    init_schema(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def served(sqlite_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``ara-ldap serve`` in its own process; its base URL."""
    port = free_port()
    config = tmp_path_factory.mktemp("by-url-config") / "ara-ldap.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "backends": {"sql": {"type": "sql", "url": sqlite_db}},
                "gateway": {"port": port, "failure_status": FAILURE_STATUS},
            }
        ),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k != "ARA_LDAP_CONFIG"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ara_ldap.cli", "--config", str(config), "serve"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # it logs every request: a pipe nobody reads would fill
        text=True,
        env=env,
    )
    try:
        _wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def sqlite_capabilities(tmp_path_factory: pytest.TempPathFactory) -> Capabilities:
    """What the SQLite backend declares, seen through the wire (the built-in target's)."""
    url = sqlite_url(tmp_path_factory.mktemp("caps"))
    with sql_target(url, name="sqlite") as inner, gateway_target(inner) as target:
        return target.capabilities


def all_urls(base: str) -> Urls:
    return family_urls(base, list(FAMILIES), {})


def verdicts(report: Report) -> dict[str, str]:
    return {c.case_id: c.outcome for c in report.cases}


def rows_left(base: str) -> dict[str, int]:
    """Rows each family holds (``multi`` with ``<first key> LIKE %``)."""
    with AsteriskCurlClient(base) as client:
        counts = {f: len(client.multi(f, [(f"{KEYS[f][0]} LIKE", "%")])) for f in FAMILIES}
    return {f: n for f, n in counts.items() if n}


@pytest.fixture(scope="module")
def by_url_report(served: str, sqlite_capabilities: Capabilities) -> Report:
    report: Report = run_url(all_urls(served), capabilities=sqlite_capabilities)
    return report


# Same verdicts as the built-in gateway target ---------------------------------------------


def test_by_url_gives_the_built_in_gateway_targets_verdicts(
    by_url_report: Report, tmp_path: Path
) -> None:
    with (
        sql_target(sqlite_url(tmp_path), name="sqlite") as inner,
        gateway_target(inner) as target,
    ):
        built_in: Report = run_target(target)
    assert verdicts(by_url_report) == verdicts(built_in)
    assert not by_url_report.failures


def test_a_run_by_url_leaves_the_families_empty_as_it_found_them(
    by_url_report: Report, served: str
) -> None:
    assert by_url_report.cases
    assert rows_left(served) == {}


def test_a_server_holding_a_data_set_key_is_refused_and_left_alone(served: str) -> None:
    with AsteriskCurlClient(served, order="given") as client:
        assert client.store("sippeers", [("name", "alice"), ("context", "mine")]) == 1
        try:
            with pytest.raises(UnsafeServer, match="sippeers: 1 key"):
                run_url(all_urls(served))
            (kept,) = client.multi("sippeers", [("name LIKE", "%")])
            assert kept.get("context") == "mine"
        finally:
            client.destroy("sippeers", [("name", "alice")])


def test_no_load_runs_on_the_exported_data_set_and_puts_it_back(
    served: str, sqlite_db: str, sqlite_capabilities: Capabilities, tmp_path: Path
) -> None:
    import sqlalchemy as sa

    from ara_ldap.testing.conformance.export import export_dataset

    (sql,) = export_dataset("sql", list(FAMILIES), tmp_path / "dataset.sql")
    engine = sa.create_engine(sqlite_db)
    raw = engine.raw_connection()
    try:
        raw.driver_connection.executescript(sql.read_text(encoding="utf-8"))  # type: ignore[union-attr]
        raw.commit()
        before = rows_left(served)
        report: Report = run_url(
            all_urls(served),
            load=False,
            keyword="update2 or destroy",
            capabilities=sqlite_capabilities,
        )
        assert {c.operation for c in report.cases} >= {"update2", "destroy"}
        assert not report.failures
        assert rows_left(served) == before
    finally:
        with engine.begin() as conn:
            for family in FAMILIES:
                conn.execute(sa.text(f"DELETE FROM {_table(family)}"))
        raw.close()
        engine.dispose()


def _table(family: str) -> str:
    from ara_ldap.config import SqlBackendSettings, load_settings

    settings = load_settings({"backends": {"s": {"type": "sql", "url": "sqlite://"}}}).backends["s"]
    assert isinstance(settings, SqlBackendSettings)
    return settings.families[family].table


# The command ---------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ARA_LDAP_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "ara_ldap.cli", "conformance", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


CONFLICT_CASES = "store_of_a_key_differing_only_in_case_or_space"


def test_the_command_fails_a_case_whose_capability_is_declared_wrongly(served: str) -> None:
    result = cli(served, "-k", CONFLICT_CASES)
    assert result.returncode == 1, result.stderr
    assert "FAIL StoreCases::test_store_of_a_key_differing_only_in_case" in result.stdout
    assert "POST /sippeers/store HTTP/1.1" in result.stdout
    assert "name=Alice&host=static" in result.stdout
    assert "DID NOT RAISE Conflict" in result.stdout


def test_the_command_takes_capabilities_from_a_yaml_file_and_writes_junit(
    served: str, tmp_path: Path
) -> None:
    caps = tmp_path / "caps.yaml"
    caps.write_text("exact_keys: yes\n", encoding="utf-8")
    junit = tmp_path / "junit.xml"
    result = cli(served, "-k", CONFLICT_CASES, "--capabilities", str(caps), "--junit", str(junit))
    assert result.returncode == 0, result.stdout + result.stderr
    suite = ET.parse(junit).getroot()
    names = [c.get("name") for c in suite.iter("testcase")]
    assert names and all(n and n.startswith("StoreCases::") for n in names)
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert str(props["suite_version"]).startswith("0.")
    assert suite.get("failures") == "0"


def test_the_command_writes_a_json_report_with_the_failures_exchanges(
    served: str, tmp_path: Path
) -> None:
    import json

    out = tmp_path / "report.json"
    result = cli(served, "-k", CONFLICT_CASES, "--json", str(out))
    assert result.returncode == 1, result.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    failed = [c for c in report["cases"] if c["outcome"] == "failed"]
    assert failed and all(c["exchanges"] for c in failed)
    assert failed[0]["exchanges"][-1]["request"].startswith("POST /sippeers/store HTTP/1.1")
    assert report["counts"]["store"]["failed"] == len(failed)


def test_the_docs_pytest_module_runs_the_suite_by_url(served: str, tmp_path: Path) -> None:
    docs = Path(__file__).parents[2] / "docs" / "conformance.md"
    text = docs.read_text(encoding="utf-8")
    section = text[text.index("### In your CI with pytest") :]
    code = section[section.index("```python\n") + len("```python\n") :]
    module = tmp_path / "test_conformance.py"
    module.write_text(code[: code.index("```")], encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "ARA_LDAP_CONFIG"}
    env["ARA_CURL_URL"] = served
    args = ["-q", "-p", "no:cacheprovider", "-k", "single_returns", "--rootdir", str(tmp_path)]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(module), *args, "-c", str(tmp_path / "pytest.ini")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_the_command_refuses_an_unknown_capability_flag(served: str) -> None:
    result = cli(served, "--capability", "telepathy=yes")
    assert result.returncode == 1
    assert "unknown capability flag(s) telepathy" in result.stderr


# Deliberately broken servers ------------------------------------------------------------

Mangle = Callable[[str, bytes], tuple[bytes | None, Callable[[bytes], bytes] | None]]


class BrokenProxy:
    """A res_config_curl server with one defect: a proxy in front of a correct one.

    ``mangle(path, body)`` returns a changed request body (or None) and a change to the
    answer (or None).  The proxy also asks the correct server the original question and
    remembers every request whose answer its defect changed (``deviated``)."""

    def __init__(self, upstream: str, mangle: Mangle) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.mangle = mangle
        self.deviated: set[tuple[str, bytes]] = set()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                status, answer = proxy.answer(self.command, self.path, body)
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _ask(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.upstream, timeout=10)
        try:
            headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
            conn.request(method, path, body, headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def answer(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        right = self._ask(method, path, body)
        new_body, change = self.mangle(path, body or b"")
        wrong = right
        if new_body is not None and new_body != (body or b""):
            wrong = self._ask(method, path, new_body)
        if change is not None:
            wrong = (wrong[0], change(wrong[1]))
        if wrong != right:
            self.deviated.add((path, body or b""))
        return wrong

    def __enter__(self) -> BrokenProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def ignore_like_escapes(path: str, body: bytes) -> tuple[bytes | None, None]:
    """A server whose LIKE has no escape character (SQLite's LIKE without ESCAPE): a
    backslash in a LIKE pattern is a literal backslash."""
    if not path.endswith(("/single", "/multi")):
        return None, None
    pairs = []
    for pair in body.split(b"&"):
        key, sep, value = pair.partition(b"=")
        if b"LIKE" in unquote_to_bytes(key).upper() and b"%5C" in value:
            value = value.replace(b"%5C", b"%5C%5C")
        pairs.append(key + sep + value)
    return b"&".join(pairs), None


def multi_in_another_order(path: str, body: bytes) -> tuple[None, Callable[[bytes], bytes] | None]:
    """A server that returns ``multi`` rows in storage order reversed, not sorted by the
    first criterion's field."""
    if not path.endswith("/multi"):
        return None, None

    def reverse(answer: bytes) -> bytes:
        lines = [line for line in answer.split(b"\n") if line.strip()]
        return b"\n".join(reversed(lines)) + (b"\n" if lines else b"")

    return None, reverse


def _requests(report_case: Any) -> set[tuple[str, bytes]]:
    out = set()
    for ex in report_case.exchanges:
        head, _, body = ex.request.partition(b"\r\n\r\n")
        path = head.split(b"\r\n", 1)[0].split(b" ")[1].decode("ascii")
        out.add((path, body))
    return out


def broken_report(served: str, mangle: Mangle, caps: Capabilities) -> tuple[Report, BrokenProxy]:
    with (
        BrokenProxy(served, mangle) as proxy,
        url_target(all_urls(proxy.url), capabilities=caps, name="broken") as target,
    ):
        assert isinstance(target.extra["client"], RecordingClient)
        # Reads only: both defects are read behaviours (and it halves the run).
        report: Report = run_target(target, writes=False, all_exchanges=True)
    return report, proxy


def _sent_escaped_like(case: Any) -> bool:
    bodies = b"".join(body for _, body in _requests(case))
    return b"LIKE" in bodies and b"%5C" in bodies


def _sent_multi(case: Any) -> bool:
    return any(path.endswith("/multi") for path, _ in _requests(case))


@pytest.mark.parametrize(
    ("mangle", "signature"),
    [(ignore_like_escapes, _sent_escaped_like), (multi_in_another_order, _sent_multi)],
    ids=["like-escapes", "multi-order"],
)
def test_a_broken_server_fails_exactly_the_cases_its_defect_changes(
    served: str,
    sqlite_capabilities: Capabilities,
    by_url_report: Report,
    mangle: Mangle,
    signature: Callable[[Any], bool],
) -> None:
    report, proxy = broken_report(served, mangle, sqlite_capabilities)
    affected = {c.case_id for c in report.cases if _requests(c) & proxy.deviated}
    failed = {c.case_id for c in report.failures}
    # Every failure is the defect's doing (the correct server passes every case) ...
    assert not by_url_report.failures
    assert failed and failed <= affected
    # ... and each is reported with the request, the answer and what the case expected.
    text = report.text()
    for case in report.failures:
        assert signature(case), case.case_id
        assert f"FAIL {case.case_id}" in text
        assert case.reason and case.explanation
    assert "as sent:\n    POST /" in text and "answer received (status 200" in text
