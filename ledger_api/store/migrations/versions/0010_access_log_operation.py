"""Access log: room for an operation in ``action`` (32 -> 96 characters).

A refused request on an endpoint that serves no subject data is logged with its operation,
method and route template (``POST /v1/subject/registrations/{registration_id}/signature``),
so the regulator sees every refusal after authentication. The gate's data actions (``records``,
``verify``, ...) are unchanged, and so is the hash chain: it covers ``action`` as text.

Revision ID: 0010_access_log_operation
Revises: 0008_access_log_categories
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_access_log_operation"
down_revision: str | None = "0008_access_log_categories"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # PostgreSQL widens a varchar in place; SQLite (which never enforced the length) needs
    # batch mode to record the new type, which rebuilds the table.
    with op.batch_alter_table("access_log") as batch:
        batch.alter_column(
            "action", existing_type=sa.String(32), type_=sa.String(96), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("access_log") as batch:
        batch.alter_column(
            "action", existing_type=sa.String(96), type_=sa.String(32), existing_nullable=False
        )
