"""``ara-ldap serve`` (the gateway) and ``ara-ldap extconfig`` (the Asterisk side of it).

Picked up by :mod:`ara_ldap.cli` through ``COMMANDS``.  The gateway's dependencies
(httptools, uvloop) are imported only when ``serve`` runs, so the rest of the CLI works
without the ``gateway`` extra.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import sys
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import click

from ara_ldap.errors import AraError
from ara_ldap.sorcery import sorcery_conf_lines

if TYPE_CHECKING:
    from ara_ldap.config import Settings

#: Asterisk copies the mapped URL into a 256-byte buffer (curl-protocol.md §2.3).
MAX_URL = 255


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"ara-ldap: error: {message}", err=True)
    sys.exit(code)


def _settings(ctx: click.Context) -> Any:
    from ara_ldap.config import load_config

    root = ctx.find_root()
    path = root.obj.get("config") if isinstance(root.obj, dict) else None
    return load_config(path)


def _setup_logging(access_log: bool) -> None:
    """A server must report failures even at the CLI's default level (ERROR): warnings
    from the package, info (start-up, access lines) from the gateway."""
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    package = logging.getLogger("ara_ldap")
    if package.getEffectiveLevel() > logging.WARNING:
        package.setLevel(logging.WARNING)
    gateway = logging.getLogger("ara_ldap.gateway")
    if gateway.getEffectiveLevel() > logging.INFO:
        gateway.setLevel(logging.INFO)
    logging.getLogger("ara_ldap.gateway.access").disabled = not access_log


@click.command()
@click.option(
    "--host", default=None, help="Address to listen on (default: gateway.host, 127.0.0.1)."
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="TCP port (default: gateway.port, 8389).",
)
@click.option(
    "--prefix",
    default=None,
    help="Path prefix before /<family>/<operation>, e.g. /rt (default: gateway.prefix).",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="One line per request (never bodies or secret values).",
)
@click.pass_context
def serve(
    ctx: click.Context, host: str | None, port: int | None, prefix: str | None, access_log: bool
) -> None:
    """Serve Asterisk's res_config_curl protocol over HTTP (docs/gateway.md)."""
    try:
        from ara_ldap.config import GatewaySettings
        from ara_ldap.gateway import server as _server  # (and the extra is there)
    except ModuleNotFoundError as exc:
        _fail(f"{exc.name} is not installed: pip install 'ara-ldap[gateway]'")
    try:
        settings = _settings(ctx)
        if prefix is not None:
            prefix = GatewaySettings(prefix=prefix).prefix  # same validation as the file
        _server.tls_context(settings.gateway.tls)  # a bad certificate: one line, now
    except AraError as exc:
        _fail(str(exc))
    except ValueError as exc:
        _fail(f"--prefix: {exc}")
    _setup_logging(access_log)
    processes = settings.gateway.processes or os.cpu_count() or 1
    if processes > 1:
        _serve_processes(settings, processes, host, port, prefix, access_log)
    else:
        _serve_one(settings, host, port, prefix)


def _serve_one(settings: Any, host: str | None, port: int | None, prefix: str | None) -> None:
    """``gateway.processes: 1``: everything in this process."""
    from ara_ldap.bootstrap import open_realtime
    from ara_ldap.gateway.server import GatewayServer, create_app, worker_count

    try:
        realtime = open_realtime(settings)
    except AraError as exc:
        _fail(str(exc))
    try:
        app = create_app(settings, realtime, prefix=prefix)
        server = GatewayServer.from_settings(app, settings, host=host, port=port)
        try:
            server.bind()
        except OSError as exc:
            _fail(f"cannot listen on {server.host}:{server.requested_port}: {exc.strerror}")
        logging.getLogger("ara_ldap.gateway").info(
            "serving %d families on %s (%d worker threads; families: %s)",
            len(realtime.families()),
            server.url,
            worker_count(settings),
            ", ".join(realtime.families()),
        )
        server.run()
        logging.getLogger("ara_ldap.gateway").info("stopped")
    except AraError as exc:
        _fail(str(exc))
    finally:
        realtime.close()


def _serve_processes(
    settings: Any,
    processes: int,
    host: str | None,
    port: int | None,
    prefix: str | None,
    access_log: bool,
) -> None:
    """Several processes: this one accepts and supervises; each worker process builds its
    own Realtime (so this one opens no backend)."""
    from ara_ldap.gateway import workers
    from ara_ldap.gateway.server import worker_count

    supervisor = workers.from_settings(
        settings,
        processes=processes,
        host=host,
        port=port,
        prefix=prefix,
        log_setup=functools.partial(_setup_logging, access_log),
    )
    try:
        supervisor.bind()
    except OSError as exc:
        _fail(f"cannot listen on {supervisor.host}:{supervisor.requested_port}: {exc.strerror}")
    families = sorted(settings.routes())
    logging.getLogger("ara_ldap.gateway").info(
        "serving %d families on %s (%d processes of %d worker threads; families: %s)",
        len(families),
        supervisor.url,
        processes,
        worker_count(settings),
        ", ".join(families),
    )
    try:
        supervisor.run()
    except RuntimeError as exc:
        _fail(str(exc))
    logging.getLogger("ara_ldap.gateway").info("stopped")


