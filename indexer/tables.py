"""The indexer's tables: raw events, blocks, checkpoint, and the state they imply.

One ledger per database: derived tables carry no chain id, the checkpoint row says which chain
and contract they mirror, and the follower refuses to mix two.

State tables are *versioned*: every change closes the current row (``valid_to_block`` = the
block of the change) and inserts the new one (``valid_from_block``, ``valid_from_log``). So

* the state at block B is the rows with ``valid_from_block <= B`` and ``valid_to_block`` NULL
  or ``> B`` (a row opened and closed in the same block never matches: it was never visible
  at a block boundary), and
* undoing everything after block A (a reorg) is the same two statements for every table:
  delete rows opened after A, reopen rows closed after A.

Append-only facts (anchors, nonce increases) carry their block and are deleted above A.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger_api.store.base import Base
from ledger_api.store.types import BigId, Bytes, UTCDateTime


class ChainEvent(Base):
    """Every decoded log of the ledger, as emitted."""

    __tablename__ = "chain_events"
    __table_args__ = (Index("ix_chain_events_block", "chain_id", "block_number", "log_index"),)

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    block_hash: Mapped[bytes] = mapped_column(Bytes, primary_key=True)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[bytes] = mapped_column(Bytes)
    tx_index: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(40), index=True)
    args: Mapped[str] = mapped_column(Text)  # JSON (indexer.decode.args_to_json)


class ChainBlock(Base):
    """Blocks the indexer has seen: every block holding an event, the recent ones (the reorg
    window below the head when they were indexed) and each checkpoint block."""

    __tablename__ = "chain_blocks"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(Bytes)
    parent_hash: Mapped[bytes] = mapped_column(Bytes)
    timestamp: Mapped[int] = mapped_column(BigInteger)  # UTC seconds
    event_count: Mapped[int] = mapped_column(Integer, default=0)


class ChainCheckpoint(Base):
    """Where the replica stands: everything up to and including ``block_number`` is indexed."""

    __tablename__ = "chain_checkpoint"

    chain_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    contract: Mapped[str] = mapped_column(String(42))
    deployment_block: Mapped[int] = mapped_column(BigInteger)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[bytes] = mapped_column(Bytes)
    block_timestamp: Mapped[int] = mapped_column(BigInteger)
    event_count: Mapped[int] = mapped_column(BigInteger)  # events indexed so far
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Versioned:
    """Validity interval of one version of an entity's state (see the module docstring)."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    valid_from_block: Mapped[int] = mapped_column(BigInteger)
    valid_from_log: Mapped[int] = mapped_column(Integer)
    valid_to_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RoleMember(Versioned, Base):
    """An account holding an AccessControl role (one row per holding period)."""

    __tablename__ = "chain_role_members"
    __table_args__ = (Index("ix_chain_role_members_account", "account", "valid_to_block"),)

    role: Mapped[bytes] = mapped_column(Bytes)
    role_name: Mapped[str] = mapped_column(String(80))  # operator, provider, regulator, admin
    account: Mapped[str] = mapped_column(String(42))


class InstitutionVersion(Versioned, Base):
    __tablename__ = "chain_institutions"
    __table_args__ = (
        Index("ix_chain_institutions_address", "address", "valid_to_block"),
        Index("ix_chain_institutions_index", "institution_index", "valid_to_block"),
    )

    address: Mapped[str] = mapped_column(String(42))
    institution_index: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[int] = mapped_column(SmallInteger)
    name: Mapped[str] = mapped_column(Text)
    suspended: Mapped[bool] = mapped_column(Boolean)
    agreement_id: Mapped[int] = mapped_column(BigInteger)
    registered_block: Mapped[int] = mapped_column(BigInteger)


