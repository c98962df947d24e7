"""Every kind of entry the platform anchors, as a table of the anchor journal.

A new anchored kind adds its :class:`JournalTable` here and to :data:`ALL`, and ``ccl
resume`` (``resume_all``) finishes its crashed anchors with the others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import Engine, Table

from ledger_api.anchoring.anchorer import Anchorer, AnchorKind
from ledger_api.anchoring.journal import AnchorJournal, JournalTable
from ledger_api.financing.tables import EVENTS as FINANCING_EVENT_ROWS
from ledger_api.store.access_log import AccessLogAnchor
from ledger_api.store.models import BATCHES, CATALOG_VERSIONS, BatchState
from ledger_api.store.subject_tables import STATEMENTS

LOG_ANCHORS = cast(Table, AccessLogAnchor.__table__)


def access_log_reference(first_entry: int, last_entry: int) -> bytes:
    """What an access-log range is anchored with: a hash naming the range."""
    return hashlib.sha256(
        b"ccl/access-log/v1" + first_entry.to_bytes(8, "big") + last_entry.to_bytes(8, "big")
    ).digest()


DATA_BATCHES = JournalTable(
    kind=AnchorKind.DATA_BATCH,
    table=BATCHES,
    key="batch_id",
    state="state",
    states=(BatchState.STORED, BatchState.ANCHOR_SENT, BatchState.ANCHORED),
    root="root",
    sequence="anchor_sequence",
    leaf_count=lambda row: int(row.leaf_count),
    reference=lambda row: bytes(row.batch_id),
    reads=("leaf_count",),
    provenance=("tx_hash", "block_number", "anchored_at"),
    order_by="created_at",
)

ACCESS_LOG_RANGES = JournalTable(
    kind=AnchorKind.ACCESS_LOG,
    table=LOG_ANCHORS,
    key="id",
    state="status",
    states=("pending", "sent", "anchored"),
    root="root",
    sequence="sequence",
    leaf_count=lambda row: int(row.last_entry - row.first_entry + 1),
    reference=lambda row: access_log_reference(row.first_entry, row.last_entry),
    reads=("first_entry", "last_entry"),
)

COMMITMENTS = JournalTable(
    kind=AnchorKind.SUBJECT_STATEMENT,
    table=STATEMENTS,
    key="id",
    state="status",
    states=("pending", "sent", "anchored"),
    root="leaf",  # a one-leaf tree: the root is the leaf
    sequence="anchor_sequence",
    leaf_count=lambda row: 1,
    reference=lambda row: bytes(row.subject_id),
    reads=("subject_id",),
)

CATALOG_VERSION_HASHES = JournalTable(
    kind=AnchorKind.CATALOG_VERSION,
    table=CATALOG_VERSIONS,
    key="version",
    state="state",
    states=("pending", "sent", "anchored"),
    root="catalog_hash",
    sequence="anchor_sequence",
    leaf_count=lambda row: 1,
    reference=lambda row: int(row.version).to_bytes(32, "big"),
    reads=(),
)


def financing_event_reference(kind: str, ref_id: int) -> bytes:
    """What a financing event is anchored with: a hash naming its kind and row."""
    return hashlib.sha256(b"ccl/financing/v1" + kind.encode() + ref_id.to_bytes(8, "big")).digest()


# Loans, loan outcomes and white-list steps: operator-anchored record hashes (RECORD_STATUS:
# the platform attests a state change it recorded), so a regulator can prove who did what when.
FINANCING_EVENTS = JournalTable(
    kind=AnchorKind.RECORD_STATUS,
    table=FINANCING_EVENT_ROWS,
    key="id",
    state="status",
    states=("pending", "sent", "anchored"),
    root="leaf",  # a one-leaf tree: the root is the leaf
    sequence="anchor_sequence",
    leaf_count=lambda row: 1,
    reference=lambda row: financing_event_reference(str(row.kind), int(row.ref_id)),
    reads=("kind", "ref_id"),
)

ALL = (DATA_BATCHES, ACCESS_LOG_RANGES, COMMITMENTS, CATALOG_VERSION_HASHES, FINANCING_EVENTS)


def resume_all(
    engine: Engine,
    anchorer: Anchorer,
    *,
    skip: tuple[JournalTable, ...] = (),
    journal: Callable[[Engine, Anchorer, JournalTable], AnchorJournal] = AnchorJournal,
) -> dict[str, list[Any]]:
    """Finish every kind's crashed anchors (but ``skip``'s); the keys finished, by table."""
    return {
        spec.table.name: journal(engine, anchorer, spec).resume()
        for spec in ALL
        if spec not in skip
    }
