"""The configuration file: validated at load, every error names its YAML path.

The file plays the parts of res_ldap.conf (connection and table maps, realtime-api.md
§3) and extconfig.conf (routing families to backends by priority, §2 and §11.3).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from ara_ldap.config import (
    LdapBackendSettings,
    Route,
    Settings,
    load_config,
    load_settings,
    shipped_ldap_families,
)
from ara_ldap.errors import ConfigError
from ara_ldap.pjsip_columns import COLUMNS, GENERIC_TABLES

SECRET = "Zq7-very-distinctive-secret-9Xk"
CLASSIC = ["sippeers", "sipusers", "sipregs", "iaxpeers", "iaxusers", "voicemail",
           "extensions", "ast_config"]
SHIPPED = [*CLASSIC, *COLUMNS, *GENERIC_TABLES]


def backend(**extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "type": "ldap",
        "urls": ["ldap://127.0.0.1:389"],
        "base_dn": "dc=example,dc=org",
    }
    spec.update(extra)
    return spec


def config(**extra: Any) -> dict[str, Any]:
    return {"backends": {"d": backend(**extra)}}


def ldap(settings: Settings, name: str = "d") -> LdapBackendSettings:
    spec = settings.backends[name]
    assert isinstance(spec, LdapBackendSettings)
    return spec


def config_error(data: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_settings(data)
    return info.value


# The shipped families ------------------------------------------------------------------


def test_the_minimal_backend_gets_every_shipped_family() -> None:
    settings = load_settings(config())
    assert sorted(ldap(settings).families) == sorted(SHIPPED)


def test_the_shipped_families_file_holds_the_classic_and_pjsip_families() -> None:
    assert sorted(shipped_ldap_families()) == sorted(SHIPPED)


def test_base_dn_placeholders_are_replaced_by_the_backend_base() -> None:
    families = ldap(load_settings(config())).families
    assert families["sippeers"].base_dn == "ou=sip,ou=asterisk,dc=example,dc=org"
    assert families["voicemail"].base_dn == "ou=voicemail,ou=asterisk,dc=example,dc=org"


def test_sipusers_and_sipregs_extend_sippeers() -> None:
    families = ldap(load_settings(config())).families
    assert families["sipusers"] == families["sippeers"]
    assert families["sipregs"] == families["sippeers"]


def test_default_families_false_ships_no_families() -> None:
    assert ldap(load_settings(config(default_families=False))).families == {}


def test_defaults_of_a_backend() -> None:
    spec = ldap(load_settings(config()))
    assert spec.pool_size == 4
    assert spec.value_order == "server"
    assert spec.bind_password() is None


def test_a_single_url_string_is_split_on_whitespace() -> None:
    spec = ldap(load_settings(config(urls="ldap://a.example.org ldaps://b.example.org:636/")))
    assert spec.urls == ["ldap://a.example.org", "ldaps://b.example.org:636"]


def test_ldapi_urls_are_accepted() -> None:
    spec = ldap(load_settings(config(urls=["ldapi://%2Fvar%2Frun%2Fslapd%2Fldapi"])))
    assert spec.urls == ["ldapi://%2Fvar%2Frun%2Fslapd%2Fldapi"]


# Errors name the YAML path -----------------------------------------------------------------


def test_an_unknown_key_names_its_path() -> None:
    error = config_error(config(pol_size=3))
    assert error.path == "backends.d.pol_size"
    assert "backends.d.pol_size" in str(error)
    assert "unknown key" in str(error)


def test_an_unknown_top_level_key_names_it() -> None:
    error = config_error({**config(), "backend": {}})
    assert error.path == "backend"


def test_a_wrong_type_names_its_path() -> None:
    error = config_error(config(pool_size="x"))
    assert error.path == "backends.d.pool_size"
    assert "integer" in str(error)


def test_an_out_of_range_value_names_its_path() -> None:
    assert config_error(config(pool_size=0)).path == "backends.d.pool_size"


def test_a_bad_url_names_the_urls_key_and_the_url() -> None:
    error = config_error(config(urls=["http://ldap.example.org"]))
    assert error.path == "backends.d.urls"
    assert "http://ldap.example.org" in str(error)


def test_a_port_out_of_range_is_rejected() -> None:
    error = config_error(config(urls=["ldap://ldap.example.org:70000"]))
    assert error.path == "backends.d.urls"
    assert "70000" in str(error)


def test_an_unknown_backend_type_names_the_backend() -> None:
    error = config_error({"backends": {"d": {"type": "mongo"}}})
    assert error.path is not None and error.path.startswith("backends.d")


def test_no_backends_is_an_error() -> None:
    assert config_error({"backends": {}}).path == "backends"


def test_missing_backends_is_a_required_key() -> None:
    error = config_error({})
    assert error.path == "backends"
    assert "required" in str(error)


def test_a_top_level_that_is_not_a_mapping_is_an_error() -> None:
    assert "mapping" in str(config_error(["backends"]))


def test_an_rdn_field_missing_from_attributes_names_the_family() -> None:
    error = config_error(config(families={"sippeers": {"rdn": "nope"}}))
    assert "backends.d.families.sippeers" in str(error)
    assert "rdn" in str(error) and "'nope'" in str(error)


def test_an_rdn_template_field_missing_from_attributes_is_an_error() -> None:
    error = config_error(
        config(families={"voicemail": {"rdn": {"attribute": "cn", "value": "{box}@{context}"}}})
    )
    assert "backends.d.families.voicemail" in str(error)
    assert "'box'" in str(error)


def test_a_multi_valued_field_missing_from_attributes_names_the_family() -> None:
    error = config_error(config(families={"extensions": {"multi_valued": ["nope"]}}))
    assert error.path == "backends.d.families.extensions"
    assert "multi_valued" in str(error) and "'nope'" in str(error)


def test_an_attribute_mapped_twice_names_the_attributes_key() -> None:
    error = config_error(config(families={"extensions": {"attributes": {"label": "AstContext"}}}))
    assert error.path == "backends.d.families.extensions.attributes"
    assert "AstContext" in str(error)


def test_an_invalid_attribute_name_is_rejected() -> None:
    error = config_error(config(families={"extensions": {"attributes": {"x": "not an attr"}}}))
    assert error.path == "backends.d.families.extensions.attributes"


def test_a_filter_without_parentheses_names_the_filter_key() -> None:
    error = config_error(config(families={"extensions": {"filter": "objectClass=x"}}))
    assert error.path == "backends.d.families.extensions.filter"
    assert "parenthesised" in str(error)


def test_an_unbalanced_filter_is_rejected() -> None:
    error = config_error(config(families={"extensions": {"filter": "(objectClass=x))("}}))
    assert error.path == "backends.d.families.extensions.filter"


def test_extends_of_an_unknown_family_names_the_extends_key() -> None:
    error = config_error(config(families={"mine": {"extends": "nope"}}))
    assert error.path == "backends.d.families.mine.extends"
    assert "'nope'" in str(error)


def test_an_extends_loop_is_reported_with_its_chain() -> None:
    error = config_error(
        config(families={"x": {"extends": "y"}, "y": {"extends": "x"}}, default_families=False)
    )
    assert error.path == "backends.d.families.x"
    assert "x -> y -> x" in str(error)


def test_a_route_to_an_undefined_backend_names_the_family_and_the_backend() -> None:
    error = config_error({**config(), "families": {"sippeers": ["d", "nope"]}})
    assert "families.sippeers" in str(error)
    assert "'nope'" in str(error)


def test_a_route_to_an_undefined_backend_sets_the_error_path() -> None:
    error = config_error({**config(), "families": {"sippeers": ["d", "nope"]}})
    assert error.path == "families.sippeers"
    assert "Value error" not in str(error)


def test_two_password_sources_are_an_error() -> None:
    error = config_error(config(bind_dn="cn=a", password=SECRET, password_env="ARA_PW"))
    assert error.path == "backends.d"
    assert "password" in str(error) and "password_env" in str(error)


def test_a_password_without_bind_dn_is_an_error() -> None:
    error = config_error(config(password=SECRET))
    assert error.path == "backends.d"
    assert "bind_dn" in str(error)


def test_base_dn_placeholder_without_a_backend_base_dn_names_the_family() -> None:
    spec = backend()
    del spec["base_dn"]
    error = config_error({"backends": {"d": spec}})
    assert error.path is not None
    assert error.path.startswith("backends.d.families.")
    assert error.path.endswith(".base_dn")
    assert "{base_dn}" in str(error)


def test_a_family_that_is_not_a_mapping_is_an_error() -> None:
    error = config_error(config(families={"sippeers": "oops"}))
    assert error.path == "backends.d.families.sippeers"


def test_the_source_file_is_named_in_errors_from_load_settings() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(config(pol_size=1), source="/etc/ara-ldap/ara-ldap.yaml")
    assert str(info.value).startswith("/etc/ara-ldap/ara-ldap.yaml: backends.d.pol_size: ")


# Files --------------------------------------------------------------------------------------


def test_load_config_reads_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "ara-ldap.yaml"
    path.write_text(
        "backends:\n  d:\n    type: ldap\n    urls: [ldap://127.0.0.1:389]\n"
        "    base_dn: dc=example,dc=org\n"
    )
    settings = load_config(path)
    assert settings.source == str(path)
    assert "sippeers" in ldap(settings).families


def test_an_empty_file_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ara-ldap.yaml"
    path.write_text("")
    with pytest.raises(ConfigError, match="empty") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_invalid_yaml_is_reported_with_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "ara-ldap.yaml"
    path.write_text("backends:\n  d:\n    type: ldap\n   urls: [\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert "invalid YAML" in message
    assert "line 4" in message and "column" in message


def test_a_missing_file_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_errors_in_a_file_name_the_file_and_the_path(tmp_path: Path) -> None:
    path = tmp_path / "ara-ldap.yaml"
    path.write_text(
        "backends:\n  d:\n    type: ldap\n    urls: [ldap://h]\n    base_dn: dc=x\n"
        "    pol_size: 2\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.path == "backends.d.pol_size"
    assert info.value.source == str(path)
    assert str(info.value) == f"{path}: backends.d.pol_size: " + (
        "unknown key (check its spelling and docs/configuration.md)"
    )


def test_family_errors_in_a_file_keep_their_path_and_source(tmp_path: Path) -> None:
    path = tmp_path / "ara-ldap.yaml"
    path.write_text(
        "backends:\n  d:\n    type: ldap\n    urls: [ldap://h]\n    base_dn: dc=x\n"
        "    families:\n      mine:\n        extends: nope\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.path == "backends.d.families.mine.extends"
    assert info.value.source == str(path)
    assert str(info.value).count(str(path)) == 1


# Passwords ----------------------------------------------------------------------------------


def test_password_from_a_file_drops_the_trailing_newline(tmp_path: Path) -> None:
    secret_file = tmp_path / "bind.pw"
    secret_file.write_text(SECRET + "\n")
    spec = ldap(load_settings(config(bind_dn="cn=a", password_file=str(secret_file))))
    assert spec.bind_password() == SECRET


def test_an_unreadable_password_file_is_a_config_error(tmp_path: Path) -> None:
    spec = ldap(load_settings(config(bind_dn="cn=a", password_file=str(tmp_path / "none"))))
    with pytest.raises(ConfigError) as info:
        spec.bind_password()
    assert info.value.path == "password_file"


def test_password_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARA_TEST_BIND_PW", SECRET)
    spec = ldap(load_settings(config(bind_dn="cn=a", password_env="ARA_TEST_BIND_PW")))
    assert spec.bind_password() == SECRET


def test_a_missing_environment_variable_is_a_config_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ARA_TEST_BIND_PW", raising=False)
    spec = ldap(load_settings(config(bind_dn="cn=a", password_env="ARA_TEST_BIND_PW")))
    with pytest.raises(ConfigError, match="ARA_TEST_BIND_PW"):
        spec.bind_password()


def test_an_inline_password_is_returned_as_given() -> None:
    spec = ldap(load_settings(config(bind_dn="cn=a", password=SECRET)))
    assert spec.bind_password() == SECRET


def test_the_password_never_appears_in_the_settings_repr() -> None:
    settings = load_settings(config(bind_dn="cn=a", password=SECRET))
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert SECRET not in repr(ldap(settings))


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"bind_dn": "cn=a", "password": SECRET, "pol_size": 1}, id="unknown key"),
        pytest.param({"bind_dn": "cn=a", "password": SECRET, "password_env": "X"}, id="2 sources"),
        pytest.param({"password": SECRET}, id="no bind_dn"),
        pytest.param({"bind_dn": "cn=a", "password": [SECRET]}, id="wrong type"),
        pytest.param({"bind_dn": "cn=a", "password": SECRET, "urls": ["bad"]}, id="bad url"),
        pytest.param(
            {"bind_dn": "cn=a", "password": SECRET, "families": {"sippeers": {"rdn": "x"}}},
            id="bad family",
        ),
    ],
)
def test_the_password_never_appears_in_a_config_error(extra: dict[str, Any]) -> None:
    error = config_error(config(**extra))
    assert SECRET not in str(error)
    assert SECRET not in repr(error)


def test_the_password_never_appears_in_a_yaml_file_error(tmp_path: Path) -> None:
    path = tmp_path / "ara-ldap.yaml"
    path.write_text(
        "backends:\n  d:\n    type: ldap\n    urls: [ldap://h]\n    bind_dn: cn=a\n"
        f"    password: {SECRET}\n    pol_size: 2\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert SECRET not in str(info.value)


# Per-family overrides -------------------------------------------------------------------------


def test_an_override_merges_attributes_key_by_key() -> None:
    families = ldap(
        load_settings(
            config(families={"extensions": {"attributes": {"app": "AraApp", "label": "AraLabel"}}})
        )
    ).families
    attributes = families["extensions"].attributes
    shipped = shipped_ldap_families()["extensions"]["attributes"]
    assert attributes["app"] == "AraApp"
    assert attributes["label"] == "AraLabel"
    assert attributes["context"] == shipped["context"]
    assert attributes["exten"] == shipped["exten"]


def test_an_override_with_none_removes_a_field() -> None:
    families = ldap(
        load_settings(config(families={"extensions": {"attributes": {"appdata": None}}}))
    ).families
    assert "appdata" not in families["extensions"].attributes
    assert "app" in families["extensions"].attributes


def test_an_override_replaces_other_keys_whole() -> None:
    families = ldap(
        load_settings(
            config(
                families={
                    "sippeers": {
                        "multi_valued": ["allow"],
                        "filter": "(objectClass=AraSIPUser)",
                    }
                }
            )
        )
    ).families
    assert families["sippeers"].multi_valued == ["allow"]
    assert families["sippeers"].filter == "(objectClass=AraSIPUser)"
    assert families["sippeers"].rdn == "name"  # untouched keys keep the shipped value


def test_an_override_of_a_family_reaches_the_families_that_extend_it() -> None:
    families = ldap(
        load_settings(config(families={"sippeers": {"filter": "(objectClass=AraSIPUser)"}}))
    ).families
    assert families["sipusers"].filter == "(objectClass=AraSIPUser)"


def test_a_family_may_extend_another_and_override_keys() -> None:
    families = ldap(
        load_settings(
            config(families={"friends": {"extends": "sippeers", "base_dn": "ou=f,{base_dn}"}})
        )
    ).families
    assert families["friends"].base_dn == "ou=f,dc=example,dc=org"
    assert families["friends"].attributes == families["sippeers"].attributes


def test_an_override_does_not_change_the_shipped_maps() -> None:
    before = copy.deepcopy(shipped_ldap_families())
    load_settings(config(families={"extensions": {"attributes": {"appdata": None}}}))
    assert shipped_ldap_families() == before


def test_a_new_family_can_be_defined_from_scratch() -> None:
    families = ldap(
        load_settings(
            config(
                default_families=False,
                families={
                    "queues": {
                        "base_dn": "ou=queues,{base_dn}",
                        "object_classes": ["top", "AraQueue"],
                        "rdn": "name",
                        "attributes": {"name": "cn", "strategy": "AraQueueStrategy"},
                    }
                },
            )
        )
    ).families
    assert list(families) == ["queues"]
    assert families["queues"].base_dn == "ou=queues,dc=example,dc=org"


# Routes ----------------------------------------------------------------------------------------


def test_routes_default_to_every_family_of_the_backend() -> None:
    routes = load_settings(config()).routes()
    assert sorted(routes) == sorted(SHIPPED)
    assert all(route == Route(backends=["d"]) for route in routes.values())


def test_a_family_held_by_two_backends_routes_to_both_in_listing_order() -> None:
    settings = load_settings({"backends": {"a": backend(), "b": backend()}})
    assert settings.routes()["sippeers"].backends == ["a", "b"]


def test_explicit_routes_win_over_the_defaults() -> None:
    settings = load_settings(
        {
            "backends": {"a": backend(), "b": backend()},
            "families": {"sippeers": {"backends": ["b", "a"], "failover_on_not_found": True}},
        }
    )
    routes = settings.routes()
    assert routes["sippeers"] == Route(backends=["b", "a"], failover_on_not_found=True)
    assert routes["voicemail"].backends == ["a", "b"]


def test_a_route_may_be_written_as_a_name_or_a_list() -> None:
    settings = load_settings(
        {"backends": {"a": backend(), "b": backend()},
         "families": {"sippeers": "b", "voicemail": ["b", "a"]}}
    )
    assert settings.families["sippeers"] == Route(backends=["b"])
    assert settings.families["voicemail"] == Route(backends=["b", "a"])


def test_an_explicit_route_may_name_a_family_no_backend_defines() -> None:
    settings = load_settings({**config(), "families": {"queues": "d"}})
    assert settings.routes()["queues"] == Route(backends=["d"])


def test_failover_on_not_found_is_off_by_default() -> None:
    assert Route(backends=["d"]).failover_on_not_found is False


def test_a_route_needs_at_least_one_backend() -> None:
    error = config_error({**config(), "families": {"sippeers": []}})
    assert error.path == "families.sippeers.backends"


# Static ------------------------------------------------------------------------------------------


def test_static_settings_default_to_the_ast_config_family_in_asterisk_order() -> None:
    static = load_settings(config()).static
    assert static.family == "ast_config"
    assert static.order == "asterisk"
    assert static.files == {}


def test_static_order_must_be_asterisk_or_ldap() -> None:
    error = config_error({**config(), "static": {"order": "random"}})
    assert error.path == "static.order"
