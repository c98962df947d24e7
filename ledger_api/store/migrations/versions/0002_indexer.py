"""Indexer: raw events, blocks, checkpoint and the versioned replica of ledger state.

Revision ID: 0002_indexer
Revises: 0001_data_plane
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger_api.store.types import BigId, Bytes, UTCDateTime

revision: str = "0002_indexer"
down_revision: str | None = "0001_data_plane"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "chain_agreements",
    "chain_anchors",
    "chain_blocks",
    "chain_checkpoint",
    "chain_disputes",
    "chain_events",
    "chain_grants",
    "chain_institutions",
    "chain_nonce_increases",
    "chain_role_members",
    "chain_subjects",
)


def upgrade() -> None:
    op.create_table(
        "chain_agreements",
        sa.Column("agreement_id", sa.BigInteger(), nullable=False),
        sa.Column("institution", sa.String(length=42), nullable=False),
        sa.Column("categories", sa.BigInteger(), nullable=False),
        sa.Column("purposes", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.BigInteger(), nullable=False),
        sa.Column("not_after", sa.BigInteger(), nullable=False),
        sa.Column("document_hash", Bytes(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("proposed_block", sa.BigInteger(), nullable=False),
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("valid_from_block", sa.BigInteger(), nullable=False),
        sa.Column("valid_from_log", sa.Integer(), nullable=False),
        sa.Column("valid_to_block", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_chain_agreements"),
    )
    op.create_index(
        "ix_chain_agreements_agreement",
        "chain_agreements",
        ["agreement_id", "valid_to_block"],
        unique=False,
    )
    op.create_index(
        "ix_chain_agreements_institution",
        "chain_agreements",
        ["institution", "valid_to_block"],
        unique=False,
    )
    op.create_table(
        "chain_anchors",
        sa.Column("sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", Bytes(), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("submitter", sa.String(length=42), nullable=False),
        sa.Column("leaf_count", sa.BigInteger(), nullable=False),
        sa.Column("ref", Bytes(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("tx_hash", Bytes(), nullable=False),
        sa.PrimaryKeyConstraint("sequence", name="pk_chain_anchors"),
        sa.UniqueConstraint("root", name="uq_chain_anchors_root"),
    )
    op.create_index(
        "ix_chain_anchors_block_number", "chain_anchors", ["block_number"], unique=False
    )
    op.create_index("ix_chain_anchors_kind", "chain_anchors", ["kind"], unique=False)
    op.create_index("ix_chain_anchors_ref", "chain_anchors", ["ref"], unique=False)
    op.create_table(
        "chain_blocks",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", Bytes(), nullable=False),
        sa.Column("parent_hash", Bytes(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "number", name="pk_chain_blocks"),
    )
    op.create_table(
        "chain_checkpoint",
        sa.Column("chain_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("deployment_block", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", Bytes(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("event_count", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", name="pk_chain_checkpoint"),
    )
    op.create_table(
        "chain_disputes",
        sa.Column("dispute_id", sa.BigInteger(), nullable=False),
        sa.Column("subject_index", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("anchor_root", Bytes(), nullable=False),
        sa.Column("leaf", Bytes(), nullable=False),
        sa.Column("reason_hash", Bytes(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("outcome", sa.SmallInteger(), nullable=False),
        sa.Column("resolution_hash", Bytes(), nullable=True),
        sa.Column("opened_block", sa.BigInteger(), nullable=False),
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("valid_from_block", sa.BigInteger(), nullable=False),
        sa.Column("valid_from_log", sa.Integer(), nullable=False),
        sa.Column("valid_to_block", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_chain_disputes"),
    )
    op.create_index(
        "ix_chain_disputes_dispute",
        "chain_disputes",
        ["dispute_id", "valid_to_block"],
        unique=False,
    )
    op.create_index(
        "ix_chain_disputes_subject",
        "chain_disputes",
        ["subject_index", "valid_to_block"],
        unique=False,
    )
    op.create_table(
        "chain_events",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", Bytes(), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", Bytes(), nullable=False),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "block_hash", "log_index", name="pk_chain_events"),
    )
    op.create_index(
        "ix_chain_events_block",
        "chain_events",
        ["chain_id", "block_number", "log_index"],
        unique=False,
    )
    op.create_index("ix_chain_events_name", "chain_events", ["name"], unique=False)
    op.create_table(
        "chain_grants",
        sa.Column("grant_id", sa.BigInteger(), nullable=False),
        sa.Column("subject_index", sa.BigInteger(), nullable=False),
        sa.Column("institution_index", sa.BigInteger(), nullable=False),
        sa.Column("institution", sa.String(length=42), nullable=False),
        sa.Column("categories", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.SmallInteger(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("not_before", sa.BigInteger(), nullable=False),
        sa.Column("not_after", sa.BigInteger(), nullable=False),
        sa.Column("max_uses", sa.BigInteger(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("issued_block", sa.BigInteger(), nullable=False),
        sa.Column("issued_tx", Bytes(), nullable=False),
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("valid_from_block", sa.BigInteger(), nullable=False),
        sa.Column("valid_from_log", sa.Integer(), nullable=False),
        sa.Column("valid_to_block", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_chain_grants"),
    )
    op.create_index(
        "ix_chain_grants_grant", "chain_grants", ["grant_id", "valid_to_block"], unique=False
    )
    op.create_index(
        "ix_chain_grants_institution",
        "chain_grants",
        ["institution", "valid_to_block"],
        unique=False,
    )
    op.create_index(
        "ix_chain_grants_subject", "chain_grants", ["subject_index", "valid_to_block"], unique=False
    )
    op.create_table(
        "chain_institutions",
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("institution_index", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.Column("agreement_id", sa.BigInteger(), nullable=False),
        sa.Column("registered_block", sa.BigInteger(), nullable=False),
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("valid_from_block", sa.BigInteger(), nullable=False),
        sa.Column("valid_from_log", sa.Integer(), nullable=False),
        sa.Column("valid_to_block", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_chain_institutions"),
    )
    op.create_index(
        "ix_chain_institutions_address",
        "chain_institutions",
        ["address", "valid_to_block"],
        unique=False,
    )
    op.create_index(
        "ix_chain_institutions_index",
        "chain_institutions",
        ["institution_index", "valid_to_block"],
        unique=False,
    )
    op.create_table(
        "chain_nonce_increases",
        sa.Column("block_number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("log_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("previous_nonce", sa.String(length=80), nullable=False),
        sa.Column("new_nonce", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("block_number", "log_index", name="pk_chain_nonce_increases"),
    )
    op.create_index(
        "ix_chain_nonce_increases_account", "chain_nonce_increases", ["account"], unique=False
    )
    op.create_table(
        "chain_role_members",
        sa.Column("role", Bytes(), nullable=False),
        sa.Column("role_name", sa.String(length=80), nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("valid_from_block", sa.BigInteger(), nullable=False),
        sa.Column("valid_from_log", sa.Integer(), nullable=False),
        sa.Column("valid_to_block", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_chain_role_members"),
    )
    op.create_index(
        "ix_chain_role_members_account",
        "chain_role_members",
        ["account", "valid_to_block"],
        unique=False,
    )
    op.create_table(
        "chain_subjects",
        sa.Column("subject_index", sa.BigInteger(), nullable=False),
        sa.Column("subject_id", Bytes(), nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("valid_from_block", sa.BigInteger(), nullable=False),
        sa.Column("valid_from_log", sa.Integer(), nullable=False),
        sa.Column("valid_to_block", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_chain_subjects"),
    )
    op.create_index(
        "ix_chain_subjects_account", "chain_subjects", ["account", "valid_to_block"], unique=False
    )
    op.create_index(
        "ix_chain_subjects_id", "chain_subjects", ["subject_id", "valid_to_block"], unique=False
    )
    op.create_index(
        "ix_chain_subjects_index",
        "chain_subjects",
        ["subject_index", "valid_to_block"],
        unique=False,
    )


def downgrade() -> None:
    # Dropping a table drops its indexes.
    for table in reversed(TABLES):
        op.drop_table(table)
