"""The follower: reads the ledger's events from the deployment block on, into the SQL replica.

One ``run_once()`` catches up to ``head - confirmation_depth`` in chunks. Each chunk is read
as: the chunk's last block (its hash pins the whole branch), the logs of the range, the
headers of the blocks holding events plus the recent ones, then the last block again; if that
hash moved, the chain reorganised mid-read and the chunk is dropped and re-read next time.
Before each run the checkpoint's hash is compared with the chain; on a mismatch the follower
walks back over stored hashes to the common ancestor, undoes everything above it and indexes
the new branch. A reorg deeper than ``reorg_window`` stops with ``ReorgTooDeepError``.

``run_forever`` also runs, after each round, one bounded pass of the access log's re-check
(``indexer.log_recheck``): entries whose checked block is now final get their verdicts kept.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from web3 import Web3

from indexer.errors import ReorgTooDeepError, ReplicaMismatchError
from indexer.log_recheck import PASS_ENTRIES, recheck_pass
from indexer.source import ChainSource
from indexer.store import BlockInfo, Checkpoint, Chunk, FaultHook, IndexStore, SqlIndexStore
from ledger_api.chain.deployment import Deployment
from ledger_api.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class IndexerStatus:
    chain_id: int
    contract: str
    deployment_block: int
    head: int
    target: int
    indexed_block: int | None
    indexed_events: int
    lag: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _ChainMoved(Exception):
    """The chain reorganised while a chunk was being read: re-read it on the next run."""


class Indexer:
    """Follows one deployed ledger into one database. Not thread-safe: one runner at a time."""

    def __init__(
        self,
        w3: Web3,
        deployment: Deployment,
        store: IndexStore,
        *,
        confirmation_depth: int = 0,
        reorg_window: int = 64,
        chunk_blocks: int = 5000,
        target_events_per_chunk: int = 20_000,
        progress: Progress | None = None,
        fault_hook: FaultHook | None = None,
        recheck: Callable[[], int] | None = None,
    ) -> None:
        beside = [deployment.receivables] if deployment.receivables else []
        self.source = ChainSource(w3, deployment.address, beside)
        self.deployment = deployment
        self.store = store
        self.confirmation_depth = confirmation_depth
        self.reorg_window = reorg_window
        self.max_chunk_blocks = chunk_blocks
        self.target_events_per_chunk = target_events_per_chunk
        self.progress = progress
        self.fault_hook = fault_hook
        # One bounded pass of the access log's re-check (``indexer.log_recheck``) per tick.
        self.recheck = recheck
        self._span = chunk_blocks
        self._checked = False

    @classmethod
    def for_engine(
        cls, w3: Web3, deployment: Deployment, engine: Engine, settings: Settings | None = None,
        **kwargs: Any,
    ) -> Indexer:  # fmt: skip
        """The usual wiring: SQL store on ``engine``, depth and window from ``settings``, the
        access log's re-check on the same database."""
        settings = settings or Settings()
        kwargs.setdefault("confirmation_depth", settings.confirmation_depth)
        kwargs.setdefault("reorg_window", settings.reorg_window_blocks)
        store = SqlIndexStore(engine, fault_hook=kwargs.get("fault_hook"))
        kwargs.setdefault("recheck", functools.partial(
            recheck_pass, engine, chain_id=deployment.chain_id,
            reorg_window=kwargs["reorg_window"],
        ))  # fmt: skip
        return cls(w3, deployment, store, **kwargs)

    @property
    def chain_id(self) -> int:
        return self.deployment.chain_id

    @property
    def contract(self) -> str:
        return self.source.address

    def _fault(self, point: str) -> None:
        if self.fault_hook is not None:
            self.fault_hook(point)

    # -- public API ----------------------------------------------------------------------------
    def run_once(self) -> int:
        """Catch up to the confirmed head; returns the number of events indexed."""
        self._check_replica()
        target = self.source.head() - self.confirmation_depth
        checkpoint = self._handle_reorg(self.store.checkpoint(self.chain_id))
        start = (
            self.deployment.deployment_block if checkpoint is None else checkpoint.block.number + 1
        )
        indexed = 0
        total = max(target - start + 1, 0)
        previous = None if checkpoint is None else checkpoint.block
        first = start
        while start <= target:
            last = min(start + self._span - 1, target)
            try:
                chunk = self._read_chunk(start, last, target, previous)
            except _ChainMoved:
                log.info("chain reorganised while reading blocks %d-%d; retrying", start, last)
                break
            self.store.write_chunk(self.chain_id, self.contract,
                                   self.deployment.deployment_block, chunk)  # fmt: skip
            indexed += len(chunk.events)
            self._adapt_span(len(chunk.events), last - start + 1)
            previous, start = chunk.last, last + 1
            if self.progress is not None:
                self.progress(last - first + 1, total)
        return indexed

    def run_forever(self, stop_event: threading.Event, poll_interval_s: float = 0.5) -> None:
        """Follow the chain until ``stop_event`` is set. A too-deep reorg or a mismatched
        replica stops the loop (raised); node or database hiccups are logged and retried."""
        while not stop_event.is_set():
            busy = False
            try:
                self.run_once()
                busy = self.recheck_tick()
            except (ReorgTooDeepError, ReplicaMismatchError):
                raise
            except Exception:
                log.exception("indexer run failed; retrying in %.1fs", poll_interval_s)
            if not busy:
                stop_event.wait(poll_interval_s)

    def recheck_tick(self) -> bool:
        """One bounded pass of the access log's re-check, after indexing or idle alike:
        verdicts become final as the checkpoint moves, and entries arrive meanwhile. True
        when it judged a full pass (more may be waiting: the next tick comes at once)."""
        if self.recheck is None:
            return False
        judged = self.recheck()
        return judged >= PASS_ENTRIES

    def catch_up(self) -> int:
        """Run until nothing is left to index (the chain may grow meanwhile)."""
        total = 0
        while True:
            added = self.run_once()
            total += added
            if self.lag() <= 0:
                return total

    def rebuild(self) -> int:
        """Forget the replica and index everything again from the deployment block."""
        self.store.reset()
        self._checked = False
        return self.catch_up()

    def lag(self) -> int:
        """Blocks the replica is behind the confirmed head (0 when caught up)."""
        target = self.source.head() - self.confirmation_depth
        checkpoint = self.store.checkpoint(self.chain_id)
        indexed = (
            self.deployment.deployment_block - 1 if checkpoint is None else checkpoint.block.number
        )
        return max(target - indexed, 0)

    def status(self) -> IndexerStatus:
        head = self.source.head()
        target = head - self.confirmation_depth
        checkpoint = self.store.checkpoint(self.chain_id)
        indexed = None if checkpoint is None else checkpoint.block.number
        baseline = self.deployment.deployment_block - 1 if indexed is None else indexed
        return IndexerStatus(
            chain_id=self.chain_id,
            contract=self.contract,
            deployment_block=self.deployment.deployment_block,
            head=head,
            target=target,
            indexed_block=indexed,
            indexed_events=0 if checkpoint is None else checkpoint.event_count,
            lag=max(target - baseline, 0),
        )

    # -- internals -----------------------------------------------------------------------------
    def _check_replica(self) -> None:
        if self._checked:
            return
        others = self.store.other_checkpoints(self.chain_id, self.contract)
        if others:
            other = others[0]
            raise ReplicaMismatchError(
                f"the database mirrors contract {other.contract} on chain {other.chain_id}, not "
                f"{self.contract} on chain {self.chain_id}; rebuild to switch"
            )
        self._checked = True

    def _read_chunk(self, first: int, last: int, target: int, previous: BlockInfo | None) -> Chunk:
        self._fault("read:begin")
        pin = self.source.block(last)
        if pin is None:
            raise _ChainMoved
        events = self.source.events(first, last)
        self._fault("read:logs")
        # Hashes of recent blocks are kept so a later reorg can find the common ancestor.
        wanted = {e.block_number for e in events} | {first, last}
        wanted |= set(range(max(first, target - self.reorg_window + 1), last + 1))
        blocks = self.source.blocks(wanted)
        if (
            any(blocks.get(e.block_number, pin).hash != e.block_hash for e in events)
            or blocks.get(last) != pin
            or len(blocks) != len(wanted)
            or (previous is not None and blocks[first].parent_hash != previous.hash)
        ):
            raise _ChainMoved
        self._fault("read:blocks")
        # The reorg walk-back reaches down to checkpoint - reorg_window: empty blocks below
        # that were needed for the previous checkpoint at most.
        below_previous = (first - 1 if previous is None else previous.number) - self.reorg_window
        forget = (max(below_previous, 0), last - self.reorg_window)
        return Chunk(
            events=events,
            blocks=list(blocks.values()),
            last=pin,
            forget_empty=forget if forget[0] < forget[1] else None,
        )

    def _adapt_span(self, events: int, span: int) -> None:
        """Aim for about ``target_events_per_chunk`` events per transaction."""
        if events == 0:
            self._span = min(self._span * 2, self.max_chunk_blocks)
            return
        ideal = max(1, span * self.target_events_per_chunk // events)
        self._span = max(1, min(ideal, self._span * 2, self.max_chunk_blocks))

    def _handle_reorg(self, checkpoint: Checkpoint | None) -> Checkpoint | None:
        """Undo blocks the chain no longer has; returns the checkpoint to resume from."""
        if checkpoint is None:
            return None
        current = self.source.block(checkpoint.block.number)
        if current is not None and current.hash == checkpoint.block.hash:
            return checkpoint
        floor = checkpoint.block.number - self.reorg_window
        for stored in self.store.stored_blocks(
            self.chain_id, checkpoint.block.number, self.reorg_window + 1
        ):
            if stored.number < floor:
                break
            on_chain = self.source.block(stored.number)
            if on_chain is not None and on_chain.hash == stored.hash:
                log.warning(
                    "reorg: blocks %d-%d replaced; re-indexing from %d",
                    stored.number + 1, checkpoint.block.number, stored.number + 1,
                )  # fmt: skip
                self.store.rollback_to(self.chain_id, stored)
                return self.store.checkpoint(self.chain_id)
        raise ReorgTooDeepError(
            f"the chain replaced block {checkpoint.block.number} and no block of the last "
            f"{self.reorg_window} indexed blocks is still on it; reorg window is "
            f"{self.reorg_window} blocks (CCL_REORG_WINDOW_BLOCKS); run `ccl-indexer rebuild`",
            depth=checkpoint.block.number - floor,
        )
