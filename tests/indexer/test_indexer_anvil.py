"""The follower against a real JSON-RPC node (anvil): reorgs, batching, the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils import keccak
from indexer_support import make_indexer
from nodes import ANVIL_KEY, anvil_node
from sqlalchemy import Engine
from typer.testing import CliRunner
from web3 import Web3

from indexer.audit_views import anchors
from indexer.cli import app
from indexer.replica import ReplicaState
from indexer.store import dump_state
from ledger_api.chain.deployment import deploy_ledger
from ledger_api.chain.ledger import Ledger
from ledger_api.chain.transactor import Transactor
from ledger_api.chain.types import AnchorKind, InstitutionType

pytestmark = [pytest.mark.anvil, pytest.mark.xdist_group("anvil")]


@pytest.fixture
def anvil() -> Iterator[Web3]:
    with anvil_node() as (_url, w3):
        yield w3


class Setup:
    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self.operator = Transactor(w3, Account.from_key(ANVIL_KEY))
        # The operator holds PROVIDER_ROLE from deployment; roles are never administered here.
        self.ledger = Ledger(w3, deploy_ledger(w3, self.operator, Account.create().address))
        self.ledger.register_institution(
            self.operator, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", InstitutionType.BANK, "B"
        )

    def anchor(self, label: str) -> None:
        self.ledger.anchor(
            self.operator, AnchorKind.DATA_BATCH, keccak(text=label), 3, b"\x01" * 32
        )


def clean_dump(
    setup: Setup, new_engine: Callable[[], Engine]
) -> dict[str, list[tuple[object, ...]]]:
    engine = new_engine()
    make_indexer(setup.w3, setup.ledger.deployment, engine).catch_up()
    return dump_state(engine)


def anchor_view(engine: Engine) -> list[dict[str, object]]:
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        return anchors(session)


def test_anvil_reorg_leaves_the_views_equal_to_a_clean_reindex(
    anvil: Web3, new_engine: Callable[[], Engine]
) -> None:
    setup = Setup(anvil)
    for i in range(5):
        setup.anchor(f"kept-{i}")
    engine = new_engine()
    indexer = make_indexer(anvil, setup.ledger.deployment, engine, chunk_blocks=3)
    indexer.run_once()
    for i in range(3):
        setup.anchor(f"doomed-{i}")
    indexer.run_once()
    assert len(anchor_view(engine)) == 8
    # Replace the last three blocks (the "doomed" anchors) with empty ones, then grow.
    anvil.provider.make_request("anvil_reorg", [3, []])  # type: ignore[arg-type]
    setup.operator.forget_nonce()
    for i in range(2):
        setup.anchor(f"new-{i}")
    indexer.run_once()
    assert dump_state(engine) == clean_dump(setup, new_engine)
    roots = {row["root"] for row in anchor_view(engine)}
    assert "0x" + keccak(text="new-1").hex() in roots
    assert "0x" + keccak(text="doomed-0").hex() not in roots
    assert ReplicaState(engine).position().block_number == anvil.eth.block_number


def test_anvil_reorg_of_equal_length_is_detected_by_hash(
    anvil: Web3, new_engine: Callable[[], Engine]
) -> None:
    setup = Setup(anvil)
    setup.anchor("a")
    setup.anchor("b")
    engine = new_engine()
    indexer = make_indexer(anvil, setup.ledger.deployment, engine)
    indexer.run_once()
    head = anvil.eth.block_number
    anvil.provider.make_request("anvil_reorg", [2, []])  # type: ignore[arg-type]
    assert anvil.eth.block_number == head  # same height, different blocks
    indexer.run_once()
    assert dump_state(engine) == clean_dump(setup, new_engine)
    assert len(anchor_view(engine)) == 0


def test_cli_catches_up_and_reports_status_over_json_rpc(
    anvil: Web3, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = Setup(anvil)
    setup.anchor("x")
    deployment_file = tmp_path / "deployment.json"
    setup.ledger.deployment.save(deployment_file)
    monkeypatch.setenv("CCL_CHAIN_URL", anvil.provider.endpoint_uri)  # type: ignore[attr-defined]
    monkeypatch.setenv("CCL_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CCL_DEPLOYMENT_FILE", str(deployment_file))
    runner = CliRunner()
    result = runner.invoke(app, ["catch-up"])
    assert result.exit_code == 0, result.output
    status = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert status["lag"] == 0 and status["indexed_block"] == anvil.eth.block_number
    logs = anvil.eth.get_logs({"fromBlock": 0, "address": setup.ledger.address})
    assert status["indexed_events"] == len(logs) >= 5
    result = runner.invoke(app, ["rebuild", "--yes"])
    assert result.exit_code == 0 and f"rebuilt: {len(logs)} event(s)" in result.stdout
    monkeypatch.setenv("CCL_DEPLOYMENT_FILE", str(tmp_path / "missing.json"))
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 1 and result.stderr.startswith("error: no deployment record")
