"""Indexer: the supply-chain receivables and their parts, versioned like the ledger's state.

Its own branch from 0002 (the indexer's tables), so it orders with no other new revision.

Revision ID: 0020_chain_receivables
Revises: 0002_indexer
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger_api.store.types import BigId, Bytes

revision: str = "0020_chain_receivables"
down_revision: str | None = "0002_indexer"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _versioned() -> list[sa.Column[object]]:
    return [
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("valid_from_block", sa.BigInteger(), nullable=False),
        sa.Column("valid_from_log", sa.Integer(), nullable=False),
        sa.Column("valid_to_block", sa.BigInteger(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "chain_receivables",
        sa.Column("receivable_id", sa.BigInteger(), nullable=False),
        sa.Column("debtor", sa.String(length=42), nullable=False),
        sa.Column("supplier", sa.String(length=42), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("due_date", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("paid_total", sa.BigInteger(), nullable=False),
        sa.Column("invoice_hash", Bytes(), nullable=False),
        sa.Column("contract_hash", Bytes(), nullable=False),
        sa.Column("receivable_key", Bytes(), nullable=False),
        sa.Column("registered_block", sa.BigInteger(), nullable=False),
        sa.Column("confirmed_block", sa.BigInteger(), nullable=True),
        sa.Column("defaulted", sa.Boolean(), nullable=False),
        *_versioned(),
        sa.PrimaryKeyConstraint("id", name="pk_chain_receivables"),
    )
    for name, column in (("receivable", "receivable_id"), ("debtor", "debtor"),
                         ("supplier", "supplier")):  # fmt: skip
        op.create_index(
            f"ix_chain_receivables_{name}", "chain_receivables", [column, "valid_to_block"]
        )
    op.create_table(
        "chain_receivable_parts",
        sa.Column("part_id", sa.BigInteger(), nullable=False),
        sa.Column("receivable_id", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(length=42), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("financier", sa.String(length=42), nullable=True),
        sa.Column("registry_hash", Bytes(), nullable=True),
        sa.Column("parent_part_id", sa.BigInteger(), nullable=True),
        sa.Column("defaulted", sa.Boolean(), nullable=False),
        *_versioned(),
        sa.PrimaryKeyConstraint("id", name="pk_chain_receivable_parts"),
    )
    for name in ("part", "receivable", "holder", "financier"):
        column = f"{name}_id" if name in ("part", "receivable") else name
        op.create_index(
            f"ix_chain_receivable_parts_{name}",
            "chain_receivable_parts",
            [column, "valid_to_block"],
        )


def downgrade() -> None:
    op.drop_table("chain_receivable_parts")
    op.drop_table("chain_receivables")
