"""The PJSIP cases are gated on the ``pjsip`` capability: a target whose backend does not
configure the ``ps_*`` families skips every one of them with a reason naming them, and a
target that has them runs them (never a silent skip)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ara_ldap.testing.conformance import Target, run_suite, sql_target
from ara_ldap.testing.databases import sqlite_url


@pytest.fixture(scope="module")
def sqlite_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    url = sqlite_url(Path(tmp_path_factory.mktemp("pjsip-gating")))
    with sql_target(url, name="sqlite") as target:
        yield target


def test_the_sql_loader_gives_a_target_with_the_families_the_pjsip_capability(
    sqlite_target: Target,
) -> None:
    assert sqlite_target.capabilities.pjsip


def test_without_the_pjsip_capability_every_pjsip_case_skips_naming_the_families(
    sqlite_target: Target,
) -> None:
    results = run_suite(sqlite_target.with_capabilities(pjsip=False), keyword="pjsip")
    assert results and {r.outcome for r in results} == {"skipped"}
    assert all("ps_contacts" in r.reason and "not all configured" in r.reason for r in results)


def test_with_the_pjsip_capability_no_pjsip_case_skips(sqlite_target: Target) -> None:
    results = run_suite(sqlite_target, keyword="pjsip")
    assert results and [r.case for r in results if r.outcome != "passed"] == []
