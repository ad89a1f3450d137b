"""Single lookups by name: ara-ldap's LDAP backend vs raw ldap3 (and python-ldap) searches
on the same throwaway slapd, in the same run, interleaved in rounds.

    .venv/bin/python bench/lookup.py [--peers 10000] [--seconds 3] [--rounds 3]

Prints lookups/s, p50/p99 latency per client and the ratios to raw ldap3 (the target for
the backend is >= 0.9x: it should add under 10 % over ldap3 itself), and the process RSS
with the directory loaded.  Not a test: numbers are noisy on a shared machine, only the
same-run ratios mean something.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import ldap3

from ara_ldap.bootstrap import open_realtime
from ara_ldap.testing.ldap import ldap_settings
from ara_ldap.testing.slapd import Slapd, find_fixture_ldifs, find_schema_ldif

SIP_BASE = "ou=sip,ou=asterisk,{suffix}"


def peers_ldif(count: int, suffix: str) -> str:
    """``count`` realistic SIP peers (about 20 attributes, 3 ordered codecs each)."""
    base = SIP_BASE.format(suffix=suffix)
    out = []
    for i in range(count):
        name = f"peer{i:05d}"
        out.append(
            f"dn: cn={name},{base}\n"
            "objectClass: top\nobjectClass: device\nobjectClass: AsteriskSIPUser\n"
            "objectClass: AraSIPUser\n"
            f"cn: {name}\nAstAccountHost: dynamic\nAstAccountType: friend\n"
            "AstAccountContext: from-internal\n"
            f"AstAccountSecret: s{i:08x}\nAstAccountTransport: udp\n"
            "AstAccountDTMFMode: rfc2833\nAstAccountNAT: force_rport,comedia\n"
            "AstAccountDisallowedCodec: all\n"
            "AstAccountAllowedCodec: ulaw\nAstAccountAllowedCodec: alaw\n"
            "AstAccountAllowedCodec: g722\n"
            f'AstAccountCallerID: "Peer {i}" <{2000 + i}>\n'
            f"AstAccountMailbox: {2000 + i}@default\nAstAccountQualify: yes\n"
            f"AstAccountIPAddress: 192.0.2.{i % 250 + 1}\nAstAccountPort: 5060\n"
            f"AstAccountExpirationTimestamp: {1767225600 + i}\n"
            f"AstAccountUserAgent: ExamplePhone/{i % 7}.0\n"
            f"AstAccountFullContact: sip:{name}@192.0.2.{i % 250 + 1}:5060;transport=udp\n\n"
        )
    return "".join(out)


def load_peers(slapd: Slapd, count: int, workdir: Path) -> float:
    """The base tree and ``count`` peers, loaded with ldapadd; returns the seconds it took."""
    slapd.ldapadd(*find_fixture_ldifs()[:1])
    ldif = workdir / "peers.ldif"
    ldif.write_text(peers_ldif(count, slapd.suffix))
    t0 = time.perf_counter()
    slapd.ldapadd(ldif)
    return time.perf_counter() - t0


def raw_ldap3(slapd: Slapd, **options: object) -> ldap3.Connection:
    """A plain ldap3 connection to ``slapd`` (the benches' reference client)."""
    server = ldap3.Server(slapd.url.rstrip("/"), get_info=ldap3.NONE)
    return ldap3.Connection(  # type: ignore[arg-type]
        server, slapd.admin_dn, slapd.admin_password, auto_bind=True, **options
    )


#: The connection options ara-ldap's pool uses, for a like-for-like raw client.
POOL_OPTIONS: dict[str, object] = {
    "check_names": False,
    "auto_escape": False,
    "return_empty_attributes": False,
    "auto_referrals": False,
}


def timed_loop(call: Callable[[str], object], names: list[str], seconds: float) -> list[float]:
    """Run lookups of random names for ``seconds``; latencies in seconds."""
    rng = random.Random(7)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    while True:
        name = rng.choice(names)
        t0 = time.perf_counter()
        call(name)
        t1 = time.perf_counter()
        latencies.append(t1 - t0)
        if t1 >= deadline:
            return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=3.0, help="per client per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="ara-bench-"))
    with Slapd(schema_ldifs=[find_schema_ldif()], workdir=workdir / "d") as slapd:
        seconds = load_peers(slapd, args.peers, workdir)
        print(f"loaded {args.peers} peers with ldapadd in {seconds:.1f} s (slapd {slapd.url})")
        names = [f"peer{i:05d}" for i in range(args.peers)]
        base = SIP_BASE.format(suffix=slapd.suffix)

        rt = open_realtime(ldap_settings(slapd, pool_size=1))
        assert rt.single("sippeers", {"name": names[0]}) is not None

        def ours(name: str) -> object:
            return rt.single("sippeers", {"name": name})

        same_options = raw_ldap3(slapd, **POOL_OPTIONS)
        defaults = raw_ldap3(slapd)

        def raw(conn: ldap3.Connection) -> Callable[[str], object]:
            def call(name: str) -> object:
                conn.search(
                    base,
                    f"(&(objectClass=AsteriskSIPUser)(cn={name}))",
                    attributes=[ldap3.ALL_ATTRIBUTES],
                    dereference_aliases=ldap3.DEREF_NEVER,
                )
                response = conn.response
                assert response and len(response) == 1
                return response

            return call

        clients: dict[str, Callable[[str], object]] = {
            "ara-ldap single": ours,
            "raw ldap3 (same options)": raw(same_options),
            "raw ldap3 (defaults)": raw(defaults),
        }
        try:
            import ldap as pyldap  # type: ignore[import-not-found]

            lconn = pyldap.initialize(slapd.url)
            lconn.simple_bind_s(slapd.admin_dn, slapd.admin_password)

            def pyldap_call(name: str) -> object:
                return lconn.search_ext_s(
                    base, pyldap.SCOPE_SUBTREE, f"(&(objectClass=AsteriskSIPUser)(cn={name}))"
                )

            clients["python-ldap"] = pyldap_call
        except ImportError:
            print("python-ldap not installed: skipping it (pip install python-ldap)")

        results: dict[str, list[list[float]]] = {k: [] for k in clients}
        for _ in range(args.rounds):
            for label, call in clients.items():
                results[label].append(timed_loop(call, names, args.seconds))

        def rate(label: str) -> float:
            return statistics.median(len(r) / sum(r) for r in results[label])

        reference = rate("raw ldap3 (same options)")
        print(f"\n{'client':28} {'lookups/s':>10} {'p50 µs':>8} {'p99 µs':>8} {'vs raw ldap3':>13}")
        for label in clients:
            lat = [x for r in results[label] for x in r]
            print(
                f"{label:28} {rate(label):10.0f} {percentile(lat, 0.5) * 1e6:8.0f} "
                f"{percentile(lat, 0.99) * 1e6:8.0f} {rate(label) / reference:13.2f}"
            )
        ratio = rate("ara-ldap single") / reference
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\nara-ldap single / raw ldap3: {ratio:.2f} (target >= 0.90)")
        print(
            f"client max RSS: {rss_mb:.0f} MB (target < 150 MB; directory of {args.peers} entries)"
        )
        rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
