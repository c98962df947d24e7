from __future__ import annotations

import os

from sqlalchemy import delete, insert, select, update

from ledger_api.anchoring.anchorer import InMemoryAnchorer
from ledger_api.store.models import BATCHES, RECORDS
from ledger_api.verify.verifier import verify_database

from .conftest import jsonl, tax_row


def _ingest_two_batches(ingestor) -> None:
    ingestor.ingest(
        "henan-tax", "tax", jsonl([tax_row(key=f"A{i}") for i in range(9)]), fmt="jsonl"
    )
    ingestor.ingest(
        "henan-tax", "tax", jsonl([tax_row(key=f"B{i}") for i in range(4)]), fmt="jsonl"
    )


def _uids(engine) -> list[bytes]:
    with engine.connect() as conn:
        return list(conn.execute(select(RECORDS.c.record_uid).order_by(RECORDS.c.id)).scalars())


def test_untouched_database_verifies_clean_with_progress(ingestor, anchorer, engine) -> None:
    _ingest_two_batches(ingestor)
    seen: list[tuple[int, int | None]] = []
    report = verify_database(engine, anchorer, progress=lambda d, t: seen.append((d, t)))
    assert report.clean and report.records == 13 and report.batches == 2
    assert seen[-1] == (13, 13)


def test_an_edited_row_is_named(ingestor, anchorer, engine) -> None:
    _ingest_two_batches(ingestor)
    victim = _uids(engine)[3]
    with engine.begin() as conn:
        sealed = conn.execute(
            select(RECORDS.c.sealed).where(RECORDS.c.record_uid == victim)
        ).scalar_one()
        tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
        conn.execute(update(RECORDS).where(RECORDS.c.record_uid == victim).values(sealed=tampered))
    report = verify_database(engine, anchorer)
    assert [(f.kind, f.record_uid) for f in report.findings] == [("record_altered", victim)]


def test_a_deleted_row_is_named(ingestor, anchorer, engine) -> None:
    _ingest_two_batches(ingestor)
    victim = _uids(engine)[10]
    with engine.begin() as conn:
        conn.execute(delete(RECORDS).where(RECORDS.c.record_uid == victim))
    report = verify_database(engine, anchorer)
    assert [(f.kind, f.record_uid) for f in report.findings] == [("record_removed", victim)]


def test_a_row_inserted_directly_in_sql_is_named(ingestor, anchorer, engine) -> None:
    _ingest_two_batches(ingestor)
    with engine.connect() as conn:
        template = dict(conn.execute(select(RECORDS).limit(1)).one()._mapping)
    forged = {**template, "record_uid": os.urandom(32), "leaf_index": 99, "salt": os.urandom(32)}
    forged.pop("id")
    with engine.begin() as conn:
        conn.execute(insert(RECORDS).values(**forged))
    report = verify_database(engine, anchorer)
    assert [(f.kind, f.record_uid) for f in report.findings] == [
        ("record_added", forged["record_uid"])
    ]


def test_edit_delete_and_insert_together_are_each_named(ingestor, anchorer, engine) -> None:
    _ingest_two_batches(ingestor)
    uids = _uids(engine)
    with engine.connect() as conn:
        template = dict(conn.execute(select(RECORDS).limit(1)).one()._mapping)
    forged = {**template, "record_uid": os.urandom(32), "leaf_index": 50}
    forged.pop("id")
    with engine.begin() as conn:
        conn.execute(update(RECORDS).where(RECORDS.c.record_uid == uids[0]).values(salt=b"\0" * 32))
        conn.execute(delete(RECORDS).where(RECORDS.c.record_uid == uids[5]))
        conn.execute(insert(RECORDS).values(**forged))
    found = {(f.kind, f.record_uid) for f in verify_database(engine, anchorer).findings}
    assert found == {
        ("record_altered", uids[0]),
        ("record_removed", uids[5]),
        ("record_added", forged["record_uid"]),
    }


def test_a_root_missing_from_the_chain_is_reported(ingestor, engine) -> None:
    _ingest_two_batches(ingestor)
    report = verify_database(engine, InMemoryAnchorer())  # a chain that never saw our roots
    assert {f.kind for f in report.findings} == {"batch_not_anchored"}
    assert len(report.findings) == 2


def test_a_rewritten_batch_root_is_reported(ingestor, anchorer, engine) -> None:
    _ingest_two_batches(ingestor)
    with engine.begin() as conn:
        first = conn.execute(select(BATCHES.c.batch_id).limit(1)).scalar_one()
        conn.execute(update(BATCHES).where(BATCHES.c.batch_id == first).values(root=os.urandom(32)))
    report = verify_database(engine, anchorer)
    assert [(f.kind, f.batch_id) for f in report.findings] == [("batch_not_anchored", first)]


def test_shredded_subjects_records_still_verify(ingestor, anchorer, engine, settings) -> None:
    from ledger_api.crypto.keys import shred_subject
    from ledger_api.identity.uscc import subject_id

    from .conftest import USCC_A

    _ingest_two_batches(ingestor)
    with engine.begin() as conn:
        shred_subject(conn, subject_id(USCC_A, settings.pseudonym_key_bytes))
    assert verify_database(engine, anchorer).clean


def test_pool_workers_get_about_equal_shares_of_records() -> None:
    from ledger_api.worker_count import balanced as _balanced

    sizes = [(bytes([i]) * 32, count) for i, count in enumerate([35, 23, 17, 10, 6, 2, 2, 1, 1])]
    groups = _balanced(sizes, 2)
    counts = dict(sizes)
    assert sorted(b for group in groups for b in group) == sorted(counts)
    loads = sorted(sum(counts[b] for b in group) for group in groups)
    assert loads == [48, 49]
    assert all(group == sorted(group) for group in groups)  # each worker reads in batch order
    assert _balanced(sizes[:1], 4) == [[sizes[0][0]]]
