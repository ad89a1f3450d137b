"""What every part of the configuration shares: the strict frozen model, name checks,
and the one password-source reader (LDAP bind, SQL connect).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    SecretStr,
    model_validator,
)

from ara_ldap.secrets import read_secret

_FIELD_RE = re.compile(r"^[A-Za-z0-9_@-]+$")
_ATTR_RE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: What ``store`` does when the record's key already exists: refuse it (a Conflict), or
#: replace the stored object with the one given and answer 1 (sorcery re-stores PJSIP
#: contacts and stores after an update miss; pjsip.md 5.7).
StoreExisting = Literal["error", "replace"]


class _PasswordSource(_Model):
    """A secret given inline (throwaway setups), in a file, or in an environment variable;
    at most one, read when the backend starts, never shown in a repr or a message."""

    password: SecretStr | None = None
    password_file: Path | None = None
    password_env: str | None = None

    def password_sources(self) -> list[str]:
        return [k for k in ("password", "password_file", "password_env") if getattr(self, k)]

    @model_validator(mode="after")
    def _one_password_source(self) -> _PasswordSource:
        given = self.password_sources()
        if len(given) > 1:
            raise ValueError(f"give only one of password, password_file, password_env: {given}")
        return self

    def resolve_password(self) -> str | None:
        inline = None if self.password is None else self.password.get_secret_value()
        return read_secret(inline=inline, file=self.password_file, env=self.password_env)
