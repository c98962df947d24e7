"""The access log: every request for subject data, allowed or denied, hash-chained.

Each entry's ``entry_hash`` = SHA-256 over the previous entry's hash and the entry's canonical
fields (see ``ledger_api.accesslog``), so deleting or editing any entry breaks the chain from
there on. Ranges of entries are periodically anchored on chain as a Merkle root
(``AccessLogAnchor``); a subject can then prove an entry with its inclusion proof.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ledger_api.store.base import Base
from ledger_api.store.types import BigId, Bytes, UTCDateTime


class AccessLogEntry(Base):
    __tablename__ = "access_log"
    __table_args__ = (
        Index("ix_access_log_institution_at", "actor", "at"),
        Index("ix_access_log_subject_at", "subject_id", "at"),
        Index("ix_access_log_grant_uses", "grant_id", "decision", "id"),
        Index("ix_access_log_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)  # position in the chain of entries
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(42))  # checksum address of the signed request
    actor_role: Mapped[str] = mapped_column(String(16))  # institution, subject, regulator, ...
    # report, records, verify, score, own_data; a refused operation: "POST /v1/operator/roles"
    action: Mapped[str] = mapped_column(String(96))
    subject_id: Mapped[bytes | None] = mapped_column(Bytes, nullable=True)
    category: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The categories a multi-category access (score) used, bit i = category i; NULL otherwise.
    categories: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    purpose: Mapped[int | None] = mapped_column(Integer, nullable=True)
    level: Mapped[int | None] = mapped_column(Integer, nullable=True)
    grant_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    checked_block: Mapped[int | None] = mapped_column(BigId, nullable=True)
    decision: Mapped[str] = mapped_column(String(8))  # "allowed" | "denied"
    reason: Mapped[str] = mapped_column(String(48))  # GrantCheck code, auth error code, or "ok"
    response_hash: Mapped[bytes | None] = mapped_column(Bytes, nullable=True)
    prev_hash: Mapped[bytes] = mapped_column(Bytes)
    entry_hash: Mapped[bytes] = mapped_column(Bytes)
    anchor_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)


class AccessLogAnchor(Base):
    """A contiguous range [first_entry, last_entry] of the log anchored as one Merkle root."""

    __tablename__ = "access_log_anchors"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    first_entry: Mapped[int] = mapped_column(BigId)
    last_entry: Mapped[int] = mapped_column(BigId)
    root: Mapped[bytes] = mapped_column(Bytes, unique=True)
    status: Mapped[str] = mapped_column(String(16))  # pending -> sent -> anchored
    tx_hash: Mapped[bytes | None] = mapped_column(Bytes, nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigId, nullable=True)
    sequence: Mapped[int | None] = mapped_column(BigId, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
