"""Supply-chain risk events kept by part: a part's default reaches the monitoring outbox once,
whatever the indexer replays (docs/monitoring.md).

Its own branch from 0001 (the table depends on no other).

Revision ID: 0024_supply_chain_alerts
Revises: 0001_data_plane
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger_api.store.types import UTCDateTime

revision: str = "0024_supply_chain_alerts"
down_revision: str | None = "0001_data_plane"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "supply_chain_alerts",
        sa.Column("kind", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("part_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("outbox_id", sa.BigInteger(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "part_id", name="pk_supply_chain_alerts"),
    )


def downgrade() -> None:
    op.drop_table("supply_chain_alerts")
