"""The report of one conformance run: per operation pass/skip/fail, and for each failure
the wire exchanges of the case, the case's expectation and a one-line reason.

Case ids (``<CaseClass>::<test name>[param]``) name where a case is defined, not the
generated module that ran it, so they are stable between runs and releases; the suite's
version is ``ara_ldap.__version__`` plus a digest of the ids it holds, so two reports
can be compared only when they ran the same cases.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ara_ldap.testing.conformance.requirements import OPERATIONS
from ara_ldap.testing.conformance.runner import CaseDetail, Exchange
from ara_ldap.testing.conformance.suite import CaseResult

__all__ = ["CaseReport", "Report", "build_report", "render_bytes", "suite_version"]

#: How many exchanges of a failed case the text report shows (the last ones).
SHOWN_EXCHANGES = 6


def suite_version(case_ids: Iterable[str]) -> str:
    """``<package version>+cases.<digest of the sorted case ids>``."""
    from ara_ldap import __version__

    digest = hashlib.sha256("\n".join(sorted(case_ids)).encode()).hexdigest()[:10]
    return f"{__version__}+cases.{digest}"


def render_bytes(data: bytes, indent: str = "    ") -> str:
    """Wire bytes for a person: one line per CRLF/LF, other control and non-ASCII bytes
    as ``\\xNN`` (so a stray ``\\r`` or NUL is visible)."""
    out: list[str] = []
    for line in data.replace(b"\r\n", b"\n").split(b"\n"):
        text = "".join(chr(b) if 0x20 <= b < 0x7F or b == 0x09 else f"\\x{b:02x}" for b in line)
        out.append(indent + text)
    return "\n".join(out)


@dataclass(frozen=True)
class CaseReport:
    case_id: str
    operation: str
    outcome: str  # passed, failed, skipped, error
    reason: str
    duration: float
    explanation: str = ""
    exchanges: tuple[Exchange, ...] = ()

    @property
    def bad(self) -> bool:
        return self.outcome in ("failed", "error")


@dataclass
class Report:
    suite_version: str
    target: str
    urls: Mapping[str, str]
    capabilities: Mapping[str, bool]
    cases: list[CaseReport] = field(default_factory=list)

    @property
    def failures(self) -> list[CaseReport]:
        return [c for c in self.cases if c.bad]

    def counts(self) -> dict[str, dict[str, int]]:
        """outcome counts per operation, in the suite's operation order."""
        out: dict[str, dict[str, int]] = {}
        for c in self.cases:
            row = out.setdefault(c.operation, {"passed": 0, "skipped": 0, "failed": 0})
            row["failed" if c.bad else c.outcome] += 1
        order = [op for op in OPERATIONS if op in out] + [op for op in out if op not in OPERATIONS]
        return {op: out[op] for op in order}

    def text(self, *, show_skips: bool = False) -> str:
        lines = [
            f"ara-ldap conformance suite {self.suite_version}",
            f"target: {self.target}",
            *(f"  {family} => curl,{url}" for family, url in self.urls.items()),
            "capabilities: "
            + ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in self.capabilities.items()),
            "",
            f"{'operation':<10} {'pass':>5} {'skip':>5} {'fail':>5}",
        ]
        for op, row in self.counts().items():
            lines.append(f"{op:<10} {row['passed']:>5} {row['skipped']:>5} {row['failed']:>5}")
        total = len(self.cases)
        bad = len(self.failures)
        skipped = sum(c.outcome == "skipped" for c in self.cases)
        lines += [
            "",
            f"{total} cases: {total - bad - skipped} passed, {skipped} skipped, {bad} failed",
        ]
        for c in self.failures:
            lines += ["", f"FAIL {c.case_id} ({c.operation})", f"  reason: {c.reason}"]
            if c.explanation:
                lines.append("  expected (the case's assertion and its values) vs received:")
                lines += [f"    {ln}" for ln in c.explanation.splitlines()]
            shown = c.exchanges[-SHOWN_EXCHANGES:]
            if len(c.exchanges) > len(shown):
                lines.append(f"  ({len(c.exchanges) - len(shown)} earlier request(s) not shown)")
            for i, ex in enumerate(shown, len(c.exchanges) - len(shown) + 1):
                lines.append(f"  request {i}/{len(c.exchanges)} as sent:")
                lines.append(render_bytes(ex.request))
                status = "no answer" if ex.status is None else f"status {ex.status}"
                lines.append(f"  answer received ({status}, {len(ex.response)} bytes):")
                lines.append(render_bytes(ex.response) if ex.response else "    (empty body)")
        if show_skips:
            for c in self.cases:
                if c.outcome == "skipped":
                    lines.append(f"SKIP {c.case_id}: {c.reason}")
        return "\n".join(lines) + "\n"

    def as_dict(self) -> dict[str, object]:
        cases = []
        for c in self.cases:
            d = asdict(c)
            d["exchanges"] = [
                {
                    "request": ex.request.decode("latin-1"),
                    "status": ex.status,
                    "response": ex.response.decode("latin-1"),
                }
                for ex in c.exchanges
            ]
            cases.append(d)
        return {
            "suite_version": self.suite_version,
            "target": self.target,
            "urls": dict(self.urls),
            "capabilities": dict(self.capabilities),
            "counts": self.counts(),
            "cases": cases,
        }

    def write_json(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_dict(), indent=2) + "\n", encoding="utf-8")

    def write_junit(self, path: Path) -> None:
        """JUnit XML as CI servers read it: one testcase per case, classname = operation."""
        suite = ET.Element(
            "testsuite",
            name="ara-ldap-conformance",
            tests=str(len(self.cases)),
            failures=str(sum(c.outcome == "failed" for c in self.cases)),
            errors=str(sum(c.outcome == "error" for c in self.cases)),
            skipped=str(sum(c.outcome == "skipped" for c in self.cases)),
            time=f"{sum(c.duration for c in self.cases):.3f}",
        )
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="suite_version", value=self.suite_version)
        ET.SubElement(props, "property", name="target", value=self.target)
        for c in self.cases:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"conformance.{c.operation}",
                name=c.case_id,
                time=f"{c.duration:.3f}",
            )
            if c.outcome == "skipped":
                ET.SubElement(case, "skipped", message=c.reason)
            elif c.bad:
                tag = "failure" if c.outcome == "failed" else "error"
                node = ET.SubElement(case, tag, message=c.reason)
                node.text = _failure_text(c)
        ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def _failure_text(c: CaseReport) -> str:
    parts = [c.explanation]
    for ex in c.exchanges[-SHOWN_EXCHANGES:]:
        parts.append("request as sent:\n" + render_bytes(ex.request))
        parts.append(f"answer received (status {ex.status}):\n" + render_bytes(ex.response))
    # XML 1.0 cannot carry most control characters even escaped.
    return "".join(ch for ch in "\n".join(parts) if ch in "\t\n" or ord(ch) >= 0x20)


def build_report(
    results: Sequence[CaseResult],
    details: Mapping[str, CaseDetail],
    *,
    target: str,
    urls: Mapping[str, str],
    capabilities: Mapping[str, bool],
    all_exchanges: bool = False,
) -> Report:
    """Join :func:`~.suite.run_suite`'s results with the recorder's details (by case name,
    unique across the suite).  Exchanges are kept for failed cases (``all_exchanges``: for
    every case)."""
    cases: list[CaseReport] = []
    for r in results:
        detail = details.get(r.case)
        reason = r.reason.splitlines()[0] if r.reason else ""
        if detail and detail.where and reason in ("", "AssertionError", "assert False"):
            reason = "assertion failed " + detail.where.splitlines()[0]
        cases.append(
            CaseReport(
                detail.case_id if detail else r.case,
                r.operation,
                r.outcome,
                reason,
                r.duration,
                detail.explanation if detail and r.outcome in ("failed", "error") else "",
                tuple(detail.exchanges)
                if detail and (all_exchanges or r.outcome in ("failed", "error"))
                else (),
            )
        )
    cases.sort(key=lambda c: c.case_id)
    return Report(suite_version(c.case_id for c in cases), target, urls, capabilities, cases)
