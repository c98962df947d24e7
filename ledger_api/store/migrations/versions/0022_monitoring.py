"""Monitoring and push: subscriptions, the risk-event outbox and its fan-out cursor, each
subscription's numbered events, and subjects' PUBLIC region and industry.

Its own branch from 0001 (the tables depend on no other).

Revision ID: 0022_monitoring
Revises: 0001_data_plane
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger_api.store.types import Bytes, UTCDateTime

revision: str = "0022_monitoring"
down_revision: str | None = "0001_data_plane"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "risk_outbox",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("subject_id", Bytes(), nullable=False),
        sa.Column("category", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("record_uid", Bytes(), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("region", sa.SmallInteger(), nullable=True),
        sa.Column("industry", sa.SmallInteger(), nullable=True),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_outbox")),
    )
    op.create_table(
        "risk_outbox_cursor",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_outbox_cursor")),
    )
    op.create_table(
        "subject_profiles",
        sa.Column("subject_id", Bytes(), nullable=False),
        sa.Column("region", sa.SmallInteger(), nullable=True),
        sa.Column("industry", sa.SmallInteger(), nullable=True),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_subject_profiles")),
    )
    op.create_table(
        "subscription_events",
        sa.Column("subscription_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("outbox_id", sa.BigInteger(), nullable=False),
        sa.Column("subject_id", Bytes(), nullable=False),
        sa.Column("category", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("record_uid", Bytes(), nullable=True),
        sa.Column("grant_id", sa.BigInteger(), nullable=True),
        sa.Column("occurred_at", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("delivered_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("subscription_id", "number", name=op.f("pk_subscription_events")),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("institution", sa.String(length=42), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("categories", sa.BigInteger(), nullable=False),
        sa.Column("regions", sa.Text(), nullable=False),
        sa.Column("industries", sa.Text(), nullable=False),
        sa.Column("webhook_url", sa.String(length=2048), nullable=True),
        sa.Column("secret", sa.String(length=80), nullable=True),
        sa.Column("previous_secret", sa.String(length=80), nullable=True),
        sa.Column("previous_until", sa.BigInteger(), nullable=True),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.Column("delivered_number", sa.BigInteger(), nullable=False),
        sa.Column("acked_number", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    op.create_index(
        op.f("ix_subscriptions_institution"), "subscriptions", ["institution"], unique=False
    )
    op.create_index(
        "ix_subscriptions_status_next",
        "subscriptions",
        ["status", "next_attempt_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_subscriptions_status_next", table_name="subscriptions")
    op.drop_index(op.f("ix_subscriptions_institution"), table_name="subscriptions")
    for table in (
        "subscriptions",
        "subscription_events",
        "subject_profiles",
        "risk_outbox_cursor",
        "risk_outbox",
    ):
        op.drop_table(table)
