"""SQL backend settings: the SQLAlchemy URL, pool, and each family's table."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from ara_ldap.config.common import _FIELD_RE, StoreExisting, _Model, _PasswordSource
from ara_ldap.config.families import _merge, _resolve_families
from ara_ldap.errors import ConfigError

_TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]*\Z")
_SQL_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_URL_PASSWORD_RE = re.compile(r"^([^:/]+://[^:/@]*):[^@]*@")


class SqlFamily(_Model):
    """How one family is stored in SQL: its table, and how the columns read as fields."""

    table: str
    hidden: list[str] = []
    multi_valued: list[str] = []
    secret_fields: list[str] = []
    #: Fields whose repeated values are stored as one ","-joined value (last-wins lists).
    joined: list[str] = []
    store_existing: StoreExisting = "error"
    #: See LdapFamily.literal_like.
    literal_like: bool = False
    #: See LdapFamily.sorcery.
    sorcery: str | None = None

    @field_validator("table")
    @classmethod
    def _check_table(cls, v: str) -> str:
        if not _TABLE_RE.match(v):
            raise ValueError(f"{v!r} is not a table name (letters, digits, '_', '$', '-')")
        return v

    @field_validator("hidden", "multi_valued", "secret_fields", "joined")
    @classmethod
    def _check_fields(cls, v: list[str]) -> list[str]:
        for name in v:
            if not _FIELD_RE.match(name):
                raise ValueError(f"field {name!r}: names may use letters, digits, '_', '-', '@'")
        return v


class SqlBackendSettings(_PasswordSource):
    """A SQL backend on the standard Asterisk realtime tables (see docs/backends.md).

    ``families`` starts from the shipped map (defaults/sql-families.yaml) unless
    ``default_families`` is false; a family given here overrides the shipped keys it names.
    The password may be in ``url`` (throwaway setups) or come from ``password``,
    ``password_file`` or ``password_env``; it is never shown in a repr or a message.
    """

    type: Literal["sql"]
    url: str
    #: PostgreSQL schema, or MySQL/MariaDB database, holding the tables (default: the URL's).
    db_schema: str | None = Field(None, alias="schema")
    pool_size: int = Field(4, ge=1, le=256)
    connect_timeout: float = Field(3.0, gt=0)
    #: The longest a call may take (connection checkout, statements, lock waits, retries):
    #: the statement and lock limits of each connection follow the call's budget.
    timeout: float = Field(5.0, gt=0, le=3600)
    default_families: bool = True
    families: dict[str, SqlFamily] = {}

    @property
    def tables(self) -> dict[str, str]:
        """Family → table name (the families this backend serves)."""
        return {family: spec.table for family, spec in self.families.items()}

    @model_validator(mode="before")
    @classmethod
    def _with_shipped_families(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        try:
            families = merge_sql_families(
                data.get("families"), bool(data.get("default_families", True))
            )
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return {**data, "families": families}

    @field_validator("url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        if not _SQL_URL_RE.match(v):
            raise ValueError(
                "expected a SQLAlchemy URL: sqlite:///path.db, "
                "postgresql+psycopg://user@host/db or mysql+pymysql://user@host/db"
            )
        return v

    @field_validator("db_schema")
    @classmethod
    def _check_schema(cls, v: str | None) -> str | None:
        if v is not None and not _TABLE_RE.match(v):
            raise ValueError(f"{v!r} is not a schema name (letters, digits, '_', '$', '-')")
        return v

    def connect_password(self) -> str | None:
        """The password from ``password``/``password_env``/``password_file`` (None: the URL's)."""
        return self.resolve_password()

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if name == "url" and isinstance(value, str):
                value = _URL_PASSWORD_RE.sub(r"\1:***@", value)
            yield name, value


def shipped_sql_families() -> dict[str, Any]:
    """The shipped default SQL family map (ara_ldap/defaults/sql-families.yaml)."""
    text = resources.files("ara_ldap").joinpath("defaults/sql-families.yaml").read_text()
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def merge_sql_families(own: Any, default_families: bool = True) -> dict[str, Any]:
    """A SQL backend's families: the shipped map (unless disabled) under the site's own
    settings, key by key, with ``extends`` resolved (as :func:`_prepare` does for LDAP)."""
    if own is None:
        own = {}
    if not isinstance(own, Mapping):
        raise ConfigError("expected a mapping of families", "families")
    families: dict[str, Any] = shipped_sql_families() if default_families else {}
    for family, override in own.items():
        if override is None:
            override = {}
        if not isinstance(override, Mapping):
            raise ConfigError("expected a mapping of family settings", f"families.{family}")
        try:
            families[family] = _merge(families.get(family, {}), override)
        except ConfigError as exc:
            raise ConfigError(exc.message, f"families.{family}.{exc.path}") from None
    return _resolve_families(families, "families", "")
