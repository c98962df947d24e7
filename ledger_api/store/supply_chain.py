"""Platform-side supply-chain data the chain does not hold.

The chain holds receivables with hashes of their invoice and contract numbers only. The
supplier's ``supply_chain`` record needs the invoice number and both enterprises' USCCs, which
the platform learns from the registration request: they are kept here sealed (AES-GCM under a
key derived from the master key) keyed by receivable id until the debtor confirms.
Refused supply-chain acts are kept with the part they named, which the access log (one route
template per operation) cannot say: the regulator's double-financing view reads them.
Risk events a part gave the monitoring outbox are kept by part (migration 0024), so each is
written once whatever the indexer replays.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import BigInteger, Index, SmallInteger, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from ledger_api.store.base import Base
from ledger_api.store.types import BigId, Bytes, UTCDateTime, utcnow


class ReceivableDocument(Base):
    """What the supplier told the platform about a receivable it registered."""

    __tablename__ = "receivable_documents"

    receivable_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    supplier: Mapped[str] = mapped_column(String(42))
    debtor: Mapped[str] = mapped_column(String(42), index=True)
    # Sealed JSON: supplier_uscc, debtor_uscc, invoice_no (never stored in the clear).
    sealed: Mapped[bytes] = mapped_column(Bytes)
    debtor_uscc_masked: Mapped[str] = mapped_column(String(18))
    record_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SupplyChainRefusal(Base):
    """A supply-chain act the contract refused: who asked, which part, why, when."""

    __tablename__ = "supply_chain_refusals"
    __table_args__ = (Index("ix_supply_chain_refusals_code", "code", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(42))  # the signer of the refused request
    act: Mapped[str] = mapped_column(String(16))  # register, confirm, split, transfer, finance, ...
    part_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    receivable_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    institution: Mapped[str | None] = mapped_column(String(42), nullable=True)
    code: Mapped[str] = mapped_column(String(48))  # the contract error, snake_case
    detail: Mapped[str] = mapped_column(String(400))


class SupplyChainAlert(Base):
    """A risk event of one kind a part gave the monitoring outbox: at most one per part and
    kind, written in the outbox event's own transaction."""

    __tablename__ = "supply_chain_alerts"

    kind: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    part_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    outbox_id: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)  # the block of the chain event
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


RECEIVABLE_DOCUMENTS = cast(Table, ReceivableDocument.__table__)
SUPPLY_CHAIN_REFUSALS = cast(Table, SupplyChainRefusal.__table__)
SUPPLY_CHAIN_ALERTS = cast(Table, SupplyChainAlert.__table__)
