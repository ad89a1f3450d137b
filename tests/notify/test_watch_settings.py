"""The notifier's process caches only the mapped families, and saves no state."""

from __future__ import annotations

from pathlib import Path

from ara_ldap.config import LdapBackendSettings, Settings, load_settings
from ara_ldap.notify.commands import rules_for, watch_settings


def _settings(cache: dict[str, object]) -> Settings:
    return load_settings(
        {
            "backends": {
                "d": {
                    "type": "ldap",
                    "urls": ["ldap://127.0.0.1:1"],
                    "base_dn": "dc=example,dc=org",
                    "cache": cache,
                }
            },
            "notify": {"rtcachefriends": ["sippeers"], "sorcery_caches": {"endpoint": "ep"}},
        }
    )


def _cache_of(settings: Settings) -> tuple[list[str] | None, Path | None]:
    backend = settings.backends["d"]
    assert isinstance(backend, LdapBackendSettings)
    return backend.cache.families, backend.cache.state_dir


def test_only_mapped_families_are_streamed_and_no_state_is_saved(tmp_path: Path) -> None:
    settings = _settings({"state_dir": str(tmp_path)})
    narrowed = watch_settings(settings, rules_for(settings).families())
    families, state_dir = _cache_of(narrowed)
    assert families == ["sippeers", "ast_config", "ps_endpoints"]
    assert state_dir is None
    assert _cache_of(settings) == (None, tmp_path)  # the loaded settings are untouched


def test_families_the_site_does_not_cache_stay_uncached() -> None:
    settings = _settings({"families": ["sippeers", "voicemail"]})
    narrowed = watch_settings(settings, rules_for(settings).families())
    assert _cache_of(narrowed)[0] == ["sippeers"]
