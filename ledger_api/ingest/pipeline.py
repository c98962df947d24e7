"""The crash-safe ingestion pipeline.

A batch moves through persisted states (``BatchState``):

``validated``   the batch row exists (committed before any record is written);
``stored``      every new record, its salt, ciphertext and inclusion proof, and the batch's
                Merkle root, committed in ONE transaction with the state change;
``anchor_sent`` committed just before the anchor transaction is sent;
``anchored``    the receipt is recorded.

A crash between two steps leaves the batch in the earlier state. ``resume_pending()`` finishes
``stored``/``anchor_sent`` batches, always asking the chain first whether the root is already
anchored, so a batch is never anchored twice and an anchored root always matches stored rows.
A ``validated`` batch holds no records (the input is not kept); re-submitting the same batch
(same content, same batch id) completes it. Re-submitting a finished batch stores nothing.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any, Final, NamedTuple, cast

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError as SQLIntegrityError

from ledger_api.anchoring.anchorer import (
    AnchoredRoot,
    Anchorer,
    AnchorKind,
    AnchorReceipt,
    GroupAnchorer,
    PendingAnchor,
)
from ledger_api.anchoring.merkle import MerkleTree, join_subtrees, subtree_leaf_ranges
from ledger_api.catalog.loader import Catalog, Category, default_catalog
from ledger_api.crypto.keys import (
    DataKeyCache,
    MasterKey,
    NewSubjects,
    SubjectKeyring,
    SubjectKeys,
    insert_subjects,
    read_key_epoch,
)
from ledger_api.errors import ConflictError, InputError, IntegrityError, NotFoundError
from ledger_api.ingest.parse import Format, detect_format, jsonl_lines, parse_rows
from ledger_api.ingest.pool import PriorityPool
from ledger_api.ingest.validate import RowError
from ledger_api.ingest.workers import (
    Checked,
    Checkers,
    SealedSubtree,
    category_checkers,
    check_chunk,
    check_lines,
    check_rows,
    init_worker,
    pool_warmup,
    seal_rows,
    seal_subtrees,
)
from ledger_api.settings import Settings
from ledger_api.store.bulk import insert_columns
from ledger_api.store.models import BATCHES, RECORDS, BatchState
from ledger_api.store.records import stored_record_uids
from ledger_api.store.types import utcnow
from ledger_api.store.wal import WalCheckpointer
from ledger_api.worker_count import balanced, idle_priority_from_env, workers_from_env

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]
FaultHook = Callable[[str], None]

# Named points where an injected fault (tests) simulates a crash, in pipeline order.
FAULT_STEPS = ("validated", "stored", "anchor_sent", "anchor_returned", "anchored")

_BATCHES = BATCHES
_RECORDS = RECORDS
_MAX_PROVIDER = 64
# A call with a batch of at least this many rows starts a process pool (validation, sealing,
# leaf hashes); while it runs, batches of at least POOL_BATCH_ROWS use it (in-process work would
# hold the GIL the writer needs).
POOL_THRESHOLD = 5000
POOL_BATCH_ROWS = 256
_CHECK_CHUNK_ROWS = 2000  # rows per validation task
# ingest_many begins validating the batches after the one it waits for while they hold fewer
# rows than this together (at least the next batch): the pool validates them whenever the
# writer's sealing leaves it free, instead of one batch at a time.
VALIDATE_AHEAD_ROWS = 20_000
# ingest_many sends the anchors of up to this many batches before waiting for the oldest.
ANCHORS_IN_FLIGHT = 8
# With an anchorer that puts several roots in one transaction (GroupAnchorer), ingest_many
# holds stored batches' anchors while the batches after them are smaller than this, and
# sends up to ANCHOR_GROUP_MAX roots in one transaction (each still its own anchor).
ANCHOR_GROUP_BELOW_ROWS = POOL_THRESHOLD
ANCHOR_GROUP_MAX = 16
# Records of a batch looked up before storing it without looking them all up (see _seal).
_PROBE_ROWS = 32
# A pooled batch's tree is built as the (up to) 16 subtrees this deep, dealt out to the workers.
_SUBTREE_DEPTH = 4


def default_workers() -> int:
    """``CCL_INGEST_WORKERS`` if set, else 1 (no pool).

    Off by default: on 2 cores the pool measured no gain over the writer-thread overlap (the
    database work stays in the main process), and the API calls ingestion from a threaded
    server, where forking workers is best avoided.
    """
    return workers_from_env("CCL_INGEST_WORKERS", 1)


@dataclass
class IngestResult:
    batch_id: bytes
    provider: str
    category: str
    state: str
    rows_total: int
    accepted: int  # new records stored by this batch
    duplicates: int  # rows already stored (by this or an earlier batch)
    rejected: list[RowError] = field(default_factory=list)
    root: bytes | None = None
    leaf_count: int = 0
    anchor_sequence: int | None = None
    tx_hash: bytes | None = None
    already_known: bool = False  # the batch id was seen before (re-submission or resume)

    @property
    def done(self) -> bool:
        return self.state in BatchState.DONE

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_id": "0x" + self.batch_id.hex(),
            "provider": self.provider,
            "category": self.category,
            "state": self.state,
            "rows_total": self.rows_total,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": [e.as_dict() for e in self.rejected],
            "root": None if self.root is None else "0x" + self.root.hex(),
            "leaf_count": self.leaf_count,
            "anchor_sequence": self.anchor_sequence,
            "tx_hash": None if self.tx_hash is None else "0x" + self.tx_hash.hex(),
            "already_known": self.already_known,
        }


# A validated new row: (row number, record uid, subject id, USCC, record key hash,
# content digest, canonical payload). Plain tuples: one is built per row on the hot path.
_Prepared = tuple[int, bytes, bytes, str, bytes, bytes, bytes]
# A value the bulk insert binds (store.bulk.as_blobs turns bytes into bytearray).
_Blob = bytes | bytearray
_ROW: Final = 0
_UID: Final = 1
_SID: Final = 2
_USCC: Final = 3


@dataclass
class _Checked:
    """A parsed and validated batch, ready to be stored."""

    provider: str
    category: Category
    batch_id: bytes
    rows_total: int
    prepared: list[_Prepared]
    rejected: list[RowError]
    duplicates: int
    early: _SealJob | None = None  # its sealing, begun while the batch before was stored


@dataclass
class _CheckJob:
    """A batch read and identified, its validation begun (``_check_begin``): in the pool
    (``futures``) or, for a small batch or without a pool, still to run here."""

    provider: str
    category: Category
    batch_id: bytes
    data: bytes
    fmt: Format
    rows: int  # lines in the batch
    futures: list[Future[list[Checked]]] | None


# A batch whose checking has begun, or the error that stopped it (raised in the batch's turn).
_Ahead = _CheckJob | Exception


@dataclass
class _Sealed:
    """A batch's new records, encrypted and hashed, ready to be written (nothing written)."""

    records: dict[str, Sequence[Any]]  # records' columns but batch, provider, category; leaf order
    root: bytes | None
    manifest: bytes | None  # record uids in leaf order
    new_subjects: NewSubjects  # keys created for the batch, stored with it
    keyring: SubjectKeyring  # holds those keys (shared once the batch is committed)
    duplicates: int
    refused: list[RowError]  # rows of crypto-shredded subjects


