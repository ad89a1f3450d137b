"""The AMI notifier's settings (``ara-ldap notify``; docs/notify.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import (
    Field,
    field_validator,
)

from ara_ldap.config.common import _Model
from ara_ldap.secrets import read_secret_file

#: Which module reads a static file (``Action: Reload`` of it when the file's rows change).
DEFAULT_RELOAD_MODULES = {
    "sip.conf": "chan_sip.so",
    "pjsip.conf": "res_pjsip.so",
    "extensions.conf": "pbx_config.so",
    "voicemail.conf": "app_voicemail.so",
}


class AmiServer(_Model):
    """One Asterisk manager (AMI) the notifier keeps a session to (docs/notify.md)."""

    host: str = "127.0.0.1"
    port: int = Field(default=5038, ge=1, le=65535)
    username: str = Field(min_length=1)
    #: The manager.conf ``secret`` (read at start-up; never logged).
    secret_file: Path
    connect_timeout: float = Field(default=5.0, gt=0)
    #: Seconds to wait for an action's response before the session is dropped.
    action_timeout: float = Field(default=10.0, gt=0)

    @field_validator("username")
    @classmethod
    def _one_line(cls, v: str) -> str:
        if any(c in v for c in "\r\n"):
            raise ValueError("an AMI user name cannot contain a line break")
        return v

    def secret(self) -> str:
        return read_secret_file(self.secret_file, "notify.servers.secret_file")

    def label(self) -> str:
        return f"{self.username}@{self.host}:{self.port}"


class NotifySettings(_Model):
    """``ara-ldap notify``: directory changes pushed to Asterisk over AMI (docs/notify.md)."""

    servers: list[AmiServer] = []
    #: Seconds without a new change before a batch is sent (a burst is one batch).
    debounce: float = Field(default=0.5, ge=0, le=60)
    #: A batch is sent at most this long after its first change, even in a steady stream.
    max_delay: float = Field(default=5.0, gt=0, le=600)
    #: Static file -> module to reload; merged over DEFAULT_RELOAD_MODULES (a ``null``
    #: value drops a default).
    modules: dict[str, str | None] = {}
    #: chan_sip peer families of servers with ``rtcachefriends=yes``: a change of a peer
    #: sends ``sip prune realtime peer NAME``.  Empty (the default): nothing is pruned.
    rtcachefriends: list[str] = []
    #: Sorcery object type (the family's ``sorcery`` setting's type: endpoint, aor, auth)
    #: -> the ``name=`` of its ``memory_cache`` in sorcery.conf.  Types not listed: nothing.
    sorcery_caches: dict[str, str] = {}
    #: Longest wait between reconnect attempts to a server that is down (seconds).
    max_backoff: float = Field(default=30.0, gt=0, le=3600)

    def reload_modules(self) -> dict[str, str]:
        merged: dict[str, str | None] = {**DEFAULT_RELOAD_MODULES, **self.modules}
        return {f.lower(): m for f, m in merged.items() if m}
