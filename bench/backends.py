"""The same single and multi lookups on 10,000 peers through the LDAP and the SQL backends,
next to raw driver queries of the same rows, in one run.

    .venv/bin/python bench/backends.py [--peers 10000] [--seconds 2] [--rounds 3]

Clients, each on one connection, interleaved in rounds (the same-run ratios are what
matter; absolute rates move with the machine's load):

* ``ldap``: ara-ldap's LDAP backend on a throwaway slapd (``Realtime.single`` / ``multi``);
* ``raw ldap3``: the same search with ldap3 directly;
* ``sqlite``: ara-ldap's SQL backend on a SQLite file, and ``raw sqlite3`` with the
  stdlib driver (``SELECT * FROM sippeers WHERE name = ?``);
* ``postgresql`` and ``raw psycopg`` when PostgreSQL answers on 127.0.0.1:5432 (a scratch
  schema is created and dropped).  Target: the SQL backend >= 0.7x raw psycopg.

``single`` looks a random peer up by name; ``multi`` fetches ``name LIKE 'peerNNN%'`` (100
rows).  Not a test.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ldap3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lookup import POOL_OPTIONS, SIP_BASE, load_peers, percentile, raw_ldap3, timed_loop

from ara_ldap.bootstrap import open_realtime
from ara_ldap.config import load_settings
from ara_ldap.testing.ldap import ldap_settings
from ara_ldap.testing.slapd import Slapd, find_schema_ldif

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def peer_rows(count: int) -> list[dict[str, object]]:
    """The same peers as ``peers_ldif``, as sippeers rows (multi-values ``;``-joined)."""
    rows = []
    for i in range(count):
        name = f"peer{i:05d}"
        rows.append(
            {
                "name": name,
                "host": "dynamic",
                "type": "friend",
                "context": "from-internal",
                "secret": f"s{i:08x}",
                "transport": "udp",
                "dtmfmode": "rfc2833",
                "nat": "force_rport,comedia",
                "disallow": "all",
                "allow": "ulaw;alaw;g722",
                "callerid": f'"Peer {i}" <{2000 + i}>',
                "mailbox": f"{2000 + i}@default",
                "qualify": "yes",
                "ipaddr": f"192.0.2.{i % 250 + 1}",
                "port": 5060,
                "regseconds": 1767225600 + i,
                "useragent": f"ExamplePhone/{i % 7}.0",
                "fullcontact": f"sip:{name}@192.0.2.{i % 250 + 1}:5060;transport=udp",
            }
        )
    return rows


def load_sql(url: str, schema: str | None, rows: list[dict[str, object]]) -> None:
    import sqlalchemy as sa

    from ara_ldap.backends.sql.tables import init_schema, standard_metadata

    engine = sa.create_engine(url)
    init_schema(engine, schema)
    table = standard_metadata(schema).tables[f"{schema}.sippeers" if schema else "sippeers"]
    with engine.begin() as conn:
        conn.execute(sa.insert(table), rows)
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    names = [f"peer{i:05d}" for i in range(args.peers)]
    prefixes = [f"peer{i:03d}" for i in range(args.peers // 10)]
    rows = peer_rows(args.peers)
    tmp = Path(tempfile.mkdtemp(prefix="ara-bench-"))
    clients: dict[str, dict[str, Callable[[str], object]]] = {"single": {}, "multi": {}}
    cleanups: list[Callable[[], None]] = []

    slapd = Slapd(schema_ldifs=[find_schema_ldif()], workdir=tmp / "d")
    slapd.start()
    cleanups.append(slapd.close)
    load_peers(slapd, args.peers, tmp)
    ldap_rt = open_realtime(ldap_settings(slapd, pool_size=1))
    cleanups.append(ldap_rt.close)
    base = SIP_BASE.format(suffix=slapd.suffix)
    raw = raw_ldap3(slapd, **POOL_OPTIONS)

    def raw_ldap(flt: str) -> Callable[[str], object]:
        def call(key: str) -> object:
            raw.search(base, flt.format(key), attributes=[ldap3.ALL_ATTRIBUTES])
            return raw.response

        return call

    clients["single"]["ldap"] = lambda k: ldap_rt.single("sippeers", {"name": k})
    clients["single"]["raw ldap3"] = raw_ldap("(&(objectClass=AsteriskSIPUser)(cn={}))")
    clients["multi"]["ldap"] = lambda k: ldap_rt.multi("sippeers", {"name LIKE": k + "%"})
    clients["multi"]["raw ldap3"] = raw_ldap("(&(objectClass=AsteriskSIPUser)(cn={}*))")

    db = tmp / "rt.db"
    load_sql(f"sqlite:///{db}", None, rows)
    sqlite_rt = open_realtime(
        load_settings({"backends": {"s": {"type": "sql", "url": f"sqlite:///{db}"}}})
    )
    cleanups.append(sqlite_rt.close)
    lite = sqlite3.connect(db, check_same_thread=False)
    clients["single"]["sqlite"] = lambda k: sqlite_rt.single("sippeers", {"name": k})
    clients["single"]["raw sqlite3"] = lambda k: lite.execute(
        "SELECT * FROM sippeers WHERE name = ?", (k,)
    ).fetchall()
    clients["multi"]["sqlite"] = lambda k: sqlite_rt.multi("sippeers", {"name LIKE": k + "%"})
    clients["multi"]["raw sqlite3"] = lambda k: lite.execute(
        "SELECT * FROM sippeers WHERE name LIKE ? ESCAPE '\\'", (k + "%",)
    ).fetchall()

    try:
        import psycopg

        from ara_ldap.testing.databases import temporary_schema

        schema_cm = temporary_schema(PG_URL, prefix="ara_bench")
        schema = schema_cm.__enter__()
        cleanups.append(lambda: schema_cm.__exit__(None, None, None))
        load_sql(PG_URL, schema, rows)
        pg_rt = open_realtime(
            load_settings(
                {
                    "backends": {
                        "p": {"type": "sql", "url": PG_URL, "schema": schema, "pool_size": 1}
                    }
                }
            )
        )
        cleanups.append(pg_rt.close)
        pg: Any = psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True
        )
        cleanups.append(pg.close)
        pg.execute(f"SET search_path TO {schema}")
        clients["single"]["postgresql"] = lambda k: pg_rt.single("sippeers", {"name": k})
        clients["single"]["raw psycopg"] = lambda k: pg.execute(
            "SELECT * FROM sippeers WHERE name = %s", (k,)
        ).fetchall()
        clients["multi"]["postgresql"] = lambda k: pg_rt.multi("sippeers", {"name LIKE": k + "%"})
        clients["multi"]["raw psycopg"] = lambda k: pg.execute(
            "SELECT * FROM sippeers WHERE name LIKE %s", (k + "%",)
        ).fetchall()
    except Exception as exc:
        print(f"PostgreSQL skipped: {type(exc).__name__}: {exc}")

    try:
        for kind, keys in (("single", names), ("multi", prefixes)):
            results: dict[str, list[list[float]]] = {k: [] for k in clients[kind]}
            for _ in range(args.rounds):
                for label, call in clients[kind].items():
                    results[label].append(timed_loop(call, keys, args.seconds))
            rates = {k: statistics.median(len(r) / sum(r) for r in v) for k, v in results.items()}
            print(f"\n{kind} ({args.peers} peers)")
            print(f"{'client':14} {'lookups/s':>10} {'p50 µs':>8} {'p99 µs':>8}")
            for label, runs in results.items():
                lat = [x for r in runs for x in r]
                print(
                    f"{label:14} {rates[label]:10.0f} {percentile(lat, 0.5) * 1e6:8.0f} "
                    f"{percentile(lat, 0.99) * 1e6:8.0f}"
                )
            print("ratios:")
            for ours, theirs in (
                ("ldap", "raw ldap3"),
                ("sqlite", "raw sqlite3"),
                ("postgresql", "raw psycopg"),
                ("sqlite", "ldap"),
                ("postgresql", "ldap"),
            ):
                if ours in rates and theirs in rates:
                    print(f"  {ours} / {theirs}: {rates[ours] / rates[theirs]:.2f}")
    finally:
        for cleanup in reversed(cleanups):
            cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
