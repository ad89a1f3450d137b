"""Cost per search and bytes per entry of the in-memory replica (no slapd: pure Python).

    .venv/bin/python bench/replica.py [--sizes 1000 10000 100000] [--seconds 0.3] [--traced]

For each family size: microseconds per ``FamilyReplica.search`` for the hot query shapes
(single by name, ``LIKE 'prefix%'`` multi returning 10, numeric ``<=`` returning 10, a
``%x%`` scan), the one-off cost of the lazy index builds, and the store's bytes per entry
(its own estimate; ``--traced`` adds what tracemalloc sees).  Then the largest/smallest
ratios: the target is <= 2x for the first three shapes at 100k vs 1k.  Not a test.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import random
import time
import tracemalloc
from collections.abc import Callable

from ara_ldap.backends.ldap.mapping import FamilyMap
from ara_ldap.backends.ldap.replica import FamilyReplica
from ara_ldap.config import LdapFamily, load_settings
from ara_ldap.criteria import Criterion, parse_criteria

BASE_DN = "dc=example,dc=org"


def sippeers_map() -> FamilyMap:
    backend = {"type": "ldap", "urls": ["ldap://127.0.0.1:389"], "base_dn": BASE_DN}
    spec = load_settings({"backends": {"d": backend}}).backends["d"].families["sippeers"]
    assert isinstance(spec, LdapFamily)
    return FamilyMap("sippeers", spec)


def peer(fmap: FamilyMap, i: int) -> dict[str, list[bytes]]:
    """A sippeers entry shaped like bench/lookup.py's (about 20 attributes)."""
    name = f"peer{i:06d}"
    ip = f"192.0.2.{i % 250 + 1}"
    fields: dict[str, str | list[str]] = {
        "name": name, "host": "dynamic", "type": "friend", "context": "from-internal",
        "secret": f"s{i:08x}", "transport": "udp", "dtmfmode": "rfc2833",
        "nat": "force_rport,comedia", "disallow": "all", "allow": ["ulaw", "alaw", "g722"],
        "callerid": f'"Peer {i}" <{2000 + i}>', "mailbox": f"{2000 + i}@default",
        "qualify": "yes", "ipaddr": ip, "port": "5060", "regseconds": str(1767225600 + i),
        "useragent": f"ExamplePhone/{i % 7}.0",
        "fullcontact": f"sip:{name}@{ip}:5060;transport=udp",
    }  # fmt: skip
    raw = {"objectClass": [b"top", b"device", b"AsteriskSIPUser"]}
    for fld, value in fields.items():
        values = [value] if isinstance(value, str) else value
        raw[fmap.attribute(fld)] = [v.encode() for v in values]
    return raw


def per_call(fn: Callable[[], object], seconds: float) -> float:
    """Microseconds per call of ``fn``, over at least ``seconds`` (and 3 calls)."""
    calls = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while True:
        for _ in range(10):
            fn()
        calls += 10
        now = time.perf_counter()
        if now >= deadline and calls >= 3:
            return (now - t0) / calls * 1e6


def shapes(size: int, rng: random.Random) -> dict[str, list[list[Criterion]]]:
    picks = [rng.randrange(size) for _ in range(64)]
    return {
        "single name=": [parse_criteria([("name", f"peer{i:06d}")]) for i in picks],
        "multi LIKE 'p%' (10)": [
            parse_criteria([("name LIKE", f"peer{i // 10:05d}%")]) for i in picks
        ],
        "regseconds <= (10)": [
            parse_criteria([("regseconds <=", str(1767225600 + 9))]) for _ in picks[:1]
        ],
        "scan LIKE '%x%'": [parse_criteria([("name LIKE", "%999%")])],
    }


def run(size: int, seconds: float, traced: bool) -> dict[str, float]:
    fmap = sippeers_map()
    entries = [
        (i.to_bytes(16, "big"), f"cn=peer{i:06d},ou=sip,ou=asterisk,{BASE_DN}", peer(fmap, i))
        for i in range(size)
    ]
    gc.collect()
    if traced:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0] if traced else 0
    replica = FamilyReplica(fmap)
    t0 = time.perf_counter()
    for uuid, dn, raw in entries:
        replica.upsert(uuid, dn, raw)
    load_us = (time.perf_counter() - t0) / size * 1e6
    rng = random.Random(size)
    queries = shapes(size, rng)
    build: dict[str, float] = {}
    for label, batch in queries.items():  # first query of each shape builds its index
        t0 = time.perf_counter()
        replica.search(batch[0])
        build[label] = (time.perf_counter() - t0) * 1e3
    traced_bytes = 0.0
    if traced:
        gc.collect()
        traced_bytes = (tracemalloc.get_traced_memory()[0] - before) / size
        tracemalloc.stop()
    out: dict[str, float] = {}
    print(f"\n{size:>7} entries: upsert {load_us:.1f} us/entry (with no index yet)")
    for label, batch in queries.items():
        cycle = itertools.cycle(batch)
        hits = len(replica.search(batch[0]))
        us = per_call(lambda c=cycle: replica.search(next(c)), seconds)  # type: ignore[misc]
        out[label] = us
        print(
            f"  {label:<22} {us:10.2f} us/search  ({hits} found; "
            f"first call with index build {build[label]:.1f} ms)"
        )
    lock = replica._lock

    def locked() -> None:
        with lock:
            pass

    print(f"  {'lock enter+exit':<22} {per_call(locked, seconds):10.2f} us (part of each search)")
    est = replica.memory_bytes() / size
    line = f"  bytes/entry (estimate, records + indexes): {est:.0f}"
    if traced:
        line += f"; tracemalloc: {traced_bytes:.0f}"
    print(line)
    out["bytes/entry"] = est
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--seconds", type=float, default=0.3)
    parser.add_argument("--traced", action="store_true", help="also measure with tracemalloc")
    args = parser.parse_args()
    results = {size: run(size, args.seconds, args.traced) for size in args.sizes}
    small, large = min(results), max(results)
    print(f"\nratios {large}/{small} (target <= 2 for the first three):")
    for label in results[small]:
        print(f"  {label:<22} {results[large][label] / results[small][label]:6.2f}x")


if __name__ == "__main__":
    main()
