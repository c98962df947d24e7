"""The scale benchmark's bulk loader (``scripts/benchmarks/scale_state.py``) leaves the state
the benchmark claims: the migrations' indexes exactly (it drops them for the load and builds
them again), and a log whose only violations are the entries it forged, as the Python re-check
of every entry finds them."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from nodes import PG_URL, postgres_schema
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session
from violations_oracle import python_violations

from indexer import audit_views, log_recheck
from indexer.tables import LOG_VIOLATIONS
from ledger_api.store.db import make_engine, migrate

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from benchmarks import scale_state

# One log entry per grant, as the benchmark loads it; just enough for one forged entry.
ENTERPRISES = scale_state.FORGED_EVERY // 3 + 1
SHAPE = scale_state.Shape(ENTERPRISES, 3 * ENTERPRISES, 1_700_000_000)


def _indexes(engine: Engine) -> list[tuple[str, ...]]:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # Definitions name the schema, which differs between the two databases compared.
            rows = conn.execute(text(
                "SELECT tablename, indexname, replace(indexdef, current_schema() || '.', '')"
                " FROM pg_indexes WHERE schemaname = current_schema()"
            ))  # fmt: skip
        else:
            rows = conn.execute(
                text("SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index'")
            )
        return sorted(tuple(row) for row in rows)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Engine]]:
    """A factory of migrated, empty databases of one kind."""
    with ExitStack() as stack:

        def make() -> Engine:
            if request.param == "sqlite":
                engine = make_engine(f"sqlite:///{tmp_path / f'{len(engines)}.sqlite'}")
            else:
                engine = make_engine(PG_URL, schema=stack.enter_context(postgres_schema("ccl_sc")))
            engines.append(engine)
            migrate(engine)
            return engine

        engines: list[Engine] = []
        yield make
        for engine in engines:
            engine.dispose()


def test_the_loaded_state_keeps_exactly_the_indexes_the_migrations_create(
    fresh: Callable[[], Engine],
) -> None:
    loaded, migrated = fresh(), fresh()
    took = scale_state.load(loaded, scale_state.Shape(500, 1500, SHAPE.t0))
    assert {"subjects", "grants", "access_log", "indexes"} <= set(took)
    with loaded.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM access_log")).scalar_one() == 1500
    assert _indexes(loaded) == _indexes(migrated)


def test_the_only_violations_loaded_are_the_forged_entries(fresh: Callable[[], Engine]) -> None:
    engine = fresh()
    scale_state.load(engine, SHAPE)
    # Entry FORGED_EVERY falls on the log's last day; one day keeps the Python re-check short.
    since = datetime.fromtimestamp(SHAPE.t0, UTC) + timedelta(days=scale_state.DAYS - 1)
    until = since + timedelta(days=1)
    with Session(engine) as session:
        found = audit_views.violations(session, since=since, until=until)
        oracle = python_violations(session, since=since, until=until)
    assert found == oracle
    assert [row["entry_id"] for row in found] == [scale_state.FORGED_EVERY]
    assert found[0]["violation"] == "wrong_institution"


@pytest.mark.parametrize("reorg_window", [0, 10])
def test_a_recheck_from_scratch_finds_exactly_the_verdicts_the_loader_wrote(
    fresh: Callable[[], Engine], monkeypatch: pytest.MonkeyPatch, reorg_window: int
) -> None:
    # Forged every 100 entries, so that a small log holds several; a window of 10 blocks
    # leaves the log's last entries unjudged.
    monkeypatch.setattr(scale_state, "FORGED_EVERY", 100)
    shape = scale_state.Shape(500, 1500, SHAPE.t0)
    engine = fresh()
    scale_state.load(engine, shape, reorg_window=reorg_window)
    loaded = _verdicts(engine)
    with engine.begin() as conn:
        log_recheck.forget(conn)
    while log_recheck.recheck_pass(
        engine, chain_id=scale_state.CHAIN_ID, reorg_window=reorg_window, limit=400
    ):
        pass
    assert _verdicts(engine) == loaded
    mark, found = loaded
    assert mark == (1500 if reorg_window == 0 else 1050)
    assert [entry_id for entry_id, _ in found] == list(range(100, mark + 1, 100))


def _verdicts(engine: Engine) -> tuple[int, list[tuple[int, int | None]]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(LOG_VIOLATIONS.c.entry_id, LOG_VIOLATIONS.c.checked_block).order_by(
                LOG_VIOLATIONS.c.entry_id
            )
        )
        return log_recheck.checked_through(conn), [(r.entry_id, r.checked_block) for r in rows]
