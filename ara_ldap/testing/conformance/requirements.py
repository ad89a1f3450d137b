"""Capability gating and case metadata, after SQLAlchemy's ``testing.requires``.

A case that needs something not every backend can do says so with :func:`requires`
(``@requires("ordered_multi_values")``) or a class-level ``__requires__``; the flag is a
field of :class:`~ara_ldap.backends.base.Capabilities`, checked when the module is imported
(a typo fails at once, not as a silent skip).  When the backend under test declares the
flag ``False`` the case is *skipped with the flag's name*, so a run shows what a backend
cannot do instead of failing it.  ``"!flag"`` is the opposite: the case pins what a
backend *without* the capability does instead (e.g. a duplicate is refused), so a wrong
declaration fails either way.

Every case also carries the realtime operation it exercises (class attribute
``operation``, or :func:`for_operation` on one case), so results can be grouped per backend
and operation (``ara-ldap compare --suite``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, Protocol, TypeVar

import pytest

from ara_ldap.backends.base import Capabilities, Requirement
from ara_ldap.criteria import CriteriaLike
from ara_ldap.record import Record
from ara_ldap.static import StaticConfig

__all__ = [
    "OPERATIONS",
    "Cases",
    "RealtimeLike",
    "for_operation",
    "operation_of",
    "requirements_of",
    "requires",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The operations cases are grouped by, in the order a report lists them.
OPERATIONS: tuple[str, ...] = (
    "single",
    "multi",
    "update",
    "update2",
    "store",
    "destroy",
    "require",
    "static",
    "switch",
)

_FLAGS = frozenset(f.name for f in dataclasses.fields(Capabilities))
_REQUIRES_ATTR = "__conformance_requires__"
_OPERATION_ATTR = "__conformance_operation__"

Changes = Record | Sequence[tuple[str, str]]

#: Skip reasons clearer than the flag's name.
_MISSING = {
    "pjsip": "backend lacks capability 'pjsip': the PJSIP families (ps_endpoints, ps_auths, "
    "ps_aors, ps_contacts, ps_domain_aliases, ps_endpoint_id_ips, ps_registrations, "
    "ps_globals) are not all configured on this target",
}


class RealtimeLike(Protocol):
    """What the suite drives: :class:`ara_ldap.realtime.Realtime`, or a client that speaks
    the same API over another front door (the res_config_curl gateway)."""

    def single(self, family: str, criteria: CriteriaLike) -> Record | None: ...

    def multi(self, family: str, criteria: CriteriaLike) -> list[Record]: ...

    def update(self, family: str, keyfield: str, lookup: str, changes: Changes) -> int: ...

    def update2(self, family: str, criteria: CriteriaLike, changes: Changes) -> int: ...

    def store(self, family: str, record: Changes) -> int: ...

    def destroy(self, family: str, criteria: CriteriaLike) -> int: ...

    def require(self, family: str, requirements: Sequence[Requirement]) -> list[str]: ...

    def static(self, filename: str) -> StaticConfig: ...


def _check_flags(flags: Iterable[str]) -> tuple[str, ...]:
    flags = tuple(flags)
    unknown = [f for f in flags if f.removeprefix("!") not in _FLAGS]
    if unknown:
        raise ValueError(
            f"unknown capability flag(s) {', '.join(unknown)}; "
            f"Capabilities has: {', '.join(sorted(_FLAGS))}"
        )
    return flags


def requires(*flags: str) -> Callable[[F], F]:
    """Run the decorated case only on backends whose capabilities have every flag true
    (``"!flag"``: false)."""
    checked = _check_flags(flags)

    def mark(fn: F) -> F:
        setattr(fn, _REQUIRES_ATTR, (*getattr(fn, _REQUIRES_ATTR, ()), *checked))
        return fn

    return mark


def for_operation(name: str) -> Callable[[F], F]:
    """Attribute one case to ``name`` when it differs from its class's ``operation``."""
    if name not in OPERATIONS:
        raise ValueError(f"unknown operation {name!r}; known: {', '.join(OPERATIONS)}")

    def mark(fn: F) -> F:
        setattr(fn, _OPERATION_ATTR, name)
        return fn

    return mark


def _defining_class(cls: type | None, fn: Callable[..., Any] | None) -> type | None:
    """The class whose body defines ``fn`` (suites combine case classes by inheritance,
    so the concrete class's own attributes say nothing about one case)."""
    if cls is None or fn is None:
        return cls
    name = getattr(fn, "__name__", None)
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass
    return cls


def requirements_of(cls: type | None, fn: Callable[..., Any] | None) -> tuple[str, ...]:
    """The flags a case needs: ``__requires__`` of the class defining it (and of that
    class's bases) plus the case's own :func:`requires`."""
    flags: list[str] = []
    owner = _defining_class(cls, fn)
    if owner is not None:
        for klass in reversed(owner.__mro__):
            flags.extend(klass.__dict__.get("__requires__", ()))
    if fn is not None:
        flags.extend(getattr(fn, _REQUIRES_ATTR, ()))
    return tuple(dict.fromkeys(flags))


def operation_of(cls: type | None, fn: Callable[..., Any] | None) -> str:
    """The operation a case exercises: its own :func:`for_operation`, else the ``operation``
    of the class defining it (``"other"`` if nothing says)."""
    if fn is not None and hasattr(fn, _OPERATION_ATTR):
        return str(getattr(fn, _OPERATION_ATTR))
    return str(getattr(_defining_class(cls, fn), "operation", "other"))


class Cases:
    """Base of every abstract case class: skips a case whose requirements the backend's
    ``capabilities`` fixture does not meet.  Subclasses set ``operation`` and may set
    ``__requires__`` (flags every case of the class needs)."""

    operation: ClassVar[str] = "other"
    __requires__: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check_flags(cls.__dict__.get("__requires__", ()))

    @pytest.fixture(autouse=True)
    def _conformance_requirements(
        self, request: pytest.FixtureRequest, capabilities: Capabilities
    ) -> None:
        fn = getattr(request.node, "function", None)
        for flag in requirements_of(type(self), fn):
            name = flag.removeprefix("!")
            have = bool(getattr(capabilities, name))
            if flag.startswith("!") and have:
                pytest.skip(f"backend has capability {name!r}")
            if not flag.startswith("!") and not have:
                pytest.skip(_MISSING.get(name, f"backend lacks capability {name!r}"))
