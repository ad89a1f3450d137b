"""One deadline per realtime call: connect, retry and failover all spend the same budget.

Without it each layer had its own timeout (a read retried once on a hung server held a
worker for 2 x ``timeout``, more with several URLs or backends), while Asterisk had given
up long before.  A call opens a :func:`budget`; nested budgets only ever shorten it, and
backends size their socket timeouts from :func:`remaining`.  A context variable, so each
worker thread (and each asyncio task) has its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_deadline: ContextVar[float | None] = ContextVar("ara_ldap_deadline", default=None)

#: Below this, an I/O step is not started: it could not finish anyway.
MIN_STEP = 0.05

#: Kept back from every I/O step's timeout for what follows a timed-out step (the error,
#: marking the server down, the answer): without it a call on a frozen server overran its
#: budget by 1.5-7 ms (tests/ldap/test_replica_faults.py, SIGSTOP, idle machine).
WRAP_UP = 0.02


@contextmanager
def budget(seconds: float | None) -> Iterator[float]:
    """Run the block within ``seconds`` (or the enclosing budget, whichever ends first);
    yields the absolute monotonic deadline.  ``None``: keep the enclosing one."""
    current = _deadline.get()
    candidate = None if seconds is None else time.monotonic() + seconds
    if current is None:
        new = candidate
    elif candidate is None:
        new = current
    else:
        new = min(current, candidate)
    token = _deadline.set(new)
    try:
        yield new if new is not None else float("inf")
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left in the current call's budget (may be <= 0), or ``None`` if unbounded."""
    current = _deadline.get()
    return None if current is None else current - time.monotonic()


def expired() -> bool:
    """True when less than :data:`MIN_STEP` plus :data:`WRAP_UP` is left: no further I/O
    step is worth starting (it could not run :data:`MIN_STEP` and still end in time)."""
    left = remaining()
    return left is not None and left < MIN_STEP + WRAP_UP


def clamp(seconds: float) -> float:
    """``seconds`` cut to what is left of the budget less :data:`WRAP_UP` (at least
    :data:`MIN_STEP`), so a step that times out still lets the call end within it."""
    left = remaining()
    if left is None:
        return seconds
    return max(MIN_STEP, min(seconds, left - WRAP_UP))
