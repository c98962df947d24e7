"""Gas of the supply-chain receivables' hot paths, measured on the benchmark's world."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from receivables_kit import build_supply_chain
from world import World

BUDGETS = {
    "receivable_confirm_signed": 90_000,
    "receivable_split": 70_000,
    "receivable_transfer": 50_000,
    "receivable_finance": 60_000,
    "receivable_payable_signed": 180_000,
}


def run(world: World) -> dict[str, int]:
    """Confirm a receivable by the debtor's relayed signature, split it, transfer the split-off
    part down the chain and finance the rest; the debtor registers a payable by its relayed
    signature: one transaction each, as they happen in use."""
    chain = build_supply_chain(world)
    contract = chain.receivables
    rid = contract.register_receivable(chain.supplier, chain.new_receivable(1_000_000))
    deadline, signature = contract.sign_confirmation(world.subject_keys[0], rid)
    whole, confirm = contract.relay_confirmation(world.operator, rid, deadline, signature)
    split = contract.transact(chain.supplier, "splitPart", whole, 300_000)
    piece = int(contract.events(split, "PartSplit")[0]["args"]["newPartId"])
    transfer = contract.transfer(chain.supplier, piece, chain.sub_supplier.address)
    finance = contract.finance(chain.supplier, whole, world.bank.address, "REG-2026-000001")
    # The debtor registers its own payable by signature: registration and confirmation at once.
    owed = replace(chain.new_receivable(2_000_000, invoice="INV-2026-0002"),
                   counterparty=chain.supplier.address)  # fmt: skip
    payable = contract.sign_payable(world.subject_keys[0], owed)
    _, _, registered = contract.relay_payable(world.operator, payable)

    def gas(receipt: Any) -> int:
        return int(receipt["gasUsed"])

    return {
        "receivable_confirm_signed": gas(confirm),
        "receivable_split": gas(split),
        "receivable_transfer": gas(transfer),
        "receivable_finance": gas(finance),
        "receivable_payable_signed": gas(registered),
    }
