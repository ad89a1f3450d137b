"""Prometheus text-format metrics for the gateway, hand-written (a few counters and one
histogram do not justify a dependency on the hot path).

Updated only from the event loop thread, so no locks: the app records each request after
its response is sent, and ``/metrics`` renders from the same thread.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from typing import Any

#: Latency buckets in seconds: LDAP lookups take a few hundred µs, Asterisk's timeouts
#: are seconds, so the interesting range is 0.5 ms .. 2.5 s.
BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Histogram:
    __slots__ = ("buckets", "count", "total")

    def __init__(self) -> None:
        self.buckets = [0] * (len(BUCKETS) + 1)  # the last one is +Inf only
        self.count = 0
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.buckets[bisect_left(BUCKETS, seconds)] += 1
        self.count += 1
        self.total += seconds


class Metrics:
    """Requests by family, operation and outcome; latency by operation; backend errors."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str], int] = {}
        self.backend_errors: dict[tuple[str, str], int] = {}
        self.latency: dict[str, _Histogram] = {}
        self.in_flight = 0
        #: Requests refused at once because the worker queue was full (overload).
        self.shed = 0
        #: Queued requests not run because their client had gone meanwhile.
        self.abandoned = 0
        self.started = time.time()
        #: (index, pid) of the worker process these counters belong to, when there are
        #: several (``ara_gateway_worker_info``).
        self.worker: tuple[int, int] | None = None
        self.workers: list[tuple[int, int]] = []

    def observe(self, family: str, operation: str, outcome: str, seconds: float) -> None:
        key = (family, operation, outcome)
        self.requests[key] = self.requests.get(key, 0) + 1
        histogram = self.latency.get(operation)
        if histogram is None:
            histogram = self.latency[operation] = _Histogram()
        histogram.observe(seconds)

    def backend_error(self, family: str, operation: str) -> None:
        key = (family, operation)
        self.backend_errors[key] = self.backend_errors.get(key, 0) + 1

    def total(self) -> int:
        """Requests counted so far (cheap: to know whether a snapshot is due)."""
        return sum(h.count for h in self.latency.values())

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON-able data (for the worker processes' shared view)."""
        return {
            "requests": [[*key, n] for key, n in self.requests.items()],
            "backend_errors": [[*key, n] for key, n in self.backend_errors.items()],
            "latency": {op: [h.buckets, h.count, h.total] for op, h in self.latency.items()},
            "in_flight": self.in_flight,
            "shed": self.shed,
            "abandoned": self.abandoned,
            "started": self.started,
            "worker": list(self.worker) if self.worker else None,
        }

    def absorb(self, data: dict[str, Any], *, counters_only: bool = False) -> None:
        """Add a :meth:`snapshot`'s counters to these (``counters_only``: not the gauges
        or the worker identity: a restarted worker continuing its predecessor's)."""
        for family, operation, outcome, n in data["requests"]:
            counted = (family, operation, outcome)
            self.requests[counted] = self.requests.get(counted, 0) + int(n)
        for family, operation, n in data["backend_errors"]:
            failed = (family, operation)
            self.backend_errors[failed] = self.backend_errors.get(failed, 0) + int(n)
        for operation, (buckets, count, total) in data["latency"].items():
            histogram = self.latency.get(operation)
            if histogram is None:
                histogram = self.latency[operation] = _Histogram()
            for i, n in enumerate(buckets[: len(histogram.buckets)]):
                histogram.buckets[i] += int(n)
            histogram.count += int(count)
            histogram.total += float(total)
        self.shed += int(data.get("shed", 0))
        self.abandoned += int(data.get("abandoned", 0))
        if counters_only:
            return
        self.in_flight += int(data["in_flight"])
        self.started = min(self.started, float(data["started"]))
        if data.get("worker"):
            index, pid = data["worker"]
            self.workers.append((int(index), int(pid)))

    def render(self) -> bytes:
        """The exposition text (format 0.0.4)."""
        out: list[str] = [
            "# HELP ara_gateway_requests_total Requests answered, by family, operation "
            "and outcome.",
            "# TYPE ara_gateway_requests_total counter",
        ]
        for (family, operation, outcome), n in sorted(self.requests.items()):
            out.append(
                f'ara_gateway_requests_total{{family="{_label(family)}",'
                f'operation="{_label(operation)}",outcome="{_label(outcome)}"}} {n}'
            )
        out += [
            "# HELP ara_gateway_request_duration_seconds Time from request start to the "
            "response, by operation.",
            "# TYPE ara_gateway_request_duration_seconds histogram",
        ]
        for operation, histogram in sorted(self.latency.items()):
            op = _label(operation)
            cumulative = 0
            for bound, n in zip(BUCKETS, histogram.buckets, strict=False):
                cumulative += n
                out.append(
                    f'ara_gateway_request_duration_seconds_bucket{{operation="{op}",'
                    f'le="{bound:g}"}} {cumulative}'
                )
            out.append(
                f'ara_gateway_request_duration_seconds_bucket{{operation="{op}",le="+Inf"}} '
                f"{histogram.count}"
            )
            out.append(
                f'ara_gateway_request_duration_seconds_sum{{operation="{op}"}} '
                f"{histogram.total:.6f}"
            )
            out.append(
                f'ara_gateway_request_duration_seconds_count{{operation="{op}"}} {histogram.count}'
            )
        out += [
            "# HELP ara_gateway_backend_errors_total Requests that failed because no backend "
            "could answer.",
            "# TYPE ara_gateway_backend_errors_total counter",
        ]
        for (family, operation), n in sorted(self.backend_errors.items()):
            out.append(
                f'ara_gateway_backend_errors_total{{family="{_label(family)}",'
                f'operation="{_label(operation)}"}} {n}'
            )
        out += [
            "# HELP ara_gateway_shed_total Requests refused at once: the worker queue was full.",
            "# TYPE ara_gateway_shed_total counter",
            f"ara_gateway_shed_total {self.shed}",
            "# HELP ara_gateway_abandoned_total Queued requests not run: the client had gone.",
            "# TYPE ara_gateway_abandoned_total counter",
            f"ara_gateway_abandoned_total {self.abandoned}",
            "# HELP ara_gateway_in_flight Requests being processed now.",
            "# TYPE ara_gateway_in_flight gauge",
            f"ara_gateway_in_flight {self.in_flight}",
            "# HELP ara_gateway_start_time_seconds When the gateway started (Unix time).",
            "# TYPE ara_gateway_start_time_seconds gauge",
            f"ara_gateway_start_time_seconds {self.started:.3f}",
        ]
        workers = sorted(self.workers)
        if self.worker is not None and self.worker not in workers:
            workers.insert(0, self.worker)
        if workers:
            out += [
                "# HELP ara_gateway_worker_info The worker processes counted here.",
                "# TYPE ara_gateway_worker_info gauge",
            ]
            out += [
                f'ara_gateway_worker_info{{worker="{index}",pid="{pid}"}} 1'
                for index, pid in workers
            ]
        if self.worker is not None:
            out += [
                "# HELP ara_gateway_worker_pid The process that answered (a connection "
                "stays with one worker).",
                "# TYPE ara_gateway_worker_pid gauge",
                f"ara_gateway_worker_pid {self.worker[1]}",
            ]
        return ("\n".join(out) + "\n").encode("utf-8")
