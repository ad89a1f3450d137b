"""The gateway's cost: single lookups by name through HTTP vs the same lookups in-process,
on one throwaway slapd with 10,000 peers, in one run.

    .venv/bin/python bench/gateway.py [--peers 10000] [--seconds 5]
    .venv/bin/python bench/gateway.py --null-only [--compare] [--processes 2,4] [--seconds 2]

(the second: no slapd, the gateway's own cost with a null backend, uncached and cache
hit, at 1/2/4/8/32 keep-alive clients; ``--compare`` adds uvicorn + the ASGI adapter,
``--processes`` the lean server with that many worker processes)

Measured, in this order:

* ``Realtime.single`` called in-process (1 and 8 threads): the floor for the gateway;
* raw ldap3 searches (1 thread): what the LDAP client library itself costs;
* ``POST /sippeers/single`` through ``ara-ldap serve`` (a separate process) with keep-alive
  connections at 1, 8 and 32 concurrent clients, sending the exact bytes Asterisk sends.
  Three servers in turn: ldap3's road with no cache (the gateway as it was before the
  fast path), the fast path with no cache (today's uncached default), and the change-driven
  cache (warmed up until requests no longer reach slapd); the ratios of both to the first
  are printed.

The load comes from this process (an asyncio client), so the gateway's own CPU can be read
from /proc: CPU per request is the gateway's user+system time (the supervisor and its
worker processes, ``gateway.processes`` defaulting to the CPU count) divided by the
requests it answered, raw (it includes the LDAP client work, the thread hand-offs, HTTP
and the codec).  Printed: requests/s, p50/p99 latency, the gateway@8 / direct@8 and
gateway@1 / direct@1 ratios, the gateway's CPU per request next to the in-process CPU per
call, slapd's CPU per request, and the gateway's RSS.  Not a test: the numbers depend on
the machine (client, gateway and slapd share its cores); only same-run ratios compare.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import ldap3
import yaml
from lookup import POOL_OPTIONS, SIP_BASE, load_peers, percentile, raw_ldap3

from ara_ldap.bootstrap import open_realtime
from ara_ldap.criteria import Criterion
from ara_ldap.record import Record
from ara_ldap.testing.curl_client import AsteriskCurlClient, raw_request
from ara_ldap.testing.ldap import ldap_backend_config, ldap_settings
from ara_ldap.testing.slapd import Slapd, find_schema_ldif, free_port

if TYPE_CHECKING:
    from ara_ldap.gateway.app import GatewayApp

TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def proc_rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


class Result:
    def __init__(
        self,
        label: str,
        clients: int,
        latencies: list[float],
        seconds: float,
        cpu: float | None = None,
        slapd_cpu: float | None = None,
    ) -> None:
        self.label = label
        self.clients = clients
        self.latencies = latencies
        self.rate = len(latencies) / seconds
        self.cpu_per_request = cpu / len(latencies) if cpu is not None else None
        self.slapd_per_request = slapd_cpu / len(latencies) if slapd_cpu is not None else None

    def row(self) -> str:
        cpu = (
            f"{self.cpu_per_request * 1e6:10.0f}"
            if self.cpu_per_request is not None
            else (f"{'':>10}")
        )
        slapd = (
            f"{self.slapd_per_request * 1e6:9.0f}"
            if self.slapd_per_request is not None
            else f"{'':>9}"
        )
        return (
            f"{self.label:30} {self.clients:>3} {self.rate:9.0f} "
            f"{percentile(self.latencies, 0.5) * 1e6:8.0f} "
            f"{percentile(self.latencies, 0.99) * 1e6:8.0f} {cpu} {slapd}"
        )


def threaded(
    call: Callable[[str], object], names: list[str], threads: int, seconds: float
) -> tuple[list[float], float]:
    """Run ``call`` from ``threads`` threads for ``seconds``; (latencies, wall seconds)."""
    latencies: list[list[float]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads + 1)
    stop = time.perf_counter() + seconds + 0.05

    def worker(i: int) -> None:
        rng = random.Random(i)
        out = latencies[i]
        start.wait()
        while True:
            t0 = time.perf_counter()
            call(rng.choice(names))
            t1 = time.perf_counter()
            out.append(t1 - t0)
            if t1 >= stop:
                return

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in pool:
        t.join()
    return [x for per in latencies for x in per], time.perf_counter() - began


async def _http_load(
    port: int, names: list[str], clients: int, seconds: float
) -> tuple[list[float], float]:
    """``clients`` keep-alive connections, each sending Asterisk's exact single request in
    a closed loop; (latencies, wall seconds)."""
    host = f"127.0.0.1:{port}"
    latencies: list[float] = []

    async def one(seed: int, deadline: float) -> None:
        rng = random.Random(seed)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                name = rng.choice(names)
                request = raw_request(host, b"/sippeers/single", b"name=" + name.encode())
                t0 = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length)
                t1 = time.perf_counter()
                if not body.startswith(b"name=" + name.encode() + b"&"):
                    raise AssertionError(f"unexpected answer for {name}: {body[:80]!r}")
                latencies.append(t1 - t0)
                if t1 >= deadline:
                    return
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(one(i, began + seconds) for i in range(clients)))
    return latencies, time.perf_counter() - began


def http_load(
    port: int, names: list[str], clients: int, seconds: float
) -> tuple[list[float], float]:
    return asyncio.run(_http_load(port, names, clients, seconds))


class NullRealtime:
    """A Realtime stand-in answering every ``single`` at once with a bench-sized record
    (the fields bench/lookup.py's peers have): the gateway's own cost, with no LDAP."""

    backends: ClassVar[dict[str, object]] = {}

    def families(self) -> list[str]:
        return ["sippeers"]

    def route(self, family: str) -> list[object]:
        """No backends, so no per-call deadline (the app sizes its budgets from this)."""
        return []

    def __init__(self, cached: bool = False) -> None:
        self.cached = cached
        self.replica: dict[str, Record] = {}

    def single_nowait(
        self, family: str, criteria: Sequence[Criterion]
    ) -> tuple[Record | None] | None:
        """As a backend cache would: answered on the event loop from the records it keeps
        (``--cached``: the same Record for the same name, as the replica hands out), or
        ``None`` (only a blocking call can answer) for the uncached null backend, which
        builds a new Record per call as a directory read does."""
        if not self.cached:
            return None
        name = criteria[0].value
        record = self.replica.get(name)
        if record is None:
            record = self.replica[name] = self.single(family, criteria)
        return (record,)

    def single(self, family: str, criteria: Sequence[Criterion]) -> Record:
        name = criteria[0].value
        return Record(
            [
                ("name", name),
                ("host", "dynamic"),
                ("type", "friend"),
                ("context", "from-internal"),
                ("secret", "s0000002a"),
                ("transport", "udp"),
                ("dtmfmode", "rfc2833"),
                ("nat", "force_rport,comedia"),
                ("disallow", "all"),
                ("allow", "ulaw"),
                ("allow", "alaw"),
                ("allow", "g722"),
                ("callerid", '"Peer 42" <2042>'),
                ("mailbox", "2042@default"),
                ("qualify", "yes"),
                ("ipaddr", "192.0.2.43"),
                ("port", "5060"),
                ("regseconds", "1767225642"),
                ("useragent", "ExamplePhone/0.0"),
                ("fullcontact", f"sip:{name}@192.0.2.43:5060;transport=udp"),
            ]
        )


def null_app(cached: bool, workers: int = 8) -> GatewayApp:
    """The real app around :class:`NullRealtime` (module level: picklable for the
    worker processes)."""
    from ara_ldap.gateway.app import GatewayApp

    return GatewayApp(NullRealtime(cached), workers=workers)  # type: ignore[arg-type]


def null_server(port: int, workers: int, cached: bool, kind: str, processes: int) -> None:
    """``--null-server PORT``: the real app and server around :class:`NullRealtime`
    (``--cached``: every single is a cache hit, answered on the event loop; ``--server
    uvicorn``: the ASGI adapter on uvicorn; ``--processes N``: N worker processes)."""
    if processes > 1:
        from ara_ldap.gateway.workers import Supervisor

        Supervisor(
            functools.partial(null_app, cached, workers), port=port, processes=processes
        ).run()
        return
    app = null_app(cached, workers)
    if kind == "uvicorn":
        from ara_ldap.gateway.uvicorn_server import UvicornServer

        UvicornServer(app, port=port).run()
        return
    from ara_ldap.gateway.server import GatewayServer

    GatewayServer(app, port=port).run()


def start_server(cmd: list[str], port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = AsteriskCurlClient(f"http://127.0.0.1:{port}", timeout=2)
    deadline = time.monotonic() + 30
    while client.single("sippeers", {"name": "peer00000"}) is None:
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the gateway did not start: {' '.join(cmd)}")
        time.sleep(0.1)
    for i in range(200):  # warm up: connections, schema, code paths
        client.single("sippeers", {"name": f"peer{i:05d}"})
    client.close()
    return server


NULL_CLIENTS = (1, 2, 4, 8, 32)


def null_rows(
    label: str, cached: bool, seconds: float, kind: str = "lean", processes: int = 1
) -> dict[int, Result]:
    """The null-backend server (uncached: one worker-thread hop per request; cached:
    answered on the event loop) at each client count; prints and returns the rows.  CPU
    is the server's, all its processes included."""
    names = [f"peer{i:05d}" for i in range(1000)]
    port = free_port()
    cmd = [sys.executable, __file__, "--null-server", str(port), "--server", kind]
    cmd += ["--processes", str(processes)]
    server = start_server([*cmd, "--cached"] if cached else cmd, port)
    rows: dict[int, Result] = {}
    try:
        for clients in NULL_CLIENTS:
            cpu0 = tree_cpu(server.pid)
            latencies, wall = http_load(port, names, clients, seconds)
            result = Result(label, clients, latencies, wall, tree_cpu(server.pid) - cpu0)
            rows[clients] = result
            print(result.row(), flush=True)
    finally:
        server.terminate()
        server.wait(20)
    return rows


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def tree_rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) RSS of a process and its children (the worker processes), MB."""
    rss, peak = proc_rss_mb(pid)
    for child in children(pid):
        with contextlib.suppress(OSError):
            r, p = proc_rss_mb(child)
            rss, peak = rss + r, peak + p
    return rss, peak


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live children (the worker processes)."""
    total = proc_cpu(pid)
    for child in children(pid):
        with contextlib.suppress(OSError, IndexError):
            total += proc_cpu(child)
    return total


