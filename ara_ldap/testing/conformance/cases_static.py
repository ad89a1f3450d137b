"""Static realtime: config files assembled from ``ast_config`` rows as Asterisk builds them
(realtime-api.md §9, curl-protocol.md §9): order, category splitting, includes.

The files are drawn in :mod:`.dataset`.
"""

from __future__ import annotations

import pytest

from ara_ldap.errors import NotFound
from ara_ldap.static import Category, StaticConfig
from ara_ldap.testing.conformance.requirements import Cases, RealtimeLike, requires

__all__ = ["StaticCases"]


def _categories(config: StaticConfig) -> list[Category]:
    return config.categories()


def _names(config: StaticConfig) -> list[str]:
    return [c.name for c in _categories(config)]


class StaticCases(Cases):
    """``static(filename)``: categories in Asterisk's order, includes inlined."""

    operation = "static"

    def test_static_builds_categories_in_asterisk_order_with_the_include_inlined(
        self, realtime: RealtimeLike
    ) -> None:
        # cat_metric DESC: general (3), the include (2), authentication (1), general (0).
        assert _names(realtime.static("sip.conf")) == [
            "general",
            "alice",
            "bob",
            "authentication",
            "general",
        ]

    def test_static_orders_variables_by_var_metric(self, realtime: RealtimeLike) -> None:
        general = _categories(realtime.static("sip.conf"))[0]
        assert [k for k, _ in general.variables] == ["context", "allow", "allow", "useragent"]

    def test_static_keeps_repeated_keys_in_order(self, realtime: RealtimeLike) -> None:
        general = _categories(realtime.static("sip.conf"))[0]
        assert [v for k, v in general.variables if k == "allow"] == ["ulaw", "alaw"]

    def test_static_skips_commented_rows(self, realtime: RealtimeLike) -> None:
        every = [k for c in _categories(realtime.static("sip.conf")) for k, _ in c.variables]
        assert "bindport" not in every

    def test_static_keeps_a_value_with_a_semicolon_whole(self, realtime: RealtimeLike) -> None:
        general = _categories(realtime.static("sip.conf"))[0]
        assert ("useragent", "Ara; PBX") in general.variables

    def test_static_same_name_at_another_cat_metric_is_another_category(
        self, realtime: RealtimeLike
    ) -> None:
        categories = _categories(realtime.static("sip.conf"))
        first, last = categories[0], categories[-1]
        assert (first.name, last.name) == ("general", "general")
        assert last.variables == [("callcounter", "yes")]

    def test_static_interleaved_rows_split_a_category(self, realtime: RealtimeLike) -> None:
        config = realtime.static("features.conf")
        assert [(c.name, c.variables) for c in _categories(config)] == [
            ("featuremap", [("blindxfer", "#1")]),
            ("applicationmap", [("testfeature", "#5,self,Playback")]),
            ("featuremap", [("atxfer", "*2")]),
        ]

    def test_static_include_brings_the_included_files_categories(
        self, realtime: RealtimeLike
    ) -> None:
        categories = _categories(realtime.static("sip.conf"))
        assert [(c.name, c.variables) for c in categories[1:3]] == [
            ("alice", [("type", "friend"), ("host", "dynamic")]),
            ("bob", [("type", "friend")]),
        ]

    def test_static_of_an_included_file_alone(self, realtime: RealtimeLike) -> None:
        assert _names(realtime.static("sip-users.conf")) == ["alice", "bob"]

    def test_static_of_a_file_not_stored_is_not_found(self, realtime: RealtimeLike) -> None:
        with pytest.raises(NotFound):
            realtime.static("nosuch.conf")

    def test_static_with_an_include_not_stored_is_not_found(self, realtime: RealtimeLike) -> None:
        # Asterisk would silently return the file cut at the include.
        with pytest.raises(NotFound):
            realtime.static("broken.conf")

    @requires("detailed_errors")
    def test_static_not_found_names_the_missing_include(self, realtime: RealtimeLike) -> None:
        with pytest.raises(NotFound, match=r"missing\.conf"):
            realtime.static("broken.conf")
