"""Waiting for something that happens in another thread or process (tests, harness)."""

from __future__ import annotations

import time
from collections.abc import Callable


def poll(check: Callable[[], bool], timeout: float = 5.0, interval: float = 0.005) -> bool:
    """Call ``check`` every ``interval`` seconds until it is true or ``timeout`` seconds
    have passed; the last answer (checked once more at the end) is returned, so a caller
    asserts on it and a slow machine gets the whole bound."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(interval)
    return check()