class SubjectVersion(Versioned, Base):
    """A subject's binding to an address; its versions are the address history."""

    __tablename__ = "chain_subjects"
    __table_args__ = (
        Index("ix_chain_subjects_index", "subject_index", "valid_to_block"),
        Index("ix_chain_subjects_id", "subject_id", "valid_to_block"),
        Index("ix_chain_subjects_account", "account", "valid_to_block"),
    )

    subject_index: Mapped[int] = mapped_column(BigInteger)
    subject_id: Mapped[bytes] = mapped_column(Bytes)
    account: Mapped[str] = mapped_column(String(42))


class GrantVersion(Versioned, Base):
    """A grant's terms (decoded from GrantIssued.terms) and whether it is revoked.

    A revoked version keeps the terms: the contract zeroes them, but an auditor wants to see
    what was revoked.
    """

    __tablename__ = "chain_grants"
    __table_args__ = (
        Index("ix_chain_grants_grant", "grant_id", "valid_to_block"),
        Index("ix_chain_grants_subject", "subject_index", "valid_to_block"),
        Index("ix_chain_grants_institution", "institution", "valid_to_block"),
    )

    grant_id: Mapped[int] = mapped_column(BigInteger)
    subject_index: Mapped[int] = mapped_column(BigInteger)
    institution_index: Mapped[int] = mapped_column(BigInteger)
    institution: Mapped[str] = mapped_column(String(42))
    categories: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[int] = mapped_column(SmallInteger)
    level: Mapped[int] = mapped_column(SmallInteger)
    not_before: Mapped[int] = mapped_column(BigInteger)
    not_after: Mapped[int] = mapped_column(BigInteger)
    max_uses: Mapped[int] = mapped_column(BigInteger)
    revoked: Mapped[bool] = mapped_column(Boolean)
    issued_block: Mapped[int] = mapped_column(BigInteger)
    issued_tx: Mapped[bytes] = mapped_column(Bytes)


class AgreementVersion(Versioned, Base):
    __tablename__ = "chain_agreements"
    __table_args__ = (
        Index("ix_chain_agreements_agreement", "agreement_id", "valid_to_block"),
        Index("ix_chain_agreements_institution", "institution", "valid_to_block"),
    )

    agreement_id: Mapped[int] = mapped_column(BigInteger)
    institution: Mapped[str] = mapped_column(String(42))
    categories: Mapped[int] = mapped_column(BigInteger)
    purposes: Mapped[int] = mapped_column(Integer)
    not_before: Mapped[int] = mapped_column(BigInteger)
    not_after: Mapped[int] = mapped_column(BigInteger)
    document_hash: Mapped[bytes] = mapped_column(Bytes)
    status: Mapped[int] = mapped_column(SmallInteger)  # ledger_api.chain.types.AgreementStatus
    proposed_block: Mapped[int] = mapped_column(BigInteger)


class DisputeVersion(Versioned, Base):
    __tablename__ = "chain_disputes"
    __table_args__ = (
        Index("ix_chain_disputes_dispute", "dispute_id", "valid_to_block"),
        Index("ix_chain_disputes_subject", "subject_index", "valid_to_block"),
    )

    dispute_id: Mapped[int] = mapped_column(BigInteger)
    subject_index: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[int] = mapped_column(SmallInteger)
    anchor_root: Mapped[bytes] = mapped_column(Bytes)
    leaf: Mapped[bytes] = mapped_column(Bytes)
    reason_hash: Mapped[bytes] = mapped_column(Bytes)
    status: Mapped[int] = mapped_column(SmallInteger)
    outcome: Mapped[int] = mapped_column(SmallInteger)
    resolution_hash: Mapped[bytes | None] = mapped_column(Bytes, nullable=True)
    opened_block: Mapped[int] = mapped_column(BigInteger)


