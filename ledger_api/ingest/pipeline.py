"""The crash-safe ingestion pipeline: validate → seal → store → anchor, one batch at a time.

A batch moves through persisted states (``BatchState``):

``validated``   the batch row exists (committed before any record is written);
``stored``      every new record, its salt, ciphertext and inclusion proof, and the batch's
                Merkle root, committed in ONE transaction with the state change;
``anchor_sent`` committed just before the anchor transaction is sent;
``anchored``    the receipt is recorded.

The last three are the anchor journal's pending → sent → anchored
(``ledger_api.anchoring.journal``). A crash between two steps leaves the batch in the earlier
state. ``resume_pending()`` finishes ``stored``/``anchor_sent`` batches, the journal asking
the chain first whether the root is already anchored, so a batch is never anchored twice and
an anchored root always matches stored rows. A ``validated`` batch holds no records (the
input is not kept); re-submitting the same batch (same content, same batch id) completes it.
Re-submitting a finished batch stores nothing.

``Ingestor.ingest`` runs the steps in order. ``ingest_many`` overlaps them across batches
(``ledger_api.ingest.overlap``), calling the same steps through this class's public methods.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from itertools import chain
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError as SQLIntegrityError

from ledger_api.anchoring.anchorer import Anchorer
from ledger_api.anchoring.journal import AnchorJournal, Flight
from ledger_api.anchoring.kinds import DATA_BATCHES
from ledger_api.catalog.loader import Catalog, default_catalog
from ledger_api.crypto.keys import DataKeyCache, MasterKey, insert_subjects, read_key_epoch
from ledger_api.errors import ConflictError, InputError, NotFoundError
from ledger_api.ingest import overlap
from ledger_api.ingest.batch import (
    FAULT_STEPS,
    CheckedBatch,
    CheckJob,
    FaultHook,
    IngestResult,
    Progress,
    StoredBatch,
    batch_id_of,
    row_estimate,
)
from ledger_api.ingest.parse import Format, detect_format, jsonl_lines, parse_rows
from ledger_api.ingest.pool import PriorityPool, worker_pool
from ledger_api.ingest.rows import Checked, PreparedRow, RefusedRow
from ledger_api.ingest.sealing import Sealed, Sealer, SealJob
from ledger_api.ingest.validate import RowError
from ledger_api.ingest.workers import (
    Checkers,
    category_checkers,
    check_chunk,
    check_lines,
    check_rows,
    init_worker,
    pool_warmup,
)
from ledger_api.monitoring.outbox import REGISTRATION, record_risk_events
from ledger_api.monitoring.rules import MonitoringRules, parse_rules
from ledger_api.settings import Settings
from ledger_api.store.bulk import insert_columns
from ledger_api.store.models import BATCHES, RECORDS, BatchState
from ledger_api.store.types import utcnow
from ledger_api.store.wal import WalCheckpointer
from ledger_api.worker_count import idle_priority_from_env, workers_from_env

__all__ = [
    "FAULT_STEPS",
    "IngestResult",
    "Ingestor",
    "batch_id_of",
    "ingest_batch",
    "resume_pending",
]

_MAX_PROVIDER = 64
# A call with a batch of at least this many rows starts a process pool (validation, sealing,
# leaf hashes); while it runs, batches of at least POOL_BATCH_ROWS use it (in-process work would
# hold the GIL the writer needs).
POOL_THRESHOLD = 5000
POOL_BATCH_ROWS = 256
_CHECK_CHUNK_ROWS = 2000  # rows per validation task


def default_workers() -> int:
    """``CCL_INGEST_WORKERS`` if set, else 1 (no pool): on 2 cores the pool gained nothing
    over the writer-thread overlap, and the API calls ingestion from a threaded server, where
    forking workers is best avoided (docs/benchmarks.md)."""
    return workers_from_env("CCL_INGEST_WORKERS", 1)


def _nothing() -> None:
    pass


def _ignore_job(job: SealJob) -> None:
    pass


class _KeysChanged(Exception):
    """A subject's key changed between sealing a batch and committing it."""


