"""The LDAP fast path side by side with ldap3 (and python-ldap) on one throwaway slapd.

    .venv/bin/python bench/fastpath.py [--peers 2000] [--seconds 2] [--rounds 3]

Clients, one connection each, closed loop, interleaved in rounds, two query shapes
(equality on the name: 1 entry; ``name LIKE 'peerNNN%'``: 10 entries):

- ``plain ldap3``: ``conn.search()`` with the pool's connection options (the reference);
- ``seam ldap3`` / ``seam fast``: ``LdapBackend._directory_search`` (the uncached read
  seam: filter components, the pool, the search) with ``fast_path`` off / on;
- ``single ldap3`` / ``single fast``: the whole ``Realtime`` read (records, SQL checks);
- ``python-ldap``: the C library's client as the yardstick, when importable (for the
  benchmark only: ``apt-get install libldap2-dev libsasl2-dev``, then
  ``.venv/bin/pip install python-ldap``; not a dependency of ara-ldap).

Prints searches/s, client CPU µs per search (``time.process_time``, this process only:
the client's cost, slapd's is not in it) and both ratios to plain ldap3.  Not a test:
only the same-run ratios mean something on a shared machine.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import ldap3
from lookup import POOL_OPTIONS, SIP_BASE, load_peers, raw_ldap3

from ara_ldap.backends.ldap.backend import LdapBackend
from ara_ldap.bootstrap import open_realtime
from ara_ldap.criteria import Criterion, Operator
from ara_ldap.realtime import Realtime
from ara_ldap.testing.ldap import ldap_settings
from ara_ldap.testing.slapd import Slapd, find_schema_ldif

Call = Callable[[str], int]


def timed(call: Call, keys: list[str], seconds: float) -> tuple[float, float]:
    """``(searches/s, client CPU µs per search)`` of a closed loop over random keys."""
    rng = random.Random(11)
    n = 0
    wall0, cpu0 = time.perf_counter(), time.process_time()
    deadline = wall0 + seconds
    while True:
        for _ in range(50):
            call(rng.choice(keys))
        n += 50
        now = time.perf_counter()
        if now >= deadline:
            break
    cpu = time.process_time() - cpu0
    return n / (now - wall0), cpu / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=2.0, help="per client per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="ara-bench-fast-"))
    with Slapd(schema_ldifs=[find_schema_ldif()], workdir=workdir / "d") as slapd:
        load_peers(slapd, args.peers, workdir)
        base = SIP_BASE.format(suffix=slapd.suffix)
        print(f"{args.peers} peers in slapd {slapd.url}; {args.seconds} s x {args.rounds} rounds")

        fast_rt = open_realtime(ldap_settings(slapd, pool_size=1, fast_path=True))
        slow_rt = open_realtime(ldap_settings(slapd, pool_size=1, fast_path=False))
        fast_be, slow_be = fast_rt.backends["directory"], slow_rt.backends["directory"]
        assert isinstance(fast_be, LdapBackend) and isinstance(slow_be, LdapBackend)
        fmap = fast_be.family_map("sippeers")
        plain = raw_ldap3(slapd, **POOL_OPTIONS)

        shapes: dict[str, tuple[list[str], Operator, str, str]] = {
            # label: keys, operator, criterion value format, ldap3 filter format
            "name = x": (
                [f"peer{i:05d}" for i in range(args.peers)],
                Operator.EQ,
                "{}",
                "(&(objectClass=AsteriskSIPUser)(cn={}))",
            ),
            "name LIKE 'x%'": (
                [f"peer{i:04d}" for i in range(args.peers // 10)],
                Operator.LIKE,
                "{}%",
                "(&(objectClass=AsteriskSIPUser)(cn={}*))",
            ),
        }
        expected = {"name = x": 1, "name LIKE 'x%'": 10}

        try:
            import ldap as pyldap  # type: ignore[import-not-found]

            lconn = pyldap.initialize(slapd.url)
            lconn.simple_bind_s(slapd.admin_dn, slapd.admin_password)
        except ImportError:
            pyldap = None
            print("python-ldap not importable: no yardstick (pip install python-ldap)")

        for shape, (keys, op, value_fmt, filter_fmt) in shapes.items():
            want = expected[shape]

            def plain_call(key: str, filter_fmt: str = filter_fmt) -> int:
                plain.search(
                    base,
                    filter_fmt.format(key),
                    attributes=[ldap3.ALL_ATTRIBUTES],
                    dereference_aliases=ldap3.DEREF_NEVER,
                )
                return len(plain.response or [])

            def seam(backend: LdapBackend, op: Operator = op, fmt: str = value_fmt) -> Call:
                def seam_call(key: str) -> int:
                    criteria = [Criterion("name", op, fmt.format(key))]
                    return len(backend._directory_search(fmap, criteria))

                return seam_call

            def whole(rt: Realtime, op: Operator = op, fmt: str = value_fmt) -> Call:
                field = "name" if op is Operator.EQ else "name LIKE"

                def whole_call(key: str) -> int:
                    return len(rt.multi("sippeers", {field: fmt.format(key)}))

                return whole_call

            clients: dict[str, Call] = {
                "plain ldap3": plain_call,
                "seam ldap3": seam(slow_be),
                "seam fast": seam(fast_be),
                "single ldap3": whole(slow_rt),
                "single fast": whole(fast_rt),
            }
            if pyldap is not None:

                def pyldap_call(key: str, filter_fmt: str = filter_fmt) -> int:
                    return len(
                        lconn.search_ext_s(base, pyldap.SCOPE_SUBTREE, filter_fmt.format(key))
                    )

                clients["python-ldap"] = pyldap_call
            for label, call in clients.items():
                got = call(keys[3])
                assert got == want, f"{label}: {got} results, expected {want}"

            runs: dict[str, list[tuple[float, float]]] = {k: [] for k in clients}
            for _ in range(args.rounds):
                for label, call in clients.items():
                    runs[label].append(timed(call, keys, args.seconds))
            rate = {k: statistics.median(r for r, _ in v) for k, v in runs.items()}
            cpu = {k: statistics.median(c for _, c in v) for k, v in runs.items()}
            ref = "plain ldap3"
            print(f"\n{shape} ({want} entr{'y' if want == 1 else 'ies'} per search)")
            print(
                f"{'client':14} {'searches/s':>10} {'x plain':>8} {'CPU µs/search':>14} "
                f"{'plain/this CPU':>15}"
            )
            for label in clients:
                print(
                    f"{label:14} {rate[label]:10.0f} {rate[label] / rate[ref]:8.2f} "
                    f"{cpu[label]:14.1f} {cpu[ref] / cpu[label]:15.2f}"
                )
        fp = fast_be.fast_path
        assert fp is not None
        print(f"\nfast path: {fp.served} searches served, {fp.declined} given to ldap3")
        fast_rt.close()
        slow_rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
