"""Where the follower writes: the small interface it needs, and its SQL implementation.

``IndexStore`` is all the follower knows about storage, so it can be driven without a chain
(feed it decoded events) and the follower without a database. ``SqlIndexStore`` keeps the one
rule that makes a crash harmless: a chunk's events, block hashes, state changes and the new
checkpoint commit in ONE transaction, so after a crash the checkpoint names exactly the last
chunk whose rows exist, and the follower resumes right after it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Table, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from indexer.decode import EventRecord, args_to_json
from indexer.gate_rows import EVERYTHING, log_changes
from indexer.log_recheck import forget as forget_verdicts
from indexer.projection import Projector, rollback_state
from indexer.tables import ALL_TABLES, BLOCKS, CHECKPOINT, EVENTS, STATE_TABLES
from ledger_api.store.types import utcnow

FaultHook = Callable[[str], None]
"""Called at named points of a write (tests inject crashes here); must not touch the store."""


@dataclass(frozen=True)
class BlockInfo:
    number: int
    hash: bytes
    parent_hash: bytes
    timestamp: int


@dataclass(frozen=True)
class Checkpoint:
    chain_id: int
    contract: str
    deployment_block: int
    block: BlockInfo
    event_count: int


@dataclass(frozen=True)
class Chunk:
    """Everything learnt about blocks ``(previous checkpoint, last.number]``."""

    events: Sequence[EventRecord]  # in chain order
    blocks: Sequence[BlockInfo]  # event blocks, recent blocks, and ``last``
    last: BlockInfo  # the new checkpoint
    # Stored blocks numbered ``[lo, hi)`` that hold no event are no longer needed (a reorg
    # walks back no lower), so writing the chunk forgets them: else every block the follower
    # ever saw near the head would stay, one row per block for ever.
    forget_empty: tuple[int, int] | None = None


class IndexStore(Protocol):
    def checkpoint(self, chain_id: int) -> Checkpoint | None: ...

    def other_checkpoints(self, chain_id: int, contract: str) -> list[Checkpoint]:
        """Checkpoints of another chain or contract (the database mirrors something else)."""
        ...

    def stored_blocks(self, chain_id: int, at_or_below: int, limit: int) -> list[BlockInfo]:
        """Stored blocks, highest first (reorg walk-back)."""
        ...

    def write_chunk(
        self, chain_id: int, contract: str, deployment_block: int, chunk: Chunk
    ) -> None: ...

    def rollback_to(self, chain_id: int, block: BlockInfo) -> None:
        """Forget everything after ``block`` and make it the checkpoint."""
        ...

    def reset(self) -> None:
        """Forget everything (rebuild from scratch)."""
        ...


_EVENT_COLUMNS = ("chain_id", "block_hash", "log_index", "block_number", "tx_hash", "tx_index",
                  "name", "args")  # fmt: skip
_BLOCK_COLUMNS = ("chain_id", "number", "hash", "parent_hash", "timestamp", "event_count")
# Apply events in slices so a fault hook can interrupt a chunk between any two of them.
_APPLY_SLICE = 2000


def _insert_ignore(
    conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Bulk insert that skips rows whose key exists (replaying a chunk is harmless)."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "sqlite":
        compiled = (
            sqlite.insert(table)
            .on_conflict_do_nothing()
            .compile(dialect=conn.dialect, column_keys=list(columns))
        )
        order = list(compiled.positiontup or [])
        position = {name: i for i, name in enumerate(columns)}
        if order != list(columns):
            rows = [tuple(r[position[n]] for n in order) for r in rows]
        conn.exec_driver_sql(str(compiled), rows)
        return
    statement = (
        postgresql.insert(table).on_conflict_do_nothing()
        if dialect == "postgresql"
        else insert(table)
    )
    conn.execute(statement, [dict(zip(columns, r, strict=True)) for r in rows])


def _checkpoint_from_row(row: Any) -> Checkpoint:
    return Checkpoint(
        chain_id=row.chain_id,
        contract=row.contract,
        deployment_block=row.deployment_block,
        block=BlockInfo(row.block_number, row.block_hash, b"", row.block_timestamp),
        event_count=row.event_count,
    )


class SqlIndexStore:
    def __init__(self, engine: Engine, fault_hook: FaultHook | None = None) -> None:
        self.engine = engine
        self.fault_hook = fault_hook

    def _fault(self, point: str) -> None:
        if self.fault_hook is not None:
            self.fault_hook(point)

    def checkpoint(self, chain_id: int) -> Checkpoint | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(CHECKPOINT).where(CHECKPOINT.c.chain_id == chain_id)).first()
        return None if row is None else _checkpoint_from_row(row)

    def other_checkpoints(self, chain_id: int, contract: str) -> list[Checkpoint]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(CHECKPOINT)).all()
        return [
            _checkpoint_from_row(r)
            for r in rows
            if r.chain_id != chain_id or r.contract.lower() != contract.lower()
        ]

    def stored_blocks(self, chain_id: int, at_or_below: int, limit: int) -> list[BlockInfo]:
        query = (
            select(BLOCKS.c.number, BLOCKS.c.hash, BLOCKS.c.parent_hash, BLOCKS.c.timestamp)
            .where(BLOCKS.c.chain_id == chain_id, BLOCKS.c.number <= at_or_below)
            .order_by(BLOCKS.c.number.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [BlockInfo(*row) for row in conn.execute(query)]

    def write_chunk(
        self, chain_id: int, contract: str, deployment_block: int, chunk: Chunk
    ) -> None:
        self._fault("write:begin")
        with self.engine.begin() as conn:
            event_rows = [
                (chain_id, e.block_hash, e.log_index, e.block_number, e.tx_hash, e.tx_index,
                 e.name, json.dumps(args_to_json(e.args), separators=(",", ":")))
                for e in chunk.events
            ]  # fmt: skip
            _insert_ignore(conn, EVENTS, _EVENT_COLUMNS, event_rows)
            self._fault("write:events")
            projector = Projector(conn)
            for start in range(0, len(chunk.events), _APPLY_SLICE):
                projector.apply_all(chunk.events[start : start + _APPLY_SLICE])
                self._fault("write:apply")
            projector.flush()
            self._fault("write:state")
            counts: dict[int, int] = {}
            for e in chunk.events:
                counts[e.block_number] = counts.get(e.block_number, 0) + 1
            blocks = {b.number: b for b in (*chunk.blocks, chunk.last)}
            _insert_ignore(
                conn, BLOCKS, _BLOCK_COLUMNS,
                [(chain_id, b.number, b.hash, b.parent_hash, b.timestamp, counts.get(b.number, 0))
                 for b in sorted(blocks.values(), key=lambda b: b.number)],
            )  # fmt: skip
            if chunk.forget_empty is not None:
                lo, hi = chunk.forget_empty
                conn.execute(
                    delete(BLOCKS).where(
                        BLOCKS.c.chain_id == chain_id,
                        BLOCKS.c.number >= lo,
                        BLOCKS.c.number < hi,
                        BLOCKS.c.event_count == 0,
                    )
                )
            self._fault("write:blocks")
            self._save_checkpoint(conn, chain_id, contract, deployment_block, chunk.last,
                                  added_events=len(chunk.events))  # fmt: skip
            self._fault("write:commit")
        self._fault("write:committed")

    def _save_checkpoint(
        self,
        conn: Connection,
        chain_id: int,
        contract: str,
        deployment_block: int,
        block: BlockInfo,
        *,
        added_events: int = 0,
        event_count: int | None = None,
    ) -> None:
        values = {
            "block_number": block.number,
            "block_hash": block.hash,
            "block_timestamp": block.timestamp,
            "updated_at": utcnow(),
        }
        exists = conn.execute(
            select(CHECKPOINT.c.event_count).where(CHECKPOINT.c.chain_id == chain_id)
        ).first()
        if exists is None:
            conn.execute(
                insert(CHECKPOINT).values(
                    chain_id=chain_id, contract=contract, deployment_block=deployment_block,
                    event_count=added_events if event_count is None else event_count, **values,
                )
            )  # fmt: skip
            return
        total = exists.event_count + added_events if event_count is None else event_count
        conn.execute(
            update(CHECKPOINT)
            .where(CHECKPOINT.c.chain_id == chain_id)
            .values(event_count=total, **values)
        )

    def rollback_to(self, chain_id: int, block: BlockInfo) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                delete(EVENTS).where(
                    EVENTS.c.chain_id == chain_id, EVENTS.c.block_number > block.number
                )
            )
            conn.execute(
                delete(BLOCKS).where(BLOCKS.c.chain_id == chain_id, BLOCKS.c.number > block.number)
            )
            rollback_state(conn, block.number)
            remaining = conn.execute(
                select(func.count()).select_from(EVENTS).where(EVENTS.c.chain_id == chain_id)
            ).scalar_one()
            row = conn.execute(select(CHECKPOINT).where(CHECKPOINT.c.chain_id == chain_id)).one()
            self._save_checkpoint(conn, chain_id, row.contract, row.deployment_block, block,
                                  event_count=remaining)  # fmt: skip

    def reset(self) -> None:
        with self.engine.begin() as conn:
            # The log's verdicts were judged against this replica: judged again after it.
            forget_verdicts(conn)
            for table in reversed(ALL_TABLES):
                conn.execute(delete(table))
            log_changes(conn, [(EVERYTHING, "")])  # the gate mirrors drop what they hold


def dump_state(engine: Engine, *, include_events: bool = True) -> dict[str, list[tuple[Any, ...]]]:
    """Every replica row except surrogate ids and bookkeeping, sorted: equal dumps mean equal
    replicas (incremental vs rebuilt, crashed vs clean). Blocks are left out: which empty
    blocks get stored depends on where chunks happened to end."""
    tables: list[Table] = [*STATE_TABLES, *([EVENTS] if include_events else [])]
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in tables:
            columns = [c for c in table.columns if c.name != "id"]
            rows = conn.execute(select(*columns)).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
        checkpoint = conn.execute(
            select(CHECKPOINT.c.chain_id, CHECKPOINT.c.contract, CHECKPOINT.c.block_number,
                   CHECKPOINT.c.block_hash, CHECKPOINT.c.event_count)
        ).all()  # fmt: skip
        out["chain_checkpoint"] = sorted(tuple(r) for r in checkpoint)
    return out
