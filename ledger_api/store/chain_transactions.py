"""The durable transaction queue: every transaction the platform signs, and each sender's
next nonce.

A row is written (with its signed bytes) before the transaction is broadcast, so a process
that dies between signing and sending, or between sending and the receipt, leaves enough for
any other process to finish the job: broadcast the same bytes again (same hash, so never a
second transaction) or record the receipt. ``ledger_api.chain.txqueue`` is the only writer.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ledger_api.store.base import Base
from ledger_api.store.types import BigId, Bytes, UTCDateTime


class TxSender(Base):
    """One signing key: the next nonce the queue hands out (the row is also its lock)."""

    __tablename__ = "tx_senders"

    sender: Mapped[str] = mapped_column(String(42), primary_key=True)
    next_nonce: Mapped[int] = mapped_column(BigId)


class ChainTransaction(Base):
    """One transaction and its fate: signed → sent → mined | failed, or rejected by the node
    before it took the nonce (then ``nonce`` is NULL and the nonce was handed out again)."""

    __tablename__ = "chain_transactions"
    __table_args__ = (
        UniqueConstraint("sender", "nonce", name="uq_chain_transactions_sender_nonce"),
        Index("ix_chain_transactions_open", "sender", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sender: Mapped[str] = mapped_column(String(42))
    nonce: Mapped[int | None] = mapped_column(BigId, nullable=True)
    function: Mapped[str] = mapped_column(String(64))  # contract function, for operators' eyes
    to_address: Mapped[str | None] = mapped_column(String(42), nullable=True)  # None: deploy
    data: Mapped[bytes] = mapped_column(Bytes)
    gas: Mapped[int] = mapped_column(BigId)
    gas_price: Mapped[int] = mapped_column(BigId)  # of the latest signed version
    raw: Mapped[bytes] = mapped_column(Bytes)  # the latest signed version, ready to broadcast
    tx_hash: Mapped[bytes] = mapped_column(Bytes)  # the latest version's hash
    replaced_hashes: Mapped[str] = mapped_column(Text, default="")  # earlier versions, hex, ","
    state: Mapped[str] = mapped_column(String(16))
    block_number: Mapped[int | None] = mapped_column(BigId, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
