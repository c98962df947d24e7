"""A supply chain on the test ledger: a core enterprise, its supplier and the supplier's supplier,
each a bound subject with a funded key, and the Receivables contract beside the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from hexbytes import HexBytes
from web3 import Web3
from world import World, dev_key

from ledger_api.chain.receivables import (
    NewReceivable,
    ReceivablesContract,
    deploy_receivables,
)
from ledger_api.chain.transactor import Transactor

DAY = 86400
FUNDING_WEI = 10**20


@dataclass
class SupplyChain:
    world: World
    receivables: ReceivablesContract
    core: Transactor  # the debtor (核心企业)
    supplier: Transactor  # its first-tier supplier
    sub_supplier: Transactor  # the supplier's own supplier
    outsider: Transactor  # a funded key bound to no subject

    def new_receivable(
        self, amount: int = 1_000_000, days: int = 90, invoice: str = "INV-2026-0001"
    ) -> NewReceivable:
        return NewReceivable(
            counterparty=self.core.address,
            amount=amount,
            due_date=self.now() + days * DAY,
            invoice_number=invoice,
            contract_number="PO-88",
        )

    def confirmed_part(self, amount: int = 1_000_000, invoice: str = "INV-2026-0001") -> int:
        """A receivable the core confirmed, held whole by the supplier as one part."""
        rid = self.receivables.register_receivable(
            self.supplier, self.new_receivable(amount, invoice=invoice)
        )
        return self.receivables.confirm(self.core, rid)

    def now(self) -> int:
        return int(self.world.w3.eth.get_block("latest")["timestamp"])

    def advance(self, seconds: int) -> None:
        """Move the embedded chain's clock (a test's snapshot brings it back)."""
        tester: Any = getattr(self.world.w3.provider, "ethereum_tester")  # noqa: B009
        tester.time_travel(self.now() + seconds)


def funded_subject(world: World, seed: bytes) -> Transactor:
    """A new key, funded by the operator and bound to a fresh subject id."""
    key = Account.from_key(keccak(b"supply-chain-" + seed))
    w3 = world.w3
    _wait(w3, _send_value(w3, dev_key(9), key.address))
    sid = keccak(b"subject-" + seed)
    deadline, signature = world.ledger.sign_registration(key, sid)
    world.ledger.bind_subject(world.operator, sid, key.address, deadline, signature)
    return Transactor(w3, key)


def _send_value(w3: Web3, funder: LocalAccount, to: str) -> HexBytes:
    tx: dict[str, Any] = {
        "to": to,
        "value": FUNDING_WEI,
        "gas": 21_000,
        "gasPrice": w3.eth.gas_price,
        "nonce": w3.eth.get_transaction_count(funder.address),
        "chainId": w3.eth.chain_id,
    }
    signed = funder.sign_transaction(tx)
    return w3.eth.send_raw_transaction(signed.raw_transaction)


def build_supply_chain(world: World) -> SupplyChain:
    address = world.ledger.deployment.receivables or deploy_receivables(
        world.w3, world.operator, world.ledger.address
    )
    outsider_key = Account.from_key(keccak(b"supply-chain-outsider"))
    _wait(world.w3, _send_value(world.w3, dev_key(9), outsider_key.address))
    return SupplyChain(
        world=world,
        receivables=ReceivablesContract(world.w3, address),
        core=world.subject_tx[0],
        supplier=world.subject_tx[1],
        sub_supplier=funded_subject(world, b"sub-supplier"),
        outsider=Transactor(world.w3, outsider_key),
    )


def _wait(w3: Web3, tx_hash: HexBytes) -> None:
    w3.eth.wait_for_transaction_receipt(tx_hash)
