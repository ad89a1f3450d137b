"""The conformance suite against any res_config_curl server, by URL.

Someone else's server (PHP, Go, Node ...) is driven exactly as an unmodified Asterisk
drives it (:class:`~ara_ldap.testing.curl_client.AsteriskCurlClient`): the data set is
loaded through the wire's ``store``, family by family, after checking that the server
holds none of the data set's keys; write cases are isolated by putting the data set back
over the wire (``destroy`` + ``store`` of what changed); everything the run added is
``destroy``-ed at the end.  Only the named families are touched.

Every request of a case is recorded as the bytes libcurl puts on the wire, with the
answer received, so a failure in the report (:mod:`.report`) shows what was asked and
what came back, next to what the case expected.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from ara_ldap.backends.base import Capabilities
from ara_ldap.errors import ConfigError
from ara_ldap.record import Pair, Record
from ara_ldap.testing.conformance.dataset import DATASET, FAMILIES, KEYS, PJSIP_FAMILIES, Dataset
from ara_ldap.testing.conformance.loaders import Target
from ara_ldap.testing.conformance.requirements import _defining_class, operation_of
from ara_ldap.testing.curl_client import AsteriskCurlClient, raw_request

__all__ = [
    "CLASSIC_FAMILIES",
    "CaseDetail",
    "Exchange",
    "RecordingClient",
    "UnsafeServer",
    "WireLoader",
    "WireRecorder",
    "family_urls",
    "url_target",
]

#: The families a run touches by default (add the PJSIP ones with ``--families``).
CLASSIC_FAMILIES: tuple[str, ...] = tuple(f for f in FAMILIES if f not in PJSIP_FAMILIES)


class UnsafeServer(ConfigError):
    """The server already holds rows with the data set's keys: running would change them."""


@dataclass(frozen=True)
class Exchange:
    """One request as sent (wire bytes) and the answer received (``status`` None: no
    answer at all)."""

    request: bytes
    status: int | None
    response: bytes


def family_urls(
    base_url: str | None, families: Sequence[str], per_family: Mapping[str, str]
) -> dict[str, str]:
    """Each family's URL as extconfig.conf would name it: ``per_family`` first, else
    ``base_url/<family>``.  Every URL must be on one scheme, host and port (one
    connection, as Asterisk keeps one per thread)."""
    urls: dict[str, str] = {}
    for family in families:
        if family in per_family:
            urls[family] = per_family[family].rstrip("/")
        elif base_url:
            urls[family] = f"{base_url.rstrip('/')}/{family}"
        else:
            raise ConfigError(f"no URL for family {family!r}: give a base URL or map it")
    unknown = [f for f in per_family if f not in families]
    if unknown:
        raise ConfigError(f"mapped family not in the run: {', '.join(unknown)}")
    origins = {urlsplit(u)._replace(path="", query="", fragment="").geturl() for u in urls.values()}
    if len(origins) > 1:
        raise ConfigError(
            f"every family URL must be on one server, got {', '.join(sorted(origins))}"
        )
    return urls


class RecordingClient(AsteriskCurlClient):
    """The Asterisk-faithful client, with one URL per family and a log of every exchange."""

    def __init__(self, urls: Mapping[str, str], **kwargs: Any) -> None:
        first = next(iter(urls.values()))
        parts = urlsplit(first)
        super().__init__(parts._replace(path="").geturl(), **kwargs)
        self.paths = {family: urlsplit(u).path for family, u in urls.items()}
        self.exchanges: list[Exchange] = []

    def _url(self, family: str, operation: str) -> str:
        path = self.paths.get(family, f"{self.prefix}/{family}")
        return f"{path}/{operation}"

    def request(self, target: str, body: str | None) -> bytes:
        answer = super().request(target, body)
        extra = [b"Authorization: " + self._auth.encode()] if self._auth else []
        wire = raw_request(
            self._host_header(),
            target.encode("ascii"),
            None if body is None else body.encode("ascii"),
            extra,
        )
        self.exchanges.append(Exchange(wire, self.last_status, self.last_body))
        return answer


def _key(family: str, rec: Record) -> tuple[str, ...]:
    return tuple(rec.get(f) or "" for f in KEYS[family])


def _content(rec: Record) -> tuple[Pair, ...]:
    """A row's content as the wire gave it, empty values left out (they mean absent)."""
    return rec.without_empty().canonical()


