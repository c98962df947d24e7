"""Catalog versions get the anchor journal's state (pending -> sent -> anchored).

A version is now written before its hash is anchored, so a crash in between leaves a row that
``ccl resume`` finishes; rows written before this revision were anchored when written.

Revision ID: 0011_catalog_anchor_state
Revises: 0007_key_epoch
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_catalog_anchor_state"
down_revision: str | None = "0007_key_epoch"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("catalog_versions") as batch:
        batch.add_column(
            sa.Column("state", sa.String(16), nullable=False, server_default="anchored")
        )


def downgrade() -> None:
    with op.batch_alter_table("catalog_versions") as batch:
        batch.drop_column("state")
