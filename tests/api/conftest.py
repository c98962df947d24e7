"""API fixtures: a chain of the API package's own plus records ingested once into a template
SQLite database; each test gets a copy of that database and a fresh app (no shared caches)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import Api, ApiWorld, make_api, sample_rows
from pydantic import SecretStr
from world import PSEUDONYM_KEY, USCCS, World, build_world

from ledger_api.chain.anchorer import ChainAnchorer
from ledger_api.ingest.pipeline import Ingestor
from ledger_api.settings import Settings
from ledger_api.store.db import make_engine, migrate


@pytest.fixture(scope="package")
def api_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiWorld]:
    """Records for subjects 0 (clean) and 1 (tax arrears), anchored by the provider.

    On a chain of its own: with tests of several packages interleaved on one xdist worker, a
    snapshot of the shared session chain would leak these anchors into the other packages.
    """
    base_world = build_world()
    tester = base_world.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    snapshot = tester.take_snapshot()
    settings = Settings(
        pseudonym_key=SecretStr(PSEUDONYM_KEY.hex()),
        state_cache_ttl_s=0.0,
        keyring_cache_ttl_s=0.0,
        rate_limit_per_minute=600_000,
        rate_limit_burst=10_000,
    )
    # The platform relayer anchors data batches on providers' behalf (ingest endpoint).
    base_world.ledger.grant_role(base_world.operator, "PROVIDER_ROLE", base_world.operator.address)
    template = tmp_path_factory.mktemp("api") / "template.sqlite"
    url = f"sqlite:///{template}"
    migrate(url)
    engine = make_engine(url)
    ingestor = Ingestor(engine, ChainAnchorer(base_world.ledger, base_world.provider), settings)
    for uscc, kwargs in ((USCCS[0], {}), (USCCS[1], {"arrears": "1200.00", "headcount": 4})):
        for category, rows in sample_rows(uscc, **kwargs).items():
            data = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
            result = ingestor.ingest("henan-tax", category, data, fmt="jsonl")
            assert not result.rejected, result.rejected
    engine.dispose()
    try:
        yield ApiWorld(base_world, template, settings)
    finally:
        tester.revert_to_snapshot(snapshot)
        base_world.forget_nonces()


@pytest.fixture
def world(api_world: ApiWorld) -> Iterator[World]:
    """The API package's own chain, rolled back after each test (overrides the session one)."""
    chain = api_world.world
    tester = chain.w3.provider.ethereum_tester
    snapshot = tester.take_snapshot()
    try:
        yield chain
    finally:
        tester.revert_to_snapshot(snapshot)
        chain.forget_nonces()


@pytest.fixture
def api(api_world: ApiWorld, world: World, tmp_path: Path) -> Iterator[Api]:
    built = make_api(api_world, world, tmp_path)
    try:
        yield built
    finally:
        built.ctx.close()
        built.ctx.engine.dispose()
