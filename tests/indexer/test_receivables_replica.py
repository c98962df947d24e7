"""The indexer replicates every state change of the Receivables contract: receivables and their
parts in the replica equal the contract's state, incrementally, after a rebuild and across a
reorg."""

from __future__ import annotations

from collections.abc import Callable

from indexer_support import make_indexer
from receivables_kit import SupplyChain
from sqlalchemy import Engine, select

from indexer.store import dump_state
from indexer.tables import RECEIVABLE_PARTS, RECEIVABLES
from ledger_api.chain.receivables import ReceivableStatus


def live_parts(engine: Engine) -> dict[int, tuple[str, int, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(RECEIVABLE_PARTS).where(RECEIVABLE_PARTS.c.valid_to_block.is_(None))
        ).mappings()
        return {r["part_id"]: (r["holder"], r["value"], r["financier"]) for r in rows}


def contract_parts(chain: SupplyChain) -> dict[int, tuple[str, int, str | None]]:
    bank_index = chain.world.ledger.institution(chain.world.bank.address).index
    parts: dict[int, tuple[str, int, str | None]] = {}
    for part_id in range(1, chain.receivables.counts()[1] + 1):
        p = chain.receivables.part(part_id)
        financier = chain.world.bank.address if p.financier_index == bank_index else None
        parts[part_id] = (p.holder, p.value, financier)
    return parts


def supply_chain_day(chain: SupplyChain) -> None:
    """Confirm, split, transfer down the chain, finance, settle in part, release."""
    world = chain.world
    whole = chain.confirmed_part(1_000_000)
    piece = chain.receivables.split(chain.supplier, whole, 400_000)
    chain.receivables.transfer(chain.supplier, piece, chain.sub_supplier.address)
    chain.receivables.finance(chain.sub_supplier, piece, world.bank.address, "REG-1")
    chain.receivables.settle(chain.core, whole, 100_000)
    chain.receivables.finance(chain.supplier, whole, world.bank.address)
    chain.receivables.release(world.bank, whole)


def test_the_replica_holds_every_receivable_and_part_as_the_contract_does(
    supply_chain: SupplyChain, new_engine: Callable[[], Engine]
) -> None:
    world = supply_chain.world
    engine = new_engine()
    indexer = make_indexer(world.w3, world.ledger.deployment, engine, chunk_blocks=2)
    indexer.run_once()
    supply_chain_day(supply_chain)
    indexer.run_once()

    assert live_parts(engine) == contract_parts(supply_chain)
    assert live_parts(engine)[2][2] == world.bank.address  # the piece is financed by the bank
    with engine.connect() as conn:
        owed = (
            conn.execute(select(RECEIVABLES).where(RECEIVABLES.c.valid_to_block.is_(None)))
            .mappings()
            .one()
        )
    assert (owed["debtor"], owed["supplier"], owed["amount"], owed["paid_total"]) == (
        supply_chain.core.address, supply_chain.supplier.address, 1_000_000, 100_000,
    )  # fmt: skip
    assert owed["status"] == int(ReceivableStatus.CONFIRMED)
    # Incremental indexing equals indexing everything again from the deployment block.
    incremental = dump_state(engine)
    indexer.rebuild()
    assert dump_state(engine) == incremental


def test_a_reorg_of_supply_chain_acts_leaves_the_replica_equal_to_a_clean_reindex(
    supply_chain: SupplyChain, new_engine: Callable[[], Engine]
) -> None:
    world = supply_chain.world
    tester = world.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    engine = new_engine()
    indexer = make_indexer(world.w3, world.ledger.deployment, engine)
    whole = supply_chain.confirmed_part(1_000)
    indexer.run_once()
    fork = tester.take_snapshot()
    piece = supply_chain.receivables.split(supply_chain.supplier, whole, 300)
    supply_chain.receivables.finance(supply_chain.supplier, piece, world.bank.address)
    indexer.run_once()
    assert live_parts(engine)[piece][2] == world.bank.address
    tester.revert_to_snapshot(fork)
    world.forget_nonces()
    # A different, longer branch: the whole part goes to the sub-supplier and is settled in part.
    supply_chain.receivables.transfer(
        supply_chain.supplier, whole, supply_chain.sub_supplier.address
    )
    supply_chain.receivables.settle(supply_chain.core, whole, 250)
    world.w3.provider.ethereum_tester.mine_blocks(3)  # type: ignore[attr-defined]
    indexer.run_once()

    assert live_parts(engine) == contract_parts(supply_chain)
    assert live_parts(engine) == {whole: (supply_chain.sub_supplier.address, 750, None)}
    clean = new_engine()
    make_indexer(world.w3, world.ledger.deployment, clean).run_once()
    assert dump_state(engine) == dump_state(clean)
