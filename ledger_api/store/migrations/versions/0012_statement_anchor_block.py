"""Credit commitments record the block that anchored them, like every other anchored entry.

Revision ID: 0012_statement_anchor_block
Revises: 0010_access_log_operation
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_statement_anchor_block"
down_revision: str | None = "0010_access_log_operation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subject_statements") as batch:
        batch.add_column(sa.Column("block_number", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subject_statements") as batch:
        batch.drop_column("block_number")
