"""API tables: access log and its anchors, request nonces, registrations, statements.

Revision ID: 0003_access_log
Revises: 0001_data_plane
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger_api.store.types import BigId, Bytes, UTCDateTime

revision: str = "0003_access_log"
down_revision: str | None = "0001_data_plane"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "access_log",
        sa.Column("id", BigId, autoincrement=False, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(42), nullable=False),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("subject_id", Bytes(), nullable=True),
        sa.Column("category", sa.Integer(), nullable=True),
        sa.Column("purpose", sa.Integer(), nullable=True),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("grant_id", BigId, nullable=True),
        sa.Column("checked_block", BigId, nullable=True),
        sa.Column("decision", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(48), nullable=False),
        sa.Column("response_hash", Bytes(), nullable=True),
        sa.Column("prev_hash", Bytes(), nullable=False),
        sa.Column("entry_hash", Bytes(), nullable=False),
        sa.Column("anchor_id", BigId, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_access_log"),
        sa.UniqueConstraint("entry_hash", name="uq_access_log_entry_hash"),
    )
    op.create_index("ix_access_log_institution_at", "access_log", ["actor", "at"])
    op.create_index("ix_access_log_subject_at", "access_log", ["subject_id", "at"])
    op.create_index("ix_access_log_grant", "access_log", ["grant_id", "decision"])
    op.create_index("ix_access_log_anchor_id", "access_log", ["anchor_id"])
    op.create_table(
        "access_log_anchors",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("first_entry", BigId, nullable=False),
        sa.Column("last_entry", BigId, nullable=False),
        sa.Column("root", Bytes(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("tx_hash", Bytes(), nullable=True),
        sa.Column("block_number", BigId, nullable=True),
        sa.Column("sequence", BigId, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_access_log_anchors"),
        sa.UniqueConstraint("root", name="uq_access_log_anchors_root"),
    )
    op.create_table(
        "request_nonces",
        sa.Column("address", sa.String(42), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("seen_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("address", "nonce", name="pk_request_nonces"),
    )
    op.create_index("ix_request_nonces_seen_at", "request_nonces", ["seen_at"])
    op.create_table(
        "subject_registrations",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("account", sa.String(42), nullable=False),
        sa.Column("subject_id", Bytes(), nullable=False),
        sa.Column("uscc_masked", sa.String(32), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("deadline", sa.BigInteger(), nullable=False),
        sa.Column("chain_nonce", sa.BigInteger(), nullable=False),
        sa.Column("signature", Bytes(), nullable=True),
        sa.Column("tx_hash", Bytes(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subject_registrations"),
    )
    op.create_index("ix_subject_registrations_account", "subject_registrations", ["account"])
    op.create_table(
        "subject_statements",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("subject_id", Bytes(), nullable=False),
        sa.Column("account", sa.String(42), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("signature", Bytes(), nullable=False),
        sa.Column("leaf", Bytes(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("anchor_sequence", sa.BigInteger(), nullable=True),
        sa.Column("tx_hash", Bytes(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subject_statements"),
        sa.UniqueConstraint("leaf", name="uq_subject_statements_leaf"),
    )
    op.create_index("ix_subject_statements_subject_id", "subject_statements", ["subject_id"])


def downgrade() -> None:
    op.drop_index("ix_subject_statements_subject_id", table_name="subject_statements")
    op.drop_table("subject_statements")
    op.drop_index("ix_subject_registrations_account", table_name="subject_registrations")
    op.drop_table("subject_registrations")
    op.drop_index("ix_request_nonces_seen_at", table_name="request_nonces")
    op.drop_table("request_nonces")
    op.drop_table("access_log_anchors")
    op.drop_index("ix_access_log_anchor_id", table_name="access_log")
    op.drop_index("ix_access_log_grant", table_name="access_log")
    op.drop_index("ix_access_log_subject_at", table_name="access_log")
    op.drop_index("ix_access_log_institution_at", table_name="access_log")
    op.drop_table("access_log")
