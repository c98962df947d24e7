from __future__ import annotations

import itertools
from collections import Counter

from ledger_api.catalog import default_catalog
from ledger_api.identity.uscc import division_code, is_valid_uscc
from ledger_api.ingest.validate import RowValidator
from ledger_api.synth.generator import (
    PREFECTURES,
    iter_all_records,
    iter_enterprises,
    write_jsonl,
)


def test_generation_is_deterministic_by_seed() -> None:
    a = list(itertools.islice(iter_all_records(30, seed=5), 200))
    b = list(itertools.islice(iter_all_records(30, seed=5), 200))
    c = list(itertools.islice(iter_all_records(30, seed=6), 200))
    assert a == b and a != c


def test_enterprises_have_valid_unique_henan_usccs() -> None:
    enterprises = list(iter_enterprises(2000, seed=1))
    assert all(is_valid_uscc(e.uscc) for e in enterprises)
    assert len({e.uscc for e in enterprises}) == 2000
    prefectures = {code for code, *_ in PREFECTURES}
    assert all(e.prefecture in prefectures for e in enterprises)
    assert all(division_code(e.uscc)[:4] == e.prefecture[:4] for e in enterprises)
    assert {e.section for e in enterprises} == set("ABCDEFGHIJKLMNOPQRST")


def test_every_category_is_generated_and_every_row_validates() -> None:
    catalog = default_catalog()
    validators = {c.name: RowValidator(catalog, c) for c in catalog.categories}
    seen: Counter[str] = Counter()
    for category, row in iter_all_records(600, seed=2):
        validators[category].normalise(row)  # raises on any invalid row
        seen[category] += 1
    assert set(seen) == set(catalog.category_names)


def test_proportions_look_realistic() -> None:
    n = 2000
    tax_arrears: set[str] = set()
    judged: set[str] = set()
    penalised: set[str] = set()
    for category, row in iter_all_records(n, seed=3):
        if category == "tax" and row["arrears_amount"] != "0.00":
            tax_arrears.add(str(row["uscc"]))
        elif category == "judicial":
            judged.add(str(row["uscc"]))
        elif category == "administrative" and row["kind"] == "penalty":
            penalised.add(str(row["uscc"]))
    for group in (tax_arrears, judged, penalised):
        assert 0.01 * n <= len(group) <= 0.15 * n


def test_generation_is_lazy_for_a_million_enterprises() -> None:
    first = next(iter_enterprises(1_000_000, seed=9))
    assert first.index == 0


def test_write_jsonl_writes_one_file_per_category(tmp_path) -> None:
    counts = write_jsonl(20, 4, tmp_path)
    assert {p.stem for p in tmp_path.glob("*.jsonl")} == set(default_catalog().category_names)
    assert counts["registration"] == 20
    assert sum(1 for _ in (tmp_path / "tax.jsonl").open()) == counts["tax"]
