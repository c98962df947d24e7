"""Data plane: the subjects' master key id indexed, so the start-up check that the configured
master key wraps every data key (``ledger_api.operator.master_key``) reads two index entries
instead of scanning every subject (seconds at a province's ten million enterprises, for each
API worker that starts).

Revision ID: 0028_subjects_key_id
Revises: 0001_data_plane
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0028_subjects_key_id"
down_revision: str | None = "0001_data_plane"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_subjects_key_id", "subjects", ["key_id"])


def downgrade() -> None:
    op.drop_index("ix_subjects_key_id", table_name="subjects")
