"""What an operator must act on, read from the platform's database and the indexer's replica.

Each function returns plain rows (dicts of JSON values) that the API serves and ``ccl admin``
prints; times are ISO 8601 dates in UTC, never epoch seconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from ledger_api.catalog.loader import Catalog
from ledger_api.chain.types import DisputeKind, DisputeOutcome, DisputeStatus, InstitutionType
from ledger_api.errors import CryptoError, LedgerError
from ledger_api.settings import Settings
from ledger_api.store.models import BATCHES, CATALOG_VERSIONS, RECORDS

Row = dict[str, Any]


def iso_date(value: int | datetime | None) -> str | None:
    """A UTC timestamp as ISO 8601 (seconds); None stays None, 0 (never) too."""
    if value is None or value == 0:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _hex(value: bytes | None) -> str | None:
    return None if value is None else "0x" + bytes(value).hex()


def institutions(conn: Connection, block_time: Callable[[int], int]) -> list[Row]:
    """Every registered institution (current state): name, type, status, agreement."""
    from indexer.tables import InstitutionVersion

    table = InstitutionVersion.__table__
    rows = conn.execute(
        select(table).where(table.c.valid_to_block.is_(None)).order_by(table.c.institution_index)
    ).all()
    return [
        {
            "address": r.address,
            "name": r.name,
            "type": InstitutionType(r.kind).name.lower(),
            "suspended": bool(r.suspended),
            "agreement_id": int(r.agreement_id),
            "registered": iso_date(block_time(int(r.registered_block))),
        }
        for r in rows
    ]


def catalog_versions(conn: Connection) -> list[Row]:
    """Published catalog versions, oldest first, with where each is anchored."""
    rows = conn.execute(select(CATALOG_VERSIONS).order_by(CATALOG_VERSIONS.c.version)).all()
    return [
        {
            "version": int(r.version),
            "hash": _hex(r.catalog_hash),
            "published": iso_date(r.published_at),
            "anchor_sequence": r.anchor_sequence,
            "block_number": r.block_number,
            "tx_hash": _hex(r.tx_hash),
        }
        for r in rows
    ]


def disputes(
    conn: Connection,
    settings: Settings,
    catalog: Catalog,
    block_time: Callable[[int], int],
    *,
    open_only: bool = True,
) -> list[Row]:
    """Disputes (open ones by default) with the disputed record's category and key.

    Only the reason's hash is on chain; its text is shown when the enterprise's wallet sent it
    with the request (``ledger_api.store.dispute_reasons``), else None beside the hash.
    """
    from indexer.tables import DisputeVersion, SubjectVersion

    table = DisputeVersion.__table__
    subjects = SubjectVersion.__table__
    query = select(table).where(table.c.valid_to_block.is_(None)).order_by(table.c.dispute_id)
    if open_only:
        query = query.where(table.c.status == int(DisputeStatus.OPEN))
    from ledger_api.store.dispute_reasons import reasons_by_dispute

    found = conn.execute(query).all()
    reasons = reasons_by_dispute(conn, [int(d.dispute_id) for d in found])
    out = []
    for d in found:
        reason = reasons.get(int(d.dispute_id))
        subject = conn.execute(
            select(subjects.c.subject_id).where(
                subjects.c.subject_index == d.subject_index, subjects.c.valid_to_block.is_(None)
            )
        ).first()
        record = _disputed_record(conn, settings, catalog, bytes(d.anchor_root), bytes(d.leaf))
        out.append(
            {
                "dispute_id": int(d.dispute_id),
                "kind": DisputeKind(d.kind).name.lower(),
                "status": DisputeStatus(d.status).name.lower(),
                "outcome": DisputeOutcome(d.outcome).name.lower(),
                "opened": iso_date(block_time(int(d.opened_block))),
                "subject_id": None if subject is None else _hex(subject.subject_id),
                # The text only if it is the one whose hash the enterprise signed.
                "reason": reason[1] if reason and reason[0] == bytes(d.reason_hash) else None,
                "reason_hash": _hex(d.reason_hash),
                **record,
            }
        )
    return out


def _disputed_record(
    conn: Connection, settings: Settings, catalog: Catalog, root: bytes, leaf: bytes
) -> Row:
    """The record behind a dispute's (root, leaf): its uid, category and provider's key."""
    from ledger_api.anchoring.merkle import record_leaf
    from ledger_api.store.records import read_record

    unknown: Row = {"record_uid": None, "category": None, "record_key": None, "provider": None}
    batch = conn.execute(select(BATCHES.c.batch_id).where(BATCHES.c.root == root)).first()
    if batch is None:
        return unknown
    rows = conn.execute(
        select(
            RECORDS.c.record_uid,
            RECORDS.c.subject_id,
            RECORDS.c.category,
            RECORDS.c.salt,
            RECORDS.c.sealed,
            RECORDS.c.provider,
        ).where(RECORDS.c.batch_id == batch.batch_id)
    ).all()
    for r in rows:
        digest = hashlib.sha256(bytes(r.sealed)).digest()
        if record_leaf(bytes(r.salt), r.record_uid, r.subject_id, r.category, digest) != leaf:
            continue
        found: Row = {
            "record_uid": _hex(r.record_uid),
            "category": catalog.category(r.category).name,
            "record_key": None,
            "provider": r.provider,
        }
        try:
            stored = read_record(conn, settings, r.record_uid, r.subject_id, catalog=catalog)
            found["record_key"] = stored.record_key
        except (CryptoError, LedgerError):  # shredded: the key is gone with the data
            found["record_key"] = "(shredded)"
        return found
    return unknown
