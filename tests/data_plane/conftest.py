"""Data-plane fixtures: a migrated database on SQLite and on PostgreSQL, anchorer, ingestor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from nodes import PG_URL, postgres_schema
from sqlalchemy import Engine

from ledger_api.anchoring.anchorer import InMemoryAnchorer
from ledger_api.ingest.pipeline import Ingestor
from ledger_api.settings import Settings
from ledger_api.store.db import make_engine, migrate

# Two valid USCCs that are not produced by the generator.
USCC_A = "91350100M000100Y43"
USCC_B = "91110000600037341L"


class Crash(Exception):
    """A simulated crash, raised by a test's fault hook at a pipeline step."""


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A freshly migrated database: a SQLite file, or a private schema on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        migrate(url)
        eng = make_engine(url)
        yield eng
        eng.dispose()
        return
    with postgres_schema() as schema:
        eng = make_engine(PG_URL, schema=schema)
        try:
            migrate(eng)
            yield eng
        finally:
            eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    migrate(url)
    eng = make_engine(url)
    yield eng
    eng.dispose()


@pytest.fixture
def anchorer() -> InMemoryAnchorer:
    return InMemoryAnchorer()


@pytest.fixture
def ingestor(engine: Engine, anchorer: InMemoryAnchorer, settings: Settings) -> Ingestor:
    return Ingestor(engine, anchorer, settings)


def tax_row(uscc: str = USCC_A, key: str = "T-1", **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "uscc": uscc,
        "record_key": key,
        "period": "2025-03",
        "tax_type": "vat",
        "tax_paid": "1200.50",
        "arrears_amount": "0",
        "paid_on_time": True,
        "tax_grade": "B",
    }
    row.update(overrides)
    return row


def jsonl(rows: list[dict[str, object]]) -> bytes:
    import json

    return ("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n").encode()
