"""Production wiring: API workers (`production_app`) on a JSON-RPC node and PostgreSQL, with the
gate reading the replica that one separate indexer writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from nodes import ANVIL_KEY, PG_URL, anvil_node, postgres_schema

from indexer.follower import Indexer
from ledger_api.chain.deployment import deploy_ledger
from ledger_api.chain.transactor import Transactor
from ledger_api.chain.types import InstitutionType
from ledger_api.client import LedgerClient
from ledger_api.errors import InputError, NotFoundError
from ledger_api.settings import Settings
from ledger_api.stack import production_app
from ledger_api.store.db import make_engine, migrate

pytestmark = [pytest.mark.anvil, pytest.mark.postgres, pytest.mark.xdist_group("anvil")]

SECRETS = {
    "CCL_MASTER_KEY": "a1" * 32,
    "CCL_PSEUDONYM_KEY": "b2" * 32,
    "CCL_OPERATOR_KEY": ANVIL_KEY,
}


@pytest.fixture
def pg_schema() -> Iterator[str]:
    with postgres_schema("ccl_prod") as schema:
        yield schema


def test_production_mode_refuses_development_secrets() -> None:
    with pytest.raises(InputError, match="development secrets"):
        Settings(mode="production", chain_url="http://node", database_url="postgresql://db")


def test_api_workers_on_a_node_and_postgresql_gate_on_the_indexers_replica(
    tmp_path: Path, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with anvil_node() as (url, w3):
        operator = Transactor(w3, Account.from_key(ANVIL_KEY))
        deployment = deploy_ledger(w3, operator, Account.create().address)
        deployment.save(tmp_path / "deployment.json")
        database = f"{PG_URL}?options=-csearch_path%3D{pg_schema}"
        env = {
            **SECRETS,
            "CCL_MODE": "production",
            "CCL_CHAIN_URL": url,
            "CCL_DATABASE_URL": database,
            "CCL_DEPLOYMENT_FILE": str(tmp_path / "deployment.json"),
            "CCL_ACCESS_LOG_ANCHOR_EVERY_S": "3600",
            "CCL_STATE_CACHE_TTL_S": "0",  # the gate sees each new replica block at once
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        engine = make_engine(database)
        migrate(engine)  # `ccl db upgrade`: production workers do not migrate
        app = production_app()  # reads the deployment record
        # The gate's replica reads through the API's held read connections (one per event
        # loop), not a pooled connection per look-up (tests/indexer/test_replica_connections).
        ctx = app.state.ctx
        assert ctx.state_provider().inner._connect == ctx.reads.connect
        bank = Account.create().address
        indexer = Indexer.for_engine(w3, deployment, engine, Settings())
        try:
            with TestClient(app) as http:
                assert http.get("/v1/chain").json()["chain_id"] == 31337
                client = LedgerClient("http://api", Account.from_key(ANVIL_KEY), transport=http)
                with pytest.raises(NotFoundError):
                    client.institution(bank)
                # The operator's role comes from the replica: index the deployment first.
                indexer.run_once()
                client.register_institution(bank, int(InstitutionType.BANK), "Bank P")
                with pytest.raises(NotFoundError):  # on chain, not yet in the replica
                    client.institution(bank)
                indexer.run_once()
                assert client.institution(bank).name == "Bank P"
        finally:
            engine.dispose()
