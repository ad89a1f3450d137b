"""``ara-ldap migrate`` throughput: N sippeers-like SQLite rows into a throwaway slapd.

    .venv/bin/python bench/migrate.py [--rows 100000] [--jobs 4] [--skip-ldif]

Three figures, rows per second over the whole run (reading SQLite, reading the directory,
planning, writing):

* ``direct``: migrate into an empty directory (one LDAP add per row, ``--jobs`` in flight);
* ``re-run``: the same again, every row unchanged (read, compare, no writes);
* ``ldif``: ``--ldif --full`` written to a file, then ``ldapadd`` of it into a second empty
  directory (the time of both; the LDIF alone is also printed).

The rows are ``bench/backends.py``'s peers (``allow`` ``;``-joined, so every row gets an
ordered multi-value).  Not a test.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backends import load_sql, peer_rows

from ara_ldap.backends import create_backend
from ara_ldap.config import load_settings
from ara_ldap.testing.ldap import ldap_backend_config
from ara_ldap.testing.slapd import Slapd, asterisk_slapd
from ara_ldap.tools.migrate import MigrateReport, aligned_sql_families, migrate


def _backends(slapd: Slapd, url: str, pool: int) -> tuple[object, object]:
    ldap_spec = ldap_backend_config(slapd, pool_size=pool)
    settings = load_settings({"backends": {"directory": ldap_spec}})
    families = aligned_sql_families(settings.backends["directory"])  # type: ignore[arg-type]
    sql = load_settings({"backends": {"sql": {"type": "sql", "url": url, "families": families}}})
    return (
        create_backend("sql", sql.backends["sql"]),
        create_backend("directory", settings.backends["directory"]),
    )


def _run(slapd: Slapd, url: str, jobs: int, **kwargs: object) -> tuple[float, MigrateReport]:
    src, dst = _backends(slapd, url, jobs)
    try:
        start = time.perf_counter()
        report = migrate("sql", src, "directory", dst, ["sippeers"], jobs=jobs, **kwargs)  # type: ignore[arg-type]
        return time.perf_counter() - start, report
    finally:
        src.close()  # type: ignore[attr-defined]
        dst.close()  # type: ignore[attr-defined]


def _line(what: str, rows: int, seconds: float, report: MigrateReport | None = None) -> None:
    counts = ""
    if report is not None:
        r = report.results["sippeers"]
        counts = (
            f"  ({r.added} added, {r.updated} updated, {r.unchanged} unchanged, {r.failed} bad)"
        )
    print(f"{what:<10} {rows:>7} rows in {seconds:7.2f} s = {rows / seconds:8.0f} rows/s{counts}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--skip-ldif", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ara-bench-migrate-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'realtime.db'}"
        load_sql(url, None, peer_rows(args.rows))
        with asterisk_slapd(suffix="dc=example,dc=org") as slapd:
            slapd.create_suffix()
            seconds, report = _run(slapd, url, args.jobs)
            _line("direct", args.rows, seconds, report)
            seconds, report = _run(slapd, url, args.jobs)
            _line("re-run", args.rows, seconds, report)
        if args.skip_ldif:
            return 0
        with asterisk_slapd(suffix="dc=example,dc=org") as slapd:
            slapd.create_suffix()
            out = Path(tmp) / "migrate.ldif"
            with out.open("w", encoding="utf-8") as handle:
                written, report = _run(slapd, url, 1, ldif=handle, full_ldif=True)
            _line("ldif file", args.rows, written, report)
            start = time.perf_counter()
            slapd.ldapadd(out)
            loaded = time.perf_counter() - start
            _line("ldapadd", args.rows, loaded)
            _line("ldif", args.rows, written + loaded)
            check = subprocess.run(
                ["ldapsearch", "-x", "-LLL", "-H", slapd.url, "-D", slapd.admin_dn,
                 "-y", str(slapd.password_file), "-b", "ou=sip,ou=asterisk,dc=example,dc=org",
                 "-s", "one", "(objectClass=AsteriskSIPUser)", "1.1"],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            print(f"entries in the directory after ldapadd: {check.stdout.count('dn: ')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
