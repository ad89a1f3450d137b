"""One budget per call (ara_ldap.deadline): nesting only shortens it, and an I/O step's
timeout leaves the call time to end within it."""

from __future__ import annotations

import pytest

from ara_ldap import deadline


def test_without_a_budget_a_step_keeps_its_own_timeout() -> None:
    assert deadline.clamp(3.0) == 3.0
    assert deadline.remaining() is None


def test_a_nested_budget_never_lengthens_the_enclosing_one() -> None:
    with deadline.budget(1.0) as outer, deadline.budget(5.0) as inner:
        assert inner == outer


def test_a_nested_budget_may_shorten_the_enclosing_one() -> None:
    with deadline.budget(5.0) as outer, deadline.budget(1.0) as inner:
        assert inner < outer


def test_a_step_timeout_keeps_the_wrap_up_time_back_from_the_budget() -> None:
    with deadline.budget(1.0):
        left = deadline.remaining()
        step = deadline.clamp(10.0)
    assert left is not None
    assert step <= left - deadline.WRAP_UP


def test_a_step_timeout_shorter_than_the_budget_is_kept() -> None:
    with deadline.budget(5.0):
        assert deadline.clamp(1.0) == 1.0


def test_a_spent_budget_still_gives_a_step_the_minimum_and_says_expired() -> None:
    with deadline.budget(0.0):
        assert deadline.clamp(1.0) == pytest.approx(deadline.MIN_STEP)
        assert deadline.expired()


def test_a_step_is_not_started_when_it_could_not_run_its_minimum_and_wrap_up() -> None:
    with deadline.budget(deadline.MIN_STEP + deadline.WRAP_UP / 2):
        assert deadline.expired()
    with deadline.budget(deadline.MIN_STEP + deadline.WRAP_UP + 0.5):
        assert not deadline.expired()