class Ingestor:
    """Ingests batches into the database at ``engine`` and anchors them through ``anchorer``."""

    def __init__(
        self,
        engine: Engine,
        anchorer: Anchorer,
        settings: Settings,
        *,
        catalog: Catalog | None = None,
        fault_hook: FaultHook | None = None,
        chunk_size: int = 5000,
        data_key_cache: int = 100_000,
        workers: int | None = None,
        pool_threshold: int = POOL_THRESHOLD,
        idle_workers: bool | None = None,
    ) -> None:
        self.engine = engine
        self.anchorer = anchorer
        self.settings = settings
        self.catalog = catalog or default_catalog()
        self.risk_rules: MonitoringRules = parse_rules(self.catalog)
        self._registration_bit = (
            self.catalog.category(REGISTRATION).bit
            if REGISTRATION in self.catalog.category_names
            else -1
        )
        self.fault_hook = fault_hook
        self._pseudonym_key = settings.pseudonym_key_bytes
        self._master = MasterKey.from_settings(settings)
        self._subject_ids: dict[str, bytes] = {}
        self._checkers: dict[str, Checkers] = {}  # by category, reused across batches
        # Unwrapped data keys reused across batches while the key epoch holds; a shredded or
        # re-wrapped key changes the epoch, and is never used (see DataKeyCache).
        self._data_keys = DataKeyCache(self._master, max_keys=data_key_cache)
        # Worker processes for the CPU-bound steps of large batches (validation, sealing,
        # leaf hashes, subtrees); the database work stays in this process. Started per call
        # of ingest / ingest_many when a batch is large enough, shut down when it returns.
        self.workers = default_workers() if workers is None else max(1, workers)
        # At idle priority (the default; CCL_INGEST_WORKER_PRIORITY) the workers leave the
        # cores to the writer thread, the pipeline's critical path.
        self.idle_workers = (
            idle_priority_from_env("CCL_INGEST_WORKER_PRIORITY")
            if idle_workers is None
            else idle_workers
        )
        self.pool_threshold = pool_threshold
        self.pool_batch_rows = min(pool_threshold, POOL_BATCH_ROWS)
        self.pool: PriorityPool | None = None
        self._checkpointer: WalCheckpointer | None = None
        self._sealer = Sealer(
            engine,
            self._master,
            self._data_keys,
            chunk_size=chunk_size,
            pool_rows=self.pool_batch_rows,
            workers=self.workers,
        )
        self.journal = AnchorJournal(
            engine, anchorer, DATA_BATCHES, writing=self.writing, fault_hook=self._fault
        )

    @property
    def chunk_size(self) -> int:
        """Records per insert statement group, and per sealing step in this process."""
        return self._sealer.chunk_size

    @chunk_size.setter
    def chunk_size(self, value: int) -> None:
        self._sealer.chunk_size = value

    # ------------------------------------------------------------------ one batch, in order

    def ingest(
        self,
        provider: str,
        category: str,
        data: bytes | Path,
        *,
        fmt: Format | None = None,
        source_name: str | None = None,
        progress: Progress | None = None,
    ) -> IngestResult:
        """Validate, encrypt, store and anchor one batch of ``category`` rows.

        ``data`` is the raw batch (JSON lines or CSV; ``fmt`` or the file name decides).
        Bad rows come back in ``result.rejected``; good rows are stored once, however often
        the batch is submitted.
        """
        with self.pool_for(row_estimate(data)):
            job = self.check_begin(provider, category, data, fmt, source_name)
            checked = self.check_finish(job)
            stored = self.store_batch(checked, progress, _nothing)
            return self.finish(stored)

    def ingest_many(
        self,
        provider: str,
        batches: Iterable[tuple[str, bytes | Path]],
        *,
        fmt: Format | None = None,
        progress: Progress | None = None,
    ) -> list[IngestResult]:
        """Ingest ``(category, data)`` batches in order, each exactly as :meth:`ingest` would,
        their steps overlapped (``ledger_api.ingest.overlap``). ``progress`` counts batches."""
        return overlap.ingest_many(self, provider, list(batches), fmt=fmt, progress=progress)

    def resume_pending(self, progress: Progress | None = None) -> list[IngestResult]:
        """Finish every batch a crash left between states; returns their results.

        Batches still ``validated`` hold no records and wait for their re-submission.
        """
        with self.engine.connect() as conn:
            pending = conn.execute(
                select(BATCHES.c.batch_id, BATCHES.c.state)
                .where(BATCHES.c.state.in_(BatchState.PENDING))
                .order_by(BATCHES.c.created_at)
            ).all()
        results = []
        for done, (batch_id, state) in enumerate(pending, start=1):
            if state != BatchState.VALIDATED:
                self.journal.anchor(batch_id)
            results.append(self._result(batch_id, already_known=True))
            if progress is not None:
                progress(done, len(pending))
        return results

    # ------------------------------------------------------------------ 1. validate

    def check_begin(
        self,
        provider: str,
        category: str,
        data: bytes | Path,
        fmt: Format | None,
        source_name: str | None,
    ) -> CheckJob:
        """Read and identify a batch and begin validating it (in the pool, if it is large
        enough and a pool runs): CPU only, no database access. ``check_finish`` ends it."""
        if isinstance(data, Path):
            path = data
            source_name = source_name or path.name
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise InputError(f"cannot read {path}: {exc.strerror}") from None
        if not provider or len(provider) > _MAX_PROVIDER:
            raise InputError(f"provider must be 1..{_MAX_PROVIDER} characters")
        cat = self.catalog.category(category)
        fmt = fmt or detect_format(source_name, data)
        batch_id = batch_id_of(provider, cat, self.catalog.version, data)
        rows = data.count(b"\n")
        futures = None
        pool = self.pool
        if pool is not None and fmt == "jsonl" and rows >= self.pool_batch_rows:
            lines = jsonl_lines(data)
            # Small chunks: sealing waits for at most one of them per worker.
            size = min(-(-len(lines) // (2 * self.workers)), _CHECK_CHUNK_ROWS) or 1
            futures = [
                pool.submit_background(check_chunk, provider, cat.name, lines[i : i + size], i + 1)
                for i in range(0, len(lines), size)
            ]
        return CheckJob(provider, cat, batch_id, data, fmt, rows, futures)

    def check_finish(self, job: CheckJob) -> CheckedBatch:
        """The batch ``check_begin`` began, validated: its rows checked one by one, then the
        batch-level pass (same content twice is a duplicate; the same record key with other
        content is refused)."""
        rows = list(self._checked_rows(job))
        good = [row for row in rows if type(row) is PreparedRow]
        if len({r.uid for r in good}) == len(good) == len({r.key_hash for r in good}):
            # The usual batch, told apart at C speed: no row repeats another's content or key.
            refused = [RowError(r.row, r.reason) for r in rows if type(r) is RefusedRow]
            return CheckedBatch(
                job.provider, job.category, job.batch_id, len(rows), good, refused, 0
            )
        seen_uid: set[bytes] = set()
        seen_key: dict[bytes, int] = {}
        prepared: list[PreparedRow] = []
        rejected: list[RowError] = []
        duplicates = 0
        for item in rows:
            if type(item) is RefusedRow:
                rejected.append(RowError(item.row, item.reason))
                continue
            assert type(item) is PreparedRow
            if item.uid in seen_uid:
                duplicates += 1
                continue
            first = seen_key.get(item.key_hash)
            if first is not None:
                rejected.append(
                    RowError(
                        item.row,
                        f"record_key repeated in this batch with different content "
                        f"(first at row {first})",
                    )
                )
                continue
            seen_uid.add(item.uid)
            seen_key[item.key_hash] = item.row
            prepared.append(item)
        return CheckedBatch(
            job.provider, job.category, job.batch_id, len(rows), prepared, rejected, duplicates
        )

    def _checked_rows(self, job: CheckJob) -> Iterable[Checked]:
        if job.futures is not None:
            return chain.from_iterable(f.result() for f in job.futures)
        validator, strict = category_checkers(self._checkers, self.catalog, job.category)
        if job.fmt == "jsonl":
            return check_lines(
                validator, strict, self._pseudonym_key, job.provider, jsonl_lines(job.data), 1,
                self._subject_ids,
            )  # fmt: skip
        return check_rows(
            validator,
            self._pseudonym_key,
            job.provider,
            parse_rows(job.data, job.fmt),
            self._subject_ids,
        )

    # ------------------------------------------------------------------ 2. seal, 3. store

    def store_batch(
        self,
        checked: CheckedBatch,
        progress: Progress | None,
        meanwhile: Callable[[], None],
        begun: Callable[[SealJob], None] = _ignore_job,
    ) -> StoredBatch:
        """Store a checked batch's new records, or find it known; ``finish`` anchors it.

        ``meanwhile`` runs once per attempt, while the pool seals (else before sealing);
        ``begun`` once its first sealing has begun (its keys known, its pool tasks queued).
        """
        batch_id = checked.batch_id
        existing = self._load_batch(batch_id)
        if existing is not None and existing["state"] != BatchState.VALIDATED:
            meanwhile()
            unanchored = existing["state"] in (BatchState.STORED, BatchState.ANCHOR_SENT)
            return StoredBatch(batch_id, checked.rejected, True, True, unanchored)
        rejected = self._store(checked, existing is None, progress, meanwhile, begun)
        self._fault("stored")
        return StoredBatch(batch_id, rejected, existing is not None, False, True)

    def seal_begin(self, checked: CheckedBatch, *, look_up_all: bool) -> SealJob:
        """Begin sealing the batch's new records (``ledger_api.ingest.sealing``)."""
        return self._sealer.begin(checked, self.pool, look_up_all=look_up_all)

    def seal_finish(
        self, job: SealJob, progress: Progress | None, meanwhile: Callable[[], None]
    ) -> Sealed:
        return self._sealer.finish(job, progress, meanwhile)

    def known(self, batch_id: bytes) -> bool:
        """Whether a batch with this id was ever begun."""
        return self._load_batch(batch_id) is not None

    def _store(
        self,
        checked: CheckedBatch,
        new_batch: bool,
        progress: Progress | None,
        meanwhile: Callable[[], None],
        begun: Callable[[SealJob], None],
    ) -> list[RowError]:
        """Seal and store the batch's new records; returns every rejected row, in row order.

        Sealing only reads (existing records, subjects' keys); new subjects' keys, the records
        and the batch's root are then written in one transaction, which checks that no key
        changed since sealing (the key epoch) and otherwise rolls back and seals again.
        """
        # The first attempt looks up every record only if a probe finds some of them stored;
        # a record stored after all fails the transaction on its unique key, and the next
        # attempt looks them all up. The last one is for a subject a concurrent ingest created.
        attempts = 3
        for attempt in range(attempts):
            job, checked.early = checked.early, None
            if job is None or attempt > 0:
                job = self.seal_begin(checked, look_up_all=attempt > 0)
            if attempt == 0:
                begun(job)
            sealed = self.seal_finish(job, progress, meanwhile)
            if attempt == 0:
                if new_batch:
                    self._insert_validated(checked)
                self._fault("validated")
            try:
                with self.writing() as conn:
                    self.write(conn, checked, sealed, progress)
            except SQLIntegrityError:
                if attempt == attempts - 1:
                    raise
                continue
            except _KeysChanged:
                if attempt == attempts - 1:
                    raise ConflictError(
                        "subjects' keys kept changing while the batch was stored (shredding "
                        "or a master-key rotation); nothing was stored, submit it again",
                        code="keys_changed",
                    ) from None
                continue
            sealed.keyring.share_created()  # committed: the next batch need not unwrap them
            return sorted(checked.rejected + sealed.refused, key=lambda e: e.row)
        raise AssertionError("unreachable")

    def _insert_validated(self, checked: CheckedBatch) -> None:
        now = utcnow()
        try:
            with self.writing() as conn:
                conn.execute(
                    insert(BATCHES).values(
                        batch_id=checked.batch_id,
                        provider=checked.provider,
                        category=checked.category.bit,
                        catalog_version=self.catalog.version,
                        state=BatchState.VALIDATED,
                        rows_total=checked.rows_total,
                        rows_accepted=0,
                        rows_duplicate=0,
                        rows_rejected=len(checked.rejected),
                        leaf_count=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except SQLIntegrityError:
            raise ConflictError(
                f"batch 0x{checked.batch_id.hex()} is being ingested concurrently; retry",
                code="batch_in_progress",
            ) from None

    def write(
        self, conn: Connection, checked: CheckedBatch, sealed: Sealed, progress: Progress | None
    ) -> None:
        """One transaction: new subjects, the records, and the batch's root and counts."""
        batch_id = checked.batch_id
        state = conn.execute(
            select(BATCHES.c.state).where(BATCHES.c.batch_id == batch_id)
        ).scalar_one_or_none()
        if state != BatchState.VALIDATED:
            raise ConflictError(f"batch 0x{batch_id.hex()} changed state concurrently")
        insert_subjects(conn, sealed.new_subjects)
        records = sealed.records
        same = {
            "batch_id": batch_id,
            "provider": checked.provider,
            "category": checked.category.bit,
        }
        n = len(records["record_uid"])
        step = max(self.chunk_size, 1)
        for start in range(0, n, step):
            end = min(start + step, n)
            chunk = {name: values[start:end] for name, values in records.items()}
            insert_columns(conn, RECORDS, chunk, same)
            if progress is not None:
                progress(n + end, 2 * n)
        # Risk events go to the outbox in this same transaction: stored records and their
        # events are committed together or not at all.
        record_risk_events(
            conn,
            self.risk_rules,
            checked.category.bit,
            self._registration_bit,
            sealed.fresh,
            int(time.time()),
        )
        epoch = sealed.keyring.epoch
        if epoch is not None and read_key_epoch(conn, hold=True) != epoch:
            # A key was shredded or re-wrapped after sealing read it (_store seals again).
            raise _KeysChanged
        conn.execute(
            update(BATCHES)
            .where(BATCHES.c.batch_id == batch_id)
            .values(
                state=BatchState.STORED if n else BatchState.EMPTY,
                rows_accepted=n,
                rows_duplicate=sealed.duplicates,
                rows_rejected=len(checked.rejected) + len(sealed.refused),
                root=sealed.root,
                leaf_count=n,
                manifest=sealed.manifest,
                updated_at=utcnow(),
            )
        )

    # ------------------------------------------------------------------ 4. anchor, report

    def finish(self, stored: StoredBatch, flight: Flight | None = None) -> IngestResult:
        """Anchor a stored batch through the journal (if it needs it) and report it;
        ``flight``: its anchor, sent already (``journal.send``)."""
        if flight is not None:
            self.journal.confirm(flight)
        elif stored.unanchored:
            # Just stored: its root (over fresh random salts) cannot be on chain yet.
            self.journal.anchor(stored.batch_id, fresh=not stored.resubmitted)
        return self._result(
            stored.batch_id,
            rejected=stored.rejected,
            already_known=stored.known,
            resubmitted=stored.resubmitted,
        )

    def _result(
        self,
        batch_id: bytes,
        *,
        rejected: list[RowError] | None = None,
        already_known: bool = False,
        resubmitted: bool = False,
    ) -> IngestResult:
        """The batch as stored; a re-submission of a finished batch stored nothing new."""
        batch = self._load_batch(batch_id)
        if batch is None:
            raise NotFoundError(f"no batch 0x{batch_id.hex()}")
        rejected = list(rejected or [])
        return IngestResult(
            batch_id=batch_id,
            provider=batch["provider"],
            category=self.catalog.category(batch["category"]).name,
            state=batch["state"],
            rows_total=batch["rows_total"],
            accepted=0 if resubmitted else batch["rows_accepted"],
            duplicates=batch["rows_total"] - len(rejected)
            if resubmitted
            else batch["rows_duplicate"],
            rejected=rejected,
            root=batch["root"],
            leaf_count=batch["leaf_count"],
            anchor_sequence=batch["anchor_sequence"],
            tx_hash=batch["tx_hash"],
            already_known=already_known or resubmitted,
        )

    # ------------------------------------------------------------------ resources

    @contextmanager
    def pool_for(self, rows: int) -> Iterator[None]:
        """A process pool while the block runs, if ``rows`` (largest batch) calls for one."""
        if self.pool is not None or self.workers < 2 or rows < self.pool_threshold:
            yield
            return
        initargs = (self.catalog, self._pseudonym_key, self.idle_workers)
        with worker_pool(self.workers, init_worker, initargs, pool_warmup) as pool:
            self.pool = pool
            try:
                yield
            finally:
                self.pool = None

    @contextmanager
    def checkpoints_behind(self) -> Iterator[None]:
        """On SQLite, WAL checkpoints on their own thread while the block runs.

        A commit that pushes the log over 1,000 pages otherwise copies it back into the
        database and syncs both files before it returns, on the writer's path. Batches then
        commit without checkpointing (``writing``) while the checkpointer copies and syncs.
        """
        if self.engine.dialect.name != "sqlite" or self._checkpointer is not None:
            yield
            return
        checkpointer = WalCheckpointer(self.engine)
        checkpointer.start()
        self._checkpointer = checkpointer
        try:
            yield
        finally:
            self._checkpointer = None
            checkpointer.close()

    @contextmanager
    def writing(self, *, durable: bool = False) -> Iterator[Connection]:
        """A connection in a transaction that commits on leaving the block; it leaves the
        checkpoint to the checkpointer thread while one runs (a commit while the log is long
        would otherwise checkpoint it on the writer's path). ``durable``: on SQLite the
        commit syncs."""
        with self.engine.connect() as conn, ExitStack() as pragmas:
            if durable and conn.dialect.name == "sqlite":
                pragmas.enter_context(_connection_pragma(conn, "synchronous", "FULL"))
            if self._checkpointer is not None:
                pragmas.enter_context(_connection_pragma(conn, "wal_autocheckpoint", "0"))
            with conn.begin():
                yield conn

    def _fault(self, step: str) -> None:
        if self.fault_hook is not None:
            self.fault_hook(step)

    def _load_batch(self, batch_id: bytes) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(BATCHES).where(BATCHES.c.batch_id == batch_id)).first()
        return None if row is None else dict(row._mapping)


@contextmanager
def _connection_pragma(conn: Connection, name: str, value: str) -> Iterator[None]:
    """SQLite ``PRAGMA name=value`` on ``conn`` for the block; a pooled connection, so its
    previous setting is restored afterwards."""
    previous = conn.exec_driver_sql(f"PRAGMA {name}").scalar_one()
    conn.exec_driver_sql(f"PRAGMA {name}={value}")
    conn.commit()
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA {name}={previous}")
        conn.commit()


def ingest_batch(
    engine: Engine,
    anchorer: Anchorer,
    settings: Settings,
    *,
    provider: str,
    category: str,
    data: bytes | Path,
    fmt: Format | None = None,
    source_name: str | None = None,
    progress: Progress | None = None,
    catalog: Catalog | None = None,
) -> IngestResult:
    """One-call entry point (the API endpoint and the CLI use this)."""
    return Ingestor(engine, anchorer, settings, catalog=catalog).ingest(
        provider, category, data, fmt=fmt, source_name=source_name, progress=progress
    )


def resume_pending(
    engine: Engine, anchorer: Anchorer, settings: Settings, progress: Progress | None = None
) -> list[IngestResult]:
    return Ingestor(engine, anchorer, settings).resume_pending(progress)
