"""The one entry point: find the YAML file, parse it, complete the family maps, validate,
and report any problem as a ConfigError carrying the YAML path of the bad key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from ara_ldap.config.families import (
    _check_secret_fields,
    _merge,
    _resolve_families,
    shipped_ldap_families,
)
from ara_ldap.config.site import Settings
from ara_ldap.errors import ConfigError

CONFIG_ENV = "ARA_LDAP_CONFIG"
DEFAULT_CONFIG_PATHS = (
    Path("ara-ldap.yaml"),
    Path.home() / ".config" / "ara-ldap" / "ara-ldap.yaml",
    Path("/etc/ara-ldap/ara-ldap.yaml"),
)


def _prepare(data: Mapping[str, Any]) -> dict[str, Any]:
    """Merge the shipped family maps under each LDAP backend's own family settings."""
    out = dict(data)
    backends = data.get("backends")
    if not isinstance(backends, Mapping):
        return out
    prepared: dict[str, Any] = {}
    for name, spec in backends.items():
        if not isinstance(spec, Mapping) or spec.get("type") != "ldap":
            prepared[name] = spec
            continue
        spec = dict(spec)
        own = spec.get("families") or {}
        if not isinstance(own, Mapping):
            raise ConfigError("expected a mapping of families", f"backends.{name}.families")
        families: dict[str, Any] = {}
        if spec.get("default_families", True):
            families = shipped_ldap_families()
        for family, override in own.items():
            if override is None:
                override = {}
            if not isinstance(override, Mapping):
                raise ConfigError(
                    "expected a mapping of family settings", f"backends.{name}.families.{family}"
                )
            try:
                families[family] = _merge(families.get(family, {}), override)
            except ConfigError as exc:
                raise ConfigError(
                    exc.message, f"backends.{name}.families.{family}.{exc.path}"
                ) from None
        base_dn = spec.get("base_dn") or ""
        where = f"backends.{name}.families"
        spec["families"] = _resolve_families(families, where, str(base_dn))
        _check_secret_fields(spec["families"], where)
        prepared[name] = spec
    out["backends"] = prepared
    return out


def _format_validation_error(exc: ValidationError) -> tuple[str, str]:
    errors = exc.errors()
    first = errors[0]
    loc = [str(p) for p in first["loc"]]
    if len(loc) > 2 and loc[0] == "backends" and loc[2] in ("ldap", "sql"):
        del loc[2]  # the discriminator tag pydantic inserts for the backend type
    path = ".".join(loc)
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key (check its spelling and docs/configuration.md)"
    elif first["type"] == "missing":
        msg = "required key is missing"
    if len(errors) > 1:
        msg += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return path, msg


def load_settings(data: Mapping[str, Any], source: str | None = None) -> Settings:
    """Validate already-parsed YAML (used by tests and by :func:`load_config`)."""
    if not isinstance(data, Mapping):
        raise ConfigError("the file must contain a YAML mapping at the top level", source=source)
    try:
        prepared = _prepare(data)
        settings = Settings.model_validate({**prepared, "source": source})
        settings.check_routes()
        return settings
    except ValidationError as exc:
        path, msg = _format_validation_error(exc)
        raise ConfigError(msg, path or None, source) from None
    except ConfigError as exc:
        if exc.source is None and source is not None:
            raise ConfigError(exc.message, exc.path, source) from None
        raise


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config file to use: ``--config``, ``$ARA_LDAP_CONFIG``, then the default paths."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    for candidate in DEFAULT_CONFIG_PATHS:
        if candidate.is_file():
            return candidate
    searched = ", ".join(str(p) for p in DEFAULT_CONFIG_PATHS)
    raise ConfigError(
        f"no configuration file found (searched {searched}); pass --config FILE, set "
        f"{CONFIG_ENV}, or run 'make demo' to get a demo configuration"
    )


def load_config(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read and validate the YAML configuration file."""
    file = find_config(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read the configuration file: {exc.strerror}", source=str(file)
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"invalid YAML{where}: {problem}", source=str(file)) from None
    if data is None:
        raise ConfigError("the file is empty", source=str(file))
    return load_settings(data, source=str(file))
