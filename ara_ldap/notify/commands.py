"""``ara-ldap notify``: run the notifier as its own service (docs/notify.md).

Its own process rather than part of ``serve``: the gateway runs one process per CPU,
each with its own cache, so a notifier inside it would send every action once per
worker; and the AMI secret (a manager user that can reload modules) stays out of the
process that answers HTTP.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

import click

from ara_ldap.cli_support import handle_errors
from ara_ldap.config import Settings
from ara_ldap.errors import AraError, ConfigError
from ara_ldap.notify.rules import Rules
from ara_ldap.notify.service import Notifier, NotifierThread

log = logging.getLogger("ara_ldap.notify")


def rules_for(settings: Settings) -> Rules:
    """The rules of a configuration: sorcery types come from the LDAP families'
    ``sorcery`` settings (SQL families are not fed by a change stream)."""
    from ara_ldap.config import LdapBackendSettings

    sorcery: dict[str, str | None] = {}
    for backend in settings.backends.values():
        if isinstance(backend, LdapBackendSettings):
            for name, family in backend.families.items():
                sorcery.setdefault(name, family.sorcery)
    return Rules(settings.notify, settings.static, sorcery)


def watch_settings(settings: Settings, families: set[str]) -> Settings:
    """``settings`` for the notifier's own process: each LDAP cache streams only the
    mapped families it would have cached anyway (less memory and directory load than
    the gateway's cache), and saves no state (``state_dir`` belongs to the gateway,
    whose files it would otherwise rewrite)."""
    from ara_ldap.config import LdapBackendSettings

    backends: dict[str, Any] = {}
    for name, backend in settings.backends.items():
        if isinstance(backend, LdapBackendSettings):
            cached = backend.cache.families
            allowed = None if cached is None else {f.lower() for f in cached}
            keep = [
                f
                for f in backend.families
                if f.lower() in families and (allowed is None or f.lower() in allowed)
            ]
            cache = backend.cache.model_copy(update={"families": keep, "state_dir": None})
            backend = backend.model_copy(update={"cache": cache})
        backends[name] = backend
    return settings.model_copy(update={"backends": backends})


def build_notifier(
    settings: Settings, *, dry_run: bool = False, out: Callable[[str], None] = print
) -> Notifier:
    """A notifier for ``settings``; the secrets are read now, so a missing file fails
    before anything starts."""
    if not dry_run and not settings.notify.servers:
        raise ConfigError("no AMI server configured (notify.servers); try --dry-run", "notify")
    secrets = None if dry_run else [s.secret() for s in settings.notify.servers]
    return Notifier(settings.notify, rules_for(settings), dry_run=dry_run, out=out, secrets=secrets)


def attach(realtime: Any, notifier: Notifier) -> list[str]:
    """Feed ``notifier`` from every LDAP backend's cache; returns the watched families
    (the ones the rules map), warning about mapped families no cache streams."""
    from ara_ldap.backends.ldap.backend import LdapBackend
    from ara_ldap.backends.ldap.cache import DirectoryCache

    wanted = notifier.rules.families()
    watched: set[str] = set()
    for backend in realtime.backends.values():
        if isinstance(backend, LdapBackend) and isinstance(backend.cache, DirectoryCache):
            backend.cache.add_listener(notifier.submit)
            watched |= {f.lower() for f in backend.cache.memory()}
    mapped = sorted(wanted & watched)
    for family in sorted(wanted - watched):
        log.warning("notify: %s is not cached (cache.families): its changes are not seen", family)
    if not mapped:
        raise ConfigError(
            "no mapped family is fed by a change stream: the notifier needs the LDAP cache "
            "(cache.enabled, cache.families) and a notify mapping (docs/notify.md)",
            "notify",
        )
    return mapped


@click.command("notify")
@click.option("--dry-run", is_flag=True, help="Print the actions instead of sending them.")
@click.pass_context
@handle_errors()
def notify_command(ctx: click.Context, dry_run: bool) -> None:
    """Push directory changes to Asterisk over AMI (reloads, prunes, cache expiries)."""
    from ara_ldap.bootstrap import open_realtime
    from ara_ldap.config import load_config

    root = ctx.find_root()
    settings = load_config(root.obj.get("config") if isinstance(root.obj, dict) else None)
    notifier = build_notifier(settings, dry_run=dry_run, out=lambda s: click.echo(s))
    realtime = open_realtime(watch_settings(settings, notifier.rules.families()))
    try:
        runner = NotifierThread(notifier).start()
        families = attach(realtime, notifier)
        click.echo(f"ara-ldap notify: watching {', '.join(families)}", err=True)
        done = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: done.set())
        while not done.wait(1.0) and runner.alive():
            pass
        died = not done.is_set()
        runner.stop()
        click.echo(f"ara-ldap notify: {dict(sorted(notifier.metrics.items()))}", err=True)
        if died:  # the event loop ended on its own: a service manager should restart us
            raise AraError("the notifier stopped unexpectedly (see the log)")
    finally:
        realtime.close()


COMMANDS = [notify_command]
