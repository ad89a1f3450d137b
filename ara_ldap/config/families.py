"""Family maps completed before validation: the shipped defaults, ``extends``, key-by-key
overrides, ``{base_dn}``, and the ``secret_fields`` merge (LDAP and SQL alike).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from importlib import resources
from typing import Any

import yaml

from ara_ldap.errors import ConfigError


def shipped_ldap_families() -> dict[str, Any]:
    """The shipped default attribute maps (ara_ldap/defaults/ldap-families.yaml)."""
    text = resources.files("ara_ldap").joinpath("defaults/ldap-families.yaml").read_text()
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Override keys of a family; ``attributes`` merge key by key, ``secret_fields`` adds
    to the inherited list (``{replace: [...]}`` replaces it), other keys replace."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if key == "secret_fields":
            out[key] = _merged_secrets(out.get(key), value)
        elif (
            key == "attributes" and isinstance(value, Mapping) and isinstance(out.get(key), Mapping)
        ):
            merged = dict(out[key])
            for fld, attr in value.items():
                if attr is None:
                    merged.pop(fld, None)
                else:
                    merged[fld] = attr
            out[key] = merged
        else:
            out[key] = copy.deepcopy(value)
    return out


def _merged_secrets(inherited: Any, value: Any) -> Any:
    """A site's ``secret_fields`` on top of the shipped (or ``extends``) list: a list adds
    names, so a typo can never unmask the shipped secrets; ``{replace: [...]}`` is the
    explicit way to drop some.  Anything else is left for validation to reject."""
    if isinstance(value, Mapping):
        if set(value) != {"replace"}:
            raise ConfigError(
                "expected a list of fields (added to the shipped ones) or {replace: [fields]}",
                "secret_fields",
            )
        return copy.deepcopy(value["replace"])
    if isinstance(value, list) and isinstance(inherited, list):
        seen = {str(f).lower() for f in inherited}
        return [*inherited, *(f for f in value if str(f).lower() not in seen)]
    return copy.deepcopy(value)


def _check_secret_fields(families: Mapping[str, Any], where: str) -> None:
    """Every ``secret_fields`` name is a field of its family (LDAP: mapped or a slot
    field), so a misspelt name fails loudly instead of masking nothing."""
    for name, body in families.items():
        attributes = body.get("attributes")
        secrets_ = body.get("secret_fields") or []
        if not isinstance(attributes, Mapping) or not isinstance(secrets_, list):
            continue  # validation reports the shape
        known = {str(f).lower() for f in attributes}
        known |= {str(f).lower() for f in body.get("slot_fields") or []}
        unknown = [str(f) for f in secrets_ if str(f).lower() not in known]
        if unknown:
            raise ConfigError(
                f"{', '.join(repr(f) for f in unknown)} "
                f"{'is not a field' if len(unknown) == 1 else 'are not fields'} of family "
                f"{name!r} (not in its attributes); check the spelling",
                f"{where}.{name}.secret_fields",
            )


def _resolve_families(raw: Mapping[str, Any], where: str, base_dn: str) -> dict[str, Any]:
    """Apply ``extends`` and ``{base_dn}`` so each family is complete before validation."""
    resolved: dict[str, Any] = {}

    def resolve(name: str, chain: tuple[str, ...]) -> dict[str, Any]:
        if name in resolved:
            return dict(resolved[name])
        if name in chain:
            raise ConfigError(f"'extends' loops: {' -> '.join([*chain, name])}", f"{where}.{name}")
        spec = raw[name]
        if spec is None:
            spec = {}
        if not isinstance(spec, Mapping):
            raise ConfigError("expected a mapping of family settings", f"{where}.{name}")
        parent = spec.get("extends")
        body = {k: v for k, v in spec.items() if k != "extends"}
        if parent is not None:
            if parent not in raw:
                raise ConfigError(f"extends unknown family {parent!r}", f"{where}.{name}.extends")
            body = _merge(resolve(parent, (*chain, name)), body)
        resolved[name] = body
        return dict(body)

    for name in raw:
        resolve(name, ())
    for name, body in resolved.items():
        if isinstance(body.get("base_dn"), str):
            if "{base_dn}" in body["base_dn"] and not base_dn:
                raise ConfigError(
                    "uses {base_dn} but the backend has no base_dn", f"{where}.{name}.base_dn"
                )
            body["base_dn"] = body["base_dn"].replace("{base_dn}", base_dn)
    return resolved
