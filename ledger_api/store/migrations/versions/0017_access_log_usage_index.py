"""Access-log usage index: the dashboard's and the statistics view's counts per institution,
action and decision read this index alone (an index-only scan) instead of every row.

Its own branch from 0001, after the access log's last change of these columns (0010).

Revision ID: 0017_access_log_usage_index
Revises: 0001_data_plane
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0017_access_log_usage_index"
down_revision: str | None = "0001_data_plane"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "0010_access_log_operation"

COLUMNS = ["actor_role", "actor", "action", "decision", "at"]


def upgrade() -> None:
    op.create_index("ix_access_log_usage", "access_log", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_access_log_usage", table_name="access_log")
