"""Batches anchored on the ledger contract (eth-tester) name the transaction, block and chain
time that anchored them, also when a crash lost the anchor's receipt."""

from __future__ import annotations

import os
from typing import cast

import pytest
from hexbytes import HexBytes
from sqlalchemy import Engine, select
from world import World

from ledger_api.anchoring.anchorer import AnchorKind
from ledger_api.chain.anchorer import ChainAnchorer
from ledger_api.errors import ConflictError
from ledger_api.ingest import overlap
from ledger_api.ingest.pipeline import Ingestor
from ledger_api.settings import Settings
from ledger_api.store.models import BATCHES, BatchState
from ledger_api.verify.verifier import verify_database

from .conftest import USCC_B, Crash, jsonl, tax_row


def _batch_row(engine: Engine, batch_id: bytes) -> dict[str, object]:
    with engine.connect() as conn:
        row = conn.execute(select(BATCHES).where(BATCHES.c.batch_id == batch_id)).one()
    return dict(row._mapping)


def _assert_names_its_anchor(world: World, batch: dict[str, object], tx_hash: bytes) -> None:
    receipt = world.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
    block = world.w3.eth.get_block(receipt["blockNumber"])
    record = world.ledger.anchor_of(batch["root"])  # type: ignore[arg-type]
    assert record is not None
    assert batch["state"] == BatchState.ANCHORED
    assert batch["tx_hash"] == tx_hash
    assert batch["block_number"] == receipt["blockNumber"]
    assert batch["anchored_at"] == block["timestamp"]
    assert batch["anchor_sequence"] == record.sequence


def test_an_anchored_batch_names_its_transaction_block_and_chain_time(
    world: World, sqlite_engine: Engine, settings: Settings
) -> None:
    anchorer = ChainAnchorer(world.ledger, world.provider)
    rows = [tax_row(key="T-1"), tax_row(USCC_B, key="T-2")]
    result = Ingestor(sqlite_engine, anchorer, settings).ingest(
        "henan-tax", "tax", jsonl(rows), fmt="jsonl"
    )
    assert result.tx_hash is not None
    _assert_names_its_anchor(world, _batch_row(sqlite_engine, result.batch_id), result.tx_hash)


def test_a_batch_resumed_after_its_anchor_was_mined_names_that_transaction(
    world: World, sqlite_engine: Engine, settings: Settings
) -> None:
    # The anchor is mined, then the process dies before recording it: resume finds the root
    # on chain and sends nothing, and the batch still names the transaction that anchored it.
    anchorer = ChainAnchorer(world.ledger, world.provider)

    def fault(at: str) -> None:
        if at == "anchor_returned":
            raise Crash(at)

    data = jsonl([tax_row(key="T-1"), tax_row(USCC_B, key="T-2")])
    with pytest.raises(Crash):
        Ingestor(sqlite_engine, anchorer, settings, fault_hook=fault).ingest(
            "henan-tax", "tax", data, fmt="jsonl"
        )
    mined = world.w3.eth.get_block("latest")
    [mined_tx] = mined["transactions"]
    anchor_tx = bytes(cast(HexBytes, mined_tx))  # hashes only: not asked for full transactions
    with sqlite_engine.connect() as conn:
        [(batch_id, state, tx_hash)] = conn.execute(
            select(BATCHES.c.batch_id, BATCHES.c.state, BATCHES.c.tx_hash)
        ).all()
    assert state == BatchState.ANCHOR_SENT and tx_hash is None

    [resumed] = Ingestor(sqlite_engine, anchorer, settings).resume_pending()
    assert world.w3.eth.block_number == mined["number"]  # nothing sent again
    assert resumed.tx_hash == anchor_tx
    _assert_names_its_anchor(world, _batch_row(sqlite_engine, batch_id), anchor_tx)


def test_the_transaction_of_a_root_never_anchored_is_none(world: World) -> None:
    anchorer = ChainAnchorer(world.ledger, world.provider)
    assert anchorer.anchor_transaction(os.urandom(32)) is None


def _tax_batches(names: str, rows: int = 2) -> list[tuple[str, bytes]]:
    return [("tax", jsonl([tax_row(key=f"{n}-{i}") for i in range(rows)])) for n in names]


def test_small_batches_share_one_anchor_transaction_and_each_keeps_its_own_anchor(
    world: World, sqlite_engine: Engine, settings: Settings
) -> None:
    anchorer = ChainAnchorer(world.ledger, world.provider)
    before = world.w3.eth.block_number
    results = Ingestor(sqlite_engine, anchorer, settings).ingest_many(
        "henan-tax", _tax_batches("abcd"), fmt="jsonl"
    )
    assert world.w3.eth.block_number == before + 1  # one anchorMany transaction
    assert [r.state for r in results] == [BatchState.ANCHORED] * 4
    assert len({r.tx_hash for r in results}) == 1
    assert len({r.anchor_sequence for r in results}) == 4
    for result in results:
        assert result.tx_hash is not None
        _assert_names_its_anchor(world, _batch_row(sqlite_engine, result.batch_id), result.tx_hash)
    assert verify_database(sqlite_engine, anchorer).clean


def test_a_large_batch_sends_the_held_anchors_while_it_is_sealed(
    world: World, sqlite_engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(overlap, "ANCHOR_GROUP_BELOW_ROWS", 3)  # "large": 3 rows or more
    anchorer = ChainAnchorer(world.ledger, world.provider)
    batches = _tax_batches("ab") + _tax_batches("c", rows=3)
    a, b, c = Ingestor(sqlite_engine, anchorer, settings).ingest_many(
        "henan-tax", batches, fmt="jsonl"
    )
    assert a.tx_hash == b.tx_hash != c.tx_hash
    assert a.state == b.state == c.state == BatchState.ANCHORED


def test_a_crash_before_a_grouped_anchor_is_sent_leaves_each_batch_for_resume(
    world: World, sqlite_engine: Engine, settings: Settings
) -> None:
    anchorer = ChainAnchorer(world.ledger, world.provider)

    def fault(at: str) -> None:
        if at == "anchor_sent":
            raise Crash(at)

    before = world.w3.eth.block_number
    with pytest.raises(Crash):
        Ingestor(sqlite_engine, anchorer, settings, fault_hook=fault).ingest_many(
            "henan-tax", _tax_batches("abc"), fmt="jsonl"
        )
    assert world.w3.eth.block_number == before  # nothing sent
    with sqlite_engine.connect() as conn:
        states = conn.execute(select(BATCHES.c.state)).scalars().all()
    assert states == [BatchState.ANCHOR_SENT] * 3
    resumed = Ingestor(sqlite_engine, anchorer, settings).resume_pending()
    assert [r.state for r in resumed] == [BatchState.ANCHORED] * 3
    assert verify_database(sqlite_engine, anchorer).clean


def test_a_grouped_root_anchored_meanwhile_is_refused_alone_and_the_others_anchor(
    world: World,
) -> None:
    anchorer = ChainAnchorer(world.ledger, world.provider)
    earlier, fresh = os.urandom(32), os.urandom(32)
    first = anchorer.anchor(AnchorKind.DATA_BATCH, earlier, 5, os.urandom(32))
    pending = anchorer.send_anchors(
        AnchorKind.DATA_BATCH, [(earlier, 5, os.urandom(32)), (fresh, 9, os.urandom(32))]
    )
    with pytest.raises(ConflictError):
        anchorer.confirm_anchor(pending[0])
    receipt = anchorer.confirm_anchor(pending[1])
    assert receipt.root == fresh and receipt.sequence == first.sequence + 1
    assert anchorer.anchor_transaction(fresh) == receipt
