"""Scale sweep of the change-driven cache on a real slapd (issue 8, item 4).  Not a test.

    .venv/bin/python bench/scale.py [--sizes 1000 10000] [--seconds 0.5] [--writes 200]
                                    [--ext-rows N] [--traced]

For each size N: a harness slapd is bulk-loaded offline (slapadd) with N sippeers entries
(about 20 attributes each, bench/replica.py's shape), extension rows (``--ext-rows``,
default N: two priorities per extension, 100 contexts, plus pattern rows) and 1,000
``ps_endpoint_id_ips`` rows; a Realtime with the cache on caches the three families.
Printed per size: the refresh time, process RSS before/after the cache is live (bytes per
cached entry; ``--traced`` adds tracemalloc's view, which slows the refresh), and µs per
``Realtime`` call for

* ``single`` by name; ``multi`` ``name LIKE 'uNNNNN%'`` (10 results at every size);
* PJSIP ``multi`` ``id LIKE '%'`` over the 1,000 identify rows;
* the Realtime switch's queries (ara_ldap/dialplan/switch.py): exists ``exten = E``,
  canmatch ``exten LIKE 'E%'``, matchmore ``exten LIKE 'E_%'``, each with ``priority``
  and ``context``, and the pattern ``multi`` ``exten LIKE '\\_%'``;

then the change visibility: ``--writes`` paced modifies (20 ms apart) on a second ldap3
connection, each followed by ``Realtime.single`` polls until the new value shows (µs from
the write's acknowledgement: p50/p99/max), and as many own writes (``update2``) each read
back at once (stale reads counted).  Ratios of the largest to the smallest size at the end
(targets: ≤ 2× for single and prefix multi; RSS ≤ 2 KB per entry + 100 MB).
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ldap3

from ara_ldap.backends.ldap.backend import LdapBackend
from ara_ldap.backends.ldap.cache import DirectoryCache
from ara_ldap.backends.ldap.mapping import FamilyMap
from ara_ldap.bootstrap import open_realtime
from ara_ldap.config import LdapFamily, load_settings
from ara_ldap.realtime import Realtime
from ara_ldap.testing.ldap import ldap_settings
from ara_ldap.testing.slapd import Slapd, asterisk_slapd, find_fixture_ldifs, ldif_line

SUFFIX = "dc=example,dc=org"
SIP = f"ou=sip,ou=asterisk,{SUFFIX}"
EXT = f"ou=extensions,ou=asterisk,{SUFFIX}"
TRUNKS = f"ou=trunks,ou=pjsip,{SUFFIX}"
FAMILIES = ["sippeers", "extensions", "ps_endpoint_id_ips"]
IDENTIFY_ROWS = 1000
CONTEXTS = 100


def _entry(dn: str, classes: list[str], attrs: dict[str, str | list[str]]) -> str:
    lines = [ldif_line("dn", dn), *(f"objectClass: {c}" for c in classes)]
    for attr, value in attrs.items():
        for v in [value] if isinstance(value, str) else value:
            lines.append(ldif_line(attr, v))
    return "\n".join(lines) + "\n\n"


def sippeers_map() -> FamilyMap:
    backend = {"type": "ldap", "urls": ["ldap://127.0.0.1:389"], "base_dn": SUFFIX}
    spec = load_settings({"backends": {"d": backend}}).backends["d"].families["sippeers"]
    assert isinstance(spec, LdapFamily)
    return FamilyMap("sippeers", spec)


def peers(n: int) -> Iterator[str]:
    """bench/replica.py's sippeers shape (about 20 attributes), named u000000..."""
    attr = sippeers_map().attribute
    for i in range(n):
        name, ip = f"u{i:06d}", f"192.0.2.{i % 250 + 1}"
        fields: dict[str, str | list[str]] = {
            "host": "dynamic", "type": "friend", "context": "from-internal",
            "secret": f"s{i:08x}", "transport": "udp", "dtmfmode": "rfc2833",
            "nat": "force_rport,comedia", "disallow": "all", "allow": ["ulaw", "alaw", "g722"],
            "callerid": f'"Peer {i}" <{2000 + i}>', "mailbox": f"{2000 + i}@default",
            "qualify": "yes", "ipaddr": ip, "port": "5060", "regseconds": str(1767225600 + i),
            "useragent": f"ExamplePhone/{i % 7}.0",
            "fullcontact": f"sip:{name}@{ip}:5060;transport=udp",
        }  # fmt: skip
        attrs: dict[str, str | list[str]] = {"cn": name}
        attrs.update({attr(f): v for f, v in fields.items()})
        yield _entry(f"cn={name},{SIP}", ["top", "device", "AsteriskSIPUser"], attrs)


