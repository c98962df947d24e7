"""The access-log writer: SQLite WAL checkpoints run in the background, not inside its commits,
and rows reach the driver without per-value processing."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import replace
from datetime import UTC
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text, update

from ledger_api.accesslog import (
    ACCESS_LOG,
    GENESIS_HASH,
    AccessLogWriter,
    EntryDraft,
    verify_access_log,
)
from ledger_api.accesslog.writer import _Job
from ledger_api.store.db import make_engine, migrate
from ledger_api.store.wal import WalCheckpointer, disable_autocheckpoint

WAIT_S = 30  # a bound on waiting for the background thread, not a timing assertion


def _migrated_engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    migrate(url)
    return make_engine(url)


def _draft(n: int) -> EntryDraft:
    return EntryDraft(
        actor="0x" + "ab" * 20,
        actor_role="institution",
        action="records",
        decision="allowed",
        reason="ok",
        subject_id=n.to_bytes(32, "big"),
        nonce=("0x" + "ab" * 20, f"nonce-{n:08d}"),
    )


def test_the_writer_commits_durably_and_never_checkpoints_in_its_commits(tmp_path: Path) -> None:
    engine = _migrated_engine(tmp_path)
    writer = AccessLogWriter(engine)
    try:
        assert [writer.append(_draft(n)).entry_id for n in range(3)] == [1, 2, 3]
        conn = writer._conn  # the writer thread's own connection
        assert conn is not None
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 0
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar_one() == 2  # FULL: durable
        conn.rollback()
    finally:
        writer.close()
        engine.dispose()


def test_the_checkpointer_copies_committed_pages_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "wal.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)"))
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").all()
    before = path.stat().st_size

    writer = engine.connect()
    writer.detach()  # keeps its pragma away from the pool
    disable_autocheckpoint(writer)
    for i in range(50):  # 50 commits of 40 KiB: they stay in the log until checkpointed
        writer.execute(text("INSERT INTO blobs (data) VALUES (:d)"), {"d": bytes([i]) * 40_960})
        writer.commit()
    assert path.stat().st_size == before

    checkpointer = WalCheckpointer(engine, interval_s=0.01)
    checkpointer.start()
    try:
        deadline = time.monotonic() + WAIT_S
        while path.stat().st_size < before + 50 * 40_960 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert path.stat().st_size >= before + 50 * 40_960
    finally:
        checkpointer.close()
        writer.close()
        engine.dispose()
    reopened = make_engine(f"sqlite:///{path}")
    with reopened.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM blobs")).scalar_one() == 50
    reopened.dispose()


def test_only_the_entry_time_needs_converting_before_the_driver_sees_it() -> None:
    """The writer binds rows without SQLAlchemy's per-value processing; that is only right
    while every column but ``at`` passes its value through unchanged."""
    from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
    from sqlalchemy.dialects.sqlite.pysqlite import dialect as pysqlite_dialect

    from ledger_api.accesslog import ACCESS_LOG
    from ledger_api.accesslog.writer import _INSERTED_COLUMNS

    assert set(_INSERTED_COLUMNS) == {c.name for c in ACCESS_LOG.columns} - {"anchor_id"}
    for dialect in (pysqlite_dialect(), psycopg_dialect()):
        converted = [
            name for name in _INSERTED_COLUMNS if ACCESS_LOG.c[name].type.bind_processor(dialect)
        ]
        assert converted in ([], ["at"]), dialect.name


def _job(n: int) -> _Job:
    return _Job("entry", _draft(n))


def test_a_busy_writer_lingers_for_more_entries_before_committing(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'log.sqlite'}")
    writer = AccessLogWriter(engine, linger_s=WAIT_S, batch_max=4)

    def arrive_late() -> None:
        for n in (3, 4):
            writer._queue.put(_job(n))

    late = threading.Timer(0.05, arrive_late)
    late.start()
    jobs = [_job(1), _job(2)]  # several at hand: the API is busy
    assert writer._gather(jobs) is False
    late.join()
    assert [job.payload.subject_id[-1] for job in jobs] == [1, 2, 3, 4]  # full: no more wait
    engine.dispose()


def test_a_lone_entry_is_committed_without_lingering(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'log.sqlite'}")
    writer = AccessLogWriter(engine, linger_s=WAIT_S, batch_max=4)
    late = threading.Timer(0.2, lambda: writer._queue.put(_job(2)))
    late.start()
    jobs = [_job(1)]
    writer._gather(jobs)
    late.join()
    assert len(jobs) == 1  # returned before the second entry arrived
    engine.dispose()


def test_anchoring_is_due_at_the_entry_count_or_the_age_and_not_before(tmp_path: Path) -> None:
    from ledger_api.accesslog import AccessLogAnchoring
    from ledger_api.anchoring.anchorer import InMemoryAnchorer

    engine = _migrated_engine(tmp_path)
    now = [1_800_000_000.0]
    writer = AccessLogWriter(engine, clock=lambda: now[0])
    anchoring = AccessLogAnchoring(
        engine, InMemoryAnchorer(), every_s=30, every_entries=3, clock=lambda: now[0]
    )
    try:
        assert not anchoring.due()  # an empty log
        writer.append(_draft(1))
        writer.append(_draft(2))
        assert not anchoring.due()  # two entries, brand new
        writer.append(_draft(3))
        assert anchoring.due()  # the third entry
        assert anchoring.anchor_once() is not None
        assert not anchoring.due()  # everything anchored
        writer.append(_draft(4))
        now[0] += 29
        assert not anchoring.due()
        now[0] += 1
        assert anchoring.due()  # the oldest unanchored entry is 30 s old
    finally:
        writer.close()
        engine.dispose()


def _reserve_in_one_batch(writer: AccessLogWriter, nonces: list[str]) -> list[bool]:
    address = "0x" + "ab" * 20
    jobs = [_Job("nonce", (address, nonce)) for nonce in nonces]
    return [bool(result) for result in writer._commit(jobs)]


def test_a_batch_reserves_unused_nonces_once_and_refuses_used_ones(tmp_path: Path) -> None:
    engine = _migrated_engine(tmp_path)
    writer = AccessLogWriter(engine)
    try:
        assert _reserve_in_one_batch(writer, ["used-0001"]) == [True]
        batch = ["fresh-001", "used-0001", "fresh-002", "fresh-001"]
        assert _reserve_in_one_batch(writer, batch) == [True, False, True, False]
        assert _reserve_in_one_batch(writer, ["fresh-002"]) == [False]
    finally:
        writer.close()
        engine.dispose()


def test_a_nonce_inserted_by_another_process_meanwhile_redoes_the_batch_with_returning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger_api.accesslog.writer import _NonceRace

    engine = _migrated_engine(tmp_path)
    writer = AccessLogWriter(engine)
    fast_path = writer._insert_nonces
    raced: list[int] = []

    def race_once(*args: object) -> list[tuple[str, str]]:
        if not raced:  # what the short row count of the multi-row insert reports
            raced.append(1)
            raise _NonceRace
        return fast_path(*args)  # type: ignore[arg-type]

    try:
        assert _reserve_in_one_batch(writer, ["used-0001"]) == [True]
        monkeypatch.setattr(writer, "_insert_nonces", race_once)
        entries = [_Job("entry", _draft(n)) for n in (1, 2)]
        results = writer._commit([*entries, _Job("nonce", ("0x" + "ab" * 20, "used-0001"))])
        assert raced == [1]
        assert [(r.entry_id, r.decision) for r in results[:2]] == [(1, "allowed"), (2, "allowed")]
        assert results[2] is False  # the used nonce is still refused after the redo
        assert writer.append(_draft(3)).entry_id == 3  # the redo wrote nothing twice
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM access_log").scalar_one() == 3
            assert conn.exec_driver_sql("SELECT count(*) FROM request_nonces").scalar_one() == 4
    finally:
        writer.close()
        engine.dispose()


def test_the_entry_hash_covers_categories_only_when_set_so_old_entries_still_verify(
    tmp_path: Path,
) -> None:
    engine = _migrated_engine(tmp_path)
    writer = AccessLogWriter(engine)
    try:
        writer.append(_draft(1))  # as every entry was written before `categories` existed
        writer.append(replace(_draft(2), action="score", categories=0b1101))
    finally:
        writer.close()
    with engine.connect() as conn:
        first, second = conn.execute(select(ACCESS_LOG).order_by(ACCESS_LOG.c.id)).all()
        assert verify_access_log(conn).clean
    assert first.categories is None and second.categories == 0b1101
    # The first entry's hash is the one the 14-field form (before `categories`) gives.
    old_form = [1, first.at.astimezone(UTC).isoformat(timespec="microseconds"), first.actor,
                "institution", "records", first.subject_id.hex(), None, None, None, None, None,
                "allowed", "ok", None]  # fmt: skip
    canonical = json.dumps(old_form, separators=(",", ":")).encode()
    assert first.entry_hash == hashlib.sha256(GENESIS_HASH + canonical).digest()
    for entry_id, categories in ((2, 0b0101), (2, None), (1, 0b1)):
        with engine.begin() as conn:
            original = conn.execute(
                select(ACCESS_LOG.c.categories).where(ACCESS_LOG.c.id == entry_id)
            ).scalar_one()
            change = update(ACCESS_LOG).where(ACCESS_LOG.c.id == entry_id)
            conn.execute(change.values(categories=categories))
        with engine.connect() as conn:
            edited = verify_access_log(conn).of_kind("edited")
        assert [f.entry_id for f in edited] == [entry_id], categories
        with engine.begin() as conn:
            conn.execute(change.values(categories=original))
    engine.dispose()
