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

import hashlib
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError as SQLIntegrityError

from ledger_api.anchoring.anchorer import AnchoredRoot, Anchorer, AnchorKind, AnchorReceipt
from ledger_api.anchoring.merkle import MerkleTree
from ledger_api.catalog.loader import Catalog, Category, default_catalog
from ledger_api.crypto.keys import DataKeyCache, MasterKey, SubjectKeyring
from ledger_api.errors import ConflictError, InputError, IntegrityError, NotFoundError
from ledger_api.ingest.parse import Format, detect_format, jsonl_lines, parse_rows
from ledger_api.ingest.validate import RowError, RowValidator
from ledger_api.ingest.workers import (
    Checked,
    check_chunk,
    check_rows,
    init_worker,
    pool_warmup,
    seal_chunk,
    seal_rows,
)
from ledger_api.settings import Settings
from ledger_api.store.bulk import bulk_insert, select_in
from ledger_api.store.models import BATCHES, RECORDS, BatchState
from ledger_api.store.types import utcnow

Progress = Callable[[int, int | None], None]
FaultHook = Callable[[str], None]

# Named points where an injected fault (tests) simulates a crash, in pipeline order.
FAULT_STEPS = ("validated", "stored", "anchor_sent", "anchor_returned", "anchored")

_BATCHES = BATCHES
_RECORDS = RECORDS
_RECORD_COLUMNS = (
    "record_uid",
    "batch_id",
    "leaf_index",
    "provider",
    "category",
    "subject_id",
    "record_key_hash",
    "content_digest",
    "salt",
    "sealed",
    "proof",
)
_MAX_PROVIDER = 64
# Batches with at least this many rows are validated and sealed in a process pool.
POOL_THRESHOLD = 5000


