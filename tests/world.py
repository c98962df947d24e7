"""A deployed ledger with the usual cast of members, shared by every test that needs a chain."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import EthereumTesterProvider, Web3

from ledger_api.chain.deployment import deploy_ledger
from ledger_api.chain.ledger import Ledger
from ledger_api.chain.transactor import Transactor
from ledger_api.chain.types import InstitutionType, Purpose, mask_of
from ledger_api.identity.uscc import subject_id

PSEUDONYM_KEY = b"\x11" * 32
ALL_CATEGORIES = (1 << 15) - 1
ALL_PURPOSES = mask_of(list(Purpose))
USCCS = ("91410100MA0000001X", "91350100M000100Y43", "91110000600037341L")


def dev_key(i: int) -> LocalAccount:
    """eth-tester's funded accounts have private keys 1, 2, 3, ..."""
    return Account.from_key(i.to_bytes(32, "big"))


@dataclass
class World:
    w3: Web3
    ledger: Ledger
    operator: Transactor
    regulator: Transactor
    provider: Transactor
    bank: Transactor
    bank_b: Transactor
    insurer: Transactor
    subject_keys: list[LocalAccount]
    subject_ids: list[bytes]
    subject_tx: list[Transactor] = field(default_factory=list)
    agreement_id: int = 0

    @property
    def transactors(self) -> list[Transactor]:
        return [
            self.operator,
            self.regulator,
            self.provider,
            self.bank,
            self.bank_b,
            self.insurer,
            *self.subject_tx,
        ]

    def forget_nonces(self) -> None:
        for t in self.transactors:
            t.forget_nonce()


def build_world(w3: Web3 | None = None) -> World:
    w3 = w3 or Web3(EthereumTesterProvider())
    tx = [Transactor(w3, dev_key(i)) for i in range(1, 7)]
    operator, regulator, provider, bank, bank_b, insurer = tx
    ledger = Ledger(w3, deploy_ledger(w3, operator))
    ledger.grant_role(operator, "REGULATOR_ROLE", regulator.address)
    ledger.grant_role(operator, "PROVIDER_ROLE", provider.address)
    ledger.register_institution(operator, bank.address, InstitutionType.BANK, "中原银行郑州分行")
    ledger.register_institution(operator, bank_b.address, InstitutionType.BANK, "Bank B")
    ledger.register_institution(operator, insurer.address, InstitutionType.INSURER, "Insurer C")
    now = int(time.time())
    agreement = ledger.propose_agreement(
        operator,
        bank.address,
        ALL_CATEGORIES,
        ALL_PURPOSES,
        now - 60,
        now + 365 * 86400,
        b"\x01" * 32,
    )
    ledger.transact(bank, "acceptAgreement", agreement)
    # Subjects 0 and 1 hold funded dev keys (7, 8) so they can also send transactions directly.
    keys = [dev_key(7), dev_key(8), Account.create()]
    ids = [subject_id(u, PSEUDONYM_KEY) for u in USCCS]
    for key, sid in zip(keys, ids, strict=True):
        deadline, signature = ledger.sign_registration(key, sid)
        ledger.bind_subject(operator, sid, key.address, deadline, signature)
    world = World(
        w3,
        ledger,
        operator,
        regulator,
        provider,
        bank,
        bank_b,
        insurer,
        keys,
        ids,
        agreement_id=agreement,
    )
    world.subject_tx = [Transactor(w3, keys[0]), Transactor(w3, keys[1])]
    return world
