"""Anchoring batches on a real JSON-RPC node (anvil) that mines blocks on a timer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account import Account
from nodes import ANVIL_KEY, anvil_node
from sqlalchemy import Engine, select
from web3 import Web3

from ledger_api.chain.anchorer import ChainAnchorer
from ledger_api.chain.deployment import deploy_ledger
from ledger_api.chain.ledger import Ledger
from ledger_api.chain.transactor import Transactor
from ledger_api.ingest.pipeline import Ingestor
from ledger_api.settings import Settings
from ledger_api.store.models import BATCHES, BatchState
from ledger_api.verify.verifier import verify_database

from .conftest import USCC_B, jsonl, tax_row

pytestmark = [pytest.mark.anvil, pytest.mark.xdist_group("anvil")]


@pytest.fixture
def chain() -> Iterator[tuple[Web3, ChainAnchorer]]:
    """The ledger on anvil, the operator holding PROVIDER_ROLE; blocks mined every 2 seconds
    from then on (not on each transaction), as on a QBFT network."""
    with anvil_node() as (_url, w3):
        operator = Transactor(w3, Account.from_key(ANVIL_KEY))
        ledger = Ledger(w3, deploy_ledger(w3, operator, Account.create().address))
        w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
        w3.provider.make_request("evm_setIntervalMining", [2])  # type: ignore[arg-type]
        yield w3, ChainAnchorer(ledger, operator)


def test_ingest_many_sends_the_next_anchors_before_one_is_mined(
    chain: tuple[Web3, ChainAnchorer], sqlite_engine: Engine, settings: Settings
) -> None:
    # Waiting for each anchor's block before storing the next batch put every batch in a
    # block of its own; sent ahead, the anchors of small batches share blocks.
    w3, anchorer = chain
    batches = [
        ("tax", jsonl([tax_row(key=f"{b}-{i}") for i in range(3)] + [tax_row(USCC_B, key=b)]))
        for b in "abcd"
    ]
    results = Ingestor(sqlite_engine, anchorer, settings).ingest_many(
        "henan-tax", batches, fmt="jsonl"
    )
    assert [r.state for r in results] == [BatchState.ANCHORED] * 4
    assert [r.anchor_sequence for r in results] == [1, 2, 3, 4]  # sent in batch order
    with sqlite_engine.connect() as conn:
        rows = conn.execute(
            select(BATCHES.c.root, BATCHES.c.block_number, BATCHES.c.tx_hash, BATCHES.c.anchored_at)
        ).all()
    blocks = [row.block_number for row in rows]
    assert len(blocks) == 4 and None not in blocks
    assert len(set(blocks)) <= 2  # at most one block boundary fell between the sends
    for row in rows:
        # Each batch names its anchor; the node finds the same transaction by the root's log.
        assert row.anchored_at == w3.eth.get_block(row.block_number)["timestamp"]
        found = anchorer.anchor_transaction(row.root)
        assert found is not None
        assert (found.tx_hash, found.block_number) == (row.tx_hash, row.block_number)
    assert verify_database(sqlite_engine, anchorer).clean
