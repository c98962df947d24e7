"""The scale benchmark's loaded records are read through the real API (``ccl serve`` on the
loaded database, as ``benchmarks.scale_reads`` serves it): a grant's institution gets the
enterprise's tax records, another institution under the same grant is refused and logged,
and the enterprise's own page holds every record it was loaded with, as the provider sent it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from nodes import ANVIL, PG_URL, postgres_schema
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from benchmarks import scale_reads as reads
from benchmarks import scale_records as records
from benchmarks import scale_state as state_rows

from ledger_api.accesslog import ACCESS_LOG
from ledger_api.catalog.loader import default_catalog
from ledger_api.client import LedgerClient
from ledger_api.ingest.validate import RowValidator
from ledger_api.store.db import make_engine, migrate

pytestmark = [pytest.mark.anvil, pytest.mark.slow, pytest.mark.xdist_group("anvil")]

ENTERPRISES = 60


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'scale.sqlite'}"
        return
    with postgres_schema("ccl_scale_reads") as schema:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"


def _normal(category: str, row: dict[str, object]) -> dict[str, object]:
    catalog = default_catalog()
    return RowValidator(catalog, catalog.category(category)).normalise(row)


def test_loaded_records_are_read_under_a_grant_and_refused_to_another_institution(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not ANVIL.exists():
        pytest.skip("anvil binary not installed (npm ci)")
    monkeypatch.setattr(records, "WORKERS", 1)  # a few rows: no process pool
    shape = state_rows.Shape(ENTERPRISES, 3 * ENTERPRISES, int(datetime.now(UTC).timestamp()))
    migrate(db_url)
    engine = make_engine(db_url)
    try:
        state_rows.load(engine, shape)
        records.load(engine, shape, progress=False)
        grants = reads.sample_grants(shape, 5)
        reads.bind_sample(engine, grants)
        grant = grants[0]
        index = reads.subject_of(grant)
        owner = state_rows.institution_of(grant)
        other = owner % state_rows.INSTITUTIONS_N + 1
        path, params = reads.read_params(grant)
        with reads.serving(db_url) as base:
            allowed = LedgerClient(base, reads.institution_key(owner)).send(
                "GET", path, params=params
            )
            refused = LedgerClient(base, reads.institution_key(other)).send(
                "GET", path, params=params
            )
            subject = LedgerClient(base, reads.subject_key(index))
            own = httpx.get(
                f"{base}/v1/subject/records",
                headers=subject.signed_headers("GET", "/v1/subject/records"),
            )
        with engine.connect() as conn:
            logged = conn.execute(
                select(ACCESS_LOG.c.actor, ACCESS_LOG.c.decision, ACCESS_LOG.c.reason)
                .where(ACCESS_LOG.c.grant_id == grant, ACCESS_LOG.c.action == "records")
                .where(ACCESS_LOG.c.id > 3 * ENTERPRISES)  # the reads, not the state's log
                .order_by(ACCESS_LOG.c.id)
            ).all()
    finally:
        engine.dispose()
    expected = records.enterprise_rows(index, records.RECORDS_LARGE)
    assert allowed.status_code == 200, allowed.text
    tax = [r["fields"]["period"] for r in allowed.json()["records"]]
    assert sorted(tax) == sorted(str(row["period"]) for c, row in expected if c == "tax")
    assert refused.status_code == 403
    assert refused.json()["code"] == "wrong_institution"
    assert [(a, d) for a, d, _ in logged] == [
        (reads.institution_key(owner).address, "allowed"),
        (reads.institution_key(other).address, "denied"),
    ]
    assert own.status_code == 200, own.text
    fields = sorted(str(sorted(r["fields"].items())) for r in own.json()["records"])
    assert fields == sorted(str(sorted(_normal(c, row).items())) for c, row in expected)
