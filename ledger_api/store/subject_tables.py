"""Tables the API writes besides the access log: request nonces, registrations, statements."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import BigInteger, Index, PrimaryKeyConstraint, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from ledger_api.store.base import Base
from ledger_api.store.types import BigId, Bytes, UTCDateTime, utcnow


class RequestNonce(Base):
    """A nonce seen on a signed request; the primary key is what makes nonces single-use."""

    __tablename__ = "request_nonces"
    __table_args__ = (
        PrimaryKeyConstraint("address", "nonce"),
        Index("ix_request_nonces_seen_at", "seen_at"),
    )

    address: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[str] = mapped_column(String(64))
    seen_at: Mapped[int] = mapped_column(BigInteger)  # UTC seconds, for pruning


class SubjectRegistration(Base):
    """A real-name registration request: awaiting_signature -> pending_approval -> bound."""

    __tablename__ = "subject_registrations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(42), index=True)
    subject_id: Mapped[bytes] = mapped_column(Bytes)
    uscc_masked: Mapped[str] = mapped_column(String(32))  # never the full USCC
    status: Mapped[str] = mapped_column(String(24))
    deadline: Mapped[int] = mapped_column(BigInteger)
    chain_nonce: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[bytes | None] = mapped_column(Bytes, nullable=True)
    tx_hash: Mapped[bytes | None] = mapped_column(Bytes, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SubjectStatement(Base):
    """A credit commitment (信用承诺): the signed text, anchored as a one-leaf tree."""

    __tablename__ = "subject_statements"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_id: Mapped[bytes] = mapped_column(Bytes, index=True)
    account: Mapped[str] = mapped_column(String(42))
    text: Mapped[str] = mapped_column(Text)
    signature: Mapped[bytes] = mapped_column(Bytes)
    leaf: Mapped[bytes] = mapped_column(Bytes, unique=True)
    status: Mapped[str] = mapped_column(String(16))  # pending -> sent -> anchored
    anchor_sequence: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    tx_hash: Mapped[bytes | None] = mapped_column(Bytes, nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


REQUEST_NONCES = cast(Table, RequestNonce.__table__)
REGISTRATIONS = cast(Table, SubjectRegistration.__table__)
STATEMENTS = cast(Table, SubjectStatement.__table__)
