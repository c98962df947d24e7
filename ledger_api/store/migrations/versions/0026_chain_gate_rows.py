"""Indexer: the gate's rows, each grant and each institution as it stands now
(``indexer.gate_rows``), filled from the live versions already replicated.

Its own branch from 0002 (the indexer's tables), so it orders with no other new revision.

Revision ID: 0026_chain_gate_rows
Revises: 0002_indexer
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledger_api.store.types import Bytes

revision: str = "0026_chain_gate_rows"
down_revision: str | None = "0002_indexer"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chain_gate_grants",
        sa.Column("grant_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("subject_index", sa.BigInteger(), nullable=False),
        sa.Column("institution_index", sa.BigInteger(), nullable=False),
        sa.Column("categories", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.SmallInteger(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("not_before", sa.BigInteger(), nullable=False),
        sa.Column("not_after", sa.BigInteger(), nullable=False),
        sa.Column("max_uses", sa.BigInteger(), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("subject_id", Bytes(), nullable=True),
        sa.Column("account", sa.String(length=42), nullable=True),
        sa.PrimaryKeyConstraint("grant_id", name=op.f("pk_chain_gate_grants")),
    )
    op.create_index(
        op.f("ix_chain_gate_grants_subject_index"), "chain_gate_grants", ["subject_index"]
    )
    op.create_table(
        "chain_gate_institutions",
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("institution_index", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.Column("agreement_id", sa.BigInteger(), nullable=False),
        sa.Column("agreement_status", sa.SmallInteger(), nullable=True),
        sa.Column("agreement_categories", sa.BigInteger(), nullable=True),
        sa.Column("agreement_purposes", sa.Integer(), nullable=True),
        sa.Column("agreement_not_before", sa.BigInteger(), nullable=True),
        sa.Column("agreement_not_after", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_chain_gate_institutions")),
    )
    op.create_index(
        op.f("ix_chain_gate_institutions_agreement_id"),
        "chain_gate_institutions",
        ["agreement_id"],
    )
    # A replica indexed before this revision: its rows now, as the indexer would write them.
    op.execute(
        "INSERT INTO chain_gate_grants (grant_id, subject_index, institution_index, categories,"
        " purpose, level, not_before, not_after, max_uses, revoked, subject_id, account)"
        " SELECT g.grant_id, g.subject_index, g.institution_index, g.categories, g.purpose,"
        " g.level, g.not_before, g.not_after, g.max_uses, g.revoked, s.subject_id, s.account"
        " FROM chain_grants g LEFT OUTER JOIN chain_subjects s"
        " ON s.subject_index = g.subject_index AND s.valid_to_block IS NULL"
        " WHERE g.valid_to_block IS NULL"
    )
    op.execute(
        "INSERT INTO chain_gate_institutions (address, institution_index, kind, name, suspended,"
        " agreement_id, agreement_status, agreement_categories, agreement_purposes,"
        " agreement_not_before, agreement_not_after)"
        " SELECT i.address, i.institution_index, i.kind, i.name, i.suspended, i.agreement_id,"
        " a.status, a.categories, a.purposes, a.not_before, a.not_after"
        " FROM chain_institutions i LEFT OUTER JOIN chain_agreements a"
        " ON a.agreement_id = i.agreement_id AND a.valid_to_block IS NULL"
        " WHERE i.valid_to_block IS NULL"
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_chain_gate_institutions_agreement_id"), table_name="chain_gate_institutions"
    )
    op.drop_table("chain_gate_institutions")
    op.drop_index(op.f("ix_chain_gate_grants_subject_index"), table_name="chain_gate_grants")
    op.drop_table("chain_gate_grants")
