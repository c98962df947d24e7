"""Financing events: each state change of the loop as a canonical record whose hash is
anchored on chain (one-leaf tree, RECORD_STATUS kind, through the anchor journal).

The record holds ids, roles, states and times, never loan terms or names; a random salt keeps
its hash from being guessed from those few values. A regulator proves an event by recomputing
the leaf from the stored record and asking the chain for it.
"""

from __future__ import annotations

import json
import os
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from ledger_api.anchoring.anchorer import Anchorer
from ledger_api.anchoring.journal import AnchorJournal
from ledger_api.anchoring.keccak import keccak256
from ledger_api.anchoring.kinds import FINANCING_EVENTS
from ledger_api.financing.tables import EVENTS

_LEAF_DOMAIN = b"ccl/financing-event/v1\x00"


def event_leaf(record: str) -> bytes:
    """The anchored leaf of a canonical event record."""
    return keccak256(_LEAF_DOMAIN + record.encode())


def canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def add_event(conn: Connection, kind: str, ref_id: int, actor: str, at: int, **fields: Any) -> int:
    """Store a pending event in the caller's transaction; anchor it after the commit."""
    record = canonical(
        {"kind": kind, "ref": ref_id, "actor": actor, "at": at, "salt": os.urandom(16).hex()}
        | fields
    )
    return int(
        conn.execute(
            insert(EVENTS)
            .values(
                kind=kind,
                ref_id=ref_id,
                actor=actor,
                record=record,
                leaf=event_leaf(record),
                at=at,
                status="pending",
            )
            .returning(EVENTS.c.id)
        ).scalar_one()
    )


def anchor_events(engine: Engine, anchorer: Anchorer, event_ids: list[int]) -> None:
    """Anchor events just committed; a crash before the end is finished by ``ccl resume``."""
    journal = AnchorJournal(engine, anchorer, FINANCING_EVENTS)
    for event_id in event_ids:
        journal.anchor(event_id, fresh=True)


def events_of(conn: Connection, kind_prefix: str, ref_id: int) -> list[Any]:
    rows = conn.execute(
        select(EVENTS)
        .where(EVENTS.c.ref_id == ref_id, EVENTS.c.kind.like(kind_prefix + "%"))
        .order_by(EVENTS.c.id)
    ).all()
    return list(rows)