def null_only(seconds: float, compare: bool, processes: list[int]) -> int:
    """``--null-only``: the gateway's own cost, no slapd (a short run on a shared box):
    the lean server in one process, ``--compare``: uvicorn too, ``--processes 2,4``:
    the lean server with that many worker processes too (CPU counts all of them)."""
    speed = min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6
    print(
        f"{os.cpu_count()} CPUs; {seconds:g} s per measurement; sum(range(1000)) takes "
        f"{speed:.1f} µs here (the machine's speed now: figures scale with it)"
    )
    print(f"\n{'path':30} {'cl':>3} {'req/s':>9} {'p50 µs':>8} {'p99 µs':>8} {'CPU µs/req':>10}")
    series = [("lean", 1)] + ([("uvicorn", 1)] if compare else [])
    series += [("lean", n) for n in processes if n > 1]
    rows: dict[tuple[str, int, bool], dict[int, Result]] = {}
    for kind, n in series:
        tag = kind if n == 1 else f"{kind} x{n} processes"
        for cached in (False, True):
            label = f"{tag}, null, cache hit" if cached else f"{tag}, null backend"
            rows[kind, n, cached] = null_rows(label, cached, seconds, kind, n)
    print()
    for clients in NULL_CLIENTS:
        line = [f"@{clients:<2}"]
        base = rows["lean", 1, True][clients]
        for kind, n in series:
            a, b = rows[kind, n, False][clients], rows[kind, n, True][clients]
            assert a.cpu_per_request is not None and b.cpu_per_request is not None
            null, hit = a.cpu_per_request * 1e6, b.cpu_per_request * 1e6
            tag = kind if n == 1 else f"{kind}x{n}"
            text = f"{tag}: null {null:3.0f} hit {hit:3.0f} µs ({hit / null:.2f}x)"
            if (kind, n) != ("lean", 1):
                text += f" hit rate {b.rate / base.rate:.2f}x lean"
            line.append(text)
        print("   ".join(line))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--null-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--cached", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--null-only",
        action="store_true",
        help="only the null-backend rows (no slapd): the gateway's own cost, uncached "
        "and cache hit, at 1/2/4/8/32 clients",
    )
    parser.add_argument("--compare", action="store_true", help="with --null-only: uvicorn rows too")
    parser.add_argument("--server", default="lean", help=argparse.SUPPRESS)
    parser.add_argument(
        "--processes",
        default="1",
        help="with --null-only: comma-separated worker process counts to add, e.g. 2,4",
    )
    parser.add_argument("--peers", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="leave the gateway's access log on (it goes to /dev/null)",
    )
    args = parser.parse_args()
    if args.null_server:
        null_server(args.null_server, 8, args.cached, args.server, int(args.processes))
        return 0
    if args.null_only:
        counts = [int(n) for n in args.processes.split(",")]
        return null_only(args.seconds, args.compare, counts)

    workdir = Path(tempfile.mkdtemp(prefix="ara-bench-gw-"))
    with Slapd(schema_ldifs=[find_schema_ldif()], workdir=workdir / "d") as slapd:
        seconds = load_peers(slapd, args.peers, workdir)
        print(
            f"loaded {args.peers} peers in {seconds:.1f} s; "
            f"{os.cpu_count()} CPUs; {args.seconds:g} s per measurement"
        )
        names = [f"peer{i:05d}" for i in range(args.peers)]
        slapd_pid = slapd.pid
        assert slapd_pid is not None
        results: list[Result] = []

        def measured(
            label: str, clients: int, run: Callable[[], tuple[list[float], float]], pid: int | None
        ) -> Result:
            cpu0 = tree_cpu(pid) if pid else time.process_time()
            s0 = proc_cpu(slapd_pid)
            latencies, wall = run()
            cpu = (tree_cpu(pid) if pid else time.process_time()) - cpu0
            result = Result(label, clients, latencies, wall, cpu, proc_cpu(slapd_pid) - s0)
            results.append(result)
            print(result.row(), flush=True)
            return result

        print(
            f"\n{'path':30} {'cl':>3} {'req/s':>9} {'p50 µs':>8} {'p99 µs':>8} "
            f"{'CPU µs/req':>10} {'slapd µs':>9}"
        )

        # In-process: the floor.
        rt = open_realtime(ldap_settings(slapd, pool_size=8))
        assert rt.single("sippeers", {"name": names[0]}) is not None

        def direct(name: str) -> object:
            return rt.single("sippeers", {"name": name})

        direct1 = measured(
            "direct Realtime.single", 1, lambda: threaded(direct, names, 1, args.seconds), None
        )
        direct8 = measured(
            "direct Realtime.single", 8, lambda: threaded(direct, names, 8, args.seconds), None
        )
        rt.close()

        conn = raw_ldap3(slapd, **POOL_OPTIONS)
        base = SIP_BASE.format(suffix=slapd.suffix)

        def raw_search(name: str) -> object:
            conn.search(
                base,
                f"(&(objectClass=AsteriskSIPUser)(cn={name}))",
                attributes=[ldap3.ALL_ATTRIBUTES],
                dereference_aliases=ldap3.DEREF_NEVER,
            )
            assert conn.response and len(conn.response) == 1
            return conn.response

        measured("raw ldap3 search", 1, lambda: threaded(raw_search, names, 1, args.seconds), None)
        conn.unbind()

        # Through the gateway, in its own process: ldap3's road (as before the fast path),
        # the fast path (the default), and the change-driven cache (docs/cache.md).
        variants: list[tuple[str, dict[str, Any]]] = [
            ("gateway ldap3, no cache", {"fast_path": False}),
            ("gateway fast path, no cache", {}),
            ("gateway cache hit", {"cache": {"enabled": True, "probe_interval": 0.25}}),
        ]
        by_variant: dict[str, dict[int, Result]] = {}
        rss = peak = 0.0
        for label, overrides in variants:
            port = free_port()
            config = workdir / "ara-ldap.yaml"
            config.write_text(
                yaml.safe_dump(
                    {
                        # The same pool as the in-process run; gateway workers default to it.
                        "backends": {
                            "directory": ldap_backend_config(slapd, pool_size=8, **overrides)
                        },
                        "gateway": {"port": port},
                    }
                )
            )
            cmd = [sys.executable, "-m", "ara_ldap.cli", "--config", str(config), "serve"]
            if not args.access_log:
                cmd.append("--no-access-log")
            server = start_server(cmd, port)
            try:
                if "cache" in overrides:
                    # Every worker refreshes its replica in the background; until it is
                    # live, reads go to the directory.  Warm up past that, unmeasured.
                    # Live when the requests stop reaching slapd (its CPU per request
                    # falls to ~0): every worker then answers from memory.
                    warm_until = time.monotonic() + 120
                    while time.monotonic() < warm_until:
                        s0 = proc_cpu(slapd_pid)
                        lat, _ = http_load(port, names, 8, 1.0)
                        if lat and (proc_cpu(slapd_pid) - s0) / len(lat) < 5e-6:
                            break
                    else:
                        print("warning: the cache did not go live within 120 s", flush=True)
                rows: dict[int, Result] = {}
                for clients in (1, 8, 32):
                    rows[clients] = measured(
                        label,
                        clients,
                        lambda c=clients, p=port: http_load(p, names, c, args.seconds),  # type: ignore[misc]
                        server.pid,
                    )
                by_variant[label] = rows
                if not overrides:
                    rss, peak = tree_rss_mb(server.pid)
            finally:
                server.terminate()
                server.wait(20)
        gateway = by_variant["gateway fast path, no cache"]

        # The same server around a backend that answers at once: our own cost.
        null_port = free_port()
        null = start_server([sys.executable, __file__, "--null-server", str(null_port)], null_port)
        try:
            own: dict[int, Result] = {}
            for clients in (1, 8, 32):
                own[clients] = measured(
                    "gateway, null backend",
                    clients,
                    lambda c=clients: http_load(null_port, names, c, args.seconds),  # type: ignore[misc]
                    null.pid,
                )
        finally:
            null.terminate()
            null.wait(20)

        def ratio(a: Result, b: Result) -> float:
            return a.rate / b.rate

        print(
            f"\ngateway@8 / direct@8: {ratio(gateway[8], direct8):.2f}   "
            f"gateway@1 / direct@1: {ratio(gateway[1], direct1):.2f}   "
            f"gateway@32 / direct@8: {ratio(gateway[32], direct8):.2f}"
        )
        in_process = statistics.median(
            r.cpu_per_request for r in (direct1, direct8) if r.cpu_per_request is not None
        )
        for clients, r in gateway.items():
            assert r.cpu_per_request is not None
            print(
                f"gateway CPU per request @{clients:<2}: {r.cpu_per_request * 1e6:5.0f} µs raw "
                f"(in-process Realtime.single: {in_process * 1e6:.0f} µs/call; difference, "
                f"HTTP + codec + thread hand-off: {(r.cpu_per_request - in_process) * 1e6:.0f}"
                " µs)"
            )
        for clients, r in own.items():
            assert r.cpu_per_request is not None
            print(
                f"gateway's own CPU per request @{clients:<2} (null backend): "
                f"{r.cpu_per_request * 1e6:4.0f} µs"
            )
        base_rows = by_variant["gateway ldap3, no cache"]
        cached_rows = by_variant["gateway cache hit"]
        for clients in (1, 8, 32):
            print(
                f"@{clients:<2} req/s vs ldap3 road without cache: fast path "
                f"{ratio(gateway[clients], base_rows[clients]):.2f}x, cache hit "
                f"{ratio(cached_rows[clients], base_rows[clients]):.2f}x"
            )
        print(
            f"gateway RSS: {rss:.0f} MB now, {peak:.0f} MB peak "
            f"(all its processes; {args.peers}-entry directory)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