class _Submitted(NamedTuple):
    """A pooled batch's sealing tasks: subtrees' leaf ranges, the subtrees of each task, and
    the tasks' futures."""

    groups: list[list[range]]
    tasks: list[list[int]]
    futures: list[Future[list[SealedSubtree]]]


@dataclass
class _SealJob:
    """A batch's sealing begun by ``_seal_begin``: what ``_seal_finish`` needs."""

    fresh: list[_Prepared]  # the records to store, in leaf order
    keys: SubjectKeys
    keyring: SubjectKeyring
    duplicates: int
    refused: list[RowError]
    items: list[tuple[bytes, bytes, bytes]]
    randomness: bytes
    bit: int
    submitted: _Submitted | None  # the pool's tasks, if a pool seals the batch


@dataclass
class _Stored:
    """A batch after storing: what anchoring and reporting it still need."""

    batch_id: bytes
    rejected: list[RowError]
    known: bool  # the batch id was seen before
    resubmitted: bool  # ... past storing: nothing was stored now
    unanchored: bool  # its root may still need anchoring


@dataclass
class _InFlight:
    """A batch's anchor between ``_send_anchor`` and ``_record_anchor``."""

    batch_id: bytes
    root: bytes
    leaf_count: int
    on_chain: AnchoredRoot | None = None  # found anchored already: nothing sent
    pending: PendingAnchor | None = None  # sent; None with on_chain None: refused as a repeat


def _nothing() -> None:
    pass


def _ignore_job(job: _SealJob) -> None:
    pass


class _KeysChanged(Exception):
    """A subject's key changed between sealing a batch and committing it."""


