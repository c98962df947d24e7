"""Access log: drop the unique index on entry_hash.

Every append paid for a random insertion into that index (about 40% of the database work of an
entry, measured), and nothing looks entries up by hash. Uniqueness never needed it: each hash
covers the previous one and the entry's own id, which the primary key already keeps unique, and
``verify_access_log`` recomputes the chain.

Revision ID: 0004_access_log_entry_hash_plain
Revises: 0003_access_log
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004_access_log_entry_hash_plain"
down_revision: str | None = "0003_access_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # SQLite cannot drop a table constraint in place: batch mode rebuilds the table.
    with op.batch_alter_table("access_log") as batch:
        batch.drop_constraint("uq_access_log_entry_hash", type_="unique")


def downgrade() -> None:
    with op.batch_alter_table("access_log") as batch:
        batch.create_unique_constraint("uq_access_log_entry_hash", ["entry_hash"])
