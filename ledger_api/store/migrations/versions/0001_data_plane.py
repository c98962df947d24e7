"""Data plane: subjects, catalog versions, ingest batches, records.

Revision ID: 0001_data_plane
Revises:
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger_api.store.types import BigId, Bytes, UTCDateTime

revision: str = "0001_data_plane"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subjects",
        sa.Column("subject_id", Bytes(), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("wrapped_key", Bytes(), nullable=True),
        sa.Column("uscc_sealed", Bytes(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("shredded_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("subject_id", name="pk_subjects"),
    )
    op.create_table(
        "catalog_versions",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("catalog_hash", Bytes(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("anchor_sequence", sa.BigInteger(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("tx_hash", Bytes(), nullable=True),
        sa.PrimaryKeyConstraint("version", name="pk_catalog_versions"),
        sa.UniqueConstraint("catalog_hash", name="uq_catalog_versions_catalog_hash"),
    )
    op.create_table(
        "ingest_batches",
        sa.Column("batch_id", Bytes(), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("category", sa.SmallInteger(), nullable=False),
        sa.Column("catalog_version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("rows_accepted", sa.Integer(), nullable=False),
        sa.Column("rows_duplicate", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        sa.Column("root", Bytes(), nullable=True),
        sa.Column("leaf_count", sa.Integer(), nullable=False),
        sa.Column("manifest", Bytes(), nullable=True),
        sa.Column("tx_hash", Bytes(), nullable=True),
        sa.Column("anchor_sequence", sa.BigInteger(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("anchored_at", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name="pk_ingest_batches"),
        sa.UniqueConstraint("root", name="uq_ingest_batches_root"),
    )
    op.create_index("ix_ingest_batches_state", "ingest_batches", ["state"])
    op.create_table(
        "records",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("record_uid", Bytes(), nullable=False),
        sa.Column("batch_id", Bytes(), nullable=False),
        sa.Column("leaf_index", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("category", sa.SmallInteger(), nullable=False),
        sa.Column("subject_id", Bytes(), nullable=False),
        sa.Column("record_key_hash", Bytes(), nullable=False),
        sa.Column("content_digest", Bytes(), nullable=False),
        sa.Column("salt", Bytes(), nullable=False),
        sa.Column("sealed", Bytes(), nullable=False),
        sa.Column("proof", Bytes(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["ingest_batches.batch_id"],
            name="fk_records_batch_id_ingest_batches",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_records"),
        sa.UniqueConstraint("record_uid", name="uq_records_record_uid"),
        sa.UniqueConstraint("batch_id", "leaf_index", name="uq_records_batch_id_leaf_index"),
    )
    op.create_index("ix_records_subject_category", "records", ["subject_id", "category"])


def downgrade() -> None:
    op.drop_index("ix_records_subject_category", table_name="records")
    op.drop_table("records")
    op.drop_index("ix_ingest_batches_state", table_name="ingest_batches")
    op.drop_table("ingest_batches")
    op.drop_table("catalog_versions")
    op.drop_table("subjects")