class WireLoader:
    """The data set through ``store``/``destroy``/``multi`` only, as Asterisk sends them."""

    def __init__(
        self, client: AsteriskCurlClient, families: Sequence[str], dataset: Dataset = DATASET
    ) -> None:
        self.client = client
        self.families = list(families)
        self.dataset = dataset
        #: Keys each family held before the run (never touched, never removed).
        self.foreign: dict[str, set[tuple[str, ...]]] = {}
        #: Each family's rows right after loading: what :meth:`restore` goes back to.
        self.snapshot: dict[str, list[tuple[Pair, ...]]] = {}

    def _fail(self, what: str) -> ConfigError:
        exchange = getattr(self.client, "exchanges", [None])[-1:] or [None]
        detail = ""
        if exchange[0] is not None:
            detail = f" (answer {exchange[0].status}: {exchange[0].response[:200]!r})"
        return ConfigError(f"{what}{detail}")

    def rows(self, family: str) -> list[Record]:
        """Every row of ``family``: ``multi`` with ``<first key> LIKE %``."""
        first = KEYS[family][0]
        rows = self.client.multi(family, [(f"{first} LIKE", "%")])
        if not rows and self.client.last_status not in (200, 204):
            raise self._fail(f"cannot list {family} with multi '{first} LIKE %'")
        return rows

    def dataset_keys(self, family: str) -> set[tuple[str, ...]]:
        return {_key(family, r) for r in self.dataset.records(family)}

    def check_clean(self) -> dict[str, list[tuple[str, ...]]]:
        """The data set's keys the server already holds, per family (empty: safe)."""
        clashes: dict[str, list[tuple[str, ...]]] = {}
        for family in self.families:
            keys = {_key(family, r) for r in self.rows(family)}
            self.foreign[family] = keys
            clash = sorted(keys & self.dataset_keys(family))
            if clash:
                clashes[family] = clash
        return clashes

    def _destroy(self, family: str, key: tuple[str, ...]) -> None:
        criteria = list(zip(KEYS[family], key, strict=True))
        if self.client.destroy(family, criteria) < 0:
            raise self._fail(f"destroy {family} {dict(criteria)} failed")

    def _store(self, family: str, rec: Record) -> None:
        if self.client.store(family, list(rec.without_empty())) != 1:
            raise self._fail(f"store {family} {_key(family, rec)} did not answer 1")

    def load(self, force: bool = False) -> None:
        """Refuse when the data set's keys exist (``force``: destroy them first); then
        ``store`` every record, family by family, and take the snapshot."""
        clashes = self.check_clean()
        if clashes and not force:
            listed = "; ".join(f"{f}: {len(k)} key(s), e.g. {k[0]}" for f, k in clashes.items())
            raise UnsafeServer(
                f"the server already holds rows with the data set's keys ({listed}); "
                "run against empty families, use --no-load if you loaded the export, "
                "or --force to replace them"
            )
        for family, keys in clashes.items():
            for key in keys:
                self._destroy(family, key)
            self.foreign[family] -= set(keys)
        for family in self.families:
            for rec in self.dataset.records(family):
                self._store(family, rec)
        self.take_snapshot()

    def preloaded(self) -> None:
        """``--no-load``: the data set is already there; remember what is."""
        for family in self.families:
            self.foreign[family] = set()
        self.take_snapshot()

    def take_snapshot(self) -> None:
        self.snapshot = {f: sorted(_content(r) for r in self.rows(f)) for f in self.families}

    def restore(self) -> int:
        """Put back the rows the snapshot holds: rows that differ are destroyed by key and
        the data set's record stored again; the number of keys touched."""
        touched = 0
        for family in self.families:
            current = self.rows(family)
            wanted = list(self.snapshot[family])
            changed: set[tuple[str, ...]] = set()
            for row in current:
                content = _content(row)
                if content in wanted:
                    wanted.remove(content)
                else:
                    changed.add(_key(family, row))
            changed |= {_key(family, Record(list(c))) for c in wanted}
            for key in sorted(changed):
                self._destroy(family, key)
                for rec in self.dataset.records(family):
                    if _key(family, rec) == key:
                        self._store(family, rec)
            touched += len(changed)
        return touched

    def remove(self) -> None:
        """Destroy every row the run left that was not there before it (a family whose rows
        were never listed is left alone: the run did not get to it)."""
        for family in self.families:
            if family not in self.foreign:
                continue
            for key in sorted(
                {_key(family, r) for r in self.rows(family)} - self.foreign.get(family, set())
            ):
                self._destroy(family, key)


@contextlib.contextmanager
def url_target(
    urls: Mapping[str, str],
    *,
    capabilities: Capabilities | None = None,
    load: bool = True,
    force: bool = False,
    name: str = "curl",
    dataset: Dataset = DATASET,
    timeout: float = 10.0,
) -> Iterator[Target]:
    """A :class:`Target` for the res_config_curl server at ``urls`` (family -> URL).

    ``load``: store the data set (refusing a server that holds its keys unless ``force``)
    and destroy it afterwards; False: it is preloaded and stays.  The capabilities default
    to what the wire can express (``detailed_errors=False``; ``pjsip`` when every PJSIP
    family is in ``urls``).
    """
    from ara_ldap.testing.conformance.curl import CurlRealtime
    from ara_ldap.testing.conformance.loaders import has_pjsip

    caps = capabilities or Capabilities(detailed_errors=False)
    caps = dataclasses.replace(caps, pjsip=caps.pjsip or has_pjsip(urls))
    client = RecordingClient(urls, order="given", timeout=timeout)
    loader = WireLoader(client, list(urls), dataset)
    loaded = False
    try:
        if load:
            loaded = True
            loader.load(force=force)
        else:
            loader.preloaded()
        client.exchanges.clear()
        yield Target(
            name,
            CurlRealtime(client),
            caps,
            loader.restore,
            extra={"client": client, "loader": loader, "urls": dict(urls)},
        )
    finally:
        try:
            if loaded:
                loader.remove()
            elif not load and loader.snapshot:
                loader.restore()
        finally:
            client.close()


