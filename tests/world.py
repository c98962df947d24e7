"""A deployed ledger with the usual cast of members, shared by every test that needs a chain."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import EthereumTesterProvider, Web3

from ledger_api.anchoring.merkle import record_leaf
from ledger_api.chain.deployment import deploy_ledger
from ledger_api.chain.ledger import Ledger, RecordLeaf
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


def subject_record(subject_id: bytes, n: int) -> RecordLeaf:
    """A made-up data record of ``subject_id`` (its leaf preimage), distinct for each ``n``."""
    tag = b"%d-" % n + subject_id
    return RecordLeaf(keccak(b"salt" + tag), keccak(b"uid" + tag), subject_id, n % 15,
                      keccak(b"digest" + tag))  # fmt: skip


def leaf_of(record: RecordLeaf) -> bytes:
    return record_leaf(*record.as_tuple())


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
    governance: Transactor
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
            self.governance,
            *self.subject_tx,
        ]

    def forget_nonces(self) -> None:
        for t in self.transactors:
            t.forget_nonce()


def build_world(w3: Web3 | None = None) -> World:
    w3 = w3 or Web3(EthereumTesterProvider())
    tx = [Transactor(w3, dev_key(i)) for i in range(1, 7)]
    operator, regulator, provider, bank, bank_b, insurer = tx
    # Role administration is a separate key (dev key 10), never the operator's.
    governance = Transactor(w3, dev_key(10))
    ledger = Ledger(w3, deploy_ledger(w3, operator, governance.address))
    ledger.grant_role(governance, "REGULATOR_ROLE", regulator.address)
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
        governance,
        agreement_id=agreement,
    )
    world.subject_tx = [Transactor(w3, keys[0]), Transactor(w3, keys[1])]
    return world
