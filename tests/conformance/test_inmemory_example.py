"""The worked example of docs/conformance.md: a tiny in-memory backend passes the suite by
supplying one fixture.  Its field lists come from the standard Asterisk tables, so unknown
fields are refused as a real schema would."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence

import pytest

from ara_ldap.backends.base import Capabilities, Requirement
from ara_ldap.criteria import Criterion, record_matches
from ara_ldap.errors import BadRequest, Conflict, UnknownFamily, UnknownField
from ara_ldap.record import Record
from ara_ldap.testing.conformance import ReadSuite, Target, WriteSuite
from ara_ldap.testing.conformance.backend_target import backend_target
from ara_ldap.testing.conformance.dataset import KEYS
from ara_ldap.testing.conformance.runner import CLASSIC_FAMILIES


def standard_fields() -> dict[str, dict[str, bool]]:
    """Each classic family's columns in the standard tables (what Asterisk's alembic
    creates), mapped to "holds integers"; the PJSIP families are left out (their cases
    skip: the backend lacks the ``pjsip`` capability)."""
    import sqlalchemy as sa

    from ara_ldap.backends.sql import standard_metadata
    from ara_ldap.config import SqlBackendSettings, load_settings

    settings = load_settings({"backends": {"s": {"type": "sql", "url": "sqlite://"}}})
    sql = settings.backends["s"]
    assert isinstance(sql, SqlBackendSettings)
    tables = standard_metadata(None).tables
    out = {}
    for family in CLASSIC_FAMILIES:
        spec = sql.families[family]
        hidden = {h.lower() for h in spec.hidden}
        out[family] = {
            c.name.lower(): isinstance(c.type, sa.Integer)
            for c in tables[spec.table].columns
            if c.name.lower() not in hidden
        }
    return out


class MemoryBackend:
    """Records in lists; every operation a scan with the core's own criteria matching."""

    name = "memory"
    capabilities = Capabilities(
        unique_keys_all_families=True,
        repeated_values=True,
        exact_keys=True,
        schema_require=False,
    )

    def __init__(self) -> None:
        self.schema = standard_fields()
        self.rows: dict[str, list[Record]] = {f: [] for f in self.schema}

    def _table(self, family: str) -> list[Record]:
        if family not in self.rows:
            raise UnknownFamily(f"no family {family!r}")
        return self.rows[family]

    def _check(self, family: str, names: Collection[str]) -> None:
        unknown = sorted({n for n in names if n.lower() not in self.schema[family]})
        if unknown:
            raise UnknownField(f"{family}: unknown field(s) {', '.join(unknown)}")

    def _check_values(self, family: str, record: Record) -> None:
        integers = self.schema[family]
        for name, value in record:
            if integers.get(name.lower()) and value and not value.lstrip("-").isdigit():
                raise BadRequest(f"{family}.{name} holds integers, not {value!r}")

    def _check_keys(self, family: str, table: list[Record]) -> None:
        keys = [tuple(r.get(f) for f in KEYS[family]) for r in table]
        if len(set(keys)) != len(keys):
            raise Conflict(f"{family}: two records would have one key")

    def families(self) -> Collection[str]:
        return list(self.rows)

    def fields(self, family: str) -> Collection[str]:
        self._table(family)
        return sorted(self.schema[family])

    def secret_fields(self, family: str) -> Collection[str]:
        return []

    def search(self, family: str, criteria: Sequence[Criterion]) -> list[Record]:
        table = self._table(family)
        self._check(family, [c.field for c in criteria])
        return [r for r in table if record_matches(r, criteria)]

    def update(self, family: str, criteria: Sequence[Criterion], changes: Record) -> int:
        table = self._table(family)
        self._check(family, [c.field for c in criteria])
        # As the SQL drivers do: unknown fields beside known ones are ignored.
        changes = Record([(n, v) for n, v in changes if n.lower() in self.schema[family]])
        if not changes:
            raise UnknownField(f"{family}: no known field to change")
        self._check_values(family, changes)
        changed = {f.lower() for f in changes.fields()}
        new = list(table)
        count = 0
        for i, row in enumerate(new):
            if record_matches(row, criteria):
                kept = [(n, v) for n, v in row if n.lower() not in changed]
                new[i] = Record([*kept, *changes]).without_empty()
                count += 1
        self._check_keys(family, new)
        table[:] = new
        return count

    def store(self, family: str, record: Record) -> int:
        table = self._table(family)
        self._check(family, record.fields())
        self._check_values(family, record)
        self._check_keys(family, [*table, record])
        table.append(record.without_empty())
        return 1

    def destroy(self, family: str, criteria: Sequence[Criterion]) -> int:
        table = self._table(family)
        self._check(family, [c.field for c in criteria])
        keep = [r for r in table if not record_matches(r, criteria)]
        count = len(table) - len(keep)
        table[:] = keep
        return count

    def require(self, family: str, requirements: Sequence[Requirement]) -> list[str]:
        self._table(family)
        problems = []
        for r in requirements:
            integer = self.schema[family].get(r.field.lower())
            if integer is None:
                problems.append(f"{family}: no field {r.field}")
            elif integer and not r.type.is_integer:
                problems.append(f"{family}.{r.field} holds integers, not {r.type.value}")
        return problems

    def ping(self) -> None:
        pass

    def close(self) -> None:
        pass


# The one fixture a backend supplies ----------------------------------------------------


@pytest.fixture(scope="module")
def conformance_target() -> Iterator[Target]:
    with backend_target(MemoryBackend()) as target:
        yield target


class TestReads(ReadSuite):
    pass


class TestWrites(WriteSuite):
    pass
