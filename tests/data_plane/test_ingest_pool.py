"""The process-pool path (large batches) stores exactly what the sequential path stores."""

from __future__ import annotations

import json
import os
import random
import shutil
import threading
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select, update

from ledger_api.anchoring.anchorer import AnchorKind, InMemoryAnchorer
from ledger_api.catalog.loader import default_catalog
from ledger_api.errors import InputError, NotFoundError
from ledger_api.ingest.pipeline import FAULT_STEPS, Ingestor
from ledger_api.settings import Settings
from ledger_api.store.db import make_engine, migrate
from ledger_api.store.models import BATCHES, RECORDS, SUBJECTS, BatchState
from ledger_api.synth.generator import iter_all_records
from ledger_api.verify.verifier import verify_database

from .conftest import Crash, jsonl

_BATCH_COLUMNS = (
    "batch_id",
    "state",
    "rows_total",
    "rows_accepted",
    "rows_duplicate",
    "rows_rejected",
    "root",
    "leaf_count",
    "manifest",
)


class _CountingPool(ProcessPoolExecutor):
    tasks = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        type(self).tasks += 1
        return super().submit(fn, *args, **kwargs)


def _rows(category: str, count: int) -> list[dict[str, Any]]:
    by_category: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for cat, row in iter_all_records(count * 6, 7):
        by_category[cat].append(row)
        if len(by_category[category]) == count:
            break
    return by_category[category]


def _batch(rows: list[dict[str, Any]]) -> bytes:
    """Good rows plus a duplicate, a repeated key with other content and two bad lines."""
    changed = dict(rows[3])
    changed["arrears_amount"] = "12345.00"
    extra = [rows[5], changed, {**rows[7], "record_key": ""}]
    return jsonl(rows[:40]) + b"not json\n\n" + jsonl(extra + rows[40:])


def _dump(engine: Engine) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        records = [
            tuple(r)
            for r in conn.execute(
                select(*[c for c in RECORDS.columns if c.name != "id"]).order_by(
                    RECORDS.c.record_uid
                )
            )
        ]
        batches = [
            tuple(r)
            for r in conn.execute(
                select(*[BATCHES.c[c] for c in _BATCH_COLUMNS]).order_by(BATCHES.c.batch_id)
            )
        ]
    return records, batches


