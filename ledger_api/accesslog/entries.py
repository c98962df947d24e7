"""Access-log entries: what one holds, the bytes its hash covers, and the hash chain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, func, select
from sqlalchemy.orm import Session

from ledger_api.anchoring.keccak import keccak256
from ledger_api.store.access_log import AccessLogAnchor, AccessLogEntry
from ledger_api.store.compiled import CompiledQuery, PgPrepared

ACCESS_LOG = cast(Table, AccessLogEntry.__table__)
ANCHORS = cast(Table, AccessLogAnchor.__table__)
GENESIS_HASH = b"\x00" * 32
ALLOWED = "allowed"
DENIED = "denied"
USAGE_CAP_REACHED = "usage_cap_reached"
NONCE_REPLAYED = "nonce_replayed"

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


_USES = PgPrepared(
    CompiledQuery(
        select(func.count())
        .select_from(ACCESS_LOG)
        .where(ACCESS_LOG.c.grant_id == bindparam("grant_id"), ACCESS_LOG.c.decision == ALLOWED)
    )
)


def count_uses(conn: Connection, grant_id: int) -> int:
    """``used_count`` for the gate's hot path: compiled once, prepared on PostgreSQL."""
    return int(_USES.tuples(conn, {"grant_id": grant_id})[0][0])


def used_count(conn: Connection | Session, grant_id: int) -> int:
    """Allowed accesses recorded under ``grant_id``: what usage caps are compared with."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(ACCESS_LOG)
            .where(ACCESS_LOG.c.grant_id == grant_id, ACCESS_LOG.c.decision == ALLOWED)
        ).scalar_one()
    )


def entry_fields(row: Any) -> dict[str, Any]:
    """An entry's hashed fields, the time exactly as hashed and binary values as 0x-hex, with
    the previous entry's hash: all ``recompute_entry_hash`` needs (shown to the entry's
    institution and subject, so that either can check the entry without the database)."""
    return {
        "id": int(row.id),
        "at": _entry_time(row.at),
        "actor": row.actor,
        "actor_role": row.actor_role,
        "action": row.action,
        "subject_id": _hex(row.subject_id),
        "category": row.category,
        "purpose": row.purpose,
        "level": row.level,
        "grant_id": row.grant_id,
        "checked_block": row.checked_block,
        "decision": row.decision,
        "reason": row.reason,
        "response_hash": _hex(row.response_hash),
        "categories": row.categories,
        "prev_hash": _hex(row.prev_hash),
    }


def recompute_entry_hash(fields: Mapping[str, Any]) -> bytes:
    """``sha256(prev_hash || canonical entry)`` from ``entry_fields``' form of an entry."""
    canonical = _canonical(
        int(fields["id"]),
        str(fields["at"]),
        str(fields["actor"]),
        str(fields["actor_role"]),
        str(fields["action"]),
        _unhex(fields.get("subject_id")),
        fields.get("category"),
        fields.get("purpose"),
        fields.get("level"),
        fields.get("grant_id"),
        fields.get("checked_block"),
        str(fields["decision"]),
        str(fields["reason"]),
        _unhex(fields.get("response_hash")),
        fields.get("categories"),
    )
    prev_hash = _unhex(fields.get("prev_hash"))
    return chain_hash(GENESIS_HASH if prev_hash is None else prev_hash, canonical)


def _hex(value: bytes | None) -> str | None:
    return None if value is None else "0x" + bytes(value).hex()


def _unhex(value: Any) -> bytes | None:
    if value is None:
        return None
    text = str(value)
    return bytes.fromhex(text[2:] if text.startswith("0x") else text)
