"""Access log: ``categories``, the set of categories an access drew on (bitmask).

A score reads several categories under one grant; its entry had ``category`` NULL, so the
audit could not re-check the grant and listed every score read as a violation. The new column
holds the categories actually used (bit i = catalog category i). It is NULL for every entry
written before it and for single-category accesses (``category`` says it), and the entry hash
covers it only when it is set, so existing entries keep their hashes.

Revision ID: 0008_access_log_categories
Revises: 0004_access_log_entry_hash_plain
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_access_log_categories"
down_revision: str | None = "0004_access_log_entry_hash_plain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("access_log", sa.Column("categories", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # SQLite cannot drop a column of an indexed table in place: batch mode rebuilds it.
    with op.batch_alter_table("access_log") as batch:
        batch.drop_column("categories")
