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


def _tax_batches(engine, anchorer, settings, *sizes: int) -> None:
    from ledger_api.ingest.pipeline import Ingestor

    ingestor = Ingestor(engine, anchorer, settings)
    for n, size in enumerate(sizes):
        rows = [tax_row(key=f"{n}-{i}") for i in range(size)]
        ingestor.ingest("p", "tax", jsonl(rows), fmt="jsonl")


def _hand_edit(engine, *statements: tuple[str, tuple[object, ...]]) -> None:
    """Changes made to the SQLite file directly, as by someone outside the platform."""
    import sqlite3

    database = engine.url.database
    assert database is not None
    raw = sqlite3.connect(database)
    for sql, parameters in statements:
        raw.execute(sql, parameters)
    raw.commit()
    raw.close()


def test_values_of_another_type_written_into_sqlite_columns_are_named_not_a_crash(
    sqlite_engine, anchorer, settings
) -> None:
    # SQLite keeps whatever type an UPDATE gives a column: someone editing the file by hand
    # can put text or a number where a blob belongs. Verification must still name each row
    # (the sequential pass and the pool alike), not stop on the first odd value.
    _tax_batches(sqlite_engine, anchorer, settings, 9, 4, 3)
    with sqlite_engine.connect() as conn:
        rows = conn.execute(
            select(RECORDS.c.record_uid, RECORDS.c.batch_id, RECORDS.c.leaf_index).order_by(
                RECORDS.c.batch_id, RECORDS.c.leaf_index
            )
        ).all()
    by_batch: dict[bytes, list[tuple[bytes, int]]] = {}
    for uid, batch_id, index in rows:
        by_batch.setdefault(batch_id, []).append((uid, index))
    nine, four, three = sorted(by_batch.values(), key=len, reverse=True)

    def setting(column: str, value: str, uid: bytes) -> tuple[str, tuple[object, ...]]:
        return f"UPDATE records SET {column} = {value} WHERE record_uid = ?", (uid,)

    def named(report) -> list[tuple[str, bytes, int]]:
        return sorted((f.kind, f.record_uid or b"", f.leaf_index or 0) for f in report.findings)

    _hand_edit(
        sqlite_engine,
        setting("salt", "'some text'", nine[1][0]),
        setting("sealed", "12345", nine[2][0]),
        setting("category", "'tax'", nine[4][0]),
        setting("subject_id", "2.5", nine[5][0]),
        setting("leaf_index", "'seven'", nine[7][0]),
        setting("proof", "'" + "ab" * 32 + "'", four[2][0]),
    )
    sequential = verify_database(sqlite_engine, anchorer, workers=1)
    pooled = verify_database(sqlite_engine, anchorer, workers=2, pool_threshold=1)
    altered = [
        ("record_altered", nine[1][0], 1),
        ("record_altered", nine[2][0], 2),
        ("record_altered", nine[4][0], 4),
        ("record_altered", nine[5][0], 5),
        ("record_added", nine[7][0], 0),  # its leaf index is not a number: no position
        ("record_removed", nine[7][0], 7),  # named from the batch's manifest
        ("proof_altered", four[2][0], 2),
    ]
    assert named(sequential) == sorted(altered)
    assert pooled.as_dict() == sequential.as_dict()

    # A batch id that is not a blob: the row belongs to no batch (the pool, which sorts
    # batch ids, leaves such a database to the sequential pass).
    _hand_edit(sqlite_engine, setting("batch_id", "'elsewhere'", three[0][0]))
    sequential = verify_database(sqlite_engine, anchorer, workers=1)
    pooled = verify_database(sqlite_engine, anchorer, workers=2, pool_threshold=1)
    assert named(sequential) == sorted(
        [
            *altered,
            ("record_added", three[0][0], 0),  # a row of no batch
            ("record_removed", three[0][0], 0),
        ]
    )
    assert pooled.as_dict() == sequential.as_dict()
    moved = next(f for f in sequential.findings if f.kind == "record_added" and f.batch_id is None)
    assert "batch_id holds text" in moved.detail


def test_a_batch_whose_root_or_manifest_holds_another_type_is_reported_not_a_crash(
    sqlite_engine, anchorer, settings
) -> None:
    _tax_batches(sqlite_engine, anchorer, settings, 3, 2)
    with sqlite_engine.connect() as conn:
        rooted, listed = conn.execute(
            select(BATCHES.c.batch_id).order_by(BATCHES.c.leaf_count.desc())
        ).scalars()
    _hand_edit(
        sqlite_engine,
        ("UPDATE ingest_batches SET root = 'abc' WHERE batch_id = ?", (rooted,)),
        ("UPDATE ingest_batches SET manifest = 42 WHERE batch_id = ?", (listed,)),
    )

    report = verify_database(sqlite_engine, anchorer, workers=1)
    by_batch = {f.batch_id: f for f in report.findings if f.kind.startswith("batch_")}
    assert by_batch[rooted].kind == "batch_not_anchored"
    assert "root holding text" in by_batch[rooted].detail
    assert by_batch[listed].kind == "batch_altered"  # no manifest: 0 records listed, 2 counted
    assert verify_database(sqlite_engine, anchorer, workers=2, pool_threshold=1).as_dict() == (
        report.as_dict()
    )
