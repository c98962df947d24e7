"""Anchoring ranges of the access log through the anchor journal, and entries' proofs."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, func, insert, select, text, update
from sqlalchemy.orm import Session

from ledger_api.accesslog.entries import (
    ACCESS_LOG,
    ANCHORS,
    Clock,
    entry_leaf,
)
from ledger_api.anchoring.anchorer import Anchorer
from ledger_api.anchoring.journal import AnchorJournal
from ledger_api.anchoring.kinds import ACCESS_LOG_RANGES
from ledger_api.anchoring.merkle import MerkleTree

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key (arbitrary, fixed) for cutting a range; a session lock for a pass.
_ANCHOR_LOCK_KEY = 0x43434C_02
_ANCHOR_PASS_LOCK_KEY = 0x43434C_03  # one anchoring pass across processes
_MAX_ANCHOR_RANGE = 50_000


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

        Index look-ups only (this runs every poll, and counting the unanchored entries
        would scan them all): the first unanchored entry and the last entry. Entries are
        anchored in id order, so the ids between the two bound the count from above; only a
        gap (a deleted entry, which verification reports) overestimates it, and then a pass
        merely comes early.
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
        """Ranges a crash left unanchored first (the journal asks the chain), then the tail."""
        self.journal.resume()
        anchor_id = self._cut_range()
        if anchor_id is not None:
            self.journal.anchor(anchor_id)
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
