"""The financing loop's tables: loan products, applications, loans, white-list entries and
reviewers, and the one journal of financing events anchored on chain.

Amounts are whole yuan, rates basis points, terms months, times UTC seconds (they are compared
with the chain's and the clock's seconds everywhere in this package).
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from ledger_api.store.base import Base
from ledger_api.store.types import BigId, Bytes


class LoanProduct(Base):
    __tablename__ = "loan_products"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    institution: Mapped[str] = mapped_column(String(42), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # pure_credit|guarantee|pledge|supply_chain
    amount_min: Mapped[int] = mapped_column(BigInteger)
    amount_max: Mapped[int] = mapped_column(BigInteger)
    term_min_months: Mapped[int] = mapped_column(Integer)
    term_max_months: Mapped[int] = mapped_column(Integer)
    rate_min_bp: Mapped[int] = mapped_column(Integer)
    rate_max_bp: Mapped[int] = mapped_column(Integer)
    regions: Mapped[str] = mapped_column(Text)  # JSON list of division codes
    industries: Mapped[str] = mapped_column(Text)  # JSON list of GB/T 4754 sections
    categories: Mapped[int] = mapped_column(BigInteger)  # catalog bit mask the bank reads
    purpose: Mapped[str] = mapped_column(String(32))
    valid_from: Mapped[int] = mapped_column(BigInteger)
    valid_until: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[int] = mapped_column(BigInteger)


class LoanApplication(Base):
    __tablename__ = "loan_applications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(BigInteger, index=True)
    institution: Mapped[str] = mapped_column(String(42), index=True)
    subject_id: Mapped[bytes] = mapped_column(Bytes, index=True)
    account: Mapped[str] = mapped_column(String(42))
    grant_id: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    term_months: Mapped[int] = mapped_column(Integer)
    region: Mapped[str] = mapped_column(String(6))
    industry: Mapped[str] = mapped_column(String(1))
    application_hash: Mapped[bytes] = mapped_column(Bytes, unique=True)
    signature: Mapped[bytes] = mapped_column(Bytes)
    status: Mapped[str] = mapped_column(String(16))  # submitted|approved|declined|withdrawn
    decision_deadline: Mapped[int] = mapped_column(BigInteger)
    submitted_at: Mapped[int] = mapped_column(BigInteger)
    decided_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    decline_reason: Mapped[str | None] = mapped_column(String(48), nullable=True)


class Loan(Base):
    """An approved loan: its terms sealed under the enterprise's data key; the plain columns
    are the few the regulator's aggregates need (no rate, no names)."""

    __tablename__ = "loans"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    application_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    institution: Mapped[str] = mapped_column(String(42), index=True)
    subject_id: Mapped[bytes] = mapped_column(Bytes, index=True)
    region: Mapped[str] = mapped_column(String(6))
    industry: Mapped[str] = mapped_column(String(1))
    amount: Mapped[int] = mapped_column(BigInteger)
    pure_credit: Mapped[bool] = mapped_column(Boolean)
    first_loan: Mapped[bool] = mapped_column(Boolean)
    renewal_without_repayment: Mapped[bool] = mapped_column(Boolean)
    granted_at: Mapped[int] = mapped_column(BigInteger)
    terms_sealed: Mapped[bytes] = mapped_column(Bytes)  # AES-GCM, record envelope
    status: Mapped[str] = mapped_column(String(16))  # active|repaid|defaulted
    outcome_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class FinancingEvent(Base):
    """One state change of the loop (a loan recorded, an outcome, a white-list step), its
    canonical record's hash anchored on chain as a one-leaf tree through the anchor journal."""

    __tablename__ = "loop_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    ref_id: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(42))
    record: Mapped[str] = mapped_column(Text)  # canonical JSON (no personal data)
    leaf: Mapped[bytes] = mapped_column(Bytes, unique=True)
    at: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))  # pending -> sent -> anchored
    anchor_sequence: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    tx_hash: Mapped[bytes | None] = mapped_column(Bytes, nullable=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (Index("ix_loop_events_kind_ref", "kind", "ref_id"),)


class WhitelistReviewer(Base):
    """A reviewer designated for one region code, by a regulator's signed request."""

    __tablename__ = "whitelist_reviewers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(String(42), index=True)
    region: Mapped[str] = mapped_column(String(6))
    designated_by: Mapped[str] = mapped_column(String(42))
    designated_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class WhitelistEntry(Base):
    __tablename__ = "whitelist_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_id: Mapped[bytes] = mapped_column(Bytes, index=True)
    account: Mapped[str] = mapped_column(String(42))
    region: Mapped[str] = mapped_column(String(6), index=True)
    industry: Mapped[str] = mapped_column(String(1))
    state: Mapped[str] = mapped_column(String(16))
    criteria: Mapped[str] = mapped_column(Text)  # JSON: criterion -> evidence hash (0x-hex)
    # JSON: criterion -> the reviewer's finding {evidence, met, reviewer, at} (migration 0025)
    findings: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason: Mapped[str | None] = mapped_column(String(48), nullable=True)
    repairable: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    reviewer: Mapped[str | None] = mapped_column(String(42), nullable=True)
    submitted_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)


class WhitelistPush(Base):
    """A recommended entry pushed to one bank, and that bank's decision (due in 30 days)."""

    __tablename__ = "whitelist_pushes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(BigInteger, index=True)
    institution: Mapped[str] = mapped_column(String(42), index=True)
    grant_id: Mapped[int] = mapped_column(BigInteger)
    pushed_at: Mapped[int] = mapped_column(BigInteger)
    due_at: Mapped[int] = mapped_column(BigInteger)
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)  # approved|declined
    decided_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


PRODUCTS = cast(Table, LoanProduct.__table__)
APPLICATIONS = cast(Table, LoanApplication.__table__)
LOANS = cast(Table, Loan.__table__)
EVENTS = cast(Table, FinancingEvent.__table__)
REVIEWERS = cast(Table, WhitelistReviewer.__table__)
WHITELIST = cast(Table, WhitelistEntry.__table__)
PUSHES = cast(Table, WhitelistPush.__table__)


class SelfReport(Base):
    """Information an enterprise volunteered (自愿填报), with its signed credit commitment
    (信用承诺); the entry itself is stored and anchored as a self_reported record."""

    __tablename__ = "self_reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_id: Mapped[bytes] = mapped_column(Bytes, index=True)
    account: Mapped[str] = mapped_column(String(42))
    record_key: Mapped[str] = mapped_column(String(128), unique=True)
    topic: Mapped[str] = mapped_column(String(16))
    entry_hash: Mapped[bytes] = mapped_column(Bytes)
    commitment: Mapped[str] = mapped_column(Text)
    signature: Mapped[bytes] = mapped_column(Bytes)
    status: Mapped[str] = mapped_column(String(16))  # active | withdrawn
    submitted_at: Mapped[int] = mapped_column(BigInteger)
    withdrawn_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


SELF_REPORTS = cast(Table, SelfReport.__table__)