def _copy_sqlite(src: Path, dst: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{src}{suffix}").exists():
            shutil.copy(f"{src}{suffix}", f"{dst}{suffix}")


def _urandom_stream(seed: int) -> Any:
    rng = random.Random(seed)
    return lambda n: rng.randbytes(n)


def test_pool_stores_byte_identical_rows_to_the_sequential_path(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _rows("tax", 120)
    data = _batch(rows)
    # Same subjects (same data keys) in both databases: create them, then copy the file.
    a_file, b_file = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    migrate(f"sqlite:///{a_file}")
    engine_a = make_engine(f"sqlite:///{a_file}")
    seed = [{**r, "record_key": "seed-" + str(r["record_key"])} for r in rows]
    anchor_a, anchor_b = InMemoryAnchorer(), InMemoryAnchorer()
    seeded = Ingestor(engine_a, anchor_a, settings, workers=1).ingest(
        "henan-tax", "tax", jsonl(seed), fmt="jsonl"
    )
    assert seeded.root is not None
    anchor_b.anchor(AnchorKind.DATA_BATCH, seeded.root, seeded.leaf_count, seeded.batch_id)
    engine_a.dispose()
    _copy_sqlite(a_file, b_file)
    engine_a = make_engine(f"sqlite:///{a_file}")
    engine_b = make_engine(f"sqlite:///{b_file}")
    try:
        with engine_a.connect() as conn:
            subjects_before = conn.execute(select(SUBJECTS.c.subject_id)).all()

        monkeypatch.setattr("ledger_api.ingest.pool.ProcessPoolExecutor", _CountingPool)
        _CountingPool.tasks = 0
        monkeypatch.setattr("os.urandom", _urandom_stream(42))
        pooled = Ingestor(engine_a, anchor_a, settings, workers=2, pool_threshold=10)
        result_a = pooled.ingest("henan-tax", "tax", data, fmt="jsonl")
        monkeypatch.setattr("os.urandom", _urandom_stream(42))
        sequential = Ingestor(engine_b, anchor_b, settings, workers=1)
        result_b = sequential.ingest("henan-tax", "tax", data, fmt="jsonl")

        assert pooled.pool is None  # shut down when the call returned
        assert result_a.as_dict() == result_b.as_dict()
        assert (result_a.accepted, result_a.duplicates, len(result_a.rejected)) == (
            len(rows),
            1,
            3,
        )
        assert _CountingPool.tasks >= 4  # validation and sealing chunks went to the pool
        assert _dump(engine_a) == _dump(engine_b)
        with engine_a.connect() as conn:
            assert conn.execute(select(SUBJECTS.c.subject_id)).all() == subjects_before
        assert verify_database(engine_a, anchor_a).clean
        assert verify_database(engine_b, anchor_b).clean
    finally:
        engine_a.dispose()
        engine_b.dispose()


def test_pool_creates_new_subjects_and_many_batches_verify(
    sqlite_engine: Engine, settings: Settings
) -> None:
    anchorer = InMemoryAnchorer()
    ingestor = Ingestor(sqlite_engine, anchorer, settings, workers=2, pool_threshold=10)
    batches = [(cat, jsonl(_rows(cat, 30))) for cat in ("tax", "utilities", "social_insurance")]
    results = ingestor.ingest_many("p", batches, fmt="jsonl")
    assert [r.state for r in results] == [BatchState.ANCHORED] * 3
    assert all(r.accepted == 30 and not r.rejected for r in results)
    again = ingestor.ingest_many("p", batches, fmt="jsonl")
    assert all(r.accepted == 0 and r.already_known for r in again)
    report = verify_database(sqlite_engine, anchorer)
    assert report.clean and report.records == 90


@pytest.mark.parametrize("step", FAULT_STEPS)
def test_pool_crash_at_any_step_then_resubmit_or_resume(
    sqlite_engine: Engine, settings: Settings, step: str
) -> None:
    anchorer = InMemoryAnchorer()
    data = jsonl(_rows("tax", 30))

    def fault(at: str) -> None:
        if at == step:
            raise Crash(at)

    crashing = Ingestor(
        sqlite_engine, anchorer, settings, fault_hook=fault, workers=2, pool_threshold=10
    )
    with pytest.raises(Crash):
        crashing.ingest("henan-tax", "tax", data, fmt="jsonl")
    assert crashing.pool is None
    healthy = Ingestor(sqlite_engine, anchorer, settings, workers=2, pool_threshold=10)
    healthy.resume_pending()
    result = healthy.ingest("henan-tax", "tax", data, fmt="jsonl")
    assert result.state == BatchState.ANCHORED and anchorer.calls == 1
    report = verify_database(sqlite_engine, anchorer)
    assert report.clean and report.records == 30


def test_pool_size_is_configurable(
    sqlite_engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CCL_INGEST_WORKERS", raising=False)
    assert Ingestor(sqlite_engine, InMemoryAnchorer(), settings).workers == 1  # off by default
    monkeypatch.setenv("CCL_INGEST_WORKERS", "3")
    assert Ingestor(sqlite_engine, InMemoryAnchorer(), settings).workers == 3
    assert Ingestor(sqlite_engine, InMemoryAnchorer(), settings, workers=1).workers == 1


def _scheduling() -> tuple[int, int]:
    return os.getpid(), os.sched_getscheduler(0)


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policies")
def test_pool_workers_run_at_idle_priority_and_the_ingesting_process_keeps_its_own(
    sqlite_engine: Engine, settings: Settings
) -> None:
    ingestor = Ingestor(sqlite_engine, InMemoryAnchorer(), settings, workers=2, pool_threshold=1)
    with ingestor.pool_for(rows=1):
        pool = ingestor.pool
        assert pool is not None
        seen = dict(pool.submit(_scheduling).result() for _ in range(6))
    assert seen and os.getpid() not in seen
    assert set(seen.values()) == {os.SCHED_IDLE}
    assert os.sched_getscheduler(0) != os.SCHED_IDLE


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policies")
def test_pool_workers_keep_the_ingesting_process_priority_when_configured_normal(
    sqlite_engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCL_INGEST_WORKER_PRIORITY", "Normal")
    ingestor = Ingestor(sqlite_engine, InMemoryAnchorer(), settings, workers=2, pool_threshold=1)
    assert ingestor.idle_workers is False
    with ingestor.pool_for(rows=1):
        pool = ingestor.pool
        assert pool is not None
        seen = dict(pool.submit(_scheduling).result() for _ in range(6))
    assert set(seen.values()) == {os.sched_getscheduler(0)} != {os.SCHED_IDLE}


def test_an_unknown_worker_priority_is_refused_with_the_variable_named(
    sqlite_engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCL_INGEST_WORKER_PRIORITY", "high")
    with pytest.raises(InputError, match="CCL_INGEST_WORKER_PRIORITY must be one of idle, normal"):
        Ingestor(sqlite_engine, InMemoryAnchorer(), settings, workers=2)
    monkeypatch.delenv("CCL_INGEST_WORKER_PRIORITY")
    assert Ingestor(sqlite_engine, InMemoryAnchorer(), settings).idle_workers is True


def test_jsonl_rows_numbered_alike_by_both_paths() -> None:
    from ledger_api.ingest.parse import jsonl_lines, parse_jsonl_lines, parse_rows

    data = b'{"a":1}\n\nnope\n{"b":2}\r\n[1]\n'
    lines = jsonl_lines(data)
    split = list(parse_jsonl_lines(lines[:2], 1)) + list(parse_jsonl_lines(lines[2:], 3))
    assert split == list(parse_rows(data, "jsonl"))
    assert json.loads('{"a":1}') == split[0][1]


def test_pool_verification_reports_exactly_what_the_sequential_pass_reports(
    sqlite_engine: Engine, settings: Settings
) -> None:
    anchorer = InMemoryAnchorer()
    ingestor = Ingestor(sqlite_engine, anchorer, settings, workers=1)
    batches = [(cat, jsonl(_rows(cat, 25))) for cat in ("tax", "utilities", "social_insurance")]
    ingestor.ingest_many("p", batches, fmt="jsonl")
    clean_seq = verify_database(sqlite_engine, anchorer, workers=1)
    clean_pool = verify_database(sqlite_engine, anchorer, workers=2, pool_threshold=1)
    assert clean_seq.clean and clean_pool.as_dict() == clean_seq.as_dict()
    with sqlite_engine.begin() as conn:
        uids = list(conn.execute(select(RECORDS.c.record_uid).order_by(RECORDS.c.id)).scalars())
        first_batch = conn.execute(
            select(RECORDS.c.batch_id).where(RECORDS.c.record_uid == uids[0])
        ).scalar_one()
        sealed = conn.execute(
            select(RECORDS.c.sealed).where(RECORDS.c.record_uid == uids[3])
        ).scalar_one()
        conn.execute(
            update(RECORDS)
            .where(RECORDS.c.record_uid == uids[3])
            .values(sealed=sealed[:-1] + bytes([sealed[-1] ^ 1]))
        )
        conn.execute(delete(RECORDS).where(RECORDS.c.record_uid == uids[55]))
        conn.execute(
            update(RECORDS)
            .where(RECORDS.c.record_uid == uids[60])
            .values(batch_id=first_batch, leaf_index=999)
        )
        conn.execute(update(RECORDS).where(RECORDS.c.record_uid == uids[40]).values(proof=b""))
    seen: list[tuple[int, int | None]] = []
    sequential = verify_database(sqlite_engine, anchorer, workers=1)
    pooled = verify_database(
        sqlite_engine,
        anchorer,
        workers=2,
        pool_threshold=1,
        progress=lambda d, t: seen.append((d, t)),
    )
    kinds = {f.kind for f in sequential.findings}
    assert {"record_altered", "record_removed", "record_added", "proof_altered"} <= kinds
    assert pooled.as_dict() == sequential.as_dict()
    assert seen[0] == (0, 74) and seen[-1] == (74, 74)


def test_seal_rows_seals_each_record_under_its_own_subjects_key_in_any_order() -> None:
    # seal_rows looks a cipher up once per run of one subject (the pipeline sorts items by
    # subject); subjects that alternate must still each get their own key.
    import hashlib
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from ledger_api.anchoring.merkle import record_leaf
    from ledger_api.crypto.envelope import open_record
    from ledger_api.ingest.workers import seal_rows

    keys = {bytes([n]) * 32: AESGCM(AESGCM.generate_key(bit_length=256)) for n in (1, 2, 3)}
    sids = [bytes([n]) * 32 for n in (1, 1, 2, 1, 3, 3, 2)]
    items = [(os.urandom(32), sid, f"payload {i}".encode()) for i, sid in enumerate(sids)]
    randomness = os.urandom(44 * len(items))
    salts, sealed, leaves = seal_rows(keys.__getitem__, items, randomness, 7)
    for i, (uid, sid, payload) in enumerate(items):
        assert salts[i] == randomness[44 * i : 44 * i + 32]
        assert sealed[i][:12] == randomness[44 * i + 32 : 44 * i + 44]
        assert open_record(keys[sid], uid, sid, sealed[i]) == payload
        digest = hashlib.sha256(sealed[i]).digest()
        assert leaves[i] == record_leaf(salts[i], uid, sid, 7, digest)


def _sealing_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The thread that began each batch's (first) sealing, in the order they began."""
    threads: list[str] = []
    begin = Ingestor.seal_begin

    def recording(self: Ingestor, checked: Any, *, look_up_all: bool) -> Any:
        threads.append(threading.current_thread().name)
        return begin(self, checked, look_up_all=look_up_all)

    monkeypatch.setattr(Ingestor, "seal_begin", recording)
    return threads


def _keyed(rows: list[dict[str, Any]], prefix: str) -> bytes:
    return jsonl([{**r, "record_key": f"{prefix}-{r['record_key']}"} for r in rows])


def test_ingest_many_seals_a_batch_ahead_while_the_one_before_is_stored_with_identical_rows(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _rows("tax", 40)
    ahead_file, plain_file = tmp_path / "ahead.sqlite", tmp_path / "plain.sqlite"
    # The subjects' keys exist before the run (a batch is never sealed ahead with keys the
    # batch before it creates); the same keys in both databases: create them, copy the file.
    migrate(f"sqlite:///{ahead_file}")
    engine = make_engine(f"sqlite:///{ahead_file}")
    seeded = Ingestor(engine, InMemoryAnchorer(), settings).ingest(
        "p", "tax", _keyed(rows, "seed"), fmt="jsonl"
    )
    engine.dispose()
    _copy_sqlite(ahead_file, plain_file)
    batches = [("tax", _keyed(rows, prefix)) for prefix in "abc"]
    dumps = []
    for file, workers in ((ahead_file, 2), (plain_file, 1)):
        engine = make_engine(f"sqlite:///{file}")
        anchorer = InMemoryAnchorer()
        assert seeded.root is not None
        anchorer.anchor(AnchorKind.DATA_BATCH, seeded.root, seeded.leaf_count, seeded.batch_id)
        try:
            monkeypatch.setattr("os.urandom", _urandom_stream(7))
            threads = _sealing_threads(monkeypatch)
            ingestor = Ingestor(engine, anchorer, settings, workers=workers, pool_threshold=10)
            results = ingestor.ingest_many("p", batches, fmt="jsonl")
            assert [r.accepted for r in results] == [len(rows)] * 3
            assert verify_database(engine, anchorer).clean
            dumps.append(_dump(engine))
        finally:
            engine.dispose()
            monkeypatch.undo()
        if workers == 2:  # the first batch on the writer, the next two ahead, on this thread
            assert threads[0].startswith("ccl-ingest-writer")
            assert threads[1:] == [threading.current_thread().name] * 2
    assert dumps[0] == dumps[1]


def test_a_batch_sealed_ahead_with_records_the_batch_before_stores_counts_them_once(
    sqlite_engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _rows("tax", 40)
    anchorer = InMemoryAnchorer()
    Ingestor(sqlite_engine, anchorer, settings).ingest(
        "p", "tax", _keyed(rows, "seed"), fmt="jsonl"
    )
    threads = _sealing_threads(monkeypatch)
    # The second batch repeats 25 of the first one's rows: sealed ahead, its probe ran before
    # the first was stored; its transaction then fails on the unique key and it is sealed
    # again with every record looked up.
    first = _keyed(rows[:30], "a")
    second = jsonl(
        [{**r, "record_key": f"a-{r['record_key']}"} for r in rows[5:30]]
        + [{**r, "record_key": f"b-{r['record_key']}"} for r in rows[30:]]
    )
    ingestor = Ingestor(sqlite_engine, anchorer, settings, workers=2, pool_threshold=10)
    one, two = ingestor.ingest_many("p", [("tax", first), ("tax", second)], fmt="jsonl")
    assert threads[1] == threading.current_thread().name  # sealed ahead
    assert (one.accepted, two.accepted, two.duplicates) == (30, 10, 25)
    report = verify_database(sqlite_engine, anchorer)
    assert report.clean and report.records == 80


def test_a_batch_needing_keys_the_batch_before_creates_is_not_sealed_ahead(
    sqlite_engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _rows("tax", 40)
    threads = _sealing_threads(monkeypatch)
    ingestor = Ingestor(sqlite_engine, InMemoryAnchorer(), settings, workers=2, pool_threshold=10)
    one, two = ingestor.ingest_many(
        "p", [("tax", _keyed(rows, "a")), ("tax", _keyed(rows, "b"))], fmt="jsonl"
    )
    assert all(name.startswith("ccl-ingest-writer") for name in threads)
    assert one.accepted == two.accepted == len(rows)
    with sqlite_engine.connect() as conn:
        subjects = conn.execute(select(SUBJECTS.c.subject_id)).all()
    assert len(subjects) == len({r["uscc"] for r in rows})  # each created once


def _events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(step, category) as batches begin validation and are written, in the order it happens."""
    events: list[tuple[str, str]] = []
    begin, write = Ingestor.check_begin, Ingestor.write

    def beginning(self: Ingestor, provider: str, category: str, *args: Any) -> Any:
        events.append(("validate", category))
        return begin(self, provider, category, *args)

    def writing(self: Ingestor, conn: Any, checked: Any, *args: Any) -> Any:
        events.append(("write", checked.category.name))
        return write(self, conn, checked, *args)

    monkeypatch.setattr(Ingestor, "check_begin", beginning)
    monkeypatch.setattr(Ingestor, "write", writing)
    return events


def test_ingest_many_validates_the_batches_ahead_in_the_pool_while_the_first_is_stored(
    sqlite_engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    categories = ["tax", "social_insurance", "utilities", "housing_fund"]
    batches = [(c, jsonl(_rows(c, 30))) for c in categories]
    events = _events(monkeypatch)
    anchorer = InMemoryAnchorer()
    ingestor = Ingestor(sqlite_engine, anchorer, settings, workers=2, pool_threshold=10)
    results = ingestor.ingest_many("p", batches, fmt="jsonl")
    assert [r.accepted for r in results] == [30] * 4
    # All four are small: every one is being validated before the first is written.
    assert events[:5] == [("validate", c) for c in categories] + [("write", "tax")]
    assert [e for e in events if e[0] == "write"] == [("write", c) for c in categories]
    assert verify_database(sqlite_engine, anchorer).clean


def test_a_batch_validated_ahead_waits_its_turn_and_nothing_after_a_bad_one_is_stored(
    sqlite_engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = _events(monkeypatch)
    batches = [
        ("tax", _keyed(_rows("tax", 30), "a")),
        ("utilities", jsonl(_rows("utilities", 30))),
        ("no-such-category", _keyed(_rows("tax", 30), "b")),
        ("tax", _keyed(_rows("tax", 30), "c")),
    ]
    anchorer = InMemoryAnchorer()
    ingestor = Ingestor(sqlite_engine, anchorer, settings, workers=2, pool_threshold=10)
    with pytest.raises(NotFoundError, match="no-such-category"):
        ingestor.ingest_many("p", batches, fmt="jsonl")
    # The last batch began validating before the first was written, yet is not stored.
    assert events[:4] == [("validate", c) for c, _data in batches]
    assert events[4:] == [("write", "tax"), ("write", "utilities")]
    catalog = default_catalog()
    with sqlite_engine.connect() as conn:
        stored = conn.execute(select(BATCHES.c.category, BATCHES.c.state)).all()
        records = conn.execute(select(RECORDS.c.id)).all()
    assert sorted(stored) == sorted(
        (catalog.category(c).bit, BatchState.ANCHORED) for c in ("tax", "utilities")
    )
    assert len(records) == 60 and len(anchorer) == 2
