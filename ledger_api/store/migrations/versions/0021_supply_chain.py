"""Supply chain, platform side: sealed receivable documents and refused supply-chain acts.

Its own branch from 0001 (the tables depend on no other).

Revision ID: 0021_supply_chain
Revises: 0001_data_plane
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger_api.store.types import BigId, Bytes, UTCDateTime

revision: str = "0021_supply_chain"
down_revision: str | None = "0001_data_plane"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "receivable_documents",
        sa.Column("receivable_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("supplier", sa.String(length=42), nullable=False),
        sa.Column("debtor", sa.String(length=42), nullable=False),
        sa.Column("sealed", Bytes(), nullable=False),
        sa.Column("debtor_uscc_masked", sa.String(length=18), nullable=False),
        sa.Column("record_status", sa.String(length=16), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("receivable_id", name="pk_receivable_documents"),
    )
    op.create_index(
        "ix_receivable_documents_debtor", "receivable_documents", ["debtor"], unique=False
    )
    op.create_table(
        "supply_chain_refusals",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=42), nullable=False),
        sa.Column("act", sa.String(length=16), nullable=False),
        sa.Column("part_id", sa.BigInteger(), nullable=True),
        sa.Column("receivable_id", sa.BigInteger(), nullable=True),
        sa.Column("institution", sa.String(length=42), nullable=True),
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("detail", sa.String(length=400), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_supply_chain_refusals"),
    )
    op.create_index(
        "ix_supply_chain_refusals_code", "supply_chain_refusals", ["code", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_table("supply_chain_refusals")
    op.drop_table("receivable_documents")
