"""The cache's refresh under a production directory's limits (service account, small
size limit): it is cut short, the cache says exactly which ``limits`` line to add, reads
go to the directory meanwhile, and with that line applied the cache goes live."""

from __future__ import annotations

import logging
import re

import pytest

from ara_ldap.bootstrap import open_realtime
from ara_ldap.realtime import Realtime
from ara_ldap.testing.ldap import directory_cache, ldap_settings
from ara_ldap.testing.slapd import ProductionSlapd
from ara_ldap.testing.waiting import poll

BOUND = 5.0
LIMITS = re.compile(r'limits (dn\.exact="[^"]+" size=unlimited time=unlimited)')


def _open(slapd: ProductionSlapd) -> Realtime:
    options = {"enabled": "auto", "probe_interval": 0.05, "families": ["sippeers"]}
    return open_realtime(ldap_settings(slapd, cache=options))


def _advice(slapd: ProductionSlapd, caplog: pytest.LogCaptureFixture) -> str:
    """Run a cache on ``slapd`` until it gives up; the limits line it logged."""
    with caplog.at_level(logging.ERROR, logger="ara_ldap.ldap.cache"):
        rt = _open(slapd)
        try:
            assert poll(lambda: directory_cache(rt).state("sippeers") == "off")
            assert len(rt.multi("sippeers", {"name LIKE": "%"})) > slapd.size_limit
        finally:
            rt.close()
    found = [LIMITS.search(r.getMessage()) for r in caplog.records]
    lines = [m.group(1) for m in found if m]
    assert len(lines) == 1, [r.getMessage() for r in caplog.records]
    return lines[0]


def test_refresh_cut_by_a_size_limit_names_the_limits_line(
    ara_slapd_production: ProductionSlapd, caplog: pytest.LogCaptureFixture
) -> None:
    line = _advice(ara_slapd_production, caplog)
    assert f'dn.exact="{ara_slapd_production.service_dn}"' in line


def test_refresh_works_once_the_named_limits_line_is_added(
    ara_slapd_production: ProductionSlapd, caplog: pytest.LogCaptureFixture
) -> None:
    slapd = ara_slapd_production
    line = _advice(slapd, caplog)
    slapd.ldapmodify_config(  # first, so it wins over the harness's own line
        f"dn: olcDatabase={{1}}mdb,cn=config\nchangetype: modify\nadd: olcLimits\n"
        f"olcLimits: {{0}}{line}\n"
    )
    slapd.restart()  # measured: slapd 2.5.13 applies an olcLimits added at runtime only then
    rt = _open(slapd)
    try:
        assert poll(lambda: directory_cache(rt).live("sippeers"))
        assert directory_cache(rt).wait_synced(BOUND)
        assert len(rt.multi("sippeers", {"name LIKE": "%"})) > slapd.size_limit
    finally:
        rt.close()
