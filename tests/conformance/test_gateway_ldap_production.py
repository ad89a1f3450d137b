"""The conformance suite through the res_config_curl gateway over a production-shaped
directory (``ProductionSlapd``: service account under ACLs, size limit 3 with paging let
through, foreign entries, ``cn=Subschema`` readable or hidden)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ara_ldap.testing.conformance import ReadSuite, Target, WriteSuite, ldap_target
from ara_ldap.testing.conformance.curl import gateway_target
from ara_ldap.testing.databases import unavailable
from ara_ldap.testing.slapd import INSTALL_HINT, missing_tools, production_slapd

#: ``require`` cases that need attribute syntaxes (see test_ldap_production.py).
NEEDS_SCHEMA = (
    "test_require_of_text_in_an_integer_field_is_a_problem",
    "test_require_names_the_field_of_each_problem",
    "test_require_reports_every_problem",
)


@pytest.fixture(scope="module", params=["schema-readable", "schema-hidden"])
def conformance_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    variant: str = request.param
    missing = missing_tools()
    if missing:
        unavailable(f"{', '.join(missing)} not found: {INSTALL_HINT}")
    with (
        production_slapd(size_limit=3, schema_readable=variant == "schema-readable") as slapd,
        ldap_target(slapd, name=f"ldap-production-{variant}") as inner,
        gateway_target(inner) as target,
    ):
        yield target


@pytest.fixture(autouse=True)
def _schema_cases(request: pytest.FixtureRequest, conformance_target: Target) -> None:
    hidden = "schema-hidden" in request.node.callspec.params.get("conformance_target", "")
    if hidden and request.node.originalname in NEEDS_SCHEMA:
        pytest.skip("the subschema is hidden: require cannot check attribute syntaxes")


class TestReads(ReadSuite):
    pass


class TestWrites(WriteSuite):
    pass
