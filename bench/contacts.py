"""Contact churn: what REGISTERs cost each place ``ps_contacts`` can live (issue 9 item 4).

    .venv/bin/python bench/contacts.py [--contacts 300] [--aors 100] [--rounds 1] [--pg]
                                       [--gateway] [--only NAME]

Per REGISTER, sorcery (pjsip.md §2.4, §6) reads the AOR's contacts (``id LIKE
'<aor>;@%'``) and then writes one contact: ``store`` for a new binding, ``update`` with
the whole object for a refresh, ``destroy`` for ``Expires: 0``; every 30 s each Asterisk
runs ``expiration_time <= now``.  This bench replays exactly that through ara-ldap's
Realtime (in process, one caller; ``--gateway``: through the res_config_curl gateway
with Asterisk's curl client, adding the HTTP hop every store pays alike) and prints
REGISTERs per second for each phase, the write's own latency, and the expiry query's
latency with ``--contacts`` contacts stored.  A default run takes about two minutes on a
loaded 2-core machine; ``--only`` and a smaller ``--contacts`` make it shorter.

Stores measured:

* ``ldap fsync``: the harness slapd with ``olcDbNoSync: FALSE`` (a production default:
  every write is fsync'd), contacts in the same database as the endpoints;
* ``ldap volatile``: the same slapd, contacts in a second back-mdb database glued under
  ``ou=pjsip-volatile`` with ``olcDbNoSync: TRUE`` and only the contact indexes
  (pjsip.md §5.8 option 3);
* ``ldap nosync``: everything ``dbnosync`` (the test harness default; for reference);
* ``sqlite``: the SQL backend on a SQLite file (what a store local to the gateway would
  be, §5.8 option 2), in the default rollback-journal mode and in WAL mode;
* ``postgresql`` with ``--pg`` when a server answers on 127.0.0.1.

Not measurable here: Asterisk's own default, astdb (contacts as JSON in Asterisk's local
SQLite, no network hop, not shared between servers).  Not a test: a shared 2-core
machine; compare the rows of one run.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ara_ldap.bootstrap import open_realtime
from ara_ldap.config import load_settings
from ara_ldap.realtime import Realtime
from ara_ldap.testing.conformance.dataset_pjsip import contact_id
from ara_ldap.testing.conformance.requirements import RealtimeLike
from ara_ldap.testing.ldap import ldap_settings
from ara_ldap.testing.slapd import Slapd, asterisk_slapd, ldif_line

VOLATILE = "ou=pjsip-volatile,{suffix}"
CONTACTS = "ou=contacts,ou=pjsip-volatile,{suffix}"
NOW = 1764153600


def contact(aor: str, n: int, expires: int, call_id: str) -> tuple[str, list[tuple[str, str]]]:
    """A contact id and the 15 fields sorcery sends (pjsip.md §6 order, empties included)."""
    uri = f"sip:{aor}@192.0.2.{n % 250 + 1}:{5060 + n % 1000};transport=udp;rinstance=r{n:06x};ob"
    fields = [
        ("via_addr", f"192.0.2.{n % 250 + 1}"),
        ("qualify_timeout", "3.000000"),
        ("qualify_2xx_only", "false"),
        ("call_id", call_id),
        ("reg_server", ""),
        ("prune_on_boot", "no"),
        ("path", ""),
        ("endpoint", aor),
        ("via_port", str(5060 + n % 1000)),
        ("authenticate_qualify", "no"),
        ("uri", uri),
        ("qualify_frequency", "0"),
        ("user_agent", "Linphone/5.2 (X11; Linux x86_64) belle-sip/5.2"),
        ("expiration_time", str(expires)),
        ("outbound_proxy", ""),
    ]
    return contact_id(aor, uri), fields


@dataclass
class Result:
    store: str
    rates: dict[str, float]
    write_ms: dict[str, float]
    expiry_ms: float


def _phase(
    realtime: RealtimeLike,
    items: list[tuple[str, str, list[tuple[str, str]]]],
    write: Callable[..., int],
) -> tuple[float, float]:
    """REGISTERs/s (prefix read + write) and the write's median ms."""
    writes: list[float] = []
    t0 = time.perf_counter()
    for aor, cid, fields in items:
        realtime.multi("ps_contacts", [("id LIKE", f"{aor};@%")])
        w0 = time.perf_counter()
        if write(cid, fields) != 1:
            raise RuntimeError(f"write of {cid} did not answer 1")
        writes.append(time.perf_counter() - w0)
    elapsed = time.perf_counter() - t0
    return len(items) / elapsed, statistics.median(writes) * 1000