class ReceivableVersion(Versioned, Base):
    """A supply-chain receivable (Receivables contract): its debtor, supplier and amount, and how
    much of it the debtor has settled. Amounts are minor units (fen)."""

    __tablename__ = "chain_receivables"
    __table_args__ = (
        Index("ix_chain_receivables_receivable", "receivable_id", "valid_to_block"),
        Index("ix_chain_receivables_debtor", "debtor", "valid_to_block"),
        Index("ix_chain_receivables_supplier", "supplier", "valid_to_block"),
    )

    receivable_id: Mapped[int] = mapped_column(BigInteger)
    debtor: Mapped[str] = mapped_column(String(42))
    supplier: Mapped[str] = mapped_column(String(42))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    due_date: Mapped[int] = mapped_column(BigInteger)  # UTC seconds
    status: Mapped[int] = mapped_column(
        SmallInteger
    )  # ledger_api.chain.receivables.ReceivableStatus
    paid_total: Mapped[int] = mapped_column(BigInteger)
    invoice_hash: Mapped[bytes] = mapped_column(Bytes)
    contract_hash: Mapped[bytes] = mapped_column(Bytes)
    receivable_key: Mapped[bytes] = mapped_column(Bytes)
    registered_block: Mapped[int] = mapped_column(BigInteger)
    confirmed_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    defaulted: Mapped[bool] = mapped_column(Boolean)


class ReceivablePartVersion(Versioned, Base):
    """A part of a confirmed receivable: who holds it, its outstanding value, who finances it."""

    __tablename__ = "chain_receivable_parts"
    __table_args__ = (
        Index("ix_chain_receivable_parts_part", "part_id", "valid_to_block"),
        Index("ix_chain_receivable_parts_receivable", "receivable_id", "valid_to_block"),
        Index("ix_chain_receivable_parts_holder", "holder", "valid_to_block"),
        Index("ix_chain_receivable_parts_financier", "financier", "valid_to_block"),
    )

    part_id: Mapped[int] = mapped_column(BigInteger)
    receivable_id: Mapped[int] = mapped_column(BigInteger)
    holder: Mapped[str] = mapped_column(String(42))
    value: Mapped[int] = mapped_column(BigInteger)
    financier: Mapped[str | None] = mapped_column(String(42), nullable=True)
    registry_hash: Mapped[bytes | None] = mapped_column(Bytes, nullable=True)
    parent_part_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    defaulted: Mapped[bool] = mapped_column(Boolean)


class GateGrant(Base):
    """A grant as the gate decides on it now: its live version and its subject's live binding,
    one row per grant (``indexer.gate_rows`` keeps it in step with the versions)."""

    __tablename__ = "chain_gate_grants"

    grant_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    subject_index: Mapped[int] = mapped_column(BigInteger, index=True)
    institution_index: Mapped[int] = mapped_column(BigInteger)
    categories: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[int] = mapped_column(SmallInteger)
    level: Mapped[int] = mapped_column(SmallInteger)
    not_before: Mapped[int] = mapped_column(BigInteger)
    not_after: Mapped[int] = mapped_column(BigInteger)
    max_uses: Mapped[int] = mapped_column(BigInteger)
    revoked: Mapped[bool] = mapped_column(Boolean)
    subject_id: Mapped[bytes | None] = mapped_column(Bytes, nullable=True)
    account: Mapped[str | None] = mapped_column(String(42), nullable=True)


class GateInstitution(Base):
    """An institution as the gate decides on it now: its live version and the live version of
    its current agreement (NULLs without one), one row per institution."""

    __tablename__ = "chain_gate_institutions"

    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    institution_index: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[int] = mapped_column(SmallInteger)
    name: Mapped[str] = mapped_column(Text)
    suspended: Mapped[bool] = mapped_column(Boolean)
    agreement_id: Mapped[int] = mapped_column(BigInteger, index=True)
    agreement_status: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    agreement_categories: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    agreement_purposes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    agreement_not_before: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    agreement_not_after: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class GateChange(Base):
    """A key whose gate row was read again (``indexer.gate_rows``), in the order written: what
    each API process's gate mirror (``indexer.gate_mirror``) follows to drop what it holds of
    it. ``kind`` 0 means every row changed (a rebuild, or more keys than worth listing)."""

    __tablename__ = "chain_gate_changes"
    # Never reuse a number (SQLite would after a delete): a mirror reads what follows its own.
    __table_args__ = ({"sqlite_autoincrement": True},)

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[int] = mapped_column(SmallInteger)
    key: Mapped[str] = mapped_column(String(66))


