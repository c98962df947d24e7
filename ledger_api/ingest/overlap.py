"""Ingesting many batches with their steps overlapped; each batch still goes through the
sequential core (``Ingestor``: check → store → anchor) exactly as ``Ingestor.ingest`` would.

The overlap, on a writer thread (SQLite, the pool's pipes and the network release the GIL):

- look-ahead: the batches after the one being stored are validated in the pool meanwhile;
- seal-ahead: a batch's sealing begins while the writer still stores the batch before it;
- anchors behind: a batch's anchor is sent while the next one is sealed, and waited for up
  to ``ANCHORS_IN_FLIGHT`` batches later (on a chain with block times, they share blocks);
- grouped anchors: with a ``GroupAnchorer``, the anchors of a run of small batches go in one
  transaction (each root still its own anchor).

This module only calls the core's public methods.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ledger_api.anchoring.anchorer import GroupAnchorer
from ledger_api.anchoring.journal import Flight
from ledger_api.ingest.batch import (
    CheckedBatch,
    CheckJob,
    IngestResult,
    Progress,
    StoredBatch,
    row_estimate,
)
from ledger_api.ingest.parse import Format
from ledger_api.ingest.sealing import SealJob

if TYPE_CHECKING:
    from ledger_api.ingest.pipeline import Ingestor

log = logging.getLogger(__name__)

# The batches after the one being stored are validated ahead while they hold fewer rows than
# this together (at least the next batch).
VALIDATE_AHEAD_ROWS = 20_000
# Anchors sent before waiting for the oldest.
ANCHORS_IN_FLIGHT = 8
# With a GroupAnchorer, stored batches' anchors are held while the batches after them are
# smaller than this (their sealing is too short to hide an anchor), up to ANCHOR_GROUP_MAX
# roots in one transaction.
ANCHOR_GROUP_BELOW_ROWS = 5000
ANCHOR_GROUP_MAX = 16


def ingest_many(
    ingestor: Ingestor,
    provider: str,
    items: Sequence[tuple[str, bytes | Path]],
    *,
    fmt: Format | None = None,
    progress: Progress | None = None,
) -> list[IngestResult]:
    """``ingestor.ingest`` for each ``(category, data)``, overlapped; results in order.

    Stops at the first batch that raises, after the batches before it are finished. A batch
    whose anchor fails once mined may have later batches stored and their anchors sent behind
    it: they are finished here too, or left for ``resume_pending``. ``progress`` counts
    batches.
    """
    results: list[IngestResult] = []

    def finished(done: list[IngestResult]) -> None:
        for result in done:
            results.append(result)
            if progress is not None:
                progress(len(results), len(items))

    if progress is not None:
        progress(0, len(items))
    largest = max((row_estimate(data) for _c, data in items), default=0)
    with (
        collector_paused(),
        ingestor.pool_for(largest),
        ingestor.checkpoints_behind(),
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="ccl-ingest-writer") as writer,
    ):
        behind = AnchorBehind(ingestor)
        storing: Future[list[IngestResult]] | None = None
        ahead = CheckAhead(ingestor, provider, items, fmt)
        failed = True
        try:
            for _ in items:
                try:
                    checked = ahead.next()
                    if storing is not None:
                        seal_ahead(ingestor, checked, behind, storing)
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
            # The last batch stored is anchored even when a later one fails to validate. If
            # that fails too, the first error is the one to report: the batches whose anchors
            # did not finish stay stored for resume_pending.
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


def seal_ahead(
    ingestor: Ingestor,
    checked: CheckedBatch,
    behind: AnchorBehind,
    storing: Future[list[IngestResult]],
) -> None:
    """Begin sealing ``checked`` while the writer still stores the batch before it, so the
    pool seals it during that batch's inserts and commit.

    Only once the batch before has begun its own sealing (its pool tasks go first) and only
    if it created no key ``checked`` needs (keys are stored with the batch that created
    them). What could change in between fails the batch's transaction and it is sealed again
    (a record stored meanwhile: its unique key; a key shredded or re-wrapped: the key epoch).
    """
    if ingestor.pool is None or len(checked.prepared) < ingestor.pool_batch_rows:
        return
    while not behind.begun.wait(0.05):
        if storing.done():  # stored without sealing, or failed: the writer is free
            return
    if behind.created.intersection(p.subject_id for p in checked.prepared):
        return
    if ingestor.known(checked.batch_id):  # nothing to seal
        return
    checked.early = ingestor.seal_begin(checked, look_up_all=False)


class CheckAhead:
    """The batches, checked in order, each begun up to VALIDATE_AHEAD_ROWS rows ahead of the
    one asked for. A batch that cannot even begin (unreadable, unknown category) raises in
    its turn, after the batches before it."""

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
        self.begun: deque[CheckJob | Exception] = deque()

    def next(self) -> CheckedBatch:
        """The next batch, validated (raises what stopped it)."""
        self._begin(1)
        job = self.begun.popleft()
        self._begin(0)  # the pool validates what follows while this one is collected
        if isinstance(job, Exception):
            raise job
        return self.ingestor.check_finish(job)

    def _begin(self, at_least: int) -> None:
        rows = sum(job.rows for job in self.begun if isinstance(job, CheckJob))
        while self.waiting and (len(self.begun) < at_least or rows < VALIDATE_AHEAD_ROWS):
            category, data = self.waiting.popleft()
            source_name = data.name if isinstance(data, Path) else None
            job: CheckJob | Exception
            try:
                job = self.ingestor.check_begin(
                    self.provider, category, data, self.fmt, source_name
                )
            except Exception as exc:  # raised in its turn: the batches before it go on
                job = exc
            else:
                rows += job.rows
            self.begun.append(job)


class AnchorBehind:
    """The writer's side: stores each batch, sends its anchor while the next one is sealed,
    and reports batches (in order) once their anchors are mined. Writer thread only."""

    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor
        self.groups = isinstance(ingestor.anchorer, GroupAnchorer)
        self.held: list[StoredBatch] = []  # stored, anchors not sent yet (in order)
        # Set once the batch being stored has begun sealing, with the subjects it creates.
        self.begun = threading.Event()
        self.created: frozenset[bytes] = frozenset()
        self.sent: deque[tuple[StoredBatch, Flight | None]] = deque()  # to report, in order

    def store(self, checked: CheckedBatch) -> list[IngestResult]:
        """Store ``checked``; returns the batches finished meanwhile (in order)."""
        done: list[IngestResult] = []
        small = len(checked.prepared) < ANCHOR_GROUP_BELOW_ROWS

        def meanwhile() -> None:
            done.extend(self._advance(ANCHORS_IN_FLIGHT, hold=small))

        def begun(job: SealJob) -> None:
            self.created = frozenset(job.keys.new_subjects.subject_ids)
            self.begun.set()

        stored = self.ingestor.store_batch(checked, None, meanwhile, begun)
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
            done.append(self.ingestor.finish(stored, flight))
        return done

    def _send_held(self) -> None:
        held, self.held = self.held, []
        if held:
            flights = self.ingestor.journal.send([s.batch_id for s in held], fresh=True)
            self.sent.extend(zip(held, flights, strict=True))


@contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic cyclic garbage collection while the block runs: a run allocates
    hundreds of thousands of rows and hashes, freed by reference counting, and every full
    collection meanwhile walked them all with the GIL held. It catches up afterwards."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
