"""Static realtime from the directory: ldif/50-config.ldif rendered as Asterisk builds it."""

from __future__ import annotations

import pytest

from ara_ldap.errors import NotFound
from ara_ldap.realtime import Realtime


def test_sip_conf_categories_come_in_asterisk_order_with_the_include(shared_rt: Realtime) -> None:
    config = shared_rt.static("sip.conf")
    assert [c.name for c in config.categories()] == [
        "general",
        "authentication",
        "alice",
        "bob",
        "carol",
    ]


def test_repeated_keys_keep_their_order(shared_rt: Realtime) -> None:
    general = shared_rt.static("sip.conf").categories()[0]
    assert [v for k, v in general.variables if k == "allow"] == ["ulaw", "alaw"]


def test_commented_rows_are_skipped(shared_rt: Realtime) -> None:
    general = shared_rt.static("sip.conf").categories()[0]
    assert "bindport" not in [k for k, _ in general.variables]


def test_rendered_text_inlines_the_include_between_markers(shared_rt: Realtime) -> None:
    text = shared_rt.static("sip.conf").render()
    assert text.startswith("[general]\ncontext = default\n")
    assert '; >>> #include "sip-users.conf"' in text
    assert text.index("[alice]") < text.index("[bob]")


def test_render_without_following_includes_keeps_the_directive(shared_rt: Realtime) -> None:
    text = shared_rt.static("sip.conf").render(follow_includes=False)
    assert '#include "sip-users.conf"' in text and "[bob]" not in text


def test_a_file_that_is_not_stored_is_not_found(shared_rt: Realtime) -> None:
    with pytest.raises(NotFound, match=r"nosuch\.conf"):
        shared_rt.static("nosuch.conf")
