"""The durable transaction queue: ``tx_senders`` (next nonce per key) and
``chain_transactions`` (every signed transaction and its fate).

Revision ID: 0009_chain_transactions
Revises: 0001_data_plane
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger_api.store.types import BigId, Bytes, UTCDateTime

revision: str = "0009_chain_transactions"
down_revision: str | None = "0001_data_plane"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tx_senders",
        sa.Column("sender", sa.String(42), nullable=False),
        sa.Column("next_nonce", BigId, nullable=False),
        sa.PrimaryKeyConstraint("sender", name="pk_tx_senders"),
    )
    op.create_table(
        "chain_transactions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("sender", sa.String(42), nullable=False),
        sa.Column("nonce", BigId, nullable=True),
        sa.Column("function", sa.String(64), nullable=False),
        sa.Column("to_address", sa.String(42), nullable=True),
        sa.Column("data", Bytes(), nullable=False),
        sa.Column("gas", BigId, nullable=False),
        sa.Column("gas_price", BigId, nullable=False),
        sa.Column("raw", Bytes(), nullable=False),
        sa.Column("tx_hash", Bytes(), nullable=False),
        sa.Column("replaced_hashes", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("block_number", BigId, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_chain_transactions"),
        sa.UniqueConstraint("sender", "nonce", name="uq_chain_transactions_sender_nonce"),
    )
    op.create_index("ix_chain_transactions_open", "chain_transactions", ["sender", "state"])


def downgrade() -> None:
    op.drop_index("ix_chain_transactions_open", table_name="chain_transactions")
    op.drop_table("chain_transactions")
    op.drop_table("tx_senders")
