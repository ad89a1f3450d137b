"""No bind password or SIP secret in logs or error messages."""

from __future__ import annotations

import logging

import pytest

from ara_ldap.bootstrap import open_realtime
from ara_ldap.errors import AraError
from ara_ldap.testing.ldap import ldap_settings
from ara_ldap.testing.slapd import Slapd

SIP_SECRET = "Sip-S3cret-Value-QQQ"


def test_secrets_stay_out_of_logs_and_errors(
    fresh_slapd: Slapd, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    realtime = open_realtime(ldap_settings(fresh_slapd))
    messages: list[str] = [repr(realtime.backends["directory"])]
    try:
        realtime.store("sippeers", {"name": "sec", "secret": SIP_SECRET})
        for attempt in (
            lambda: realtime.store("sippeers", {"name": "sec", "secret": SIP_SECRET}),
            lambda: realtime.store(
                "sippeers", [("name", "sec2"), ("secret", SIP_SECRET), ("secret", SIP_SECRET + "2")]
            ),
            lambda: realtime.update(
                "sippeers", "name", "sec", [("secret", SIP_SECRET), ("secret", "x")]
            ),
        ):
            with pytest.raises(AraError) as info:
                attempt()
            messages.append(str(info.value))
        fresh_slapd.kill()
        with pytest.raises(AraError) as info:
            realtime.update("sippeers", "name", "sec", {"secret": SIP_SECRET})
        messages.append(str(info.value))
    finally:
        realtime.close()
    text = caplog.text + "\n".join(messages)
    assert SIP_SECRET not in text
    assert fresh_slapd.admin_password not in text
