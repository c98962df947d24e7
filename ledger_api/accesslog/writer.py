"""The access log's writer: group-committed appends and request nonces, one thread per process."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

from ledger_api.accesslog.entries import (
    ACCESS_LOG,
    ALLOWED,
    DENIED,
    GENESIS_HASH,
    NONCE_REPLAYED,
    USAGE_CAP_REACHED,
    AppendResult,
    Clock,
    EntryDraft,
    _canonical,
    _entry_time,
    chain_hash,
    used_count,
)
from ledger_api.errors import LedgerError
from ledger_api.store.subject_tables import REQUEST_NONCES
from ledger_api.store.wal import WalCheckpointer, disable_autocheckpoint

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key (arbitrary, fixed) serialising appends across processes.
_APPEND_LOCK_KEY = 0x43434C_01
# The writer's commits rewrite the same index leaves over and over: checkpointing twice a
# second copies each such page once instead of after nearly every commit (docs/benchmarks.md).
_CHECKPOINT_INTERVAL_S = 0.5
# Rows per multi-row INSERT: 17 columns x 256 = 4,352 bound values, far below SQLite's
# (32,766 since 3.32) and PostgreSQL's (65,535) limits.
_ROWS_PER_STATEMENT = 256
_NONCE_COLUMNS = ("address", "nonce", "seen_at")
_LAST_ENTRY_SQL = f"SELECT id, entry_hash FROM {ACCESS_LOG.name} ORDER BY id DESC LIMIT 1"


@dataclass
class _Job:
    kind: str  # "entry" | "nonce"
    payload: Any
    future: concurrent.futures.Future[Any] | None = None  # thread callers
    waiter: asyncio.Future[Any] | None = None  # event-loop callers (resolved per batch)


def _resolve(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    """Runs on the event loop: wake every waiter of one batch with one loop wake-up."""
    for waiter, result, error in outcomes:
        if waiter.done():  # the request was cancelled (client went away)
            continue
        if error is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(result)


# The columns an append writes, in the order of the tuples ``_append`` builds.
_INSERTED_COLUMNS = (
    "id",
    "at",
    "actor",
    "actor_role",
    "action",
    "subject_id",
    "category",
    "purpose",
    "level",
    "grant_id",
    "checked_block",
    "decision",
    "reason",
    "response_hash",
    "categories",
    "prev_hash",
    "entry_hash",
)


class _NonceRace(Exception):
    """Another process inserted one of a batch's nonces between look-up and insert."""


