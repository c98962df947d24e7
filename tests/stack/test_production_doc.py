"""docs/production.md's commands, run in the doc's order on anvil and PostgreSQL.

Every `ccl` / `ccl-indexer` line of the doc's sh blocks runs as written, with only the places
changed (the test's node, schema, files, a free port, throwaway addresses), as
``test_production_path`` runs the README's: setting up, one indexer and the API workers,
the daily checks, rotating the operator key through the governance key, and rotating the
master key with the workers stopped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from nodes import ANVIL_KEY, PG_URL, anvil_node, free_port, postgres_schema
from test_production_path import GOVERNANCE_KEY, Operator, eventually
from web3 import Web3

from ledger_api.chain.deployment import Deployment
from ledger_api.chain.ledger import Ledger
from ledger_api.client import LedgerClient

pytestmark = [pytest.mark.anvil, pytest.mark.postgres, pytest.mark.xdist_group("anvil")]

DOC = Path(__file__).resolve().parents[2] / "docs" / "production.md"
PROJECT_COMMANDS = ("ccl ", "ccl-indexer ", "export ")


def doc_lines() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(), re.S)
    assert blocks, "docs/production.md shows no sh block"
    lines = [line for block in blocks for line in block.splitlines() if line.strip()]
    assert all(line.startswith(PROJECT_COMMANDS) for line in lines), (
        "sh blocks hold project commands only; other tools' lines go in text blocks"
    )
    return lines


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[tuple[Operator, Web3]]:
    with anvil_node() as (url, w3), postgres_schema("ccl_doc") as schema:
        settings = {
            "CCL_CHAIN_URL": url,
            "CCL_DATABASE_URL": f"{PG_URL}?options=-csearch_path%3D{schema}",
            "CCL_DEPLOYMENT_FILE": str(tmp_path / "deployment.json"),
        }
        places = {
            "0xGOVERNANCE": Account.from_key(GOVERNANCE_KEY).address,
            "0xREGULATOR": Account.create().address,
            "0xNEWOPERATOR": Account.create().address,
            "0xOLDOPERATOR": Account.from_key(ANVIL_KEY).address,
            "8700": str(free_port()),
        }
        env = {
            "CCL_GOVERNANCE_KEY": GOVERNANCE_KEY,
            "CCL_TEST_LOGS": str(tmp_path),
            "CCL_STATE_CACHE_TTL_S": "0",
            "CCL_INDEXER_POLL_INTERVAL_S": "0.2",
            "CCL_DATA_DIR": str(tmp_path / "var"),
        }
        operator = Operator(places, settings, env)
        try:
            yield operator, w3
        finally:
            operator.stop()


def test_every_command_of_the_production_doc_runs_in_its_order(
    runner: tuple[Operator, Web3],
) -> None:
    operator, w3 = runner
    lines = doc_lines()
    api = f"http://127.0.0.1:{operator.places['8700']}"
    platform = Account.from_key(ANVIL_KEY)
    for line in lines:
        if line.startswith("ccl keys rotate-master"):
            operator.stop()  # the doc: stop the workers, rotate, start them with the new key
            operator.background.clear()
            operator.env["CCL_NEW_MASTER_KEY"] = "c3" * 32
        operator.run(line)
        if line.startswith("ccl serve"):
            eventually(lambda: httpx.get(f"{api}/healthz").raise_for_status(), "the workers")
            eventually(lambda: LedgerClient(api, platform).list_registrations(), "the replica")
    deployment = Deployment.load(Path(operator.env["CCL_DEPLOYMENT_FILE"]))
    ledger = Ledger(w3, deployment)
    assert ledger.has_role("REGULATOR_ROLE", operator.places["0xREGULATOR"])
    assert ledger.has_role("OPERATOR_ROLE", operator.places["0xNEWOPERATOR"])
    assert not ledger.has_role("OPERATOR_ROLE", platform.address)
    assert operator.env["CCL_CONFIRMATION_DEPTH"] == "0"
