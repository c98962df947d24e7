"""Indexer fixtures: migrated databases (SQLite file; PostgreSQL schema) and indexer wiring."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nodes import PG_URL, postgres_schema

from ledger_api.store.access_log import AccessLogAnchor, AccessLogEntry
from ledger_api.store.db import make_engine, migrate


def _ready(engine: Engine) -> Engine:
    migrate(engine)
    # The access log's migration belongs to the API; create its tables if it has not landed.
    for table in (AccessLogEntry.__table__, AccessLogAnchor.__table__):
        table.create(engine, checkfirst=True)  # type: ignore[attr-defined]
    return engine


@pytest.fixture
def new_engine(tmp_path: Path) -> Iterator[Callable[[], Engine]]:
    """A factory of fresh, migrated SQLite databases (several per test when comparing)."""
    engines: list[Engine] = []

    def make() -> Engine:
        url = f"sqlite:///{tmp_path / f'replica-{len(engines)}.sqlite'}"
        engine = _ready(make_engine(url))
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def engine(new_engine: Callable[[], Engine]) -> Engine:
    return new_engine()


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    with postgres_schema("ccl_idx") as schema:
        engine = make_engine(PG_URL, schema=schema)
        try:
            yield _ready(engine)
        finally:
            engine.dispose()
