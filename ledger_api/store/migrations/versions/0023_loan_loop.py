"""The financing loop: loan products, applications, loans, white-list reviewers, entries and
pushes, self-reported information, and the financing events anchored on chain (docs/financing.md).

Its own branch from 0001 (the tables depend on no other).

Revision ID: 0023_loan_loop
Revises: 0001_data_plane
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger_api.store.types import Bytes

revision: str = "0023_loan_loop"
down_revision: str | None = "0001_data_plane"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "loan_applications",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("institution", sa.String(length=42), nullable=False),
        sa.Column("subject_id", Bytes(), nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("grant_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("industry", sa.String(length=1), nullable=False),
        sa.Column("application_hash", Bytes(), nullable=False),
        sa.Column("signature", Bytes(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decision_deadline", sa.BigInteger(), nullable=False),
        sa.Column("submitted_at", sa.BigInteger(), nullable=False),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("decline_reason", sa.String(length=48), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_applications")),
        sa.UniqueConstraint("application_hash", name=op.f("uq_loan_applications_application_hash")),
    )
    op.create_index(
        op.f("ix_loan_applications_institution"), "loan_applications", ["institution"], unique=False
    )
    op.create_index(
        op.f("ix_loan_applications_product_id"), "loan_applications", ["product_id"], unique=False
    )
    op.create_index(
        op.f("ix_loan_applications_subject_id"), "loan_applications", ["subject_id"], unique=False
    )
    op.create_table(
        "loan_products",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("institution", sa.String(length=42), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_min", sa.BigInteger(), nullable=False),
        sa.Column("amount_max", sa.BigInteger(), nullable=False),
        sa.Column("term_min_months", sa.Integer(), nullable=False),
        sa.Column("term_max_months", sa.Integer(), nullable=False),
        sa.Column("rate_min_bp", sa.Integer(), nullable=False),
        sa.Column("rate_max_bp", sa.Integer(), nullable=False),
        sa.Column("regions", sa.Text(), nullable=False),
        sa.Column("industries", sa.Text(), nullable=False),
        sa.Column("categories", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("valid_from", sa.BigInteger(), nullable=False),
        sa.Column("valid_until", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_products")),
    )
    op.create_index(
        op.f("ix_loan_products_institution"), "loan_products", ["institution"], unique=False
    )
    op.create_table(
        "loans",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("application_id", sa.BigInteger(), nullable=False),
        sa.Column("institution", sa.String(length=42), nullable=False),
        sa.Column("subject_id", Bytes(), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("industry", sa.String(length=1), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("pure_credit", sa.Boolean(), nullable=False),
        sa.Column("first_loan", sa.Boolean(), nullable=False),
        sa.Column("renewal_without_repayment", sa.Boolean(), nullable=False),
        sa.Column("granted_at", sa.BigInteger(), nullable=False),
        sa.Column("terms_sealed", Bytes(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loans")),
        sa.UniqueConstraint("application_id", name=op.f("uq_loans_application_id")),
    )
    op.create_index(op.f("ix_loans_institution"), "loans", ["institution"], unique=False)
    op.create_index(op.f("ix_loans_subject_id"), "loans", ["subject_id"], unique=False)
    op.create_table(
        "loop_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ref_id", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=42), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("leaf", Bytes(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("anchor_sequence", sa.BigInteger(), nullable=True),
        sa.Column("tx_hash", Bytes(), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loop_events")),
        sa.UniqueConstraint("leaf", name=op.f("uq_loop_events_leaf")),
    )
    op.create_index("ix_loop_events_kind_ref", "loop_events", ["kind", "ref_id"], unique=False)
    op.create_table(
        "self_reports",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject_id", Bytes(), nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("record_key", sa.String(length=128), nullable=False),
        sa.Column("topic", sa.String(length=16), nullable=False),
        sa.Column("entry_hash", Bytes(), nullable=False),
        sa.Column("commitment", sa.Text(), nullable=False),
        sa.Column("signature", Bytes(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("submitted_at", sa.BigInteger(), nullable=False),
        sa.Column("withdrawn_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_self_reports")),
        sa.UniqueConstraint("record_key", name=op.f("uq_self_reports_record_key")),
    )
    op.create_index(
        op.f("ix_self_reports_subject_id"), "self_reports", ["subject_id"], unique=False
    )
    op.create_table(
        "whitelist_entries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject_id", Bytes(), nullable=False),
        sa.Column("account", sa.String(length=42), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("industry", sa.String(length=1), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("criteria", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(length=48), nullable=True),
        sa.Column("repairable", sa.Boolean(), nullable=True),
        sa.Column("reviewer", sa.String(length=42), nullable=True),
        sa.Column("submitted_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whitelist_entries")),
    )
    op.create_index(
        op.f("ix_whitelist_entries_region"), "whitelist_entries", ["region"], unique=False
    )
    op.create_index(
        op.f("ix_whitelist_entries_subject_id"), "whitelist_entries", ["subject_id"], unique=False
    )
    op.create_table(
        "whitelist_pushes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("institution", sa.String(length=42), nullable=False),
        sa.Column("grant_id", sa.BigInteger(), nullable=False),
        sa.Column("pushed_at", sa.BigInteger(), nullable=False),
        sa.Column("due_at", sa.BigInteger(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whitelist_pushes")),
    )
    op.create_index(
        op.f("ix_whitelist_pushes_entry_id"), "whitelist_pushes", ["entry_id"], unique=False
    )
    op.create_index(
        op.f("ix_whitelist_pushes_institution"), "whitelist_pushes", ["institution"], unique=False
    )
    op.create_table(
        "whitelist_reviewers",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=False),
        sa.Column("designated_by", sa.String(length=42), nullable=False),
        sa.Column("designated_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whitelist_reviewers")),
    )
    op.create_index(
        op.f("ix_whitelist_reviewers_address"), "whitelist_reviewers", ["address"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_whitelist_reviewers_address"), table_name="whitelist_reviewers")
    op.drop_table("whitelist_reviewers")
    op.drop_index(op.f("ix_whitelist_pushes_institution"), table_name="whitelist_pushes")
    op.drop_index(op.f("ix_whitelist_pushes_entry_id"), table_name="whitelist_pushes")
    op.drop_table("whitelist_pushes")
    op.drop_index(op.f("ix_whitelist_entries_subject_id"), table_name="whitelist_entries")
    op.drop_index(op.f("ix_whitelist_entries_region"), table_name="whitelist_entries")
    op.drop_table("whitelist_entries")
    op.drop_index(op.f("ix_self_reports_subject_id"), table_name="self_reports")
    op.drop_table("self_reports")
    op.drop_index("ix_loop_events_kind_ref", table_name="loop_events")
    op.drop_table("loop_events")
    op.drop_index(op.f("ix_loans_subject_id"), table_name="loans")
    op.drop_index(op.f("ix_loans_institution"), table_name="loans")
    op.drop_table("loans")
    op.drop_index(op.f("ix_loan_products_institution"), table_name="loan_products")
    op.drop_table("loan_products")
    op.drop_index(op.f("ix_loan_applications_subject_id"), table_name="loan_applications")
    op.drop_index(op.f("ix_loan_applications_product_id"), table_name="loan_applications")
    op.drop_index(op.f("ix_loan_applications_institution"), table_name="loan_applications")
    op.drop_table("loan_applications")