# Recording per case (a pytest plugin for run_suite) ------------------------------------


@dataclass
class CaseDetail:
    """What the report needs about one case beyond its outcome."""

    case_id: str
    operation: str
    exchanges: list[Exchange] = field(default_factory=list)
    explanation: str = ""
    #: The failing line of the case and its local values (what it expected).
    where: str = ""


class WireRecorder:
    """pytest plugin: each case's stable id, and the exchanges of its call phase."""

    def __init__(self, client: RecordingClient | None) -> None:
        self.client = client
        self.details: dict[str, CaseDetail] = {}
        self._by_nodeid: dict[str, CaseDetail] = {}

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            cls = getattr(item, "cls", None)
            fn = getattr(item, "function", None)
            owner = _defining_class(cls, fn)
            case_id = f"{owner.__name__ if owner else 'module'}::{item.name}"
            detail = CaseDetail(case_id, operation_of(cls, fn))
            self.details[item.name] = detail
            self._by_nodeid[item.nodeid] = detail

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        if self.client is not None:
            self.client.exchanges.clear()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, None, None]:
        yield
        detail = self._by_nodeid.get(item.nodeid)
        excinfo = call.excinfo
        if detail is None or excinfo is None or call.when != "call":
            return
        if excinfo.errisinstance(pytest.skip.Exception):
            return
        detail.where = _where(excinfo)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        detail = self._by_nodeid.get(report.nodeid)
        if detail is None:
            return
        if report.when == "call" and self.client is not None:
            detail.exchanges = list(self.client.exchanges)
        if report.failed:
            message = _explanation(report)
            if message.strip() == "AssertionError":
                message = ""  # the statement and values below say more
            detail.explanation = "\n".join(part for part in (message, detail.where) if part)


#: Locals not worth printing: the front door, the data set, the fixtures.
_QUIET_LOCALS = frozenset({"self", "realtime", "fresh", "dataset", "capabilities", "request"})


def _where(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """The case's failing statement and its locals (the expected values it compared)."""
    entries = [e for e in excinfo.traceback if "/conformance/cases_" in str(e.path)]
    if not entries:
        return ""
    entry = entries[-1]
    statement = str(entry.statement).strip().splitlines()
    lines = [f"at {Path(str(entry.path)).name}:{entry.lineno + 1}: {' '.join(statement)[:300]}"]
    for name, value in entry.frame.f_locals.items():
        if name in _QUIET_LOCALS or name.startswith("@"):
            continue
        text = repr(value)
        lines.append(f"  {name} = {text[:400]}{'...' if len(text) > 400 else ''}")
    return "\n".join(lines)


def _explanation(report: pytest.TestReport) -> str:
    """pytest's explanation of the failed assertion (the ``E`` lines: the case's expected
    and received values), or the exception's last lines."""
    text = str(getattr(report, "longreprtext", "") or report.longrepr or "")
    lines = [ln.rstrip() for ln in text.splitlines()]
    errors = [ln[1:].strip() for ln in lines if ln.startswith("E ")]
    return "\n".join(errors[:40] if errors else [ln for ln in lines if ln.strip()][-10:])


def run_target(
    target: Target,
    *,
    writes: bool = True,
    keyword: str | None = None,
    all_exchanges: bool = False,
) -> Any:
    """Run the suite on ``target`` and return a :class:`~.report.Report`; the wire
    exchanges are recorded when the target's client is a :class:`RecordingClient` (kept
    for failed cases; ``all_exchanges``: for every case)."""
    from ara_ldap.testing.conformance.report import build_report
    from ara_ldap.testing.conformance.suite import run_suite

    client = target.extra.get("client")
    recorder = WireRecorder(client if isinstance(client, RecordingClient) else None)
    results = run_suite(target, writes=writes, keyword=keyword, plugins=[recorder])
    return build_report(
        results,
        recorder.details,
        target=target.name,
        urls=target.extra.get("urls", {}),
        capabilities=dataclasses.asdict(target.capabilities),
        all_exchanges=all_exchanges,
    )


def run_url(
    urls: Mapping[str, str],
    *,
    capabilities: Capabilities | None = None,
    load: bool = True,
    force: bool = False,
    writes: bool = True,
    keyword: str | None = None,
    name: str = "curl",
) -> Any:
    """:func:`url_target` + :func:`run_target`: the whole by-URL run, one report."""
    with url_target(urls, capabilities=capabilities, load=load, force=force, name=name) as target:
        return run_target(target, writes=writes, keyword=keyword)
