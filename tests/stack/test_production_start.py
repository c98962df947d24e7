"""Starting production processes: an explicit schema upgrade that concurrent processes cannot
race, and workers that refuse to start (one line, non-zero exit) until every step is done."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from nodes import ANVIL_KEY, PG_URL, anvil_node, postgres_schema
from web3 import Web3

from ledger_api.chain.deployment import deploy_ledger
from ledger_api.chain.transactor import Transactor
from ledger_api.errors import SchemaError
from ledger_api.stack import production_app
from ledger_api.store.db import make_engine, schema_revisions

pytestmark = [pytest.mark.anvil, pytest.mark.postgres, pytest.mark.xdist_group("anvil")]

ROOT = Path(__file__).resolve().parents[2]
GOVERNANCE = Account.create().address  # administers roles; never signs here
SECRETS = {
    "CCL_MASTER_KEY": "a1" * 32,
    "CCL_PSEUDONYM_KEY": "b2" * 32,
    "CCL_OPERATOR_KEY": ANVIL_KEY,
}


@pytest.fixture
def production_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    with anvil_node() as (url, _w3), postgres_schema("ccl_start") as schema:
        yield {
            **SECRETS,
            "CCL_MODE": "production",
            "CCL_CHAIN_URL": url,
            "CCL_DATABASE_URL": f"{PG_URL}?options=-csearch_path%3D{schema}",
            "CCL_DEPLOYMENT_FILE": str(tmp_path / "deployment.json"),
        }


def ccl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger_api.cli", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_processes_upgrading_an_empty_database_at_once_all_succeed(
    production_env: dict[str, str],
) -> None:
    upgrades = [
        subprocess.Popen(
            [sys.executable, "-m", "ledger_api.cli", "db", "upgrade", "--json"],
            cwd=ROOT,
            env={**os.environ, **production_env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [(*process.communicate(timeout=120), process.returncode) for process in upgrades]
    assert [code for _out, _err, code in results] == [0, 0, 0], results
    assert sum('"upgraded": true' in out for out, _err, _code in results) == 1
    engine = make_engine(production_env["CCL_DATABASE_URL"])
    current, heads = schema_revisions(engine)
    engine.dispose()
    assert current == heads


def test_db_status_says_behind_until_upgraded(production_env: dict[str, str]) -> None:
    behind = ccl(production_env, "db", "status")
    assert behind.returncode == 1
    assert "behind: run `ccl db upgrade`" in behind.stdout
    assert ccl(production_env, "db", "upgrade").returncode == 0
    current = ccl(production_env, "db", "status", "--json")
    assert current.returncode == 0 and '"current": true' in current.stdout


def test_an_api_worker_refuses_a_schema_that_is_behind(
    production_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in production_env.items():
        monkeypatch.setenv(name, value)
    w3 = Web3(Web3.HTTPProvider(production_env["CCL_CHAIN_URL"]))
    deploy_ledger(w3, Transactor(w3, Account.from_key(ANVIL_KEY)), GOVERNANCE).save(
        Path(production_env["CCL_DEPLOYMENT_FILE"])
    )
    with pytest.raises(SchemaError, match="run `ccl db upgrade` first"):
        production_app()


def test_serve_refuses_to_start_without_a_deployment_record_in_one_line(
    production_env: dict[str, str],
) -> None:
    assert ccl(production_env, "db", "upgrade").returncode == 0
    refused = ccl(production_env, "serve", "--workers", "2", "--port", "1")
    assert refused.returncode != 0
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "no deployment record" in lines[0]
    assert "Traceback" not in refused.stderr


def test_serve_refuses_to_start_on_a_schema_that_is_behind_in_one_line(
    production_env: dict[str, str],
) -> None:
    w3 = Web3(Web3.HTTPProvider(production_env["CCL_CHAIN_URL"]))
    deploy_ledger(w3, Transactor(w3, Account.from_key(ANVIL_KEY)), GOVERNANCE).save(
        Path(production_env["CCL_DEPLOYMENT_FILE"])
    )
    refused = ccl(production_env, "serve", "--workers", "2", "--port", "1")
    assert refused.returncode != 0
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "ccl db upgrade" in lines[0]