def extensions(rows: int) -> Iterator[str]:
    """``rows`` literal rows (extension E in context c(E % 100), priorities 1 and 2),
    plus 3 pattern rows per context."""
    classes = ["top", "AsteriskDialplan", "AsteriskExtension"]
    for i in range(rows // 2):
        exten, context = str(100000 + i), f"c{i % CONTEXTS:03d}"
        for prio, app in ((1, "Answer"), (2, "Dial")):
            yield _entry(
                f"cn={exten}@{context}/{prio},{EXT}",
                classes,
                {"cn": f"{exten}@{context}/{prio}", "AstContext": context,
                 "AstExtension": exten, "AstPriority": str(prio), "AstApplication": app,
                 "AstApplicationData": f"PJSIP/{exten}"},
            )  # fmt: skip
    for c in range(CONTEXTS):
        for k, pattern in enumerate(("_9XXX.", "_1NXXNXXXXXX", "_X.")):
            context = f"c{c:03d}"
            yield _entry(
                f"cn=p{k}@{context}/1,{EXT}",
                classes,
                {"cn": f"p{k}@{context}/1", "AstContext": context, "AstExtension": pattern,
                 "AstPriority": "1", "AstApplication": "Dial"},
            )  # fmt: skip


def identify(n: int) -> Iterator[str]:
    for i in range(n):
        yield _entry(
            f"astIdentifyId=idf{i:04d},{TRUNKS}",
            ["top", "astPsObject", "astPsIdentify"],
            {"cn": f"idf{i:04d}", "astIdentifyId": f"idf{i:04d}",
             "astIdentifyEndpoint": f"trunk{i:04d}",
             "astIdentifyMatch": [f"198.51.{i // 250}.{i % 250 + 1}"]},
        )  # fmt: skip


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def per_call(fn: Callable[[], object], seconds: float) -> tuple[float, float]:
    """``(CPU µs, wall µs)`` per call of ``fn`` over about ``seconds`` (at least 20
    calls).  CPU is this thread's (time.thread_time): on a shared, loaded machine wall
    time mostly measures the other processes."""
    calls, t0, c0 = 0, time.perf_counter(), time.thread_time()
    while True:
        for _ in range(20):
            fn()
        calls += 20
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return (time.thread_time() - c0) / calls * 1e6, elapsed / calls * 1e6


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cache_of(rt: Realtime) -> DirectoryCache:
    backend = rt.backends["directory"]
    assert isinstance(backend, LdapBackend) and isinstance(backend.cache, DirectoryCache)
    return backend.cache


def load(n: int, ext_rows: int, workdir: Path) -> Slapd:
    t0 = time.perf_counter()
    data = workdir / "data.ldif"
    with data.open("w", encoding="utf-8") as out:
        for fixture in find_fixture_ldifs():
            if fixture.name.startswith(("00-", "60-")):  # the containers (and PJSIP ones)
                out.write(fixture.read_text(encoding="utf-8").rstrip() + "\n\n")
        for chunk in (peers(n), extensions(ext_rows), identify(IDENTIFY_ROWS)):
            out.writelines(chunk)
    slapd = asterisk_slapd(suffix=SUFFIX)
    slapd.slapadd(data)
    slapd.start()
    print(f"  loaded {n} peers + {ext_rows} extension rows + {IDENTIFY_ROWS} identify rows "
          f"(slapadd) in {time.perf_counter() - t0:.1f} s")  # fmt: skip
    return slapd


def sweep(n: int, args: argparse.Namespace) -> dict[str, float]:
    ext_rows = args.ext_rows if args.ext_rows is not None else n
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="ara-scale-") as tmp:
        slapd = load(n, ext_rows, Path(tmp))
        try:
            out.update(measure(slapd, n, ext_rows, args))
        finally:
            slapd.close()
    return out


