"""The scale loaders' index builds on two sessions (``scripts/benchmarks/scale_indexes.py``)
end with the catalog the statements they were given would have made: the same indexes and
the same constraints, a key's index under the key's name."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from nodes import PG_URL, postgres_schema
from sqlalchemy import Engine, text

from ledger_api.store.db import make_engine, migrate

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from benchmarks import scale_indexes, scale_records


def test_keys_become_unique_indexes_built_in_the_pool_then_constraints_using_them() -> None:
    work = scale_indexes.plan([
        'ALTER TABLE access_log_violations ADD CONSTRAINT "fk_v" FOREIGN KEY (entry_id) '
        "REFERENCES access_log(id)",
        'ALTER TABLE chain_grants ADD CONSTRAINT "pk_chain_grants" PRIMARY KEY (id)',
        "CREATE INDEX ix_g ON s.chain_grants USING btree (grant_id)",
        "ALTER TABLE records ADD CONSTRAINT uq_r UNIQUE (category, subject_id, record_uid)",
    ])  # fmt: skip
    assert work.pooled == [
        ("chain_grants", 'CREATE UNIQUE INDEX "pk_chain_grants" ON chain_grants (id)'),
        ("s.chain_grants", "CREATE INDEX ix_g ON s.chain_grants USING btree (grant_id)"),
        ("records", 'CREATE UNIQUE INDEX "uq_r" ON records (category, subject_id, record_uid)'),
    ]  # fmt: skip
    assert work.after == [
        'ALTER TABLE chain_grants ADD CONSTRAINT "pk_chain_grants" PRIMARY KEY'
        ' USING INDEX "pk_chain_grants"',
        'ALTER TABLE records ADD CONSTRAINT "uq_r" UNIQUE USING INDEX "uq_r"',
        'ALTER TABLE access_log_violations ADD CONSTRAINT "fk_v" FOREIGN KEY (entry_id) '
        "REFERENCES access_log(id)",
    ]  # fmt: skip


def test_the_table_a_statement_builds_on_is_named_without_its_schema() -> None:
    assert scale_indexes.table_of("CREATE INDEX ix ON s.chain_gate_grants USING btree (a)") == (
        "chain_gate_grants"
    )
    assert scale_indexes.table_of(
        'ALTER TABLE access_log ADD CONSTRAINT "pk" PRIMARY KEY (id)'
    ) == ("access_log")
    assert scale_indexes.table_of("ANALYZE access_log") is None


@pytest.fixture
def migrated() -> Iterator[Engine]:
    with postgres_schema("ccl_si") as schema:
        engine = make_engine(PG_URL, schema=schema)
        migrate(engine)
        yield engine
        engine.dispose()


def _catalog(engine: Engine) -> list[tuple[str, ...]]:
    with engine.connect() as conn:
        indexes = conn.execute(text(
            "SELECT 'index', indexname, replace(indexdef, current_schema() || '.', '')"
            " FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'records'"
        )).all()  # fmt: skip
        constraints = conn.execute(text(
            "SELECT 'constraint', conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = CAST('records' AS regclass)"
        )).all()  # fmt: skip
    return sorted(tuple(row) for row in [*indexes, *constraints])


@pytest.mark.postgres
def test_the_records_constraints_rebuilt_on_two_sessions_equal_the_migrations(
    migrated: Engine,
) -> None:
    before = _catalog(migrated)
    assert any(kind == "constraint" and "UNIQUE" in d for kind, _, d in before)
    with migrated.begin() as conn:
        dropped = scale_records._drop_constraints(conn)
    assert dropped and _catalog(migrated) != before
    scale_indexes.rebuild(
        migrated, [f"ALTER TABLE records ADD CONSTRAINT {n} {d}" for n, d in dropped]
    )
    assert _catalog(migrated) == before