def _check_url(url: str, families: list[str]) -> str:
    """The base URL as Asterisk will use it, or a clear error (§2.3 constraints)."""
    url = url.rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        _fail(f"--url {url!r}: expected http://HOST:PORT[/prefix] or https://...")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        _fail("--url must not contain '?' or '#': Asterisk appends /single etc. to it")
    bad = sorted({c for c in url if c in ',()[]"\\$'})
    if bad:
        _fail(
            f"--url must not contain {' '.join(bad)}: Asterisk evaluates the URL inside "
            "${CURL(...)} and splits it on commas"
        )
    longest = max(families, key=len, default="")
    if len(url) + 1 + len(longest) > MAX_URL:
        _fail(f"--url is too long: {url}/{longest} exceeds Asterisk's {MAX_URL} characters")
    return url


@click.command()
@click.option(
    "--url",
    "urls",
    required=True,
    multiple=True,
    help="The gateway's base URL as Asterisk reaches it: http://HOST:PORT[/prefix]. "
    "Repeat it for gateways in failover order (priority 1, 2, ...; docs/gateway.md, "
    "High availability).",
)
@click.option(
    "--file",
    "files",
    multiple=True,
    metavar="NAME",
    help="A static config file to serve from the gateway, e.g. sip.conf (repeatable).",
)
@click.pass_context
def extconfig(ctx: click.Context, urls: tuple[str, ...], files: tuple[str, ...]) -> None:
    """Print extconfig.conf [settings] lines and a res_curl.conf for the gateway."""
    try:
        settings = _settings(ctx)
    except AraError as exc:
        _fail(str(exc))
    static_family = settings.static.family
    static_families = {static_family, *settings.static.files.values()}
    families = sorted(f for f in settings.routes() if f not in static_families)
    bases = [_check_url(url, [*families, *static_families]) for url in urls]
    base = bases[0]
    if any(urlsplit(b).password for b in bases):
        click.echo(
            "; warning: the URL holds a password; prefer userpwd= in res_curl.conf", err=True
        )

    budget, httptimeout = curl_timeouts(settings)
    out = [
        "; ---- extconfig.conf ----",
        f"; Generated by 'ara-ldap extconfig' for the gateway at {' then '.join(bases)}.",
        "; One URL per family: res_config_curl ignores the table argument, so the family",
        "; travels in the path.",
        "[settings]",
    ]
    if len(bases) == 1:
        out += [f"{family} => curl,{base}/{family}" for family in families]
    else:
        out += [
            "; Failover: Asterisk asks priority 2 when priority 1 fails (single: an empty",
            "; answer; writes: a negative count; multi and static never fail over).",
        ]
        out += [
            f"{family} => curl,{b}/{family},{family},{priority}"
            for family in families
            for priority, b in enumerate(bases, 1)
        ]
    out += [
        "",
        f"; Static realtime (whole .conf files), stored in family {static_family}:",
    ]
    mapped = dict.fromkeys(files)
    mapped.update(dict.fromkeys(settings.static.files))
    if mapped:
        out += [
            f"{name} => curl,{base}/{settings.static.files.get(name, static_family)}"
            for name in mapped
        ]
    else:
        out.append(f";sip.conf => curl,{base}/{static_family}")
    out += [
        "; or every file not read with the no-realtime flag (extconfig.conf, asterisk.conf",
        "; and logger.conf always come from disk):",
        f";global => curl,{base}/{static_family}",
        "",
        "; ---- res_curl.conf ----",
        "[globals]",
        "; Seconds, not milliseconds: func_curl multiplies these by 1000 (the sample file's",
        "; milliseconds note is wrong). Without them a dead gateway blocks the calling",
        "; Asterisk thread for up to 180 s.",
        f"; Each gateway call ends within {budget:g} s (the longest backend 'timeout', retry",
        "; and failover included) with a failure answer; httptimeout is one second more so",
        "; Asterisk reads that answer. Lower the backends' timeout to shorten both.",
        f"httptimeout={httptimeout}",
        "conntimeout=1",
        "; Do NOT set hashcompat or header: both rewrite the body Asterisk parses.",
    ]
    gw = settings.gateway
    if gw.auth:
        out.append(f";userpwd={gw.auth.username}:PASSWORD  ; the gateway requires Basic auth")
    if gw.failure_status:
        out += [
            "; The gateway answers backend failures with this status (Asterisk then fails",
            "; over to the next priority). Only the first listed code stays effective.",
            f"failurecodes={gw.failure_status}",
        ]
    if urlsplit(base).scheme == "https":
        out.append(";ssl_cainfo=/etc/asterisk/keys/gateway-ca.pem  ; if not a public CA")
    if gw.tls is not None and gw.tls.client_ca is not None:
        out += [
            "; The gateway requires a client certificate signed by its gateway.tls.client_ca:",
            ";ssl_cert=/etc/asterisk/keys/ara-client.crt",
            ";ssl_key=/etc/asterisk/keys/ara-client.key",
        ]
    sorcery = sorcery_conf_lines(settings)
    if sorcery:
        out += ["", *sorcery]
    click.echo("\n".join(out))


COMMANDS = [serve, extconfig]


def curl_timeouts(settings: Settings) -> tuple[float, int]:
    """(the gateway's longest call, in s; res_curl's ``httptimeout`` just above it)."""
    budgets = [
        float(timeout)
        for backend in settings.backends.values()
        if (timeout := getattr(backend, "timeout", None)) is not None
    ]
    budget = max(budgets, default=1.0)
    return budget, max(2, math.ceil(budget) + 1)