class AnchorRow(Base):
    """An anchored Merkle root (append-only on chain, so no versions)."""

    __tablename__ = "chain_anchors"

    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(Bytes, unique=True)
    kind: Mapped[int] = mapped_column(SmallInteger, index=True)
    submitter: Mapped[str] = mapped_column(String(42))
    leaf_count: Mapped[int] = mapped_column(BigInteger)
    ref: Mapped[bytes] = mapped_column(Bytes, index=True)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    log_index: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[bytes] = mapped_column(Bytes)


class NonceIncrease(Base):
    """An account invalidated its outstanding signatures (EAS-style ``increaseNonce``)."""

    __tablename__ = "chain_nonce_increases"

    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    log_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    account: Mapped[str] = mapped_column(String(42), index=True)
    previous_nonce: Mapped[str] = mapped_column(String(80))  # uint256 as a decimal string
    new_nonce: Mapped[str] = mapped_column(String(80))


class LogRecheckMark(Base):
    """How far the indexer has re-checked the access log (``indexer.log_recheck``): every
    entry with ``id <= checked_through_id`` has its final verdict recorded. One row (id 1)."""

    __tablename__ = "access_log_recheck"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    checked_through_id: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LogViolation(Base):
    """An access-log entry the re-check found logged "allowed" without a usable grant at its
    ``checked_block`` (``indexer.violations_sql``), recorded once its verdict was final."""

    __tablename__ = "access_log_violations"

    entry_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("access_log.id"), primary_key=True, autoincrement=False
    )
    checked_block: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime)


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


# Typed Core handles for the bulk paths.
EVENTS = _table(ChainEvent)
BLOCKS = _table(ChainBlock)
CHECKPOINT = _table(ChainCheckpoint)
ROLE_MEMBERS = _table(RoleMember)
INSTITUTIONS = _table(InstitutionVersion)
SUBJECT_BINDINGS = _table(SubjectVersion)
GRANTS = _table(GrantVersion)
AGREEMENTS = _table(AgreementVersion)
DISPUTES = _table(DisputeVersion)
ANCHORS = _table(AnchorRow)
NONCE_INCREASES = _table(NonceIncrease)
RECEIVABLES = _table(ReceivableVersion)
RECEIVABLE_PARTS = _table(ReceivablePartVersion)
GATE_GRANTS = _table(GateGrant)
GATE_INSTITUTIONS = _table(GateInstitution)
GATE_CHANGES = _table(GateChange)
RECHECK_MARK = _table(LogRecheckMark)
LOG_VIOLATIONS = _table(LogViolation)

VERSIONED_TABLES: tuple[Table, ...] = (
    ROLE_MEMBERS, INSTITUTIONS, SUBJECT_BINDINGS, GRANTS, AGREEMENTS, DISPUTES, RECEIVABLES,
    RECEIVABLE_PARTS,
)  # fmt: skip
APPEND_ONLY_TABLES: tuple[Table, ...] = (ANCHORS, NONCE_INCREASES)
# Derived from the live versions (``indexer.gate_rows``): rebuilt, not versioned.
GATE_TABLES: tuple[Table, ...] = (GATE_GRANTS, GATE_INSTITUTIONS)
STATE_TABLES = VERSIONED_TABLES + APPEND_ONLY_TABLES + GATE_TABLES
ALL_TABLES = (EVENTS, BLOCKS, CHECKPOINT, *STATE_TABLES)
