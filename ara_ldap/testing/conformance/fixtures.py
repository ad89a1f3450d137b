"""The fixtures the cases use, derived from one fixture a backend's test module supplies.

A backend module defines ``conformance_target`` (module scope: start the server, load the
data set once, yield a :class:`~.loaders.Target`) and makes these available, by importing
them into its conftest.py or test module (``from ara_ldap.testing.conformance.fixtures
import *``).  A module may override ``realtime`` or ``capabilities`` itself, as fsspec's
backends override ``fs``.

* ``realtime``: the Realtime-like object, with the data set loaded (read cases);
* ``fresh``: the same object, for a case that writes: it is reloaded first if an earlier
  case wrote, and marked dirty so the next case reloads (isolation without a server per
  test);
* ``capabilities``: the backend's :class:`~ara_ldap.backends.base.Capabilities`;
* ``dataset``: the :class:`~.dataset.Dataset` the target was loaded with.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest

from ara_ldap.backends.base import Capabilities
from ara_ldap.testing.conformance.dataset import DATASET, Dataset
from ara_ldap.testing.conformance.loaders import Target
from ara_ldap.testing.conformance.requirements import RealtimeLike

if TYPE_CHECKING:
    from ara_ldap.testing.slapd import Slapd

__all__ = ["capabilities", "conformance_target", "dataset", "fresh", "realtime"]


@contextmanager
def running_slapd() -> Iterator[Slapd]:
    """A started, empty slapd with the Asterisk schema, for a module-scoped target.

    Without slapd and ldap-utils the test is skipped, or failed under ``CI=true`` (the
    rule of the ``ara_slapd`` fixtures, which are function- or session-scoped).
    """
    from ara_ldap.testing.databases import unavailable
    from ara_ldap.testing.slapd import INSTALL_HINT, asterisk_slapd, missing_tools

    missing = missing_tools()
    if missing:
        unavailable(f"{', '.join(missing)} not found: {INSTALL_HINT}")
    with asterisk_slapd() as slapd:
        yield slapd


@pytest.fixture(scope="module")
def conformance_target() -> Target:
    """Supplied by each backend's test module (module scope)."""
    raise NotImplementedError(
        "define a module-scoped 'conformance_target' fixture returning a "
        "ara_ldap.testing.conformance.loaders.Target (see ara_ldap.testing.conformance)"
    )


@pytest.fixture
def realtime(conformance_target: Target) -> RealtimeLike:
    """The front door under test, holding exactly the data set."""
    conformance_target.ensure_loaded()
    return conformance_target.realtime


@pytest.fixture
def fresh(conformance_target: Target) -> RealtimeLike:
    """The front door for a case that writes: the data set is intact when the case starts."""
    if conformance_target.reload is None:
        pytest.skip(f"target {conformance_target.name!r} cannot reload: write cases skipped")
    conformance_target.ensure_loaded()
    conformance_target.dirty = True
    return conformance_target.realtime


@pytest.fixture
def capabilities(conformance_target: Target) -> Capabilities:
    return conformance_target.capabilities


@pytest.fixture
def dataset() -> Dataset:
    return DATASET