def measure(slapd: Slapd, n: int, ext_rows: int, args: argparse.Namespace) -> dict[str, float]:
    out: dict[str, float] = {}
    options: dict[str, Any] = {"enabled": True, "probe_interval": 0.25, "families": FAMILIES}
    if args.restart:
        options["state_dir"] = str(slapd.workdir / "cache-state")
    settings = ldap_settings(slapd, cache=options)
    gc.collect()
    if args.traced:
        tracemalloc.start()
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    rt = open_realtime(settings)
    try:
        cache = cache_of(rt)
        deadline = time.monotonic() + 600
        while not all(cache.live(f) for f in FAMILIES):
            if time.monotonic() > deadline:
                raise SystemExit(f"cache not live: {[cache.state(f) for f in FAMILIES]}")
            time.sleep(0.01)
        refresh = time.perf_counter() - t0
        gc.collect()
        rss1 = rss_bytes()
        entries = sum(k for k, _ in cache.memory().values())
        out["rss_per_entry"] = (rss1 - rss0) / entries
        print(f"  cache live in {refresh:.1f} s: {entries} entries; RSS {rss0 / 2**20:.0f} → "
              f"{rss1 / 2**20:.0f} MB = {out['rss_per_entry']:.0f} B/entry; own estimate "
              f"{cache.bytes_per_entry():.0f} B/entry")  # fmt: skip
        if args.traced:
            current, _ = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"  tracemalloc: {current / entries:.0f} B/entry (Python allocations)")
        out.update(queries(rt, n, ext_rows, args.seconds))
        out.update(visibility(rt, slapd, n, args.writes))
    finally:
        t1 = time.perf_counter()
        rt.close()
    if args.restart:
        print(f"  close (saves the state): {time.perf_counter() - t1:.2f} s")
        restart(settings)
    return out


def restart(settings: Any) -> None:
    """Open again with the saved state: time until every family is live again."""
    t0 = time.perf_counter()
    rt = open_realtime(settings)
    try:
        cache = cache_of(rt)
        while not all(cache.live(f) for f in FAMILIES):
            time.sleep(0.01)
        took = time.perf_counter() - t0
        for f in FAMILIES:
            st = cache.stats(f)
            print(f"  restart {f}: {st['loaded']:.0f} loaded, {st['refresh_entries']:.0f} sent "
                  f"in the refresh, full refreshes {st['full_refreshes']:.0f}")  # fmt: skip
        print(f"  restart with the saved state: live in {took:.2f} s")
    finally:
        rt.close()