def churn(name: str, realtime: RealtimeLike, contacts: int, aors: int) -> Result:
    """Store, refresh and destroy ``contacts`` contacts spread over ``aors`` AORs."""
    items = []
    for n in range(contacts):
        aor = f"bench{n % aors:04d}"
        cid, fields = contact(aor, n, NOW + 60 + n, f"c{n}@bench")
        items.append((aor, cid, fields))
    rates: dict[str, float] = {}
    write_ms: dict[str, float] = {}
    realtime.multi("ps_contacts", [("id LIKE", "warm-up;@%")])  # connect, read the schema

    def store(cid: str, fields: list[tuple[str, str]]) -> int:
        return realtime.store("ps_contacts", [("id", cid), *fields])

    def refresh(cid: str, fields: list[tuple[str, str]]) -> int:
        moved = [(f, str(int(v) + 3600) if f == "expiration_time" else v) for f, v in fields]
        return realtime.update("ps_contacts", "id", cid, moved)

    def destroy(cid: str, fields: list[tuple[str, str]]) -> int:
        return realtime.destroy("ps_contacts", [("id", cid)])

    rates["store"], write_ms["store"] = _phase(realtime, items, store)
    rates["refresh"], write_ms["refresh"] = _phase(realtime, items, refresh)
    # The expiry thread's query with every contact stored (half of them "expired").
    cutoff = str(NOW + 3600 + 60 + contacts // 2)
    samples = []
    for _ in range(20):
        e0 = time.perf_counter()
        expired = realtime.multi("ps_contacts", [("expiration_time <=", cutoff)])
        samples.append(time.perf_counter() - e0)
    if len(expired) != contacts // 2 + 1:
        raise RuntimeError(f"{name}: expiry query found {len(expired)} rows")
    rates["destroy"], write_ms["destroy"] = _phase(realtime, items, destroy)
    return Result(name, rates, write_ms, statistics.median(samples) * 1000)


# Stores -------------------------------------------------------------------------------


def _suffix_ldif(slapd: Slapd) -> str:
    suffix = slapd.suffix
    value = suffix.split(",", 1)[0].partition("=")[2]
    return (
        f"dn: {suffix}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\n"
        f"dc: {value}\no: {value}\n\n"
        f"dn: ou=pjsip,{suffix}\nobjectClass: top\nobjectClass: organizationalUnit\nou: pjsip\n"
    )


def _volatile_ldif(slapd: Slapd) -> str:
    suffix = slapd.suffix
    return (
        f"dn: {VOLATILE.format(suffix=suffix)}\nobjectClass: top\n"
        "objectClass: organizationalUnit\nou: pjsip-volatile\n\n"
        f"dn: {CONTACTS.format(suffix=suffix)}\nobjectClass: top\n"
        "objectClass: organizationalUnit\nou: contacts\n"
    )


def set_nosync(slapd: Slapd, database: str, nosync: bool) -> None:
    slapd.ldapmodify_config(
        f"dn: olcDatabase={database},cn=config\nchangetype: modify\n"
        f"replace: olcDbNoSync\nolcDbNoSync: {'TRUE' if nosync else 'FALSE'}\n"
    )


def add_volatile_database(slapd: Slapd) -> None:
    """A second back-mdb database for ``ou=pjsip-volatile`` with ``dbnosync``, glued under
    the main one (``olcSubordinate``; it must come first in the database order, so it is
    added as ``{1}`` and the main database becomes ``{2}``)."""
    directory = slapd.workdir / "volatile"
    directory.mkdir(mode=0o700, exist_ok=True)
    lines = [
        "dn: olcDatabase={1}mdb,cn=config",
        "changetype: add",
        "objectClass: olcDatabaseConfig",
        "objectClass: olcMdbConfig",
        "olcDatabase: {1}mdb",
        ldif_line("olcSuffix", VOLATILE.format(suffix=slapd.suffix)),
        "olcSubordinate: TRUE",
        ldif_line("olcRootDN", slapd.admin_dn),
        ldif_line("olcDbDirectory", str(directory)),
        "olcDbMaxSize: 268435456",
        "olcDbNoSync: TRUE",
        "olcDbIndex: objectClass eq",
        "olcDbIndex: astContactId eq,sub",
        "olcDbIndex: astContactAor,astContactExpirationTime eq",
        "olcAccess: {0}to * by * read",
    ]
    slapd.ldapmodify_config("\n".join(lines) + "\n")


@contextlib.contextmanager
def ldap_store(mode: str) -> Iterator[Realtime]:
    with asterisk_slapd() as slapd:
        if mode != "nosync":
            set_nosync(slapd, "{1}mdb", False)
        if mode == "volatile":
            add_volatile_database(slapd)
        slapd.ldapadd_text(_suffix_ldif(slapd) + "\n" + _volatile_ldif(slapd))
        realtime = open_realtime(ldap_settings(slapd))
        try:
            yield realtime
        finally:
            realtime.close()


@contextlib.contextmanager
def sql_store(url: str, schema: str | None = None) -> Iterator[Realtime]:
    import sqlalchemy as sa

    from ara_ldap.backends.sql import init_schema

    engine = sa.create_engine(url)
    try:
        init_schema(engine, schema)
    finally:
        engine.dispose()
    spec: dict[str, Any] = {"type": "sql", "url": url}
    if schema:
        spec["schema"] = schema
    realtime = open_realtime(load_settings({"backends": {"sql": spec}}))
    try:
        yield realtime
    finally:
        realtime.close()


@contextlib.contextmanager
def sqlite_store(wal: bool = False) -> Iterator[Realtime]:
    """The SQL backend on a SQLite file; ``wal``: the file switched to WAL first (the mode
    is stored in the file, so the backend's connections use it)."""
    import sqlite3

    with tempfile.TemporaryDirectory(prefix="ara-bench-contacts-") as tmp:
        path = Path(tmp) / "contacts.db"
        if wal:
            with contextlib.closing(sqlite3.connect(path)) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
        with sql_store(f"sqlite:///{path}") as realtime:
            yield realtime


@contextlib.contextmanager
def postgres_store() -> Iterator[Realtime]:
    from ara_ldap.testing.databases import DEFAULT_POSTGRES_URL, temporary_schema

    with (
        temporary_schema(DEFAULT_POSTGRES_URL) as schema,
        sql_store(DEFAULT_POSTGRES_URL, schema) as realtime,
    ):
        yield realtime


@contextlib.contextmanager
def through_gateway(realtime: Realtime) -> Iterator[RealtimeLike]:
    """The gateway in front of ``realtime`` and Asterisk's curl client talking to it, so
    a figure includes the HTTP hop every REGISTER pays (one keep-alive connection)."""
    from ara_ldap.gateway.app import GatewayApp
    from ara_ldap.gateway.server import GatewayServer
    from ara_ldap.testing.conformance.curl import CurlRealtime
    from ara_ldap.testing.curl_client import AsteriskCurlClient

    server = GatewayServer(GatewayApp(realtime, workers=2), host="127.0.0.1", port=0)
    server.start()
    client = CurlRealtime(AsteriskCurlClient(server.url, order="given"))
    try:
        yield client
    finally:
        client.close()
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--contacts", type=int, default=300)
    parser.add_argument("--aors", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--pg", action="store_true", help="also PostgreSQL on 127.0.0.1")
    parser.add_argument(
        "--gateway", action="store_true", help="through the res_config_curl gateway (HTTP)"
    )
    parser.add_argument("--only", default="", help="only the stores whose name has this text")
    args = parser.parse_args(argv)
    stores: list[tuple[str, Callable[[], contextlib.AbstractContextManager[Realtime]]]] = [
        ("ldap fsync", lambda: ldap_store("fsync")),
        ("ldap volatile (dbnosync db)", lambda: ldap_store("volatile")),
        ("ldap nosync (everything)", lambda: ldap_store("nosync")),
        ("sqlite (gateway-local)", sqlite_store),
        ("sqlite WAL (gateway-local)", lambda: sqlite_store(wal=True)),
    ]
    if args.pg:
        stores.append(("postgresql", postgres_store))
    stores = [(name, opener) for name, opener in stores if args.only in name]
    results: dict[str, list[Result]] = {}
    for _ in range(args.rounds):
        for name, opener in stores:
            with contextlib.ExitStack() as stack:
                realtime: RealtimeLike = stack.enter_context(opener())
                if args.gateway:
                    assert isinstance(realtime, Realtime)
                    realtime = stack.enter_context(through_gateway(realtime))
                results.setdefault(name, []).append(churn(name, realtime, args.contacts, args.aors))
    print(
        f"contact churn: {args.contacts} contacts over {args.aors} AORs, one caller, "
        f"best of {args.rounds} round(s){', through the gateway' if args.gateway else ''}; "
        "REGISTERs/s = prefix read + write"
    )
    header = (
        f"{'store':30} {'new/s':>8} {'refresh/s':>10} {'unreg/s':>8}"
        f" {'store ms':>9} {'update ms':>10} {'destroy ms':>11} {'expiry ms':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, runs in results.items():  # each figure the best of its rounds (noise is one-sided)
        rate = {k: max(r.rates[k] for r in runs) for k in ("store", "refresh", "destroy")}
        ms = {k: min(r.write_ms[k] for r in runs) for k in ("store", "refresh", "destroy")}
        expiry = min(r.expiry_ms for r in runs)
        print(
            f"{name:30} {rate['store']:8.0f} {rate['refresh']:10.0f} {rate['destroy']:8.0f}"
            f" {ms['store']:9.2f} {ms['refresh']:10.2f} {ms['destroy']:11.2f} {expiry:10.2f}"
        )
    print("astdb (Asterisk's default): not measurable here (inside Asterisk, no network hop)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
