"""Indexes the audit views and housekeeping need at a province's size.

* ``ix_access_log_at``: a day's entries (violations, refusals, volumes, incremental
  verification) are read by time without scanning the log;
* ``ix_access_log_grant_uses`` (grant, decision, id) replaces ``ix_access_log_grant``: the
  violations statement counts a capped grant's earlier allowed uses (``id <`` the entry's)
  from the index alone, and the gate's use count keeps its prefix.

Branches from 0001 like the other packages' migrations; it needs the access log (0003)
first. (Only that: a dependency on a head such as 0002 would hide that head from the
recorded versions, and ``ccl db status`` would call the schema behind.)

Revision ID: 0019_audit_scale_indexes
Revises: 0001_data_plane
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0019_audit_scale_indexes"
down_revision: str | None = "0001_data_plane"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "0003_access_log"


def upgrade() -> None:
    op.create_index("ix_access_log_at", "access_log", ["at"])
    op.create_index("ix_access_log_grant_uses", "access_log", ["grant_id", "decision", "id"])
    op.drop_index("ix_access_log_grant", table_name="access_log")


def downgrade() -> None:
    op.create_index("ix_access_log_grant", "access_log", ["grant_id", "decision"])
    op.drop_index("ix_access_log_grant_uses", table_name="access_log")
    op.drop_index("ix_access_log_at", table_name="access_log")
