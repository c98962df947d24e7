"""White list: the reviewer's finding on each of the five criteria (its evidence hash, met or
not, who and when), so that a recommendation can require all five and a regulator can read them.

Adds a column to 0023's table, so it follows 0023.

Revision ID: 0025_whitelist_findings
Revises: 0023_loan_loop
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_whitelist_findings"
down_revision: str | None = "0023_loan_loop"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("whitelist_entries", sa.Column("findings", sa.Text(), nullable=True))


def downgrade() -> None:
    # SQLite drops a column only by rebuilding the table: batch mode does.
    with op.batch_alter_table("whitelist_entries") as batch:
        batch.drop_column("findings")
