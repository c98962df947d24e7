"""Dispute reasons: the enterprise's text for a dispute, kept if it matches the signed hash.

Its own branch from 0001 (the table depends on no other), like the transaction queue's.

Revision ID: 0013_dispute_reasons
Revises: 0001_data_plane
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger_api.store.types import Bytes, UTCDateTime

revision: str = "0013_dispute_reasons"
down_revision: str | None = "0001_data_plane"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dispute_reasons",
        sa.Column("dispute_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("reason_hash", Bytes(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("dispute_id", name="pk_dispute_reasons"),
    )


def downgrade() -> None:
    op.drop_table("dispute_reasons")
