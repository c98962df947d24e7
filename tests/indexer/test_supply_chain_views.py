"""The regulator's supply-chain views: per core enterprise confirmed, outstanding, financed and
overdue; every refused double financing with who, which part and who holds the lock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from activity import SUPPLY_CHAIN_USCC_MASKED, supply_chain_activity
from eth_utils import keccak
from indexer_support import make_indexer
from receivables_kit import DAY, SupplyChain
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from indexer.audit_names import with_names
from indexer.audit_views import VIEWS
from ledger_api.store.supply_chain import SUPPLY_CHAIN_REFUSALS

BANK_NAME = "中原银行郑州分行"
MASKED = SUPPLY_CHAIN_USCC_MASKED


def _view(engine: Engine, name: str, **filters: Any) -> Any:
    with Session(engine) as session:
        return with_names(session.connection(), VIEWS[name](session, **filters))


def _activity(chain: SupplyChain, engine: Engine) -> tuple[int, int]:
    whole, piece = supply_chain_activity(chain, engine)
    make_indexer(chain.world.w3, chain.world.ledger.deployment, engine).run_once()
    return whole, piece


def test_per_core_enterprise_confirmed_outstanding_financed_and_overdue(
    supply_chain: SupplyChain, engine: Engine
) -> None:
    _activity(supply_chain, engine)
    [row] = _view(engine, "supply_chain")
    assert (row["core_enterprise"], row["core_enterprise_uscc"]) == (
        supply_chain.core.address, MASKED,
    )  # fmt: skip
    assert (row["confirmed_count"], row["confirmed_amount"]) == (2, "10500.00")
    assert row["outstanding_amount"] == "10300.00"
    assert (row["financed_count"], row["financed_amount"]) == (1, "3000.00")
    assert (row["overdue_count"], row["settled_amount"]) == (0, "200.00")

    core_id = supply_chain.world.subject_ids[0]
    assert _view(engine, "supply_chain", subject_id=core_id) == [row]
    assert _view(engine, "supply_chain", subject_id=keccak(b"subject-sub-supplier")) == []
    later = supply_chain.now() + 200 * DAY
    [due] = _view(engine, "supply_chain", now=later)
    assert (due["overdue_count"], due["overdue_amount"]) == (2, "10300.00")


def test_overdue_follows_the_indexed_head_block_time_without_any_act(
    supply_chain: SupplyChain, engine: Engine
) -> None:
    _activity(supply_chain, engine)
    # The chain's clock passes both due dates; a block is mined and indexed, nothing else.
    supply_chain.advance(200 * DAY)
    tester: Any = getattr(supply_chain.world.w3.provider, "ethereum_tester")  # noqa: B009
    tester.mine_blocks(1)
    make_indexer(supply_chain.world.w3, supply_chain.world.ledger.deployment, engine).run_once()

    [row] = _view(engine, "supply_chain")

    assert (row["overdue_count"], row["overdue_amount"]) == (2, "10300.00")
    assert row["settled_amount"] == "200.00"  # what was paid is not overdue


def test_every_refused_double_financing_names_who_which_part_and_the_lock(
    supply_chain: SupplyChain, engine: Engine
) -> None:
    _, piece = _activity(supply_chain, engine)
    with engine.begin() as conn:
        conn.execute(
            insert(SUPPLY_CHAIN_REFUSALS).values(
                at=datetime(2026, 12, 7, 9, 31, tzinfo=UTC), actor=supply_chain.supplier.address,
                act="split", part_id=piece, code="not_holder", detail="NotHolder(...)",
            )
        )  # fmt: skip
    [row] = _view(engine, "double_financing_refusals")
    assert (row["enterprise"], row["part_id"], row["receivable_id"]) == (
        supply_chain.sub_supplier.address, piece, 1,
    )  # fmt: skip
    assert (row["institution_name"], row["locked_by_name"]) == ("Bank B", BANK_NAME)
    assert row["at"].startswith("2026-12-07T09:30")
    assert _view(engine, "double_financing_refusals", institution=BANK_NAME) == []
    assert _view(engine, "double_financing_refusals", institution="Bank B") == [row]
