"""The error hierarchy.

Asterisk's realtime API folds "no such row" and "the database is down" into one NULL, so
failover cannot tell them apart.  Here they are different outcomes: a lookup that finds
nothing returns ``None`` / ``[]`` / ``0`` (never an exception), a request the caller got
wrong is a :class:`BadRequest`, and a store that cannot answer is a :class:`BackendError`.
Only :class:`BackendError` makes :class:`~ara_ldap.realtime.Realtime` fail over.

Messages name what to fix.  They never contain bind passwords or the values of secret
fields: code that builds a message from user data goes through :func:`describe_value`.
"""

from __future__ import annotations

from collections.abc import Collection


class AraError(Exception):
    """Base class of every error ara-ldap raises on purpose."""


class ConfigError(AraError):
    """The configuration file is missing, unreadable or invalid.

    ``path`` is the YAML path of the offending key (``families.sippeers.rdn``), if any.
    """

    def __init__(self, message: str, path: str | None = None, source: str | None = None):
        self.message = message
        self.path = path
        self.source = source
        where = ""
        if source:
            where = f"{source}: "
        if path:
            where += f"{path}: "
        super().__init__(f"{where}{message}")


class BadRequest(AraError):
    """The request itself is wrong; retrying it on another backend cannot help."""


class UnknownFamily(BadRequest):
    """The family is not configured."""


class UnknownField(BadRequest):
    """A field is not in the family's attribute map (or the table's columns)."""


class Conflict(BadRequest):
    """A store would overwrite an existing record."""


class NotFound(AraError):
    """Raised only by helpers that must return something (e.g. a static file, an include).

    Plain lookups express "not found" as ``None`` or an empty list instead.
    """


class BackendError(AraError):
    """The backend failed to answer.  Routing fails over to the next priority."""


class BackendUnavailable(BackendError):
    """The backend cannot be reached (connection refused, timeout, server down)."""


class WriteIncomplete(BackendError):
    """A write that changed something before failing, or whose outcome is unknown: routing
    never replays it on another backend (that would apply it twice, or to a store the
    caller believes untouched); the message says what happened."""


class PartialWrite(WriteIncomplete):
    """A write over several records stopped part-way: ``done`` of ``total`` applied."""

    def __init__(self, message: str, done: int, total: int) -> None:
        super().__init__(message)
        self.done = done
        self.total = total


class Unsupported(BackendError):
    """The backend does not implement the operation (Asterisk skips such engines too)."""


SECRET_MASK = "********"


def describe_value(field: str, value: str, secret_fields: Collection[str] = ()) -> str:
    """Quote ``value`` for an error message, masking it when ``field`` holds a secret."""
    if field.lower() in {f.lower() for f in secret_fields}:
        return SECRET_MASK
    if len(value) > 60:
        value = value[:57] + "..."
    return repr(value)
