"""The access log on PostgreSQL with several writers: one hash chain, one anchoring pass.

Each writer and each anchoring loop has its own engine (its own connections), as two API
worker processes would; they share one database in a private schema.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future

import pytest
from nodes import PG_URL, postgres_schema
from sqlalchemy import Engine, func, select

from ledger_api.accesslog import (
    ACCESS_LOG,
    ALLOWED,
    ANCHORS,
    NONCE_REPLAYED,
    AccessLogAnchoring,
    AccessLogWriter,
    AppendResult,
    EntryDraft,
    verify_access_log,
)
from ledger_api.anchoring.anchorer import AnchoredRoot, AnchorKind, AnchorReceipt, InMemoryAnchorer
from ledger_api.store.db import make_engine, migrate

pytestmark = pytest.mark.postgres

PER_WRITER = 300
WAIT_S = 60  # a bound on waiting for the other thread, not a timing assertion


@pytest.fixture
def pg_schema() -> Iterator[str]:
    with postgres_schema("ccl_test_log") as schema:
        engine = make_engine(PG_URL, schema=schema)
        try:
            migrate(engine)
        finally:
            engine.dispose()
        yield schema


@pytest.fixture
def engines(pg_schema: str) -> Iterator[tuple[Engine, Engine]]:
    first, second = make_engine(PG_URL, schema=pg_schema), make_engine(PG_URL, schema=pg_schema)
    yield first, second
    first.dispose()
    second.dispose()


def _draft(worker: int, i: int, *, nonce: str | None = None) -> EntryDraft:
    return EntryDraft(
        actor=f"0x{worker:040x}",
        actor_role="institution",
        action="records",
        decision=ALLOWED,
        reason="ok",
        subject_id=bytes([worker]) * 32,
        grant_id=i + 1,
        checked_block=i,
        response_hash=bytes(32),
        nonce=None if nonce is None else (f"0x{worker:040x}", nonce),
    )


def _append_many(writer: AccessLogWriter, worker: int, start: threading.Barrier) -> list[int]:
    start.wait(WAIT_S)
    futures: list[Future[AppendResult]] = []
    for i in range(PER_WRITER):
        futures.append(writer.submit(_draft(worker, i, nonce=f"nonce-{worker}-{i:06d}")))
        if i % 50 == 49:  # let batches of several sizes form
            futures[-1].result(WAIT_S)
    return [f.result(WAIT_S).entry_id for f in futures]


def test_two_writers_keep_one_unbroken_chain(engines: tuple[Engine, Engine]) -> None:
    writers = [AccessLogWriter(engine) for engine in engines]
    start = threading.Barrier(2)
    ids: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def run(worker: int) -> None:
        try:
            ids[worker] = _append_many(writers[worker], worker, start)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    for writer in writers:
        writer.close()
    assert not errors
    every_id = sorted(ids[0] + ids[1])
    assert every_id == list(range(1, 2 * PER_WRITER + 1))  # no id twice, no gap
    with engines[0].connect() as conn:
        report = verify_access_log(conn)
        hashes = conn.execute(select(ACCESS_LOG.c.entry_hash)).scalars().all()
    assert report.clean, report.findings
    assert report.entries_checked == 2 * PER_WRITER
    assert len(set(hashes)) == len(hashes)


def test_a_nonce_is_spent_once_across_writers(engines: tuple[Engine, Engine]) -> None:
    writers = [AccessLogWriter(engine) for engine in engines]
    try:
        first = writers[0].append(_draft(7, 0, nonce="shared-nonce-1"))
        second = writers[1].append(_draft(7, 1, nonce="shared-nonce-1"))
        assert writers[1].reserve_nonce("0x" + "07" * 20, "other-nonce-2").result(WAIT_S)
        assert not writers[0].reserve_nonce("0x" + "07" * 20, "other-nonce-2").result(WAIT_S)
    finally:
        for writer in writers:
            writer.close()
    assert first.decision == ALLOWED
    assert second.reason == NONCE_REPLAYED and second.decision != ALLOWED


class _GatedAnchorer(InMemoryAnchorer):
    """Records how many anchor transactions are in flight; the first one waits inside the
    "transaction" until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = threading.Event()
        self.release = threading.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        self._count_lock = threading.Lock()

    def anchor(
        self, kind: AnchorKind, root: bytes, leaf_count: int, reference: bytes
    ) -> AnchorReceipt:
        with self._count_lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self.inside.set()
            assert self.release.wait(WAIT_S)
            return super().anchor(kind, root, leaf_count, reference)
        finally:
            with self._count_lock:
                self.in_flight -= 1

    def anchored(self, root: bytes) -> AnchoredRoot | None:
        return super().anchored(root)


def test_only_one_worker_anchors_at_a_time(engines: tuple[Engine, Engine]) -> None:
    writer = AccessLogWriter(engines[0])
    for i in range(40):
        writer.append(_draft(1, i))
    anchorer = _GatedAnchorer()
    first, second = (
        AccessLogAnchoring(engine, anchorer, every_s=3600, every_entries=1) for engine in engines
    )
    outcome: dict[str, int | None] = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("first", first.anchor_once()))
    thread.start()
    assert anchorer.inside.wait(WAIT_S)  # the first worker is sending its anchor
    assert second.anchor_once() is None  # ... so the second one skips its pass
    anchorer.release.set()
    thread.join(WAIT_S)
    assert outcome["first"] is not None
    for i in range(40, 60):
        writer.append(_draft(1, i))
    assert second.anchor_once() is not None  # the lock is free again
    writer.close()
    assert anchorer.max_in_flight == 1 and anchorer.calls == 2
    with engines[1].connect() as conn:
        anchors = conn.execute(select(ANCHORS).order_by(ANCHORS.c.id)).all()
        unanchored = conn.execute(
            select(func.count()).select_from(ACCESS_LOG).where(ACCESS_LOG.c.anchor_id.is_(None))
        ).scalar_one()
        report = verify_access_log(conn)
    assert [(a.first_entry, a.last_entry, a.status) for a in anchors] == [
        (1, 40, "anchored"),
        (41, 60, "anchored"),
    ]
    assert unanchored == 0 and report.clean, report.findings


def test_a_refused_operation_fits_the_action_column(engines: tuple[Engine, Engine]) -> None:
    """A refusal's action is its route template, longer than the 32 characters it once had."""
    engine = engines[0]
    writer = AccessLogWriter(engine)
    operation = "POST /v1/subject/registrations/{registration_id}/signature"
    try:
        result = writer.append(
            EntryDraft(
                actor="0x" + "ab" * 20,
                actor_role="signer",
                action=operation,
                decision="denied",
                reason="forbidden",
            )
        )
    finally:
        writer.close()
    with engine.connect() as conn:
        stored = conn.execute(select(ACCESS_LOG.c.action).where(ACCESS_LOG.c.id == result.entry_id))
        assert stored.scalar_one() == operation
        assert verify_access_log(conn).clean
