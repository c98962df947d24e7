"""Subjects' keys: a change counter (``key_epoch``) kept by triggers.

Every update of a subject's wrapped key or master key id (crypto-shredding, master-key
rotation, or anything else that writes them) and every delete of a subject adds one to the
single ``key_epoch`` row, in the same transaction. Ingestion then trusts its cache of
unwrapped data keys while the epoch is unchanged, instead of reading every subject's row for
every batch, and checks the epoch again in the transaction that stores the records.

Triggers, not application code, so that no writer can change a key without the count.

Revision ID: 0007_key_epoch
Revises: 0006_records_category_first
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_key_epoch"
down_revision: str | None = "0006_records_category_first"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BUMP = "UPDATE key_epoch SET epoch = epoch + 1 WHERE id = 1"

_SQLITE_TRIGGERS = {
    "subjects_key_changed": "AFTER UPDATE OF wrapped_key, key_id ON subjects",
    "subjects_deleted": "AFTER DELETE ON subjects",
}

# The function names the table through the trigger's own schema, so a database with the
# ledger in a schema of its own (PostgreSQL tests, shared servers) bumps the right row.
_POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION ccl_bump_key_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('UPDATE %I.key_epoch SET epoch = epoch + 1 WHERE id = 1', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "key_epoch",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_epoch")),
    )
    op.execute("INSERT INTO key_epoch (id, epoch) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_POSTGRES_FUNCTION)
        op.execute(
            "CREATE TRIGGER subjects_key_epoch AFTER UPDATE OF wrapped_key, key_id OR DELETE "
            "ON subjects FOR EACH STATEMENT EXECUTE FUNCTION ccl_bump_key_epoch()"
        )
        return
    for name, when in _SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} BEGIN {_BUMP}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER subjects_key_epoch ON subjects")
        op.execute("DROP FUNCTION ccl_bump_key_epoch()")
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("key_epoch")
