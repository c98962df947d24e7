"""Records: one unique (subject, category, uid) index instead of unique uid + (subject, category).

A record uid determines its subject and category (it hashes the provider, the category and the
content, which holds the USCC), so uniqueness of the triple is uniqueness of the uid, and the
triple's index also serves every read by subject. The index on the uid alone cost each insert a
random B-tree insertion: a third of the insert's CPU in the ingestion benchmark's rows.

Revision ID: 0005_records_one_subject_index
Revises: 0001_data_plane
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005_records_one_subject_index"
down_revision: str | None = "0001_data_plane"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TRIPLE = ["subject_id", "category", "record_uid"]


def upgrade() -> None:
    op.drop_index("ix_records_subject_category", table_name="records")
    # SQLite cannot drop a table constraint in place: batch mode rebuilds the table.
    with op.batch_alter_table("records") as batch:
        batch.drop_constraint("uq_records_record_uid", type_="unique")
        batch.create_unique_constraint("uq_records_subject_id_category_record_uid", _TRIPLE)


def downgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.drop_constraint("uq_records_subject_id_category_record_uid", type_="unique")
        batch.create_unique_constraint("uq_records_record_uid", ["record_uid"])
    op.create_index("ix_records_subject_category", "records", ["subject_id", "category"])
