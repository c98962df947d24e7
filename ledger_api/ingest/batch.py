"""A batch as it moves through ingestion: read and identified, checked, stored, reported."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger_api.catalog.loader import Category
from ledger_api.ingest.parse import Format
from ledger_api.ingest.rows import Checked, PreparedRow
from ledger_api.ingest.validate import RowError
from ledger_api.store.models import BatchState

if TYPE_CHECKING:
    from ledger_api.ingest.sealing import SealJob

Progress = Callable[[int, int | None], None]
FaultHook = Callable[[str], None]

# Named points where an injected fault (tests) simulates a crash, in pipeline order.
FAULT_STEPS = ("validated", "stored", "anchor_sent", "anchor_returned", "anchored")


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


@dataclass
class CheckJob:
    """A batch read and identified, its validation begun: in the pool (``futures``) or, for
    a small batch or without a pool, still to run in this process."""

    provider: str
    category: Category
    batch_id: bytes
    data: bytes
    fmt: Format
    rows: int  # lines in the batch
    futures: list[Future[list[Checked]]] | None


@dataclass
class CheckedBatch:
    """A parsed and validated batch, ready to be stored."""

    provider: str
    category: Category
    batch_id: bytes
    rows_total: int
    prepared: list[PreparedRow]
    rejected: list[RowError]
    duplicates: int
    early: SealJob | None = None  # its sealing, begun while the batch before was stored


@dataclass
class StoredBatch:
    """A batch after storing: what anchoring and reporting it still need."""

    batch_id: bytes
    rejected: list[RowError]
    known: bool  # the batch id was seen before
    resubmitted: bool  # ... past storing: nothing was stored now
    unanchored: bool  # its root may still need anchoring


def batch_id_of(provider: str, category: Category, catalog_version: int, data: bytes) -> bytes:
    """Content hash identifying a batch: same bytes from the same provider, same id."""
    h = hashlib.sha256(b"ccl/batch/v1\x00")
    h.update(f"{provider}\x00{category.name}\x00{catalog_version}\x00".encode())
    h.update(data)
    return h.digest()


def row_estimate(data: bytes | Path) -> int:
    """About how many rows a batch holds (its line count; a file's size / 64)."""
    if isinstance(data, Path):
        try:
            return data.stat().st_size // 64
        except OSError:
            return 0
    return data.count(b"\n")
