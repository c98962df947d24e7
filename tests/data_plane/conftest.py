"""Data-plane fixtures: a migrated database on SQLite and on PostgreSQL, anchorer, ingestor."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from ledger_api.anchoring.anchorer import InMemoryAnchorer
from ledger_api.ingest.pipeline import Ingestor
from ledger_api.settings import Settings
from ledger_api.store.db import make_engine, migrate

PG_URL = os.environ.get(
    "CCL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# Two valid USCCs that are not produced by the generator.
USCC_A = "91350100M000100Y43"
USCC_B = "91110000600037341L"


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
    # Unique schema per test: concurrent workers may share the server.
    schema = f"ccl_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # pragma: no cover - depends on the environment
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    eng = make_engine(PG_URL, schema=schema)
    try:
        migrate(eng)
        yield eng
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


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
