"""Reading a secret from where the configuration says it is: one reader for the LDAP bind
password, the SQL password, the gateway's Basic password and the AMI secret, so they all
strip the same way and fail with the same one-line :class:`ConfigError` (naming the
setting, never the value)."""

from __future__ import annotations

import os
from pathlib import Path

from ara_ldap.errors import ConfigError


def read_secret_file(path: Path, where: str) -> str:
    """The file's text without its trailing newline (``echo secret > file`` is the common
    way to write one, and the newline is never part of the password)."""
    try:
        return path.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", where) from None


def read_secret_env(name: str, where: str) -> str:
    """The variable's value; unset is an error (an empty password is almost always a typo
    in a unit file, and a bind without one would be anonymous)."""
    value = os.environ.get(name)
    if value is None:
        raise ConfigError(f"environment variable {name} is not set", where)
    return value


def read_secret(
    *,
    inline: str | None = None,
    file: Path | None = None,
    env: str | None = None,
    where: str = "",
) -> str | None:
    """The secret from whichever source is set (inline, then env, then file), or None.

    *where* prefixes the setting named in an error, e.g. ``gateway.auth.``.
    """
    if inline is not None:
        return inline
    if env:
        return read_secret_env(env, f"{where}password_env")
    if file:
        return read_secret_file(file, f"{where}password_file")
    return None
