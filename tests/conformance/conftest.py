"""Conformance suite wiring: the fixtures every backend module shares.

Each ``test_<backend>.py`` supplies one module-scoped ``conformance_target`` (start the
server, load the data set once) and subclasses the suites; the ``realtime``, ``fresh``,
``capabilities`` and ``dataset`` fixtures imported here derive from it.  A server that is
not there skips its module, except under ``CI=true``, where it fails it.
"""

from __future__ import annotations

from ara_ldap.testing.conformance.fixtures import (  # noqa: F401  (fixtures, used by name)
    capabilities,
    dataset,
    fresh,
    realtime,
)
