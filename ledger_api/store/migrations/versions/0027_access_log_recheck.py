"""Indexer: the access log's re-check, kept as it goes (``indexer.log_recheck``): how far it
has got (one row) and the violations it found, so the violations view reads verdicts
instead of re-checking a whole window at question time (docs/audit.md).

Branches from 0001 like the other packages' migrations; it needs the access log (0003)
first (its verdicts reference entries), as 0019 does.

Revision ID: 0027_access_log_recheck
Revises: 0001_data_plane
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger_api.store.types import UTCDateTime

revision: str = "0027_access_log_recheck"
down_revision: str | None = "0001_data_plane"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "0003_access_log"


def upgrade() -> None:
    op.create_table(
        "access_log_recheck",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("checked_through_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log_recheck")),
    )
    op.create_table(
        "access_log_violations",
        sa.Column("entry_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("checked_block", sa.BigInteger(), nullable=True),
        sa.Column("found_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["access_log.id"],
            name=op.f("fk_access_log_violations_entry_id_access_log"),
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_access_log_violations")),
    )


def downgrade() -> None:
    op.drop_table("access_log_violations")
    op.drop_table("access_log_recheck")