def queries(rt: Realtime, n: int, ext_rows: int, seconds: float) -> dict[str, float]:
    rng = random.Random(8)
    names = [f"u{rng.randrange(n):06d}" for _ in range(4096)]
    prefixes = [f"u{rng.randrange(n // 10):05d}%" for _ in range(4096)]
    exts = [rng.randrange(max(1, ext_rows // 2)) for _ in range(4096)]
    ext_q = [(str(100000 + i), f"c{i % CONTEXTS:03d}") for i in exts]
    it = iter(range(1 << 62))

    def pick(seq: list[Any]) -> Any:
        return seq[next(it) & 4095]

    assert rt.single("sippeers", {"name": names[0]}) is not None
    assert len(rt.multi("sippeers", {"name LIKE": prefixes[0]})) == 10
    assert len(rt.multi("ps_endpoint_id_ips", {"id LIKE": "%"})) >= IDENTIFY_ROWS
    e, c = ext_q[0]
    assert rt.single("extensions", {"exten": e, "priority": "1", "context": c}) is not None
    shapes: dict[str, Callable[[], object]] = {
        "single name": lambda: rt.single("sippeers", {"name": pick(names)}),
        "multi name LIKE prefix% (10)": lambda: rt.multi("sippeers", {"name LIKE": pick(prefixes)}),
        "pjsip id LIKE % (1k rows)": lambda: rt.multi("ps_endpoint_id_ips", {"id LIKE": "%"}),
        "switch exists": lambda: _ext(rt, pick(ext_q), "exten", "{}"),
        "switch canmatch": lambda: _ext(rt, pick(ext_q), "exten LIKE", "{}%"),
        "switch matchmore": lambda: _ext(rt, pick(ext_q), "exten LIKE", "{}_%"),
        "switch patterns multi": lambda: rt.multi(
            "extensions",
            {"exten LIKE": "\\_%", "priority": "1", "context": pick(ext_q)[1]},
        ),
    }
    cache = cache_of(rt)
    search = cache.search
    counts = {"hit": 0, "miss": 0}

    def counted(fmap: Any, criteria: Any) -> Any:
        found = search(fmap, criteria)
        counts["hit" if found is not None else "miss"] += 1
        return found

    cache.search = counted  # type: ignore[method-assign]
    out = {}
    try:
        for label, fn in shapes.items():
            counts.update(hit=0, miss=0)
            out[label], wall = per_call(fn, seconds)
            share = counts["hit"] / max(1, counts["hit"] + counts["miss"])
            print(f"  {label:<32} {out[label]:9.1f} µs CPU {wall:9.1f} µs wall "
                  f"({share:.0%} from memory)")  # fmt: skip
    finally:
        del cache.search
    return out


def _ext(rt: Realtime, q: tuple[str, str], key: str, fmt: str) -> object:
    exten, context = q
    return rt.single("extensions", {key: fmt.format(exten), "priority": "1", "context": context})


def _lags(
    rt: Realtime, conn: ldap3.Connection, n: int, writes: int, pause: float, tag: str
) -> tuple[list[float], int]:
    """Milliseconds from a directory modify's answer until ``rt.single`` sees it, reading
    back to back (``pause`` 0) or with ``pause`` seconds between reads."""
    lags: list[float] = []
    timeouts = 0
    for k in range(writes):
        name = f"u{(k * 7919) % n:06d}"
        value = f"{tag}-{k}"
        ok = conn.modify(
            f"cn={name},{SIP}", {"AstAccountCallerID": [(ldap3.MODIFY_REPLACE, [value])]}
        )
        t0 = time.perf_counter()
        assert ok, conn.result
        while True:
            rec = rt.single("sippeers", {"name": name})
            if rec is not None and rec.get("callerid") == value:
                lags.append((time.perf_counter() - t0) * 1e3)
                break
            if time.perf_counter() - t0 > 1.0:
                timeouts += 1
                break
            if pause:
                time.sleep(pause)
        time.sleep(0.02)
    return lags, timeouts


def visibility(rt: Realtime, slapd: Slapd, n: int, writes: int) -> dict[str, float]:
    """Two readers: back-to-back reads hold the GIL, so the stream's receiver thread
    waits for Python's switch interval (5 ms) before it may apply the change -- a reader
    saturating the process sees that; reads 0.2 ms apart (an event loop between
    requests, waiting in epoll without the GIL) show the replication lag itself."""
    conn = ldap3.Connection(
        slapd.url.rstrip("/"), slapd.admin_dn, slapd.admin_password, auto_bind=True
    )
    p99 = float("nan")
    try:
        for label, pause in (("back-to-back reads", 0.0), ("reads 0.2 ms apart", 0.0002)):
            lags, timeouts = _lags(rt, conn, n, writes, pause, label[:4])
            p50, p99 = pct(lags, 0.5), pct(lags, 0.99)
            mx = max(lags) if lags else float("nan")
            print(
                f"  external change visible, {label}: p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
                f"max {mx:.2f} ms ({len(lags)} writes, {timeouts} not seen within 1 s)"
            )
    finally:
        conn.unbind()
    stale = 0
    for k in range(writes):
        name = f"u{(k * 104729) % n:06d}"
        value = f"own-{k}"
        rt.update2("sippeers", {"name": name}, {"callerid": value})
        rec = rt.single("sippeers", {"name": name})
        stale += rec is None or rec.get("callerid") != value
    cached = cache_of(rt).live("sippeers")
    print(f"  own writes read back: {stale} stale of {writes} (cache live after: {cached})")
    return {"visible_p99_ms": p99, "stale": float(stale)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--ext-rows", type=int, default=None)
    parser.add_argument("--traced", action="store_true")
    parser.add_argument("--restart", action="store_true", help="also time a restart from state_dir")
    args = parser.parse_args()
    results: dict[int, dict[str, float]] = {}
    for n in args.sizes:
        print(f"N = {n}")
        results[n] = sweep(n, args)
    if len(results) > 1:
        small, large = min(results), max(results)
        print(f"ratios {large} / {small}:")
        for label in results[small]:
            if label in ("visible_p99_ms", "stale", "rss_per_entry"):
                continue
            ratio = results[large][label] / results[small][label]
            print(f"  {label:<32} {ratio:5.2f}×")


if __name__ == "__main__":
    main()