def default_workers() -> int:
    """``CCL_INGEST_WORKERS`` if set, else 1 (no pool).

    Off by default: on 2 cores the pool measured no gain over the writer-thread overlap (the
    database work stays in the main process), and the API calls ingestion from a threaded
    server, where forking workers is best avoided.
    """
    configured = os.environ.get("CCL_INGEST_WORKERS")
    if configured:
        try:
            return max(1, int(configured))
        except ValueError:
            raise InputError("CCL_INGEST_WORKERS must be an integer") from None
    return 1


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
        self._validators: dict[str, RowValidator] = {}
        # Unwrapped data keys reused across batches; every batch still reads its subjects'
        # rows, so a shredded or re-wrapped key is never used (see DataKeyCache).
        self._data_keys = DataKeyCache(self._master, max_keys=data_key_cache)
        # Worker processes for the CPU-bound steps of large batches (validation, sealing,
        # leaf hashes); the database work stays in this process. Started per call of
        # ingest / ingest_many when a batch is large enough, shut down when it returns.
        self.workers = default_workers() if workers is None else max(1, workers)
        self.pool_threshold = pool_threshold
        self._pool: ProcessPoolExecutor | None = None

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
        pool = ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=init_worker,
            initargs=(self.catalog, self._pseudonym_key),
        )
        try:
            pool.submit(pool_warmup).result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        self._pool = pool
        try:
            yield
        finally:
            self._pool = None
            pool.shutdown(wait=True, cancel_futures=True)

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
            checked = self._check(provider, category, data, fmt, source_name)
            return self._finish(checked, progress)

    def ingest_many(
        self,
        provider: str,
        batches: Iterable[tuple[str, bytes | Path]],
        *,
        fmt: Format | None = None,
        progress: Progress | None = None,
    ) -> list[IngestResult]:
        """Ingest ``(category, data)`` batches in order, each exactly as :meth:`ingest` would.

        While one batch is stored and anchored (on a writer thread; SQLite and the network
        release the GIL), the next one is parsed and validated. Stops at the first batch
        that raises, after the batches before it are finished. ``progress`` counts batches.
        """
        items = list(batches)
        results: list[IngestResult] = []
        if progress is not None:
            progress(0, len(items))
        largest = max((_row_estimate(data) for _c, data in items), default=0)
        with (
            self._pool_for(largest),
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="ccl-ingest-writer") as writer,
        ):
            storing: Future[IngestResult] | None = None
            for category, data in items:
                source_name = data.name if isinstance(data, Path) else None
                try:
                    checked = self._check(provider, category, data, fmt, source_name)
                finally:
                    if storing is not None:
                        results.append(storing.result())
                        storing = None
                        if progress is not None:
                            progress(len(results), len(items))
                storing = writer.submit(self._finish, checked, None)
            if storing is not None:
                results.append(storing.result())
                if progress is not None:
                    progress(len(results), len(items))
        return results

    def _check(
        self,
        provider: str,
        category: str,
        data: bytes | Path,
        fmt: Format | None,
        source_name: str | None,
    ) -> _Checked:
        """Read, parse and validate a batch: CPU only, no database access."""
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
        rows_total, prepared, rejected, duplicates = self._validate(provider, cat, data, fmt)
        return _Checked(provider, cat, batch_id, rows_total, prepared, rejected, duplicates)

    def _finish(self, checked: _Checked, progress: Progress | None) -> IngestResult:
        """Store and anchor a checked batch, or finish / report it when it is known."""
        batch_id, provider, cat = checked.batch_id, checked.provider, checked.category
        rejected = checked.rejected
        existing = self._load_batch(batch_id)
        if existing is not None and existing["state"] != BatchState.VALIDATED:
            if existing["state"] in (BatchState.STORED, BatchState.ANCHOR_SENT):
                self._anchor(batch_id)
            return self._result(batch_id, rejected=rejected, resubmitted=True)

        if existing is None:
            self._insert_validated(batch_id, provider, cat, checked.rows_total, len(rejected))
        self._fault("validated")
        self._store(
            batch_id, provider, cat, checked.prepared, rejected, checked.duplicates, progress
        )
        self._fault("stored")
        self._anchor(batch_id, just_stored=True)  # no-op if nothing was new (state EMPTY)
        return self._result(batch_id, rejected=rejected, already_known=existing is not None)

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

    def _validator(self, cat: Category) -> RowValidator:
        validator = self._validators.get(cat.name)
        if validator is None:
            validator = self._validators[cat.name] = RowValidator(self.catalog, cat)
        return validator

    def _validate(
        self, provider: str, cat: Category, data: bytes, fmt: Format
    ) -> tuple[int, list[_Prepared], list[RowError], int]:
        pool = self._pool
        checked: Iterable[Checked]
        if pool is not None and fmt == "jsonl" and data.count(b"\n") >= self.pool_threshold:
            lines = jsonl_lines(data)
            size = -(-len(lines) // (2 * self.workers)) or 1
            futures = [
                pool.submit(check_chunk, provider, cat.name, lines[i : i + size], i + 1)
                for i in range(0, len(lines), size)
            ]
            checked = chain.from_iterable(f.result() for f in futures)
        else:
            checked = check_rows(
                self._validator(cat),
                self._pseudonym_key,
                provider,
                parse_rows(data, fmt),
                self._subject_ids,
            )
        # The batch-level pass, in row order: same content twice is a duplicate, the same
        # record key with other content is refused.
        seen_uid: set[bytes] = set()
        seen_key: dict[bytes, int] = {}
        prepared: list[_Prepared] = []
        rejected: list[RowError] = []
        duplicates = 0
        total = 0
        for item in checked:
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

    def _insert_validated(
        self, batch_id: bytes, provider: str, cat: Category, total: int, rejected: int
    ) -> None:
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(_BATCHES).values(
                        batch_id=batch_id,
                        provider=provider,
                        category=cat.bit,
                        catalog_version=self.catalog.version,
                        state=BatchState.VALIDATED,
                        rows_total=total,
                        rows_accepted=0,
                        rows_duplicate=0,
                        rows_rejected=rejected,
                        leaf_count=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except SQLIntegrityError:
            raise ConflictError(
                f"batch 0x{batch_id.hex()} is being ingested concurrently; retry",
                code="batch_in_progress",
            ) from None

    def _store(
        self,
        batch_id: bytes,
        provider: str,
        cat: Category,
        prepared: list[_Prepared],
        rejected: list[RowError],
        duplicates: int,
        progress: Progress | None,
    ) -> None:
        attempts = 2  # a concurrent ingest may create one of our subjects first
        for attempt in range(attempts):
            try:
                with self.engine.begin() as conn:
                    refused = self._store_in(
                        conn, batch_id, provider, cat, prepared, len(rejected), duplicates, progress
                    )
                rejected.extend(refused)
                rejected.sort(key=lambda e: e.row)
                return
            except SQLIntegrityError:
                if attempt == attempts - 1:
                    raise

    def _store_in(
        self,
        conn: Connection,
        batch_id: bytes,
        provider: str,
        cat: Category,
        prepared: list[_Prepared],
        rejected_count: int,
        duplicates: int,
        progress: Progress | None,
    ) -> list[RowError]:
        batch = conn.execute(
            select(_BATCHES.c.state).where(_BATCHES.c.batch_id == batch_id)
        ).scalar_one_or_none()
        if batch != BatchState.VALIDATED:
            raise ConflictError(f"batch 0x{batch_id.hex()} changed state concurrently")
        total = len(prepared)
        already = _existing_uids(conn, [p[_UID] for p in prepared])
        fresh = [p for p in prepared if p[_UID] not in already] if already else list(prepared)
        duplicates += total - len(fresh)
        keyring = SubjectKeyring(self._master, self._data_keys)
        ciphers, shredded = keyring.ensure(conn, {p[_SID]: p[_USCC] for p in fresh})
        refused: list[RowError] = []
        if shredded:
            kept = []
            for p in fresh:
                if p[_SID] in shredded:
                    refused.append(
                        RowError(p[_ROW], "subject was crypto-shredded; no new records accepted")
                    )
                else:
                    kept.append(p)
            fresh = kept
        # Leaf order = subject order: the subject index then grows sequentially per batch.
        fresh.sort(key=itemgetter(_SID))
        n = len(fresh)
        work = 2 * n  # sealing + storing
        if progress is not None:
            progress(0, work)
        step = max(self.chunk_size, 1)

        # Seal and hash: the hot loop, no ORM objects, one urandom call for all salts/nonces
        # (drawn here even when a pool seals, so both paths store the same bytes).
        randomness = os.urandom(44 * n)
        items = [(p[_UID], p[_SID], p[6]) for p in fresh]
        salts: list[bytes] = []
        sealed_values: list[bytes] = []
        leaves: list[bytes] = []
        pool = self._pool
        if pool is not None and n >= self.pool_threshold:
            size = -(-n // self.workers)
            futures = [
                pool.submit(
                    seal_chunk,
                    keyring.raw_keys({p[_SID] for p in fresh[i : i + size]}),
                    items[i : i + size],
                    randomness[44 * i : 44 * (i + size)],
                    cat.bit,
                )
                for i in range(0, n, size)
            ]
            for future in futures:
                part = future.result()
                salts += part[0]
                sealed_values += part[1]
                leaves += part[2]
            if progress is not None and n:
                progress(n, work)
        else:
            for start in range(0, n, step):
                end = min(start + step, n)
                part = seal_rows(
                    ciphers.__getitem__, items[start:end], randomness[44 * start : 44 * end],
                    cat.bit,
                )  # fmt: skip
                salts += part[0]
                sealed_values += part[1]
                leaves += part[2]
                if progress is not None and end < n:
                    progress(end, work)
        provider_bit = cat.bit
        rows: list[tuple[Any, ...]] = [
            (p[_UID], batch_id, i, provider, provider_bit, p[_SID], p[4], p[5], salt, sealed)
            for i, (p, salt, sealed) in enumerate(zip(fresh, salts, sealed_values, strict=True))
        ]

        root: bytes | None = None
        if n:
            tree = MerkleTree(leaves)
            root = tree.root
            proofs = tree.packed_proofs()
            if progress is not None:
                progress(n, work)
            for start in range(0, n, step):
                end = min(start + step, n)
                bulk_insert(
                    conn,
                    _RECORDS,
                    _RECORD_COLUMNS,
                    [rows[i] + (proofs[i],) for i in range(start, end)],
                )
                if progress is not None:
                    progress(n + end, work)
        conn.execute(
            update(_BATCHES)
            .where(_BATCHES.c.batch_id == batch_id)
            .values(
                state=BatchState.STORED if n else BatchState.EMPTY,
                rows_accepted=n,
                rows_duplicate=duplicates,
                rows_rejected=rejected_count + len(refused),
                root=root,
                leaf_count=n,
                manifest=b"".join(p[_UID] for p in fresh) if n else None,
                updated_at=utcnow(),
            )
        )
        return refused

    def _anchor(self, batch_id: bytes, *, just_stored: bool = False) -> None:
        """Anchor a stored batch's root, or record the anchor a crash left unrecorded.

        ``just_stored``: this call committed the batch a moment ago, so its root (over fresh
        random salts) cannot be on chain unless a concurrent ``resume_pending`` anchored it
        since; then the anchorer refuses the second anchor (ConflictError) and the check after
        sending finds the first. Asking the chain first is for batches a crash left behind.
        """
        with self.engine.connect() as conn:
            batch = conn.execute(
                select(
                    _BATCHES.c.state, _BATCHES.c.root, _BATCHES.c.leaf_count, _BATCHES.c.tx_hash
                ).where(_BATCHES.c.batch_id == batch_id)
            ).one()
        if batch.state in BatchState.DONE:
            return
        if batch.root is None:
            raise IntegrityError(f"batch 0x{batch_id.hex()} is {batch.state} without a root")
        root: bytes = batch.root
        receipt: AnchorReceipt | None = None
        fresh = just_stored and batch.state == BatchState.STORED
        on_chain = None if fresh else self.anchorer.anchored(root)
        if on_chain is None:
            if batch.state == BatchState.STORED:
                self._set_state(batch_id, BatchState.ANCHOR_SENT)
                self._fault("anchor_sent")
            try:
                receipt = self.anchorer.anchor(
                    AnchorKind.DATA_BATCH, root, batch.leaf_count, batch_id
                )
            except ConflictError:
                receipt = None  # anchored meanwhile (another worker, or an unseen retry)
            self._fault("anchor_returned")
            on_chain = self.anchorer.anchored(root)
            if on_chain is None:
                raise IntegrityError(f"root 0x{root.hex()} is not on chain after anchoring")
        _check_anchor(batch_id, on_chain, batch.leaf_count)
        self._set_state(
            batch_id,
            BatchState.ANCHORED,
            anchor_sequence=on_chain.sequence,
            anchored_at=on_chain.anchored_at,
            tx_hash=receipt.tx_hash if receipt is not None else batch.tx_hash,
            block_number=receipt.block_number if receipt is not None else None,
        )
        self._fault("anchored")

    # ------------------------------------------------------------------ helpers

    def _fault(self, step: str) -> None:
        if self.fault_hook is not None:
            self.fault_hook(step)

    def _set_state(self, batch_id: bytes, state: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(_BATCHES)
                .where(_BATCHES.c.batch_id == batch_id)
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


def _row_estimate(data: bytes | Path) -> int:
    """About how many rows a batch holds (its line count; a file's size / 64)."""
    if isinstance(data, Path):
        try:
            return data.stat().st_size // 64
        except OSError:
            return 0
    return data.count(b"\n")


def _existing_uids(conn: Connection, uids: Sequence[bytes]) -> set[bytes]:
    column = _RECORDS.c.record_uid
    return {row[0] for row in select_in(conn, _RECORDS, (column,), column, uids)}


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
