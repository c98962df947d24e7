"""The access log's behaviour: group-committed appends, verification, anchoring, proofs.

Entries (``ledger_api.store.access_log.AccessLogEntry``) form a hash chain:
``entry_hash = sha256(prev_hash || canonical_entry)`` with ``prev_hash`` of the first entry 32
zero bytes, and ids 1, 2, 3, ... without gaps. ``categories`` (added later) is covered only when
set, so entries written before it keep their hashes. ``verify_access_log`` walks the chain and names
the first entry that was edited and any ids that were deleted.

Appends go through ONE writer thread per process (``AccessLogWriter``) that commits whatever
has queued up in one transaction (group commit): at 32 concurrent requests that is one commit
per ~32 entries instead of 32. Across processes on PostgreSQL the writers serialise on a
transaction-scoped advisory lock taken before reading the last entry, so the chain never forks;
SQLite runs one API worker (its database has a single writer anyway).

The same writer reserves request nonces (``request_nonces`` primary key): a replayed nonce is
refused by the database even when the replay reaches another worker.

Usage caps are enforced at append time: an "allowed" entry under a capped grant is re-checked
against the count of allowed entries in the same serialised transaction and turned into a
"denied / usage_cap_reached" entry if the cap is reached, so concurrent requests can never
exceed it.

Anchoring (``AccessLogAnchoring``): ranges of entries become an OpenZeppelin-compatible Merkle
tree (leaf = keccak256(keccak256(entry_hash))) whose root is anchored as AnchorKind.ACCESS_LOG.
An anchor row moves pending -> sent -> anchored; every step is committed before the next, and a
restart asks the chain whether a pending/sent root is already anchored before sending it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import json
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, func, insert, select, text, update
from sqlalchemy.orm import Session

from ledger_api.anchoring.anchorer import Anchorer
from ledger_api.anchoring.journal import AnchorJournal
from ledger_api.anchoring.keccak import keccak256
from ledger_api.anchoring.kinds import ACCESS_LOG_RANGES
from ledger_api.anchoring.merkle import MerkleTree
from ledger_api.errors import LedgerError
from ledger_api.store.access_log import AccessLogAnchor, AccessLogEntry
from ledger_api.store.subject_tables import REQUEST_NONCES
from ledger_api.store.wal import WalCheckpointer, disable_autocheckpoint

log = logging.getLogger(__name__)

ACCESS_LOG = cast(Table, AccessLogEntry.__table__)
ANCHORS = cast(Table, AccessLogAnchor.__table__)
GENESIS_HASH = b"\x00" * 32
ALLOWED = "allowed"
DENIED = "denied"
USAGE_CAP_REACHED = "usage_cap_reached"
NONCE_REPLAYED = "nonce_replayed"
# pg_advisory_xact_lock keys (arbitrary, fixed): one for appends, one for anchoring.
_APPEND_LOCK_KEY = 0x43434C_01
_ANCHOR_LOCK_KEY = 0x43434C_02
_ANCHOR_PASS_LOCK_KEY = 0x43434C_03  # session lock: one anchoring pass across processes
_MAX_ANCHOR_RANGE = 50_000
# The writer's commits rewrite the same index leaves (subject, grant, nonce) over and over: a
# checkpoint twice a second copies each such page once where one every 50 ms copied it after
# nearly every commit. Measured in the reads benchmark: a third of the checkpointing CPU, and
# the log stays a few megabytes under full load.
_CHECKPOINT_INTERVAL_S = 0.5
# Rows per multi-row INSERT: 17 columns x 256 = 4,352 bound values, far below SQLite's
# (32,766 since 3.32) and PostgreSQL's (65,535) limits.
_ROWS_PER_STATEMENT = 256
_NONCE_COLUMNS = ("address", "nonce", "seen_at")
_LAST_ENTRY_SQL = f"SELECT id, entry_hash FROM {ACCESS_LOG.name} ORDER BY id DESC LIMIT 1"

Clock = Callable[[], float]


@dataclass(frozen=True)
class EntryDraft:
    """What a request contributes to an entry; the writer adds id, time and hashes."""

    actor: str
    actor_role: str
    action: str
    decision: str
    reason: str
    subject_id: bytes | None = None
    category: int | None = None
    purpose: int | None = None
    level: int | None = None
    grant_id: int | None = None
    checked_block: int | None = None
    response_hash: bytes | None = None
    categories: int | None = None  # bitmask of the categories a score used (NULL: see category)
    max_uses: int = 0  # the grant's usage cap (0: none), re-checked at append time
    # (address, nonce) of the signed request, reserved in the same transaction as the entry:
    # when it was already used the entry becomes "denied / nonce_replayed".
    nonce: tuple[str, str] | None = None


@dataclass(frozen=True)
class AppendResult:
    entry_id: int
    decision: str
    reason: str
    entry_hash: bytes


# One encoder for every entry (json.dumps with arguments builds a new one per call).
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


def canonical_entry(row: Any) -> bytes:
    """The bytes an entry's hash covers: its fields in a fixed order, as compact JSON."""
    return _canonical(
        row.id,
        _entry_time(row.at),
        row.actor,
        row.actor_role,
        row.action,
        row.subject_id,
        row.category,
        row.purpose,
        row.level,
        row.grant_id,
        row.checked_block,
        row.decision,
        row.reason,
        row.response_hash,
        row.categories,
    )


