"""``ara-ldap conformance --export-dataset``: the data set as a driver author loads it by
hand before a ``--no-load`` run (the SQL form is loaded and run in test_by_url.py)."""

from __future__ import annotations

import csv
from pathlib import Path

from ara_ldap.testing.conformance.dataset import DATASET, FAMILIES
from ara_ldap.testing.conformance.export import export_dataset
from ara_ldap.testing.conformance.runner import CLASSIC_FAMILIES


def test_csv_export_has_one_row_per_record_in_one_file_per_family(tmp_path: Path) -> None:
    paths = export_dataset("csv", list(FAMILIES), tmp_path / "csv")
    assert [p.stem for p in paths] == list(FAMILIES)
    for path in paths:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == len(DATASET.records(path.stem)), path.stem


def test_csv_export_joins_a_repeated_field_in_its_order(tmp_path: Path) -> None:
    (sippeers, *_) = export_dataset("csv", ["sippeers"], tmp_path / "csv")
    with sippeers.open(encoding="utf-8", newline="") as fh:
        alice = next(r for r in csv.DictReader(fh) if r["name"] == "alice")
    assert alice["allow"] == ";".join(DATASET.find("sippeers", name="alice").get_all("allow"))


def test_ldif_export_has_an_entry_for_every_record_of_the_families(tmp_path: Path) -> None:
    (ldif,) = export_dataset("ldif", list(CLASSIC_FAMILIES), tmp_path / "dataset.ldif")
    blocks = [b for b in ldif.read_text(encoding="utf-8").split("\n\n") if b.strip()]
    records = sum(len(DATASET.records(f)) for f in CLASSIC_FAMILIES)
    with_data = [b for b in blocks if "organizationalUnit" not in b]
    assert len(with_data) == records
    assert all(b.startswith("dn: ") for b in blocks)
