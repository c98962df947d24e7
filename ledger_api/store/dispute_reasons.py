"""Dispute reasons: the text an enterprise gave for an objection or a credit-repair request.

Only the reason's hash is signed and goes on chain (the text may name people and amounts), so
the operator who resolves the dispute would see no reason at all. A wallet may send the text
beside its signed request; it is kept here only if it hashes to the signed reason hash.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from eth_utils import keccak
from sqlalchemy import BigInteger, Connection, Engine, Table, Text, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from ledger_api.errors import InputError
from ledger_api.store.base import Base
from ledger_api.store.types import Bytes, UTCDateTime, utcnow

MAX_REASON_CHARS = 2000


class DisputeReason(Base):
    __tablename__ = "dispute_reasons"

    dispute_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    reason_hash: Mapped[bytes] = mapped_column(Bytes)  # keccak256 of the UTF-8 text
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


DISPUTE_REASONS = cast(Table, DisputeReason.__table__)


def check_reason(reason: str, reason_hash: bytes) -> None:
    """Refuse a reason text that is not the one whose hash was signed."""
    if keccak(text=reason) != reason_hash:
        raise InputError(
            "the reason text does not hash (keccak256 of its UTF-8) to the signed reason_hash",
            code="reason_mismatch",
        )


def store_reason(engine: Engine, dispute_id: int, reason_hash: bytes, reason: str) -> None:
    """Keep the text of a dispute just opened (once per dispute)."""
    values = {"dispute_id": dispute_id, "reason_hash": reason_hash, "reason": reason}
    insert = (postgresql if engine.dialect.name == "postgresql" else sqlite).insert
    with engine.begin() as conn:
        conn.execute(insert(DISPUTE_REASONS).values(**values).on_conflict_do_nothing())


def reasons_by_dispute(conn: Connection, dispute_ids: list[int]) -> dict[int, tuple[bytes, str]]:
    """dispute id -> (reason hash, text) for those that have one."""
    if not dispute_ids:
        return {}
    rows = conn.execute(
        select(
            DISPUTE_REASONS.c.dispute_id, DISPUTE_REASONS.c.reason_hash, DISPUTE_REASONS.c.reason
        ).where(DISPUTE_REASONS.c.dispute_id.in_(dispute_ids))
    ).all()
    return {int(r.dispute_id): (bytes(r.reason_hash), str(r.reason)) for r in rows}
