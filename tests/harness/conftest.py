"""Load the ara_ldap pytest plugin for the harness tests unless its entry point did.

``pytest_plugins`` is not allowed in a non-root conftest when pytest starts
from a parent directory, so the plugin is registered from pytest_configure.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    manager = config.pluginmanager
    if not (manager.has_plugin("ara_ldap") or manager.has_plugin("ara_ldap.testing.pytest_plugin")):
        manager.import_plugin("ara_ldap.testing.pytest_plugin")
