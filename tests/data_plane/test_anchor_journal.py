"""One anchor journal for every anchored kind: a crash after the anchor was sent and before
its confirmation is finished by ``resume_all`` (what ``ccl resume`` runs), which asks the chain
first: nothing is anchored twice, and the entry ends ``anchored`` naming the right block.

The anchors go through a transactor with the durable transaction queue, as in production.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pytest
from hexbytes import HexBytes
from sqlalchemy import Engine, insert, select
from world import World

from ledger_api.accesslog import AccessLogAnchoring, AccessLogWriter, EntryDraft
from ledger_api.anchoring.anchorer import AnchorReceipt, PendingAnchor
from ledger_api.anchoring.journal import AnchorJournal, JournalTable
from ledger_api.anchoring.kinds import (
    ACCESS_LOG_RANGES,
    CATALOG_VERSION_HASHES,
    COMMITMENTS,
    DATA_BATCHES,
    resume_all,
)
from ledger_api.catalog.loader import default_catalog
from ledger_api.catalog.publish import publish_catalog
from ledger_api.chain.anchorer import ChainAnchorer
from ledger_api.chain.transactor import Transactor
from ledger_api.chain.txqueue import TxQueue
from ledger_api.ingest.pipeline import Ingestor
from ledger_api.settings import Settings
from ledger_api.store.subject_tables import STATEMENTS

from .conftest import USCC_B, Crash, jsonl, tax_row


class DiesBeforeConfirming(ChainAnchorer):
    """Sends anchors like the platform's anchorer, and dies before any confirmation."""

    sent = 0

    def send_anchor(self, *args: Any) -> PendingAnchor:
        self.sent += 1
        return super().send_anchor(*args)

    def send_anchors(self, *args: Any) -> list[PendingAnchor]:
        self.sent += 1
        return super().send_anchors(*args)

    def confirm_anchor(self, pending: PendingAnchor) -> AnchorReceipt:
        raise Crash("killed between send and confirmation")


def _anchorer(
    world: World, engine: Engine, transactor: Transactor, cls: type = ChainAnchorer
) -> Any:
    account = transactor.account
    queued = Transactor(world.w3, account, TxQueue(engine, world.w3, account))
    return cls(world.ledger, queued)


def _anchor_count(world: World) -> int:
    return int(world.ledger.contract.functions.anchorCount().call())


def _entry(engine: Engine, spec: JournalTable, key: Any) -> Any:
    table = spec.table
    with engine.connect() as conn:
        return conn.execute(select(table).where(table.c[spec.key] == key)).one()


def _crash_a_batch(engine: Engine, anchorer: ChainAnchorer, settings: Settings) -> Any:
    data = jsonl([tax_row(key="J-1"), tax_row(USCC_B, key="J-2")])
    with pytest.raises(Crash):
        Ingestor(engine, anchorer, settings).ingest("henan-tax", "tax", data, fmt="jsonl")
    with engine.connect() as conn:
        return conn.execute(select(DATA_BATCHES.table.c.batch_id)).scalar_one()


def _crash_a_log_range(engine: Engine, anchorer: ChainAnchorer, settings: Settings) -> Any:
    writer = AccessLogWriter(engine)
    try:
        for i in range(3):
            writer.append(EntryDraft(f"0x{i:040x}", "institution", "report", "allowed", "ok"))
    finally:
        writer.close()
    anchoring = AccessLogAnchoring(engine, anchorer, every_s=1, every_entries=1)
    with pytest.raises(Crash):
        anchoring.anchor_once()
    with engine.connect() as conn:
        return conn.execute(select(ACCESS_LOG_RANGES.table.c.id)).scalar_one()


