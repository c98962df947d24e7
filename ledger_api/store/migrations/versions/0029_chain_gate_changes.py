"""Indexer: the gate's change log (``chain_gate_changes``), a key per gate row read again, in
the order written, which each API process's gate mirror follows (``indexer.gate_mirror``).

Its own branch from 0026 (the gate's rows), so it orders with no other new revision. It starts
empty: a mirror starts empty too, and fills from the gate's rows as it reads them.

Revision ID: 0029_chain_gate_changes
Revises: 0026_chain_gate_rows
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029_chain_gate_changes"
down_revision: str | None = "0026_chain_gate_rows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chain_gate_changes",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("key", sa.String(length=66), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_chain_gate_changes")),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("chain_gate_changes")
