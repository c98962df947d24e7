"""Risk events from disputes: an objection or credit-repair request opened, a record repaired.

The platform relays both transactions, so it writes their outbox events right after the chain
accepted them (the catalog's ``chain_risk_rules`` name the kinds). The event names the
disputed record; it is not PUBLIC (only monitoring grants see it).
"""

from __future__ import annotations

import hashlib
import time

from sqlalchemy import Engine, insert, select

from ledger_api.anchoring.merkle import record_leaf
from ledger_api.monitoring.rules import MonitoringRules
from ledger_api.store.models import BATCHES, RECORDS
from ledger_api.store.monitoring_tables import OUTBOX


def record_chain_event(
    engine: Engine,
    rules: MonitoringRules,
    event: str,
    subject_id: bytes,
    category: int,
    record_uid: bytes,
    outcome: str | None = None,
) -> bool:
    """Write the outbox event the rules give ``event`` (and ``outcome``); False if none."""
    kind = rules.chain_kind(event, outcome)
    if kind is None:
        return False
    with engine.begin() as conn:
        conn.execute(
            insert(OUTBOX).values(
                subject_id=subject_id,
                category=category,
                kind=rules.kind_code(kind),
                record_uid=record_uid,
                public=False,
                occurred_at=int(time.time()),
            )
        )
    return True


def disputed_record(engine: Engine, root: bytes, leaf: bytes) -> tuple[bytes, int, bytes] | None:
    """(subject id, category, record uid) of the record behind a dispute's root and leaf."""
    with engine.connect() as conn:
        batch = conn.execute(select(BATCHES.c.batch_id).where(BATCHES.c.root == root)).first()
        if batch is None:
            return None
        rows = conn.execute(
            select(
                RECORDS.c.record_uid,
                RECORDS.c.subject_id,
                RECORDS.c.category,
                RECORDS.c.salt,
                RECORDS.c.sealed,
            ).where(RECORDS.c.batch_id == batch.batch_id)
        )
        for r in rows:
            digest = hashlib.sha256(bytes(r.sealed)).digest()
            if record_leaf(bytes(r.salt), r.record_uid, r.subject_id, r.category, digest) == leaf:
                return bytes(r.subject_id), int(r.category), bytes(r.record_uid)
    return None