def _crash_a_commitment(engine: Engine, anchorer: ChainAnchorer, settings: Settings) -> Any:
    with engine.begin() as conn:
        row_id = conn.execute(
            insert(STATEMENTS)
            .values(subject_id=b"\x07" * 32, account="0x" + "07" * 20, text="I will repay.",
                    signature=b"\x01" * 65, leaf=b"\x42" * 32, status="pending")
            .returning(STATEMENTS.c.id)
        ).scalar_one()  # fmt: skip
    with pytest.raises(Crash):  # what POST /v1/subject/commitments runs after storing it
        AnchorJournal(engine, anchorer, COMMITMENTS).anchor(row_id)
    return row_id


def _crash_a_catalog_version(engine: Engine, anchorer: ChainAnchorer, settings: Settings) -> Any:
    catalog = default_catalog()
    with pytest.raises(Crash):
        publish_catalog(engine, anchorer, catalog)
    return catalog.version


KINDS: dict[str, tuple[JournalTable, Callable[..., Any], str]] = {
    "data batch": (DATA_BATCHES, _crash_a_batch, "provider"),
    "access-log range": (ACCESS_LOG_RANGES, _crash_a_log_range, "operator"),
    "commitment": (COMMITMENTS, _crash_a_commitment, "operator"),
    "catalog version": (CATALOG_VERSION_HASHES, _crash_a_catalog_version, "operator"),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_an_anchor_killed_between_send_and_confirmation_is_resumed_once_with_its_block(
    world: World, sqlite_engine: Engine, settings: Settings, kind: str
) -> None:
    spec, crash, signer = KINDS[kind]
    transactor = getattr(world, signer)
    dying = _anchorer(world, sqlite_engine, transactor, DiesBeforeConfirming)
    before = _anchor_count(world)

    key = crash(sqlite_engine, dying, settings)

    assert dying.sent == 1
    assert _anchor_count(world) == before + 1  # the transaction went out (and was mined)
    crashed = _entry(sqlite_engine, spec, key)
    assert getattr(crashed, spec.state) == spec.states[1]  # sent, not yet anchored
    mined = world.w3.eth.get_block("latest")
    [anchor_tx] = mined["transactions"]

    finished = resume_all(sqlite_engine, _anchorer(world, sqlite_engine, transactor))

    assert finished[spec.table.name] == [key]
    assert all(not keys for name, keys in finished.items() if name != spec.table.name)
    assert _anchor_count(world) == before + 1  # nothing anchored twice
    assert world.w3.eth.block_number == mined["number"]  # nothing sent at all
    entry = _entry(sqlite_engine, spec, key)
    record = world.ledger.anchor_of(bytes(getattr(entry, spec.root)))
    assert record is not None and record.kind == spec.kind
    assert getattr(entry, spec.state) == spec.states[2]
    assert getattr(entry, spec.sequence) == record.sequence
    assert entry.block_number == mined["number"]
    assert bytes(entry.tx_hash) == bytes(cast(HexBytes, anchor_tx))
    # Resuming again finds nothing to do.
    assert not any(resume_all(sqlite_engine, _anchorer(world, sqlite_engine, transactor)).values())


@pytest.mark.parametrize("kind", list(KINDS))
def test_resume_asks_the_chain_first_even_for_an_entry_still_marked_pending(
    world: World, sqlite_engine: Engine, settings: Settings, kind: str
) -> None:
    spec, crash, signer = KINDS[kind]
    transactor = getattr(world, signer)
    dying = _anchorer(world, sqlite_engine, transactor, DiesBeforeConfirming)
    key = crash(sqlite_engine, dying, settings)
    # As if the crash came before the send: back to pending, its root not on chain.
    with sqlite_engine.begin() as conn:
        conn.execute(
            spec.table.update()
            .where(spec.table.c[spec.key] == key)
            .values({spec.state: spec.states[0]})
        )
    before = _anchor_count(world)
    resume_all(sqlite_engine, _anchorer(world, sqlite_engine, transactor))
    assert _anchor_count(world) == before  # on chain already: adopted, not sent again
    assert getattr(_entry(sqlite_engine, spec, key), spec.state) == spec.states[2]
