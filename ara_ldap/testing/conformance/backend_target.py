"""Any Python backend as a conformance target, from one object (fsspec-style).

A backend implementing :class:`~ara_ldap.backends.base.Backend` runs the whole suite by
supplying one fixture::

    @pytest.fixture(scope="module")
    def conformance_target():
        with backend_target(MyBackend()) as target:
            yield target

The data set is written with the backend's own ``store`` (a backend author has no other
generic door), and put back after each write case by destroying the rows that differ and
storing the data set's records again.  The Realtime in front routes every family the
backend serves to it, so the cases see what Asterisk would through ara-ldap.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

from ara_ldap.backends.base import Backend
from ara_ldap.criteria import Criterion, Operator
from ara_ldap.record import Pair, Record
from ara_ldap.testing.conformance.dataset import DATASET, KEYS, Dataset
from ara_ldap.testing.conformance.loaders import Target, has_pjsip, loaded_families

__all__ = ["backend_target"]


def _content(rec: Record) -> tuple[Pair, ...]:
    return rec.without_empty().canonical()


class _StoreLoader:
    def __init__(self, backend: Backend, families: list[str], dataset: Dataset) -> None:
        self.backend = backend
        self.families = families
        self.dataset = dataset

    def _all(self, family: str) -> list[Record]:
        return self.backend.search(family, [Criterion(KEYS[family][0], Operator.LIKE, "%")])

    def _key_criteria(self, family: str, rec: Record) -> list[Criterion]:
        return [Criterion(f, Operator.EQ, rec.get(f) or "") for f in KEYS[family]]

    def load(self) -> None:
        for family in self.families:
            for rec in self.dataset.records(family):
                self.backend.store(family, rec.without_empty())

    def restore(self) -> int:
        touched = 0
        for family in self.families:
            wanted = [_content(r) for r in self.dataset.records(family)]
            stale: dict[tuple[str, ...], list[Criterion]] = {}
            for row in self._all(family):
                if _content(row) in wanted:
                    wanted.remove(_content(row))
                else:
                    stale[tuple(row.get(f) or "" for f in KEYS[family])] = self._key_criteria(
                        family, row
                    )
            missing_keys = {tuple(dict(c).get(f, "") for f in KEYS[family]) for c in wanted}
            for criteria in stale.values():
                self.backend.destroy(family, criteria)
            for rec in self.dataset.records(family):
                key = tuple(rec.get(f) or "" for f in KEYS[family])
                if key in stale or key in missing_keys:
                    self.backend.store(family, rec.without_empty())
            touched += len(stale) + len(missing_keys)
        return touched


@contextlib.contextmanager
def backend_target(
    backend: Backend, name: str | None = None, dataset: Dataset = DATASET
) -> Iterator[Target]:
    """``backend`` loaded with the data set (through its ``store``) behind a Realtime."""
    from ara_ldap.config import Route
    from ara_ldap.realtime import Realtime

    served = list(backend.families())
    families = [f for f in loaded_families(served) if f in served]
    missing = [f for f in loaded_families(served) if f not in served]
    if missing:
        raise ValueError(f"backend {backend.name!r} does not serve {', '.join(missing)}")
    routes = {f: Route(backends=[backend.name]) for f in served}
    realtime = Realtime({backend.name: backend}, routes)
    loader = _StoreLoader(backend, families, dataset)
    loader.load()
    try:
        yield Target(
            name or backend.name,
            realtime,
            dataclasses.replace(backend.capabilities, pjsip=has_pjsip(served)),
            loader.restore,
            extra={"backend": backend, "loader": loader},
        )
    finally:
        realtime.close()
