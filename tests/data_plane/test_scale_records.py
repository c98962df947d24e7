"""The scale benchmark's records (``benchmarks.scale_records``) are what ingestion stores for
the same rows: same batch id, record uids and keyed hashes, contents that decrypt under the
subjects' keys to the providers' rows, proofs against anchored roots."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from benchmarks import scale_records as records
from benchmarks import scale_state as state_rows

from indexer.tables import ANCHORS
from ledger_api.anchoring.anchorer import InMemoryAnchorer
from ledger_api.catalog.loader import default_catalog
from ledger_api.ingest.pipeline import Ingestor
from ledger_api.ingest.validate import RowValidator
from ledger_api.settings import Settings
from ledger_api.store.db import make_engine, migrate
from ledger_api.store.models import BATCHES, RECORDS
from ledger_api.store.records import read_subject_records, record_proof
from ledger_api.synth.generator import make_uscc

ENTERPRISES = 40


def _settings() -> Settings:
    return Settings(
        master_key=records.MASTER_KEY.hex(),
        master_key_id=records.MASTER_KEY_ID,
        pseudonym_key=records.PSEUDONYM_KEY.hex(),
    )


def _loaded(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> state_rows.Shape:
    monkeypatch.setattr(records, "WORKERS", 1)  # a few rows: no process pool
    shape = state_rows.Shape(ENTERPRISES, 3 * ENTERPRISES, int(datetime.now(UTC).timestamp()))
    state_rows.load(engine, shape)
    records.load(engine, shape, progress=False)
    return shape


def _normal(category: str, row: dict[str, object]) -> dict[str, object]:
    catalog = default_catalog()
    return RowValidator(catalog, catalog.category(category)).normalise(row)


def test_loaded_records_decrypt_to_the_providers_rows_and_prove_against_anchored_roots(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _loaded(engine, monkeypatch)
    settings = _settings()
    with engine.connect() as conn:
        for index in (1, 17, ENTERPRISES):
            sid = state_rows.subject_id(index)
            stored = read_subject_records(conn, settings, sid)
            expected = records.enterprise_rows(index, records.RECORDS_LARGE)
            assert sorted(map(_key, (r.fields for r in stored))) == sorted(
                _key(_normal(c, row)) for c, row in expected
            )
            for record in stored:
                proof = record_proof(conn, record.record_uid, sid)
                assert proof.verifies() and proof.anchored
                anchored = conn.execute(
                    select(ANCHORS.c.root).where(ANCHORS.c.sequence == proof.anchor_sequence)
                ).scalar_one()
                assert anchored == proof.root
        count = conn.execute(select(func.count()).select_from(RECORDS)).scalar_one()
        assert count == records.RECORDS_LARGE * ENTERPRISES


def _key(fields: dict[str, object]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, str(v)) for k, v in fields.items()))


def test_the_tax_batch_equals_what_ingestion_stores_for_the_same_file(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _loaded(sqlite_engine, monkeypatch)
    catalog = default_catalog()
    tax = catalog.category("tax")
    with sqlite_engine.connect() as conn:
        batch = conn.execute(select(BATCHES).where(BATCHES.c.category == tax.bit)).one()
        loaded = {
            r.record_uid: r
            for r in conn.execute(select(RECORDS).where(RECORDS.c.batch_id == batch.batch_id))
        }
    # The batch's file: every enterprise's tax rows in normal form, one a line.
    validator = RowValidator(catalog, tax)
    lines = [
        validator.canonical(validator.normalise(row))
        for index in range(1, ENTERPRISES + 1)
        for category, row in records.enterprise_rows(index, records.RECORDS_LARGE)
        if category == "tax"
    ]
    url = f"sqlite:///{tmp_path / 'ingested.sqlite'}"
    migrate(url)
    ingested_engine = make_engine(url)
    try:
        result = Ingestor(ingested_engine, InMemoryAnchorer(), _settings()).ingest(
            records.PROVIDERS["tax"], "tax", b"\n".join(lines) + b"\n", fmt="jsonl"
        )
        with ingested_engine.connect() as conn:
            ingested = {r.record_uid: r for r in conn.execute(select(RECORDS))}
    finally:
        ingested_engine.dispose()
    assert result.batch_id == batch.batch_id
    assert result.accepted == len(loaded) == 2 * ENTERPRISES
    assert ingested.keys() == loaded.keys()
    for uid, row in ingested.items():
        mine = loaded[uid]
        assert (mine.record_key_hash, mine.content_digest) == (
            row.record_key_hash,
            row.content_digest,
        )
        assert mine.provider == row.provider and mine.category == row.category
        # Only the subject id differs: the state's synthetic one, not the USCC's pseudonym.
        assert mine.subject_id != row.subject_id


def test_fast_uscc_is_make_uscc() -> None:
    for division in ("410100", "411400", "419001"):
        for serial in (*range(0, 2000, 7), 99_999_999, 10_000_000, 3_141_592):
            assert records.fast_uscc(division, serial) == make_uscc(division, serial)


def test_sqlite_gets_records_and_reads_up_to_its_reads_limit_postgresql_at_every_size() -> None:
    from benchmarks import scale

    sizes = [10_000, 100_000, 1_000_000, 10_000_000]
    both = ("sqlite", "postgres")
    assert scale.reads_sizes(sizes, both, 1_000_000, 100_000) == {
        "sqlite": [10_000, 100_000],
        "postgres": sizes,
    }
    # Never beyond the sizes SQLite builds at all.
    assert scale.reads_sizes(sizes, both, 100_000, 10_000_000)["sqlite"] == [10_000, 100_000]


def test_the_scale_command_line_takes_each_limit_once() -> None:
    import bench

    assert bench._parse(["scale", "--max", "10000000", "--sqlite-reads-max", "1000000"]) == (
        "scale",
        {"max_enterprises": 10_000_000, "sqlite_reads_max": 1_000_000},
    )
    assert (
        bench._parse(["scale", "--sqlite-reads-max", "1000", "--sqlite-reads-max", "1000"]) is None
    )
    assert bench._parse(["scale", "--sqlite-reads-max", "999"]) is None
    assert bench._parse(["scale", "--max", "1000000", "--records-full-max", "1000000"]) == (
        "scale",
        {"max_enterprises": 1_000_000, "records_full_max": 1_000_000},
    )


def test_enterprises_have_twenty_records_up_to_large_and_two_beyond() -> None:
    assert records.records_per_enterprise(records.LARGE) == records.RECORDS_LARGE == 20
    assert records.records_per_enterprise(records.LARGE + 1) == records.RECORDS_HUGE == 2
    assert records.LARGE == 1_000_000  # the shape: 20 up to 10^6, 2 at 10^7
    assert records.records_per_enterprise(100_001, full_max=100_000) == 2  # --records-full-max