def batch_id_of(provider: str, category: Category, catalog_version: int, data: bytes) -> bytes:
    """Content hash identifying a batch: same bytes from the same provider, same id."""
    h = hashlib.sha256(b"ccl/batch/v1\x00")
    h.update(f"{provider}\x00{category.name}\x00{catalog_version}\x00".encode())
    h.update(data)
    return h.digest()


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
        self.fault_hook = fault_hook
        self.chunk_size = chunk_size
        self._pseudonym_key = settings.pseudonym_key_bytes
        self._master = MasterKey.from_settings(settings)
        self._subject_ids: dict[str, bytes] = {}
        self._checkers: dict[str, Checkers] = {}  # by category, reused across batches
        # Unwrapped data keys reused across batches while the key epoch holds; a shredded or
        # re-wrapped key changes the epoch, and is never used (see DataKeyCache).
        self._data_keys = DataKeyCache(self._master, max_keys=data_key_cache)
        # Worker processes for the CPU-bound steps of large batches (validation, sealing,
        # leaf hashes, subtrees of the Merkle tree); the database work stays in this process.
        # Started per call of ingest / ingest_many when a batch is large enough, shut down when
        # it returns.
        self.workers = default_workers() if workers is None else max(1, workers)
        # At idle priority (the default; CCL_INGEST_WORKER_PRIORITY) the workers leave the
        # cores to the writer thread, the pipeline's critical path (workers.run_at_idle_priority).
        self.idle_workers = (
            idle_priority_from_env("CCL_INGEST_WORKER_PRIORITY")
            if idle_workers is None
            else idle_workers
        )
        self.pool_threshold = pool_threshold
        self._pool_batch_rows = min(pool_threshold, POOL_BATCH_ROWS)
        self._pool: PriorityPool | None = None
        self._checkpointer: WalCheckpointer | None = None

    @contextmanager
    def _pool_for(self, rows: int) -> Iterator[None]:
        """A process pool while the block runs, if ``rows`` (largest batch) calls for one."""
        if self._pool is not None or self.workers < 2 or rows < self.pool_threshold:
            yield
            return
        # fork where the platform has it: a worker starts in milliseconds with everything
        # imported. The workers are forked here, before the caller's writer thread exists
        # (the first submit launches them all), and only run the pure functions of
        # ledger_api.ingest.workers. Elsewhere, spawn.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        executor = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=init_worker,
            initargs=(self.catalog, self._pseudonym_key, self.idle_workers),
        )
        try:
            executor.submit(pool_warmup).result()
        except BaseException:
            executor.shutdown(wait=True, cancel_futures=True)
            raise
        pool = self._pool = PriorityPool(executor, self.workers)
        try:
            yield
        finally:
            self._pool = None
            pool.shutdown()

    @contextmanager
    def _checkpoints_behind(self) -> Iterator[None]:
        """On SQLite, WAL checkpoints on their own thread while the block runs.

        A commit that pushes the log over 1,000 pages otherwise copies it back into the
        database and syncs both files before it returns: about a second per 100k records on
        the writer's path. Batches then commit without checkpointing (``_writing``), and the
        checkpointer copies and syncs meanwhile; the block ends after its last checkpoint.
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
    def _writing(self, *, durable: bool = False) -> Iterator[Connection]:
        """A connection in a transaction that commits on leaving the block; it leaves the
        checkpoint to the checkpointer thread while one runs (every commit of the pipeline
        goes through here: a state change committed while the log is long would otherwise
        checkpoint it, on the writer's path). ``durable``: on SQLite the commit syncs."""
        with self.engine.connect() as conn, ExitStack() as pragmas:
            if durable and conn.dialect.name == "sqlite":
                pragmas.enter_context(_connection_pragma(conn, "synchronous", "FULL"))
            if self._checkpointer is not None:
                pragmas.enter_context(_connection_pragma(conn, "wal_autocheckpoint", "0"))
            with conn.begin():
                yield conn

    # ------------------------------------------------------------------ public

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
        with self._pool_for(_row_estimate(data)):
            job = self._check_begin(provider, category, data, fmt, source_name)
            return self._finish(self._store_batch(self._check_finish(job), progress, _nothing))

    def ingest_many(
        self,
        provider: str,
        batches: Iterable[tuple[str, bytes | Path]],
        *,
        fmt: Format | None = None,
        progress: Progress | None = None,
    ) -> list[IngestResult]:
        """Ingest ``(category, data)`` batches in order, each exactly as :meth:`ingest` would.

        Overlapped on a writer thread (SQLite, the pool's pipes and the network release the
        GIL): while one batch is stored, the next one is parsed and validated (in the pool,
        behind the sealing the writer waits for); the anchor of the batch stored before it is
        sent while its records are sealed, and waited for up to ANCHORS_IN_FLIGHT batches
        later (on a chain with block times, several batches share a block).

        Stops at the first batch that raises, after the batches before it are finished. A
        batch whose anchor fails once mined may have later batches stored and their anchors
        sent behind it: they are finished here too, or left for ``resume_pending``.
        ``progress`` counts batches.
        """
        items = list(batches)
        results: list[IngestResult] = []

        def finished(done: list[IngestResult]) -> None:
            for result in done:
                results.append(result)
                if progress is not None:
                    progress(len(results), len(items))

        if progress is not None:
            progress(0, len(items))
        largest = max((_row_estimate(data) for _c, data in items), default=0)
        with (
            _collector_paused(),
            self._pool_for(largest),
            self._checkpoints_behind(),
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="ccl-ingest-writer") as writer,
        ):
            behind = _AnchorBehind(self)
            storing: Future[list[IngestResult]] | None = None
            ahead = _CheckAhead(self, provider, items, fmt)
            failed = True
            try:
                for _ in items:
                    try:
                        checked = ahead.next()
                        if storing is not None:
                            self._seal_ahead(checked, behind, storing)
                    finally:
                        if storing is not None:
                            finished(storing.result())
                            storing = None
                    behind.begun.clear()
                    storing = writer.submit(behind.store, checked)
                if storing is not None:
                    finished(storing.result())
                failed = False
            finally:
                # The last batch stored is anchored even when a later one fails to validate.
                # If that fails too, the first error is the one to report: the batches whose
                # anchors did not finish stay stored for resume_pending.
                try:
                    finished(writer.submit(behind.flush).result())
                except Exception:
                    if not failed:
                        raise
                    log.warning(
                        "anchoring the batches stored before a failed one did not finish; "
                        "resume_pending finishes them",
                        exc_info=True,
                    )
        return results

    def _seal_ahead(
        self, checked: _Checked, behind: _AnchorBehind, storing: Future[list[IngestResult]]
    ) -> None:
        """Begin sealing ``checked`` while the writer still stores the batch before it, so
        the pool seals it during that batch's inserts and commit (when the writer alone would
        be busy) and the writer finds its seal done or under way.

        Only once the batch before has begun its own sealing (its pool tasks go first) and
        only if it created no key ``checked`` needs (keys are stored with the batch that
        created them). A seal begun early is as good as one begun later: what could change
        in between fails the batch's transaction and is sealed again (a record stored
        meanwhile: its unique key; a key shredded or re-wrapped: the key epoch).
        """
        if self._pool is None or len(checked.prepared) < self._pool_batch_rows:
            return
        while not behind.begun.wait(0.05):
            if storing.done():  # stored without sealing, or failed: the writer is free
                return
        if behind.created.intersection(p[_SID] for p in checked.prepared):
            return
        if self._load_batch(checked.batch_id) is not None:  # known: nothing to seal
            return
        checked.early = self._seal_begin(checked, look_up_all=False)

    def _check_begin(
        self,
        provider: str,
        category: str,
        data: bytes | Path,
        fmt: Format | None,
        source_name: str | None,
    ) -> _CheckJob:
        """Read and identify a batch and begin validating it (in the pool, if it is large
        enough and a pool runs): CPU only, no database access. ``_check_finish`` ends it."""
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
        pool = self._pool
        if pool is not None and fmt == "jsonl" and rows >= self._pool_batch_rows:
            lines = jsonl_lines(data)
            # Small chunks: sealing waits for at most one of them per worker.
            size = min(-(-len(lines) // (2 * self.workers)), _CHECK_CHUNK_ROWS) or 1
            futures = [
                pool.submit_background(check_chunk, provider, cat.name, lines[i : i + size], i + 1)
                for i in range(0, len(lines), size)
            ]
        return _CheckJob(provider, cat, batch_id, data, fmt, rows, futures)

    def _check_finish(self, job: _CheckJob) -> _Checked:
        """The batch ``_check_begin`` began, validated."""
        rows_total, prepared, rejected, duplicates = self._validate(job)
        return _Checked(
            job.provider, job.category, job.batch_id, rows_total, prepared, rejected, duplicates
        )

    def _store_batch(
        self,
        checked: _Checked,
        progress: Progress | None,
        meanwhile: Callable[[], None],
        begun: Callable[[_SealJob], None] = _ignore_job,
    ) -> _Stored:
        """Store a checked batch's new records, or find it known; ``_finish`` anchors it.

        ``meanwhile`` runs once per attempt, while the pool seals (else before sealing);
        ``begun`` once its first sealing has begun (its keys known, its pool tasks queued).
        """
        batch_id = checked.batch_id
        existing = self._load_batch(batch_id)
        if existing is not None and existing["state"] != BatchState.VALIDATED:
            meanwhile()
            unanchored = existing["state"] in (BatchState.STORED, BatchState.ANCHOR_SENT)
            return _Stored(batch_id, checked.rejected, True, True, unanchored)
        rejected = self._store(checked, existing is None, progress, meanwhile, begun)
        self._fault("stored")
        return _Stored(batch_id, rejected, existing is not None, False, True)

    def _finish(self, stored: _Stored, flight: _InFlight | None = None) -> IngestResult:
        """Anchor a stored batch (if it needs it) and report it; ``flight``: its anchor, sent
        already (``_send_anchor``)."""
        if flight is not None:
            self._record_anchor(flight)
        elif stored.unanchored:
            self._anchor(stored.batch_id, just_stored=not stored.resubmitted)
        return self._result(
            stored.batch_id,
            rejected=stored.rejected,
            already_known=stored.known,
            resubmitted=stored.resubmitted,
        )

    def resume_pending(self, progress: Progress | None = None) -> list[IngestResult]:
        """Finish every batch a crash left between states; returns their results.

        Batches still ``validated`` hold no records and wait for their re-submission.
        """
        with self.engine.connect() as conn:
            pending = conn.execute(
                select(_BATCHES.c.batch_id, _BATCHES.c.state)
                .where(_BATCHES.c.state.in_(BatchState.PENDING))
                .order_by(_BATCHES.c.created_at)
            ).all()
        results = []
        for done, (batch_id, state) in enumerate(pending, start=1):
            if state != BatchState.VALIDATED:
                self._anchor(batch_id)
            results.append(self._result(batch_id, already_known=True))
            if progress is not None:
                progress(done, len(pending))
        return results

    # ------------------------------------------------------------------ steps

    def _validate(self, job: _CheckJob) -> tuple[int, list[_Prepared], list[RowError], int]:
        provider, cat, data, fmt = job.provider, job.category, job.data, job.fmt
        checked: Iterable[Checked]
        if job.futures is not None:
            checked = chain.from_iterable(f.result() for f in job.futures)
        elif fmt == "jsonl":
            validator, strict = category_checkers(self._checkers, self.catalog, cat)
            checked = check_lines(
                validator, strict, self._pseudonym_key, provider, jsonl_lines(data), 1,
                self._subject_ids,
            )  # fmt: skip
        else:
            checked = check_rows(
                category_checkers(self._checkers, self.catalog, cat)[0],
                self._pseudonym_key,
                provider,
                parse_rows(data, fmt),
                self._subject_ids,
            )
        rows = list(checked)
        good = cast(list[_Prepared], [row for row in rows if len(row) != 2])
        if len({row[1] for row in good}) == len(good) == len({row[4] for row in good}):
            # The usual batch, told apart at C speed: no row repeats another's content or key.
            refused = [RowError(row[0], cast(str, row[1])) for row in rows if len(row) == 2]
            return len(rows), good, refused, 0
        # The batch-level pass, in row order: same content twice is a duplicate, the same
        # record key with other content is refused.
        seen_uid: set[bytes] = set()
        seen_key: dict[bytes, int] = {}
        prepared: list[_Prepared] = []
        rejected: list[RowError] = []
        duplicates = 0
        total = 0
        for item in rows:
            total += 1
            if len(item) == 2:
                rejected.append(RowError(item[0], item[1]))
                continue
            number, uid, _sid, _uscc, key_hash, _content, _payload = item
            if uid in seen_uid:
                duplicates += 1
                continue
            first = seen_key.get(key_hash)
            if first is not None:
                rejected.append(
                    RowError(
                        number,
                        f"record_key repeated in this batch with different content "
                        f"(first at row {first})",
                    )
                )
                continue
            seen_uid.add(uid)
            seen_key[key_hash] = number
            prepared.append(item)
        return total, prepared, rejected, duplicates

    def _insert_validated(self, checked: _Checked) -> None:
        now = utcnow()
        try:
            with self._writing() as conn:
                conn.execute(
                    insert(_BATCHES).values(
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

    def _store(
        self,
        checked: _Checked,
        new_batch: bool,
        progress: Progress | None,
        meanwhile: Callable[[], None],
        begun: Callable[[_SealJob], None] = _ignore_job,
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
                job = self._seal_begin(checked, look_up_all=attempt > 0)
            if attempt == 0:
                begun(job)
            sealed = self._seal_finish(job, progress, meanwhile)
            if attempt == 0:
                if new_batch:
                    self._insert_validated(checked)
                self._fault("validated")
            try:
                with self._writing() as conn:
                    self._write(conn, checked, sealed, progress)
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

    def _seal_begin(self, checked: _Checked, *, look_up_all: bool) -> _SealJob:
        """Begin sealing the batch's new records (reads the database, writes nothing): the
        records to seal and their keys, and for a pooled batch its sealing tasks submitted
        (``_seal_finish`` collects them).

        Records already stored are left out if ``look_up_all`` or a probe of the batch finds
        some; otherwise inserting one fails on its unique key (see ``_store``).
        """
        prepared = checked.prepared
        keyring = SubjectKeyring(self._master, self._data_keys)
        bit = checked.category.bit
        with self.engine.connect() as conn:
            subject_uids = [(p[_SID], p[_UID]) for p in prepared]
            probe = subject_uids[:: max(1, len(subject_uids) // _PROBE_ROWS)]
            if look_up_all or stored_record_uids(conn, bit, probe):
                already = stored_record_uids(conn, bit, subject_uids)
                fresh = [p for p in prepared if p[_UID] not in already]
            else:
                fresh = list(prepared)
            keys = keyring.keys_for(conn, {p[_SID]: p[_USCC] for p in fresh})
            if keys.shredded and not look_up_all:
                # A shredded subject's row is refused, unless it is a duplicate: look those up.
                shredded = [(p[_SID], p[_UID]) for p in fresh if p[_SID] in keys.shredded]
                stored = stored_record_uids(conn, bit, shredded)
                fresh = [p for p in fresh if p[_UID] not in stored]
        duplicates = checked.duplicates + len(prepared) - len(fresh)
        refused: list[RowError] = []
        if keys.shredded:
            kept = []
            for p in fresh:
                if p[_SID] in keys.shredded:
                    refused.append(
                        RowError(p[_ROW], "subject was crypto-shredded; no new records accepted")
                    )
                else:
                    kept.append(p)
            fresh = kept
        # Leaf order = subject order: the subject index then grows sequentially per batch.
        fresh.sort(key=itemgetter(_SID))
        # One urandom call for all salts/nonces (drawn here even when a pool seals, so both
        # paths store the same bytes).
        randomness = os.urandom(44 * len(fresh))
        items = [(p[_UID], p[_SID], p[6]) for p in fresh]
        pool = self._pool
        submitted = None
        if pool is not None and len(items) >= self._pool_batch_rows:
            submitted = self._submit_seal(pool, keyring, items, randomness, bit)
        return _SealJob(
            fresh, keys, keyring, duplicates, refused, items, randomness, bit, submitted
        )

    def _seal_finish(
        self, job: _SealJob, progress: Progress | None, meanwhile: Callable[[], None]
    ) -> _Sealed:
        """Finish sealing (``_seal_begin``): ``meanwhile`` runs while the pool seals (else
        before sealing here), then the batch's columns, root and proofs."""
        fresh = job.fresh
        n = len(fresh)
        if progress is not None:
            progress(0, 2 * n)  # sealing + storing
        meanwhile()
        root: bytes | None
        salts: Sequence[_Blob]
        sealed_values: Sequence[_Blob]
        proofs: Sequence[_Blob]
        if job.submitted is not None:
            salts, sealed_values, root, proofs = self._collect_seal(n, job.submitted)
        else:
            salts, sealed_values, leaves = self._seal_here(
                job.keys.ciphers, job.items, job.randomness, job.bit, progress
            )
            root, proofs = None, []
            if n:
                tree = MerkleTree(leaves)
                root, proofs = tree.root, tree.packed_proofs()
        if progress is not None and n:
            progress(n, 2 * n)
        uids = [p[_UID] for p in fresh]
        return _Sealed(
            records={
                "record_uid": uids,
                "leaf_index": list(range(n)),
                "subject_id": [p[_SID] for p in fresh],
                "record_key_hash": [p[4] for p in fresh],
                "content_digest": [p[5] for p in fresh],
                "salt": salts,
                "sealed": sealed_values,
                "proof": proofs,
            },
            root=root,
            manifest=b"".join(uids) if n else None,
            new_subjects=job.keys.new_subjects,
            keyring=job.keyring,
            duplicates=job.duplicates,
            refused=job.refused,
        )

    def _submit_seal(
        self,
        pool: PriorityPool,
        keyring: SubjectKeyring,
        items: list[tuple[bytes, bytes, bytes]],
        randomness: bytes,
        bit: int,
    ) -> _Submitted:
        """The pool's tasks sealing ``items`` (``_collect_seal`` joins their results).

        The tree is built in parts (``subtree_leaf_ranges``): the workers seal and build
        whole subtrees, and the writer only joins their roots and extends their proofs (whole
        trees took it 0.17 to 0.36 s per 100k records, traced). The subtrees are dealt out by
        size (``balanced``): one task a worker.
        """
        n = len(items)
        groups = subtree_leaf_ranges(n, min(_SUBTREE_DEPTH, n.bit_length() - 1))
        sizes = [(g, sum(map(len, ranges))) for g, ranges in enumerate(groups)]
        tasks = balanced(sizes, self.workers)
        futures = []
        for task in tasks:
            parts = []
            subjects: set[bytes] = set()
            for g in task:
                part = [item for r in groups[g] for item in items[r.start : r.stop]]
                subjects.update(item[1] for item in part)
                drawn = b"".join(randomness[44 * r.start : 44 * r.stop] for r in groups[g])
                parts.append((part, drawn))
            futures.append(pool.submit(seal_subtrees, keyring.raw_keys(subjects), parts, bit))
        return _Submitted(groups, tasks, futures)

    def _collect_seal(
        self, n: int, submitted: _Submitted
    ) -> tuple[list[_Blob], list[_Blob], bytes, list[_Blob]]:
        """Salts, sealed values, root and proofs of the sealing ``_submit_seal`` began."""
        groups, tasks, futures = submitted
        salts: list[_Blob] = [b""] * n
        sealed_values: list[_Blob] = [b""] * n
        proofs: list[_Blob] = [b""] * n
        roots: list[bytes] = [b""] * len(groups)
        partial: list[list[bytes]] = [[] for _ in groups]
        for task, future in zip(tasks, futures, strict=True):
            for g, (part_salts, part_sealed, root, part_proofs) in zip(
                task, future.result(), strict=True
            ):
                roots[g] = root
                partial[g] = part_proofs
                _place(salts, groups[g], part_salts)
                _place(sealed_values, groups[g], part_sealed)
        root, tops = join_subtrees(roots)
        # Each proof as the bytearray the insert binds (store.bulk.as_blobs), made in one step
        # instead of joined as bytes and copied again (about 2x faster, measured).
        join = bytearray().join
        for ranges, part_proofs, top in zip(groups, partial, tops, strict=True):
            _place(proofs, ranges, [join((p, top)) for p in part_proofs])
        return salts, sealed_values, root, proofs

    def _seal_here(
        self,
        ciphers: dict[bytes, AESGCM],
        items: list[tuple[bytes, bytes, bytes]],
        randomness: bytes,
        bit: int,
        progress: Progress | None,
    ) -> tuple[list[bytes], list[bytes], list[bytes]]:
        n = len(items)
        salts: list[bytes] = []
        sealed_values: list[bytes] = []
        leaves: list[bytes] = []
        step = max(self.chunk_size, 1)
        for start in range(0, n, step):
            end = min(start + step, n)
            part = seal_rows(
                ciphers.__getitem__, items[start:end], randomness[44 * start : 44 * end], bit
            )
            salts += part[0]
            sealed_values += part[1]
            leaves += part[2]
            if progress is not None and end < n:
                progress(end, 2 * n)
        return salts, sealed_values, leaves

    def _write(
        self, conn: Connection, checked: _Checked, sealed: _Sealed, progress: Progress | None
    ) -> None:
        """One transaction: new subjects, the records, and the batch's root and counts."""
        batch_id = checked.batch_id
        state = conn.execute(
            select(_BATCHES.c.state).where(_BATCHES.c.batch_id == batch_id)
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
            insert_columns(conn, _RECORDS, chunk, same)
            if progress is not None:
                progress(n + end, 2 * n)
        epoch = sealed.keyring.epoch
        if epoch is not None and read_key_epoch(conn, hold=True) != epoch:
            # A key was shredded or re-wrapped after sealing read it (_store seals again).
            raise _KeysChanged
        conn.execute(
            update(_BATCHES)
            .where(_BATCHES.c.batch_id == batch_id)
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

    def _anchor(self, batch_id: bytes, *, just_stored: bool = False) -> None:
        """Anchor a stored batch's root, or record the anchor a crash left unrecorded.

        ``just_stored``: this call committed the batch a moment ago, so its root (over fresh
        random salts) cannot be on chain unless a concurrent ``resume_pending`` anchored it
        since; then the anchorer refuses the second anchor (ConflictError) and the chain is
        asked for the first. Asking the chain first is for batches a crash left behind.
        """
        flight = self._send_anchor(batch_id, just_stored=just_stored)
        if flight is not None:
            self._record_anchor(flight)

    def _send_anchor(self, batch_id: bytes, *, just_stored: bool = False) -> _InFlight | None:
        """The first half of ``_anchor``: up to sending the anchor (``_record_anchor`` waits
        for it and records it). None if the batch is anchored already."""
        batch = self._anchor_fields([batch_id])[batch_id]
        if batch.state in BatchState.DONE:
            return None
        if batch.root is None:
            raise IntegrityError(f"batch 0x{batch_id.hex()} is {batch.state} without a root")
        flight = _InFlight(batch_id, batch.root, batch.leaf_count)
        fresh = just_stored and batch.state == BatchState.STORED
        flight.on_chain = None if fresh else self.anchorer.anchored(flight.root)
        if flight.on_chain is None:
            if batch.state == BatchState.STORED:
                # Durable before its root goes on chain: SQLite's synchronous=NORMAL leaves the
                # batch's commits in the OS's cache until a checkpoint, and a power loss there
                # would leave an anchored root whose records are gone. Syncing this commit
                # syncs every earlier one (the WAL is written in order).
                self._set_state(batch_id, BatchState.ANCHOR_SENT, durable=True)
                self._fault("anchor_sent")
            # Refused as anchored meanwhile (another worker, or an unseen retry): nothing sent.
            with suppress(ConflictError):
                flight.pending = self.anchorer.send_anchor(
                    AnchorKind.DATA_BATCH, flight.root, flight.leaf_count, batch_id
                )
        return flight

    def _send_anchors(self, batch_ids: list[bytes]) -> list[_InFlight | None]:
        """``_send_anchor`` for batches this call has just stored, their roots in ONE
        transaction (``GroupAnchorer.send_anchors``; each root is still its own anchor, with
        its own sequence). One synced commit marks them all ``anchor_sent`` first."""
        anchorer = self.anchorer
        assert isinstance(anchorer, GroupAnchorer)
        batches = self._anchor_fields(batch_ids)
        flights: list[_InFlight | None] = []
        grouped: list[_InFlight] = []
        for batch_id in batch_ids:
            batch = batches[batch_id]
            if batch.state != BatchState.STORED or batch.root is None:
                # Moved on meanwhile (a concurrent resume_pending): the one-by-one path.
                flights.append(self._send_anchor(batch_id, just_stored=True))
                continue
            flight = _InFlight(batch_id, batch.root, batch.leaf_count)
            flights.append(flight)
            grouped.append(flight)
        if grouped:
            # Durable before the roots go on chain (see _send_anchor): one sync for them all.
            self._set_states([f.batch_id for f in grouped], BatchState.ANCHOR_SENT, durable=True)
            self._fault("anchor_sent")
            pending = anchorer.send_anchors(
                AnchorKind.DATA_BATCH, [(f.root, f.leaf_count, f.batch_id) for f in grouped]
            )
            for flight, sent in zip(grouped, pending, strict=True):
                flight.pending = sent
        return flights

    def _anchor_fields(self, batch_ids: list[bytes]) -> dict[bytes, Any]:
        """State, root and leaf count of each of those batches (all must exist)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    _BATCHES.c.batch_id, _BATCHES.c.state, _BATCHES.c.root, _BATCHES.c.leaf_count
                ).where(_BATCHES.c.batch_id.in_(batch_ids))
            ).all()
        return {row.batch_id: row for row in rows}

    def _record_anchor(self, flight: _InFlight) -> None:
        """The second half of ``_anchor``: wait for the anchor sent and record it, with the
        transaction, block and chain time that anchored it."""
        batch_id = flight.batch_id
        on_chain = flight.on_chain
        receipt: AnchorReceipt | None = None
        if on_chain is None:
            if flight.pending is not None:
                # Refused once mined as anchored meanwhile (another worker, an unseen retry).
                with suppress(ConflictError):
                    receipt = self.anchorer.confirm_anchor(flight.pending)
            self._fault("anchor_returned")
        if receipt is not None:
            sequence = receipt.sequence
        else:
            # Anchored by a transaction whose receipt this call did not get (sent before a
            # crash, or by a concurrent ingest): the contract's record must be this batch's,
            # and the transaction is looked up so the batch names it like any other.
            on_chain = on_chain or self.anchorer.anchored(flight.root)
            if on_chain is None:
                raise IntegrityError(f"root 0x{flight.root.hex()} is not on chain after anchoring")
            _check_anchor(batch_id, on_chain, flight.leaf_count)
            sequence = on_chain.sequence
            receipt = self.anchorer.anchor_transaction(flight.root)
            if receipt is not None and receipt.sequence != sequence:
                raise IntegrityError(
                    f"root 0x{flight.root.hex()} is anchored under sequence {sequence}, but its "
                    f"Anchored log says {receipt.sequence}"
                )
        provenance: dict[str, Any] = {}
        if receipt is not None:  # None: the node no longer holds the anchor's logs
            provenance = {
                "tx_hash": receipt.tx_hash,
                "block_number": receipt.block_number,
                "anchored_at": receipt.anchored_at,
            }
        self._set_state(batch_id, BatchState.ANCHORED, anchor_sequence=sequence, **provenance)
        self._fault("anchored")

    # ------------------------------------------------------------------ helpers

    def _fault(self, step: str) -> None:
        if self.fault_hook is not None:
            self.fault_hook(step)

    def _set_state(
        self, batch_id: bytes, state: str, *, durable: bool = False, **values: Any
    ) -> None:
        self._set_states([batch_id], state, durable=durable, **values)

    def _set_states(
        self, batch_ids: list[bytes], state: str, *, durable: bool = False, **values: Any
    ) -> None:
        """Batches to ``state`` (and ``values``) in one commit. ``durable``: the commit
        reaches the disk before this returns (SQLite syncs its WAL; PostgreSQL commits
        durably anyway)."""
        with self._writing(durable=durable) as conn:
            conn.execute(
                update(_BATCHES)
                .where(_BATCHES.c.batch_id.in_(batch_ids))
                .values(state=state, updated_at=utcnow(), **values)
            )

    def _load_batch(self, batch_id: bytes) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(_BATCHES).where(_BATCHES.c.batch_id == batch_id)).first()
        return None if row is None else dict(row._mapping)

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


class _CheckAhead:
    """``ingest_many``'s batches, checked in order, each begun up to VALIDATE_AHEAD_ROWS rows
    ahead of the one asked for (``Ingestor._check_begin``), so the pool validates the batches
    to come while the writer stores the ones before them. A batch that cannot even begin
    (unreadable, unknown category) raises in its turn, after the batches before it."""

    def __init__(
        self,
        ingestor: Ingestor,
        provider: str,
        items: Sequence[tuple[str, bytes | Path]],
        fmt: Format | None,
    ) -> None:
        self.ingestor = ingestor
        self.provider = provider
        self.fmt = fmt
        self.waiting = deque(items)  # not begun yet
        self.begun: deque[_Ahead] = deque()

    def next(self) -> _Checked:
        """The next batch, validated (raises what stopped it)."""
        self._begin(1)
        job = self.begun.popleft()
        self._begin(0)  # the pool validates what follows while this one is collected
        if isinstance(job, Exception):
            raise job
        return self.ingestor._check_finish(job)

    def _begin(self, at_least: int) -> None:
        rows = sum(job.rows for job in self.begun if isinstance(job, _CheckJob))
        while self.waiting and (len(self.begun) < at_least or rows < VALIDATE_AHEAD_ROWS):
            category, data = self.waiting.popleft()
            source_name = data.name if isinstance(data, Path) else None
            job: _Ahead
            try:
                job = self.ingestor._check_begin(
                    self.provider, category, data, self.fmt, source_name
                )
            except Exception as exc:  # raised in its turn: the batches before it go on
                job = exc
            else:
                rows += job.rows
            self.begun.append(job)


class _AnchorBehind:
    """``ingest_many``'s writer: each batch's anchor is sent while the next one is sealed, and
    waited for up to ANCHORS_IN_FLIGHT batches later.

    Anchoring is mostly Python (the web3 client, the embedded chain), sealing runs in the
    pool: overlapped, the anchor costs the writer little. On a chain with real block times,
    the anchors of the following batches are sent before one is mined, so a run of small
    batches shares blocks instead of waiting one block per batch.

    With a ``GroupAnchorer``, anchors are held while the batches after them are small (below
    ANCHOR_GROUP_BELOW_ROWS rows, whose sealing is too short to hide an anchor) and sent
    together, up to ANCHOR_GROUP_MAX roots in one transaction: a run of small batches then
    costs one anchor transaction and one sync instead of one each (measured: ten small
    batches' anchors were about 7% of a 100,000-record ingestion). Results come in batch
    order. Used from the writer thread only.
    """

    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor
        self.groups = isinstance(ingestor.anchorer, GroupAnchorer)
        self.held: list[_Stored] = []  # stored, anchors not sent yet (in order)
        # Set once the batch being stored has begun sealing, with the subjects it creates.
        self.begun = threading.Event()
        self.created: frozenset[bytes] = frozenset()
        self.sent: deque[tuple[_Stored, _InFlight | None]] = deque()  # to report, in order

    def store(self, checked: _Checked) -> list[IngestResult]:
        """Store ``checked``; returns the batches finished meanwhile (in order)."""
        done: list[IngestResult] = []
        small = len(checked.prepared) < ANCHOR_GROUP_BELOW_ROWS

        def meanwhile() -> None:
            done.extend(self._advance(ANCHORS_IN_FLIGHT, hold=small))

        def begun(job: _SealJob) -> None:
            self.created = frozenset(job.keys.new_subjects.subject_ids)
            self.begun.set()

        stored = self.ingestor._store_batch(checked, None, meanwhile, begun)
        if stored.resubmitted:
            self._send_held()  # reported after the batches before it
            self.sent.append((stored, None))
        else:
            self.held.append(stored)
        return done

    def flush(self) -> list[IngestResult]:
        """Send the held batches' anchors; wait for every anchor sent and report them."""
        return self._advance(0)

    def _advance(self, in_flight: int, *, hold: bool = False) -> list[IngestResult]:
        """Send the held batches' anchors (unless ``hold`` and a group may still grow), then
        report batches (oldest first) until at most ``in_flight`` anchors wait."""
        if not (hold and self.groups and len(self.held) < ANCHOR_GROUP_MAX):
            self._send_held()
        done = []
        while len(self.sent) > in_flight:
            stored, flight = self.sent.popleft()
            done.append(self.ingestor._finish(stored, flight))
        return done

    def _send_held(self) -> None:
        held, self.held = self.held, []
        if len(held) > 1 and self.groups:
            flights = self.ingestor._send_anchors([stored.batch_id for stored in held])
            self.sent.extend(zip(held, flights, strict=True))
            return
        for stored in held:
            self.sent.append(
                (stored, self.ingestor._send_anchor(stored.batch_id, just_stored=True))
            )


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No automatic cyclic garbage collection while the block runs.

    A run allocates hundreds of thousands of rows and hashes (freed by reference counting,
    no cycles); every full collection meanwhile walked the process's million objects, about
    0.1 s each with the GIL held. Collection resumes (and catches up) after the block.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


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


def _place(out: list[_Blob], ranges: list[range], values: Sequence[_Blob]) -> None:
    """Put a subtree's ``values`` (in its leaves' order) at its leaves' indexes in ``out``."""
    start = 0
    for r in ranges:
        out[r.start : r.stop] = values[start : start + len(r)]
        start += len(r)


def _row_estimate(data: bytes | Path) -> int:
    """About how many rows a batch holds (its line count; a file's size / 64)."""
    if isinstance(data, Path):
        try:
            return data.stat().st_size // 64
        except OSError:
            return 0
    return data.count(b"\n")


def _check_anchor(batch_id: bytes, on_chain: AnchoredRoot, leaf_count: int) -> None:
    if on_chain.kind != AnchorKind.DATA_BATCH or on_chain.leaf_count != leaf_count:
        raise IntegrityError(
            f"root of batch 0x{batch_id.hex()} is anchored as {on_chain.kind.name} with "
            f"{on_chain.leaf_count} leaves, expected DATA_BATCH with {leaf_count}"
        )


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
