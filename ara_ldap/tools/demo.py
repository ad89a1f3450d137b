"""``ara-ldap demo``: a throwaway directory loaded with the shipped fixtures.

It writes a configuration file that the CLI finds by default (``./ara-ldap.yaml``) so the
printed example commands work as they are, and removes the directory on Ctrl-C.  It never
overwrites a configuration it did not write itself.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import click

from ara_ldap.errors import ConfigError

DEMO_MARKER = "# written by 'ara-ldap demo'"


def demo_config(url: str, password_file: Path, suffix: str) -> str:
    return f"""{DEMO_MARKER}: a throwaway directory; delete this file when done.
backends:
  directory:
    type: ldap
    urls: ["{url}"]
    base_dn: "{suffix}"
    bind_dn: "cn=admin,{suffix}"
    password_file: "{password_file}"
    retry_interval: 0.5
"""


def _writable(path: Path) -> bool:
    if not path.exists():
        return True
    try:
        return path.read_text(encoding="utf-8").startswith(DEMO_MARKER)
    except OSError:
        return False


def run_demo(port: int | None, ldif_dir: Path | None, config_path: Path) -> None:
    from ara_ldap.testing.slapd import Slapd, SlapdError, find_fixture_ldifs, find_schema_ldif

    if not _writable(config_path):
        raise ConfigError(
            f"{config_path} exists and was not written by 'ara-ldap demo'; pass "
            "--write-config OTHER.yaml"
        )
    ldifs = sorted(ldif_dir.glob("*.ldif")) if ldif_dir else find_fixture_ldifs()
    try:
        slapd = Slapd(schema_ldifs=[find_schema_ldif()], port=port)
        slapd.start()
    except SlapdError as exc:
        raise ConfigError(str(exc)) from None
    try:
        slapd.ldapadd(*ldifs)
        config_path.write_text(
            demo_config(slapd.url, slapd.password_file, slapd.suffix), encoding="utf-8"
        )
        click.echo(
            f"Demo directory: {slapd.url}  (suffix {slapd.suffix}, {len(ldifs)} LDIF files loaded)"
        )
        click.echo(f"Admin: cn=admin,{slapd.suffix}, password in {slapd.password_file}")
        click.echo(f"Configuration written to {config_path} (found by default).\n")
        click.echo("Try, in another terminal:")
        cli = (
            "ara-ldap"
            if not (Path(".venv") / "bin" / "ara-ldap").exists()
            else ".venv/bin/ara-ldap"
        )
        for example in (
            "load sippeers name alice",
            "multi sippeers 'name LIKE' %",
            "update sippeers name alice host 192.0.2.77",
            "store sippeers name zed type friend host dynamic allow ulaw",
            "destroy sippeers name zed",
            "multi extensions context from-internal 'exten LIKE' '\\_%'",
            "static sip.conf",
        ):
            click.echo(f"  {cli} {example}")
        click.echo(f"  ldapsearch -x -H {slapd.url} -b ou=sip,ou=asterisk,{slapd.suffix} cn=alice")
        click.echo("\nPress Ctrl-C to stop and remove the directory.")
        sys.stdout.flush()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                if not slapd.running:
                    raise ConfigError(f"slapd exited unexpectedly; see {slapd.workdir}/slapd.log")
        except KeyboardInterrupt:
            pass
    finally:
        slapd.close()
        if config_path.exists() and _writable(config_path):
            config_path.unlink()
        click.echo("\nDemo directory stopped and removed.")
