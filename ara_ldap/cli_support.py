"""Shared by every ``ara-ldap`` command: one-line errors and argument pairs."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

import click

from ara_ldap.errors import AraError, ConfigError

F = TypeVar("F", bound=Callable[..., Any])

FAILED = {
    "update": "Failed to update. Check the debug log for possible SQL related entries.",
    "store": "Failed to store record. Check the debug log for possible SQL related entries.",
    "destroy": "Failed to remove record. Check the debug log for possible SQL related entries.",
}


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"ara-ldap: error: {message}", err=True)
    sys.exit(code)


def handle_errors(verb: str | None = None) -> Callable[[F], F]:
    """Turn our errors (and anything unexpected) into one line and exit status 1."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except AraError as exc:
                if verb in FAILED and not isinstance(exc, ConfigError):
                    click.echo(FAILED[verb])
                fail(str(exc))
            except KeyboardInterrupt:
                fail("interrupted", 130)
            except BrokenPipeError:
                # The reader went away (e.g. `| head`): not an error worth a message.
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                sys.exit(0)
            except Exception as exc:
                logging.getLogger("ara_ldap").debug("unexpected error", exc_info=True)
                fail(f"unexpected {type(exc).__name__}: {exc}")

        return inner  # type: ignore[return-value]

    return wrap


def pairs(args: Sequence[str], what: str) -> list[tuple[str, str]]:
    if len(args) % 2:
        fail(f"{what}: expected FIELD VALUE pairs, got an odd number of arguments")
    return [(args[i], args[i + 1]) for i in range(0, len(args), 2)]
