"""Random sequences of split, transfer, finance, release and settle from every party, allowed or
not, with the receivables' invariants checked after each step:

* value is conserved: the outstanding values of a receivable's parts plus what its debtor has
  settled always equal its amount;
* a locked (financed) part is never moved: its holder and value change only by settlement;
* no value is financed twice: a part is locked by at most one institution at a time, and a
  financing attempt on a locked part never succeeds;
* a Python model of every part (holder, value, lock) agrees with the contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from receivables_kit import SupplyChain
from world import World

from ledger_api.chain.revert import ContractRevert
from ledger_api.chain.transactor import Transactor

AMOUNT = 1_000
PARTIES = ("core", "supplier", "sub_supplier", "bank", "bank_b")
ENTERPRISES = ("core", "supplier", "sub_supplier")


@dataclass
class ModelPart:
    holder: str
    value: int
    financier: str | None = None


class ReceivablesMachine(RuleBasedStateMachine):
    world: World
    chain: SupplyChain

    def __init__(self) -> None:
        super().__init__()
        self.tester = self.world.w3.provider.ethereum_tester  # type: ignore[attr-defined]
        self.snapshot = self.tester.take_snapshot()
        c = self.chain
        self.actors: dict[str, Transactor] = {
            "core": c.core,
            "supplier": c.supplier,
            "sub_supplier": c.sub_supplier,
            "bank": self.world.bank,  # holds an agreement covering supply-chain finance
            "bank_b": self.world.bank_b,  # registered, no agreement
        }
        self.parts: dict[int, ModelPart] = {}
        self.settled = 0
        self.receivable_id = 0
        self.double_financing_refused = 0

    def teardown(self) -> None:
        self.tester.revert_to_snapshot(self.snapshot)
        self.world.forget_nonces()
        for t in (self.chain.sub_supplier, self.chain.outsider):
            t.forget_nonce()

    def attempt(self, actor: str, fn: str, *args: Any) -> bool:
        try:
            self.chain.receivables.transact(self.actors[actor], fn, *args)
        except ContractRevert:
            self.actors[actor].forget_nonce()
            return False
        return True

    @initialize()
    def a_confirmed_receivable_held_by_the_supplier(self) -> None:
        part_id = self.chain.confirmed_part(AMOUNT)
        self.receivable_id = self.chain.receivables.part(part_id).receivable_id
        self.parts[part_id] = ModelPart("supplier", AMOUNT)

    def part_ids(self) -> st.SearchStrategy[int]:
        return st.sampled_from(sorted(self.parts))

    @staticmethod
    def caller(data: st.DataObject, rightful: str | None) -> str:
        """About half the time the party entitled to the call, otherwise anyone: enough calls
        succeed for the state to move, and every party keeps trying what it must not do."""
        anyone = st.sampled_from(PARTIES)
        return data.draw(anyone if rightful is None else st.one_of(st.just(rightful), anyone))

    @rule(data=st.data(), value=st.integers(0, AMOUNT // 2))
    def split(self, data: st.DataObject, value: int) -> None:
        part_id = data.draw(self.part_ids())
        part = self.parts[part_id]
        actor = self.caller(data, part.holder)
        ok = self.attempt(actor, "splitPart", part_id, value)
        allowed = actor == part.holder and part.financier is None and 0 < value < part.value
        assert ok == allowed, (actor, part, value)
        if ok:
            part.value -= value
            self.parts[self.chain.receivables.counts()[1]] = ModelPart(actor, value)

    @rule(data=st.data(), to=st.sampled_from(ENTERPRISES))
    def transfer(self, data: st.DataObject, to: str) -> None:
        part_id = data.draw(self.part_ids())
        part = self.parts[part_id]
        actor = self.caller(data, part.holder)
        ok = self.attempt(actor, "transferPart", part_id, self.actors[to].address)
        allowed = actor == part.holder and part.financier is None and part.value > 0 and to != actor
        assert ok == allowed, (actor, part, to)
        if ok:
            part.holder = to

    @rule(data=st.data(), actor=st.sampled_from(PARTIES), bank=st.sampled_from(("bank", "bank_b")))
    def finance(self, data: st.DataObject, actor: str, bank: str) -> None:
        part_id = data.draw(self.part_ids())
        part = self.parts[part_id]
        was_locked = part.financier is not None
        ok = self.attempt(actor, "financePart", part_id, self.actors[bank].address, b"\x00" * 32)
        allowed = actor == part.holder and not was_locked and part.value > 0 and bank == "bank"
        assert ok == allowed, (actor, part, bank)
        if was_locked:
            assert not ok  # never financed twice
            self.double_financing_refused += 1
        if ok:
            part.financier = bank

    @rule(data=st.data())
    def release(self, data: st.DataObject) -> None:
        part_id = data.draw(self.part_ids())
        part = self.parts[part_id]
        actor = self.caller(data, part.financier)
        ok = self.attempt(actor, "releasePart", part_id)
        assert ok == (part.financier is not None and actor == part.financier), (actor, part)
        if ok:
            part.financier = None

    @rule(data=st.data(), value=st.integers(0, AMOUNT // 4))
    def settle(self, data: st.DataObject, value: int) -> None:
        part_id = data.draw(self.part_ids())
        part = self.parts[part_id]
        actor = self.caller(data, "core")
        ok = self.attempt(actor, "settlePart", part_id, value)
        assert ok == (actor == "core" and 0 < value <= part.value), (actor, part, value)
        if ok:
            part.value -= value
            self.settled += value
            if part.value == 0:
                part.financier = None

    @invariant()
    def value_is_conserved_and_the_contract_agrees_with_the_model(self) -> None:
        if not self.parts:
            return
        contract = self.chain.receivables
        addresses: dict[str, str] = {t.address: name for name, t in self.actors.items()}
        bank_index = self.world.ledger.institution(self.world.bank.address).index
        total = 0
        for part_id, expected in self.parts.items():
            on_chain = contract.part(part_id)
            assert addresses[on_chain.holder] == expected.holder
            assert on_chain.value == expected.value
            assert on_chain.financier_index == (bank_index if expected.financier else 0)
            total += on_chain.value
        receivable = contract.receivable(self.receivable_id)
        assert receivable.settled == self.settled
        assert total + receivable.settled == receivable.amount == AMOUNT


def test_random_sequences_conserve_value_never_move_locked_value_nor_finance_it_twice(
    world: World, supply_chain: SupplyChain
) -> None:
    ReceivablesMachine.world = world
    ReceivablesMachine.chain = supply_chain
    run_state_machine_as_test(
        ReceivablesMachine,
        settings=settings(
            max_examples=6,
            stateful_step_count=20,
            deadline=None,
            derandomize=True,
            phases=(Phase.generate,),
            suppress_health_check=list(HealthCheck),
        ),
    )
