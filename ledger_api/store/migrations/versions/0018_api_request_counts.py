"""API request counts per UTC day, endpoint class and status (GET /v1/audit/metrics).

Its own branch from 0001 (the table depends on no other).

Revision ID: 0018_api_request_counts
Revises: 0001_data_plane
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_api_request_counts"
down_revision: str | None = "0001_data_plane"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_request_counts",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("endpoint_class", sa.String(length=32), nullable=False),
        sa.Column("status", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("total_ms", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("day", "endpoint_class", "status", name="pk_api_request_counts"),
    )


def downgrade() -> None:
    op.drop_table("api_request_counts")