def _entry_time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _canonical(
    entry_id: int,
    at: str,
    actor: str,
    actor_role: str,
    action: str,
    subject_id: bytes | None,
    category: int | None,
    purpose: int | None,
    level: int | None,
    grant_id: int | None,
    checked_block: int | None,
    decision: str,
    reason: str,
    response_hash: bytes | None,
    categories: int | None = None,
) -> bytes:
    values = [
        int(entry_id),
        at,
        actor,
        actor_role,
        action,
        None if subject_id is None else subject_id.hex(),
        category,
        purpose,
        level,
        grant_id,
        checked_block,
        decision,
        reason,
        None if response_hash is None else response_hash.hex(),
    ]
    if categories is not None:  # absent, not null: older entries hash as they always did
        values.append(categories)
    return _COMPACT_JSON.encode(values).encode()


def chain_hash(prev_hash: bytes, canonical: bytes) -> bytes:
    return hashlib.sha256(prev_hash + canonical).digest()


def entry_leaf(entry_hash: bytes) -> bytes:
    """Merkle leaf of an entry, double-hashed like OZ StandardMerkleTree leaves."""
    return keccak256(keccak256(entry_hash))


def used_count(conn: Connection | Session, grant_id: int) -> int:
    """Allowed accesses recorded under ``grant_id``: what usage caps are compared with."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(ACCESS_LOG)
            .where(ACCESS_LOG.c.grant_id == grant_id, ACCESS_LOG.c.decision == ALLOWED)
        ).scalar_one()
    )


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
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.batch_max = batch_max
        self.linger_s = linger_s
        self.nonce_retention_s = nonce_retention_s
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
                # it spent, must survive a power loss: FULL syncs the log at every commit
                # (about 0.25 ms here, once per group commit).
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


def prune_nonces(engine: Engine, older_than: int) -> int:
    """Forget nonces older than any timestamp the API still accepts."""
    with engine.begin() as conn:
        result = conn.execute(REQUEST_NONCES.delete().where(REQUEST_NONCES.c.seen_at < older_than))
        return int(result.rowcount or 0)


# -- verification ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogFinding:
    kind: str  # "edited" | "deleted" | "relinked" | "anchor_mismatch"
    entry_id: int
    detail: str


@dataclass
class AccessLogReport:
    entries_checked: int = 0
    findings: list[LogFinding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings

    def of_kind(self, kind: str) -> list[LogFinding]:
        return [f for f in self.findings if f.kind == kind]


def _iter_entries(session: Session | Connection, batch: int = 5000) -> Iterator[Any]:
    after = 0
    while True:
        rows = session.execute(
            select(ACCESS_LOG).where(ACCESS_LOG.c.id > after).order_by(ACCESS_LOG.c.id).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].id


def verify_access_log(session: Session | Connection) -> AccessLogReport:
    """Recompute the hash chain and the anchored roots; name every entry that does not fit.

    - ``edited``: the entry's stored hash does not match its content;
    - ``deleted``: ids missing from the sequence (or after the last entry, up to what an
      anchor covered);
    - ``relinked``: the entry's ``prev_hash`` is not the previous entry's hash;
    - ``anchor_mismatch``: an anchored range no longer hashes to its root.
    """
    report = AccessLogReport()
    expected_id = 1
    prev_hash = GENESIS_HASH
    last_id = 0
    for row in _iter_entries(session):
        report.entries_checked += 1
        if row.id != expected_id:
            missing = f"{expected_id}..{row.id - 1}" if row.id - 1 > expected_id else expected_id
            report.findings.append(
                LogFinding("deleted", expected_id, f"entries {missing} are missing")
            )
        if chain_hash(row.prev_hash, canonical_entry(row)) != row.entry_hash:
            report.findings.append(
                LogFinding("edited", row.id, f"entry {row.id} does not match its hash")
            )
        elif row.prev_hash != prev_hash and row.id == expected_id:
            report.findings.append(
                LogFinding("relinked", row.id, f"entry {row.id} does not follow its predecessor")
            )
        prev_hash = row.entry_hash
        expected_id = row.id + 1
        last_id = row.id
    for anchor in session.execute(select(ANCHORS).order_by(ANCHORS.c.id)).all():
        if anchor.last_entry > last_id:
            report.findings.append(
                LogFinding(
                    "deleted",
                    max(last_id + 1, anchor.first_entry),
                    f"entries {max(last_id + 1, anchor.first_entry)}..{anchor.last_entry} "
                    f"were anchored (root 0x{anchor.root.hex()}) but are missing",
                )
            )
            continue
        hashes = (
            session.execute(
                select(ACCESS_LOG.c.entry_hash)
                .where(ACCESS_LOG.c.id.between(anchor.first_entry, anchor.last_entry))
                .order_by(ACCESS_LOG.c.id)
            )
            .scalars()
            .all()
        )
        if not hashes or MerkleTree([entry_leaf(h) for h in hashes]).root != anchor.root:
            report.findings.append(
                LogFinding(
                    "anchor_mismatch",
                    anchor.first_entry,
                    f"entries {anchor.first_entry}..{anchor.last_entry} no longer match "
                    f"anchored root 0x{anchor.root.hex()}",
                )
            )
    return report


# -- anchoring and proofs --------------------------------------------------------------------


@dataclass(frozen=True)
class EntryProof:
    entry_id: int
    entry_hash: bytes
    leaf: bytes
    proof: list[bytes]
    root: bytes
    anchor_id: int
    status: str
    sequence: int | None
    tx_hash: bytes | None


class AccessLogAnchoring:
    """Anchors unanchored ranges of the log through ``anchorer`` (AnchorKind.ACCESS_LOG)."""

    def __init__(
        self,
        engine: Engine,
        anchorer: Anchorer,
        *,
        every_s: float,
        every_entries: int,
        clock: Clock = time.time,
    ) -> None:
        self.engine = engine
        self.anchorer = anchorer
        self.every_s = every_s
        self.every_entries = every_entries
        self.clock = clock
        self.journal = AnchorJournal(engine, anchorer, ACCESS_LOG_RANGES)
        self._postgres = engine.dialect.name == "postgresql"
        self._local_lock = threading.Lock()  # one anchoring pass at a time in this process
        self._trees: OrderedDict[int, tuple[list[int], MerkleTree]] = OrderedDict()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the loop ----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name="access-log-anchor", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _loop(self) -> None:
        poll = max(0.2, min(1.0, self.every_s / 4))
        while not self._stop.wait(poll):
            try:
                if self.due():
                    self.anchor_once()
            except Exception:  # keep anchoring on the next pass; the state is crash-safe
                log.exception("access log anchoring failed; will retry")

    def due(self) -> bool:
        """Whether an anchoring pass has work: an unfinished anchor, or unanchored entries
        that are ``every_entries`` many or ``every_s`` old.

        Index look-ups only (this runs every poll): the first unanchored entry and the last
        entry. Counting the unanchored entries scanned them all, a cost that grew with the
        tail (20 ms at 90,000 entries). Entries are anchored in id order, so the ids between
        the two bound the count from above; only a gap (a deleted entry, which verification
        reports) makes that an overestimate, and then a pass merely comes early.
        """
        with self.engine.connect() as conn:
            pending = conn.execute(
                select(func.count()).select_from(ANCHORS).where(ANCHORS.c.status != "anchored")
            ).scalar_one()
            if pending:
                return True
            first = conn.execute(
                select(func.min(ACCESS_LOG.c.id)).where(ACCESS_LOG.c.anchor_id.is_(None))
            ).scalar_one()
            if first is None:
                return False
            last = conn.execute(select(func.max(ACCESS_LOG.c.id))).scalar_one()
            oldest = conn.execute(
                select(ACCESS_LOG.c.at).where(ACCESS_LOG.c.id == first)
            ).scalar_one()
        if last - first + 1 >= self.every_entries:
            return True
        oldest_at = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
        return self.clock() - oldest_at.timestamp() >= self.every_s

    # -- one pass ----------------------------------------------------------------------------
    def anchor_once(self) -> int | None:
        """Finish interrupted anchors, then anchor the unanchored tail; its anchor id or None."""
        with self._local_lock:
            if not self._postgres:
                return self._anchor_pass()
            # Across processes: one anchoring pass at a time. A worker that finds another one
            # anchoring skips this pass (the other one anchors the tail too).
            with self.engine.connect() as lock_conn:
                got = lock_conn.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": _ANCHOR_PASS_LOCK_KEY}
                ).scalar_one()
                lock_conn.commit()
                if not got:
                    return None
                try:
                    return self._anchor_pass()
                finally:
                    lock_conn.execute(
                        text("SELECT pg_advisory_unlock(:k)"), {"k": _ANCHOR_PASS_LOCK_KEY}
                    )
                    lock_conn.commit()

    def _anchor_pass(self) -> int | None:
        self._resume()
        anchor_id = self._cut_range()
        if anchor_id is not None:
            self._send(anchor_id)
        return anchor_id

    def _cut_range(self) -> int | None:
        with self.engine.begin() as conn:
            if self._postgres:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ANCHOR_LOCK_KEY})
            rows = conn.execute(
                select(ACCESS_LOG.c.id, ACCESS_LOG.c.entry_hash)
                .where(ACCESS_LOG.c.anchor_id.is_(None))
                .order_by(ACCESS_LOG.c.id)
                .limit(_MAX_ANCHOR_RANGE)
            ).all()
            if not rows:
                return None
            first, last = rows[0].id, rows[-1].id
            # A range must be contiguous: stop at the first gap (deleted entries stay unanchored
            # and verify_access_log reports them).
            ids = [r.id for r in rows]
            for i, entry_id in enumerate(ids):
                if entry_id != first + i:
                    rows = rows[:i]
                    last = rows[-1].id
                    break
            tree = MerkleTree([entry_leaf(r.entry_hash) for r in rows])
            anchor_id = int(
                conn.execute(
                    insert(ANCHORS)
                    .values(
                        first_entry=first,
                        last_entry=last,
                        root=tree.root,
                        status="pending",
                        created_at=datetime.fromtimestamp(self.clock(), UTC),
                    )
                    .returning(ANCHORS.c.id)
                ).scalar_one()
            )
            conn.execute(
                update(ACCESS_LOG)
                .where(ACCESS_LOG.c.id.between(first, last))
                .values(anchor_id=anchor_id)
            )
        return anchor_id

    def _resume(self) -> None:
        self.journal.resume()

    def _send(self, anchor_id: int) -> None:
        self.journal.anchor(anchor_id)

    # -- proofs ------------------------------------------------------------------------------
    def proof_of(self, conn: Connection | Session, entry_id: int) -> EntryProof | None:
        """Inclusion proof of one entry against its anchor's root (None while unanchored)."""
        row = conn.execute(
            select(ACCESS_LOG.c.anchor_id, ACCESS_LOG.c.entry_hash).where(
                ACCESS_LOG.c.id == entry_id
            )
        ).first()
        if row is None or row.anchor_id is None:
            return None
        anchor = conn.execute(select(ANCHORS).where(ANCHORS.c.id == row.anchor_id)).one()
        cached = self._trees.get(anchor.id)
        if cached is None:
            members = conn.execute(
                select(ACCESS_LOG.c.id, ACCESS_LOG.c.entry_hash)
                .where(ACCESS_LOG.c.id.between(anchor.first_entry, anchor.last_entry))
                .order_by(ACCESS_LOG.c.id)
            ).all()
            cached = (
                [m.id for m in members],
                MerkleTree([entry_leaf(m.entry_hash) for m in members]),
            )
            self._trees[anchor.id] = cached
            while len(self._trees) > 64:
                self._trees.popitem(last=False)
        ids, tree = cached
        index = ids.index(entry_id)
        return EntryProof(
            entry_id=entry_id,
            entry_hash=row.entry_hash,
            leaf=tree.leaf(index),
            proof=tree.proof(index),
            root=anchor.root,
            anchor_id=anchor.id,
            status=anchor.status,
            sequence=anchor.sequence,
            tx_hash=anchor.tx_hash,
        )
