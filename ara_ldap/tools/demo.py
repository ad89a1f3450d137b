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
from typing import Any

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


def _start_gateway(config_path: Path, port: int | None) -> Any:
    """The gateway on the demo directory, or None (with a note) if it cannot run here."""
    try:
        from ara_ldap.bootstrap import open_realtime
        from ara_ldap.config import load_config
        from ara_ldap.gateway.server import GatewayServer, create_app
    except ImportError as exc:
        click.echo(
            f"\n(gateway not started: {exc.name} is not installed; pip install 'ara-ldap[gateway]')"
        )
        return None
    settings = load_config(config_path)
    server = GatewayServer.from_settings(
        create_app(settings, open_realtime(settings)), settings, port=port
    )
    try:
        server.start()
    except OSError as exc:
        if port not in (None, 0):
            raise
        click.echo(f"(port {settings.gateway.port} is busy ({exc.strerror}); using a free one)")
        server = GatewayServer.from_settings(
            create_app(settings, open_realtime(settings)), settings, port=0
        )
        server.start()
    return server


def run_demo(
    port: int | None, ldif_dir: Path | None, config_path: Path, gateway_port: int | None = None
) -> None:
    from ara_ldap.testing.slapd import (
        PJSIP_INDEXES,
        Slapd,
        SlapdError,
        find_fixture_ldifs,
        find_schema_ldifs,
    )

    if not _writable(config_path):
        raise ConfigError(
            f"{config_path} exists and was not written by 'ara-ldap demo'; pass "
            "--write-config OTHER.yaml"
        )
    ldifs = sorted(ldif_dir.glob("*.ldif")) if ldif_dir else find_fixture_ldifs()
    gateway: Any = None
    try:
        slapd = Slapd(schema_ldifs=find_schema_ldifs(), port=port, indexes=PJSIP_INDEXES)
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
            "load ps_endpoints id 1001",
            "multi ps_endpoint_id_ips 'id LIKE' %",
        ):
            click.echo(f"  {cli} {example}")
        click.echo(f"  ldapsearch -x -H {slapd.url} -b ou=sip,ou=asterisk,{slapd.suffix} cn=alice")
        gateway = _start_gateway(config_path, gateway_port)
        if gateway is not None:
            url = gateway.url
            click.echo(f"\nGateway (Asterisk res_config_curl protocol): {url}")
            click.echo(f"  curl -s --data 'name=alice' {url}/sippeers/single")
            click.echo(f"  curl -s --data 'id=1001' {url}/ps_endpoints/single")
            click.echo(f"  {cli} extconfig --url {url}   # the extconfig.conf lines for Asterisk")
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
        if gateway is not None:
            gateway.stop()
        slapd.close()
        if config_path.exists() and _writable(config_path):
            config_path.unlink()
        click.echo("\nDemo directory stopped and removed.")
