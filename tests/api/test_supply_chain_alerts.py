"""A part declared in default is a risk event about its debtor, the core enterprise: the
institutions monitoring the core enterprise under a usable grant covering supply_chain get one
``receivable_default`` alert through the outbox, fan-out and signed webhook, once, however
often the default is declared, the log replayed or a reorg brings it back."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from api_support import Api
from monitoring_support import Receiver, events_of, monitoring_grant, service, subscribe
from sqlalchemy import func, select
from world import USCCS, World

from indexer.follower import Indexer
from indexer.tables import EVENTS
from ledger_api.chain.receivables import ReceivablesContract
from ledger_api.chain.transactor import Transactor
from ledger_api.monitoring.rules import default_rules
from ledger_api.store.monitoring_tables import OUTBOX
from ledger_api.supply_chain_client import perform

CORE, SUPPLIER = 0, 1
SUPPLY_CHAIN = 1 << 14
DAY = 86400


def _indexer(api: Api) -> Indexer:
    return Indexer.for_engine(api.world.w3, api.world.ledger.deployment, api.engine, api.settings)


def _confirmed_part(api: Api) -> int:
    keys = api.world.subject_keys
    terms = {
        "debtor": USCCS[CORE], "amount": "8000.00", "currency": "CNY",
        "due_date": (date.today() + timedelta(days=30)).isoformat(),
        "invoice_no": "INV-D-1", "contract_no": "PO-D-1",
    }  # fmt: skip
    supplier = api.client(keys[SUPPLIER])
    registered = perform(
        supplier, keys[SUPPLIER], "registration", terms, extra={"supplier_uscc": USCCS[SUPPLIER]}
    )
    confirmed = perform(
        api.client(keys[CORE]), keys[CORE], "confirmation",
        {"receivable_id": registered.receivable_id},
    )  # fmt: skip
    assert confirmed.part_id is not None
    return confirmed.part_id


def _past_maturity(api: Api) -> None:
    tester: Any = api.world.w3.provider.ethereum_tester
    tester.time_travel(int(api.world.w3.eth.get_block("latest")["timestamp"]) + 31 * DAY)
    api.clock.advance(31 * DAY)


def _default_events() -> int:
    return default_rules().kind_code("receivable_default")


def _outbox_defaults(api: Api) -> int:
    with api.engine.connect() as conn:
        query = select(func.count()).select_from(OUTBOX).where(OUTBOX.c.kind == _default_events())
        return int(conn.execute(query).scalar_one())


def _declared_in_blocks(api: Api) -> list[int]:
    with api.engine.connect() as conn:
        query = select(EVENTS.c.block_number).where(EVENTS.c.name == "PartDefaulted")
        return [int(b) for b in conn.execute(query).scalars()]


def test_a_default_alerts_the_core_enterprises_monitors_once_by_signed_webhook(
    api: Api, world: World
) -> None:
    bank = world.bank.address
    not_after = int(api.clock()) + 200 * DAY
    grant = monitoring_grant(api, CORE, bank, categories=SUPPLY_CHAIN, not_after=not_after)
    receiver = Receiver()
    sub = subscribe(
        api, world.bank.account, kind="risk_alerts", categories=["supply_chain"],
        webhook_url="http://bank.example/hooks",
    ).json()  # fmt: skip
    receiver.secret = sub["secret"]
    built = service(api, receiver)
    part = _confirmed_part(api)
    contract = ReceivablesContract(world.w3, world.ledger.deployment.receivables or "")
    _past_maturity(api)

    # The holder declares the default, then declares it again: one event on the chain each.
    contract.declare_default(world.subject_tx[SUPPLIER], part)
    contract.declare_default(world.subject_tx[SUPPLIER], part)
    _indexer(api).run_once()
    for _ in range(5):
        built.run_once()

    [event] = events_of(api, sub["id"])
    assert default_rules().kind_name(event.kind) == "receivable_default"
    assert (bytes(event.subject_id), event.category, event.grant_id) == (
        world.subject_ids[CORE], 14, grant,
    )  # fmt: skip
    assert event.outcome == "delivered"
    [(webhook_id, number)] = receiver.accepted
    assert (webhook_id, number) == (f"msg_{sub['id']}_1", 1)
    body = receiver.seen[0].content.decode()
    assert "cn.gov.henan.ccl.risk.receivable_default" in body

    # The log replayed from scratch finds the same defaults: nothing new is written.
    _indexer(api).rebuild()
    for _ in range(3):
        built.run_once()
    assert _outbox_defaults(api) == 1
    assert len(events_of(api, sub["id"])) == 1


def test_a_default_a_reorg_brings_back_is_not_alerted_twice(api: Api, world: World) -> None:
    bank = world.bank.address
    not_after = int(api.clock()) + 200 * DAY
    monitoring_grant(api, CORE, bank, categories=SUPPLY_CHAIN, not_after=not_after)
    sub = subscribe(api, world.bank.account, kind="risk_alerts", categories=["supply_chain"])
    built = service(api)
    part = _confirmed_part(api)
    contract = ReceivablesContract(world.w3, world.ledger.deployment.receivables or "")
    _past_maturity(api)
    tester: Any = getattr(world.w3.provider, "ethereum_tester")  # noqa: B009
    before = tester.take_snapshot()
    contract.declare_default(world.subject_tx[SUPPLIER], part)
    _indexer(api).run_once()
    built.run_once()
    assert _outbox_defaults(api) == 1
    [first] = _declared_in_blocks(api)

    # The block is replaced by another that declares the same default (by the same holder).
    tester.revert_to_snapshot(before)
    tester.mine_blocks(1)
    holder = Transactor(world.w3, world.subject_keys[SUPPLIER])  # its nonce went back too
    contract.declare_default(holder, part)
    _indexer(api).run_once()
    built.run_once()

    assert _declared_in_blocks(api) == [first + 1]  # the replica followed the reorg
    assert _outbox_defaults(api) == 1
    assert len(events_of(api, sub.json()["id"])) == 1


def test_monitors_of_the_supplier_or_of_other_categories_get_no_default_alert(
    api: Api, world: World
) -> None:
    bank = world.bank.address
    not_after = int(api.clock()) + 200 * DAY
    # The bank monitors the supplier (the holder) for supply_chain, and the core enterprise
    # for judicial records only: the default is about the core enterprise's supply chain.
    monitoring_grant(api, SUPPLIER, bank, categories=SUPPLY_CHAIN, not_after=not_after)
    monitoring_grant(api, CORE, bank, not_after=not_after)
    sub = subscribe(api, world.bank.account, kind="risk_alerts").json()
    built = service(api)
    part = _confirmed_part(api)
    contract = ReceivablesContract(world.w3, world.ledger.deployment.receivables or "")
    _past_maturity(api)
    contract.declare_default(world.subject_tx[SUPPLIER], part)
    _indexer(api).run_once()
    for _ in range(3):
        built.run_once()

    assert _outbox_defaults(api) == 1  # the event exists; nobody may receive it
    assert events_of(api, sub["id"]) == []