class AccessLogWriter:
    """The one writer thread of this process: appends entries and reserves nonces."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock = time.time,
        batch_max: int = 256,
        linger_s: float = 0.0,
        nonce_retention_s: int = 600,
        clock_skew_s: int = 60,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.batch_max = batch_max
        self.linger_s = linger_s
        self.nonce_retention_s = safe_nonce_retention(nonce_retention_s, clock_skew_s)
        self._postgres = engine.dialect.name == "postgresql"
        self._queue: queue.SimpleQueue[_Job | list[_Job] | None] = queue.SimpleQueue()
        self._loop_batches: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        self._mark = "%s" if self._postgres else "?"
        self._sql_cache: dict[tuple[str, int], str] = {}
        dialect = engine.dialect
        # Only ``at`` needs converting for the driver (the same value for a whole batch); a
        # test keeps every other column's bind step a no-op.
        self._bind_at = ACCESS_LOG.c.at.type.bind_processor(dialect)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self._last_prune = 0.0
        # The writer thread's own connection. On SQLite its commits leave checkpoints to a
        # background thread (``ledger_api.store.wal``): a checkpoint inside a commit made
        # every request waiting on that commit wait for it too.
        self._conn: Connection | None = None
        self._checkpointer = (
            WalCheckpointer(engine, interval_s=_CHECKPOINT_INTERVAL_S)
            if engine.dialect.name == "sqlite"
            else None
        )

    # -- public ------------------------------------------------------------------------------
    def submit(self, draft: EntryDraft) -> concurrent.futures.Future[AppendResult]:
        job = _Job("entry", draft, future=concurrent.futures.Future())
        self._enqueue(job)
        assert job.future is not None
        return job.future

    async def append_async(self, draft: EntryDraft) -> AppendResult:
        """Append from an event loop. Every job submitted during one pass of the loop goes to
        the writer thread as one batch, and the batch's waiters are woken with one call."""
        result: AppendResult = await self._submit_from_loop(_Job("entry", draft))
        return result

    async def reserve_nonce_async(self, address: str, nonce: str) -> bool:
        return bool(await self._submit_from_loop(_Job("nonce", (address, nonce))))

    def _submit_from_loop(self, job: _Job) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        job.waiter = loop.create_future()
        with self._start_lock:
            if self._closed:
                raise LedgerError("the access log writer is closed", code="shutting_down")
            batch = self._loop_batches.get(loop)
            if batch is None:
                batch = self._loop_batches[loop] = []
                loop.call_soon(self._flush_loop_batch, loop)
            batch.append(job)
        return job.waiter

    def _flush_loop_batch(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._start_lock:
            batch = self._loop_batches.pop(loop, [])
        if not batch:
            return
        try:
            self._enqueue(batch)
        except LedgerError as error:  # closed meanwhile
            for job in batch:
                if job.waiter is not None and not job.waiter.done():
                    job.waiter.set_exception(error)

    def append(self, draft: EntryDraft) -> AppendResult:
        """Blocking append (sync callers, tests)."""
        return self.submit(draft).result()

    def reserve_nonce(self, address: str, nonce: str) -> concurrent.futures.Future[bool]:
        """Resolves True when the nonce was unused (now reserved), False on a replay."""
        job = _Job("nonce", (address, nonce), future=concurrent.futures.Future())
        self._enqueue(job)
        assert job.future is not None
        return job.future

    @property
    def queue_depth(self) -> int:
        """Jobs (entries, nonces, or one event-loop pass's batch) waiting for the writer."""
        return self._queue.qsize()

    def close(self) -> None:
        with self._start_lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=10)
        if self._checkpointer is not None:
            self._checkpointer.close()

    # -- thread ------------------------------------------------------------------------------
    def _enqueue(self, job: _Job | list[_Job]) -> None:
        with self._start_lock:
            if self._closed:
                raise LedgerError("the access log writer is closed", code="shutting_down")
            if self._thread is None:
                if self._checkpointer is not None:
                    self._checkpointer.start()
                self._thread = threading.Thread(
                    target=self._run, name="access-log-writer", daemon=True
                )
                self._thread.start()
        self._queue.put(job)

    def _run(self) -> None:
        try:
            self._serve()
        finally:
            self._drop_connection()

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = list(first) if isinstance(first, list) else [first]
            stop = self._gather(jobs)
            self._commit_jobs(jobs)
            if stop:
                return

    def _gather(self, jobs: list[_Job]) -> bool:
        """Add what queued up meanwhile to ``jobs``; True when the writer is asked to stop.

        A lone job is committed at once. When several are at hand (the API is busy), the
        writer lingers up to ``linger_s`` for more, so a commit carries more entries.
        """
        deadline: float | None = None
        if len(jobs) > 1 and self.linger_s > 0:
            deadline = time.monotonic() + self.linger_s
        while len(jobs) < self.batch_max:
            try:
                if deadline is None:
                    nxt = self._queue.get_nowait()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    nxt = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if nxt is None:
                return True
            if isinstance(nxt, list):
                jobs.extend(nxt)
            else:
                jobs.append(nxt)
            if deadline is None and self.linger_s > 0:
                deadline = time.monotonic() + self.linger_s
        return False

    def _commit_jobs(self, jobs: list[_Job]) -> None:
        error: BaseException | None = None
        results: list[Any] = [None] * len(jobs)
        try:
            results = self._commit(jobs)
        except Exception as exc:  # the whole batch failed: every waiter hears why
            log.exception("access log commit failed")
            error = exc
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for job, result in zip(jobs, results, strict=True):
            if job.waiter is not None:
                outcome = (job.waiter, result, error)
                by_loop.setdefault(job.waiter.get_loop(), []).append(outcome)
            elif job.future is not None and not job.future.done():
                if error is not None:
                    job.future.set_exception(error)
                else:
                    job.future.set_result(result)
        for loop, outcomes in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_resolve, outcomes)
        if error is None:
            self._maybe_prune()

    def _commit(self, jobs: list[_Job]) -> list[Any]:
        now = self.clock()
        at = datetime.fromtimestamp(now, UTC)
        conn = self._connection()
        try:
            try:
                results = self._append(conn, jobs, now, at)
            except _NonceRace:
                conn.rollback()
                results = self._append(conn, jobs, now, at, returning_nonces=True)
            conn.commit()
        except BaseException:
            self._drop_connection()  # a failed statement may have left it unusable
            raise
        return results

    def _connection(self) -> Connection:
        conn = self._conn
        if conn is None:
            conn = self.engine.connect()
            conn.detach()  # the writer's own for life: never handed back to the pool
            if self._checkpointer is not None:
                disable_autocheckpoint(conn)
                # The database runs synchronous=NORMAL (a commit reaches the disk at the next
                # checkpoint), but an entry whose receipt has been handed out, and the nonce
                # it spent, must survive a power loss: FULL syncs the log at every (group)
                # commit.
                conn.exec_driver_sql("PRAGMA synchronous=FULL")
            self._conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # already broken, or shutting down
                conn.close()

    def _append(
        self,
        conn: Connection,
        jobs: list[_Job],
        now: float,
        at: datetime,
        *,
        returning_nonces: bool = False,
    ) -> list[Any]:
        """One batch in the open transaction of ``conn``; the caller commits.
        ``returning_nonces``: reserve nonces with RETURNING (redoing a ``_NonceRace``)."""
        results: list[Any] = []
        if self._postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _APPEND_LOCK_KEY})
        last = conn.exec_driver_sql(_LAST_ENTRY_SQL).first()  # plain SQL: every commit runs it
        next_id, prev_hash = (last.id + 1, last.entry_hash) if last else (1, GENESIS_HASH)
        at_text = _entry_time(at)  # one time for the whole batch: format and bind it once
        at_param = at if self._bind_at is None else self._bind_at(at)
        rows: list[tuple[Any, ...]] = []
        allowed_in_batch: dict[int, int] = {}
        fresh = iter(self._reserve_nonces(conn, jobs, int(now), returning_nonces))
        for job in jobs:
            if job.kind == "nonce":
                results.append(next(fresh))
                continue
            draft: EntryDraft = job.payload
            decision, reason = draft.decision, draft.reason
            if draft.nonce is not None and not next(fresh):
                decision, reason = DENIED, NONCE_REPLAYED
            if decision == ALLOWED and draft.max_uses and draft.grant_id is not None:
                used = used_count(conn, draft.grant_id) + allowed_in_batch.get(draft.grant_id, 0)
                if used >= draft.max_uses:
                    decision, reason = DENIED, USAGE_CAP_REACHED
            if decision == ALLOWED and draft.grant_id is not None:
                allowed_in_batch[draft.grant_id] = allowed_in_batch.get(draft.grant_id, 0) + 1
            values = (
                next_id,
                at_text,
                draft.actor,
                draft.actor_role,
                draft.action,
                draft.subject_id,
                draft.category,
                draft.purpose,
                draft.level,
                draft.grant_id,
                draft.checked_block,
                decision,
                reason,
                draft.response_hash if decision == ALLOWED else None,
                draft.categories,
            )
            entry_hash = chain_hash(prev_hash, _canonical(*values))
            rows.append((next_id, at_param, *values[2:], prev_hash, entry_hash))
            results.append(AppendResult(next_id, decision, reason, entry_hash))
            prev_hash = entry_hash
            next_id += 1
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            # One multi-row INSERT per chunk, values bound straight to the driver: the Core
            # insert re-processed every parameter dict (about a fifth of the writer's time),
            # and executemany steps the statement once per row, each step handing the GIL
            # back to a busy event loop and waiting to get it again.
            chunk = rows[start : start + _ROWS_PER_STATEMENT]
            sql = self._multi_row_sql("entries", len(chunk), ACCESS_LOG.name, _INSERTED_COLUMNS)
            conn.exec_driver_sql(sql, tuple(value for row in chunk for value in row))
        return results

    def _multi_row_sql(
        self, kind: str, count: int, table: str, columns: tuple[str, ...], suffix: str = ""
    ) -> str:
        sql = self._sql_cache.get((kind, count))
        if sql is None:
            row = "(" + ", ".join([self._mark] * len(columns)) + ")"
            values = ", ".join([row] * count)
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}{suffix}"
            self._sql_cache[(kind, count)] = sql
        return sql

    def _reserve_nonces(
        self, conn: Connection, jobs: list[_Job], now: int, returning: bool
    ) -> list[bool]:
        """Reserve every nonce the batch carries, in job order: True when it was unused.

        One look-up and one multi-row insert per batch; the first of two equal nonces in a
        batch wins. Runs inside the append transaction (under the append lock on PostgreSQL).
        """
        pairs: list[tuple[str, str]] = []
        for job in jobs:
            if job.kind == "nonce":
                pairs.append(job.payload)
            elif job.payload.nonce is not None:
                pairs.append(job.payload.nonce)
        if not pairs:
            return []
        unique = list(dict.fromkeys(pairs))
        inserted: set[tuple[str, str]] = set()
        for start in range(0, len(unique), _ROWS_PER_STATEMENT):
            chunk = unique[start : start + _ROWS_PER_STATEMENT]
            if returning:
                inserted.update(self._insert_nonces_returning(conn, chunk, now))
            else:
                inserted.update(self._insert_nonces(conn, chunk, now))
        fresh: list[bool] = []
        for pair in pairs:  # of two equal nonces in a batch the first wins
            fresh.append(pair in inserted)
            inserted.discard(pair)
        return fresh

    def _insert_nonces(
        self, conn: Connection, chunk: list[tuple[str, str]], now: int
    ) -> list[tuple[str, str]]:
        """Insert the distinct ``chunk``'s unused nonces; returns them.

        A look-up (no rows unless a nonce is replayed) and one multi-row insert: two statement
        steps whatever the chunk's size (INSERT .. RETURNING takes one step per row, and each
        step hands the GIL over). The writers' serialisation (one writer per SQLite database,
        the append lock on PostgreSQL) keeps the two consistent; should another process insert
        one of these nonces in between anyway, the insert's row count shows it, and the batch
        is redone with RETURNING (``_NonceRace``).
        """
        mark = self._mark
        pairs = ", ".join([f"({mark}, {mark})"] * len(chunk))
        lookup = (
            f"SELECT n.address, n.nonce FROM (VALUES {pairs}) AS v "
            f"JOIN {REQUEST_NONCES.name} AS n ON n.address = v.column1 AND n.nonce = v.column2"
        )
        params = tuple(value for pair in chunk for value in pair)
        used = {(str(a), str(n)) for a, n in conn.exec_driver_sql(lookup, params)}
        fresh = [pair for pair in chunk if pair not in used]
        if fresh:
            sql = self._multi_row_sql(
                "nonces", len(fresh), REQUEST_NONCES.name, _NONCE_COLUMNS, " ON CONFLICT DO NOTHING"
            )
            flat = tuple(value for address, nonce in fresh for value in (address, nonce, now))
            if conn.exec_driver_sql(sql, flat).rowcount != len(fresh):
                raise _NonceRace
        return fresh

    def _insert_nonces_returning(
        self, conn: Connection, chunk: list[tuple[str, str]], now: int
    ) -> list[tuple[str, str]]:
        """INSERT .. ON CONFLICT DO NOTHING RETURNING: the rows it returns are the unused
        nonces, now inserted (SQLite >= 3.35 and PostgreSQL)."""
        sql = self._multi_row_sql(
            "nonces-returning",
            len(chunk),
            REQUEST_NONCES.name,
            _NONCE_COLUMNS,
            " ON CONFLICT DO NOTHING RETURNING address, nonce",
        )
        flat = tuple(value for address, nonce in chunk for value in (address, nonce, now))
        return [(str(a), str(n)) for a, n in conn.exec_driver_sql(sql, flat)]

    def _maybe_prune(self) -> None:
        now = self.clock()
        if now - self._last_prune < 60:
            return
        self._last_prune = now
        prune_nonces(self.engine, int(now) - self.nonce_retention_s)


def safe_nonce_retention(retention_s: int, clock_skew_s: int) -> int:
    """How long a seen nonce must be kept: at least as long as a replay could still pass
    the timestamp rule (``api/auth.py``: |now - timestamp| <= skew). A nonce seen at s was
    signed at t >= s - skew, and a replay is refused as stale after t + skew <= s + 2 skew;
    once that has passed the nonce can be forgotten, which bounds the table to the requests
    of the last few minutes."""
    return max(retention_s, 2 * clock_skew_s + 1)


def prune_nonces(engine: Engine, older_than: int) -> int:
    """Forget nonces older than any timestamp the API still accepts."""
    with engine.begin() as conn:
        result = conn.execute(REQUEST_NONCES.delete().where(REQUEST_NONCES.c.seen_at < older_than))
        return int(result.rowcount or 0)
