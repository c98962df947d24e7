"""The durable transaction queue: one sender per key across processes, crash-safe.

The cross-process tests run real processes against anvil and PostgreSQL (the production
shape); the refusal test runs on the embedded chain, which refuses reverts on send.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from nodes import ANVIL_KEY, PG_URL, anvil_node, postgres_schema
from sqlalchemy import Engine, select
from txqueue_sender import institution_address
from web3 import Web3
from web3.types import Wei
from world import World

from ledger_api.chain.deployment import deploy_ledger
from ledger_api.chain.ledger import Ledger
from ledger_api.chain.transactor import Transactor
from ledger_api.chain.txqueue import FAILED, MINED, REJECTED, SENT, SIGNED, TxQueue
from ledger_api.chain.types import InstitutionType
from ledger_api.errors import ChainError
from ledger_api.store.chain_transactions import ChainTransaction
from ledger_api.store.db import make_engine, migrate

SENDER = Path(__file__).with_name("txqueue_sender.py")
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Production:
    url: str
    w3: Web3
    engine: Engine
    schema: str
    ledger: Ledger
    deployment_file: Path

    def queue(self) -> TxQueue:
        return TxQueue(self.engine, self.w3, Account.from_key(ANVIL_KEY))

    def run_sender(self, first: int, count: int, fault: str = "") -> subprocess.Popen[bytes]:
        args = [PG_URL, self.schema, str(self.deployment_file), str(first), str(count)]
        return subprocess.Popen(
            [sys.executable, str(SENDER), self.url, *args, *([fault] if fault else [])],
            cwd=ROOT,
            stderr=subprocess.PIPE,
        )

    def rows(self) -> list[ChainTransaction]:
        table = ChainTransaction.__table__
        with self.engine.connect() as conn:
            return list(conn.execute(select(table).order_by(table.c.id)).all())  # type: ignore[arg-type]

    def operator_nonce(self) -> int:
        return int(self.w3.eth.get_transaction_count(Account.from_key(ANVIL_KEY).address))

    def registered(self, index: int) -> bool:
        return self.ledger.institution_profile(institution_address(index)) is not None


@pytest.fixture
def production(tmp_path: Path) -> Iterator[Production]:
    with anvil_node() as (url, w3), postgres_schema("ccl_txq") as schema:
        engine = make_engine(PG_URL, schema=schema)
        migrate(engine)
        account = Account.from_key(ANVIL_KEY)
        operator = Transactor(w3, account, TxQueue(engine, w3, account))
        deployment = deploy_ledger(w3, operator, Account.create().address)
        deployment_file = tmp_path / "deployment.json"
        deployment.save(deployment_file)
        try:
            yield Production(url, w3, engine, schema, Ledger(w3, deployment), deployment_file)
        finally:
            engine.dispose()


@pytest.mark.anvil
@pytest.mark.postgres
@pytest.mark.xdist_group("anvil")
def test_processes_sending_with_one_key_at_once_never_conflict(production: Production) -> None:
    before = production.operator_nonce()
    senders = [production.run_sender(first, 15) for first in (0, 100, 200)]
    for sender in senders:
        _out, err = sender.communicate(timeout=300)
        assert sender.returncode == 0, err.decode()[-2000:]
    assert production.operator_nonce() == before + 45  # each relay sent exactly once
    assert all(
        production.registered(i) for first in (0, 100, 200) for i in range(first, first + 15)
    )
    relays = [row for row in production.rows() if row.function == "registerInstitution"]
    assert len(relays) == 45
    assert {row.state for row in relays} == {MINED}
    assert sorted(row.nonce or 0 for row in relays) == list(range(before, before + 45))


@pytest.mark.anvil
@pytest.mark.postgres
@pytest.mark.xdist_group("anvil")
def test_a_sender_killed_after_writing_and_before_sending_is_finished_by_the_next(
    production: Production,
) -> None:
    before = production.operator_nonce()
    killed = production.run_sender(7, 1, "after_write")
    killed.communicate(timeout=120)
    assert killed.returncode == -9
    [row] = [r for r in production.rows() if r.function == "registerInstitution"]
    assert row.state == SIGNED and not production.registered(7)
    assert production.operator_nonce() == before  # nothing reached the node

    assert production.queue().recover() == {"mined": 0, "rebroadcast": 1}
    queue = production.queue()
    assert queue.recover()["mined"] == 1  # the broadcast bytes were mined
    assert production.registered(7)
    assert production.operator_nonce() == before + 1
    [row] = [r for r in production.rows() if r.function == "registerInstitution"]
    assert row.state == MINED and row.block_number is not None


@pytest.mark.anvil
@pytest.mark.postgres
@pytest.mark.xdist_group("anvil")
def test_a_sender_killed_after_sending_has_its_receipt_recorded_and_nothing_resent(
    production: Production,
) -> None:
    before = production.operator_nonce()
    killed = production.run_sender(8, 1, "after_send")
    killed.communicate(timeout=120)
    assert killed.returncode == -9
    [row] = [r for r in production.rows() if r.function == "registerInstitution"]
    assert row.state == SENT
    assert production.registered(8)

    assert production.queue().recover() == {"mined": 1, "rebroadcast": 0}
    [row] = [r for r in production.rows() if r.function == "registerInstitution"]
    assert row.state == MINED
    # The next relay takes the next nonce: the killed one is neither reused nor sent again.
    Ledger.register_institution(
        production.ledger,
        Transactor(production.w3, Account.from_key(ANVIL_KEY), production.queue()),
        institution_address(9),
        InstitutionType.BANK,
        "Bank 9",
    )
    assert production.operator_nonce() == before + 2


@pytest.mark.anvil
@pytest.mark.postgres
@pytest.mark.xdist_group("anvil")
def test_a_stuck_transaction_is_replaced_with_a_higher_fee_and_mined_once(
    production: Production,
) -> None:
    w3 = production.w3
    before = production.operator_nonce()
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    queue = production.queue()
    operator = Transactor(w3, Account.from_key(ANVIL_KEY), queue)
    sent = operator.send(
        production.ledger.contract.functions.registerInstitution(
            institution_address(11), int(InstitutionType.BANK), "Bank 11"
        )
    )
    assert sent.queued is not None
    replacement = queue.replace(sent.queued.row_id)
    assert replacement is not None and replacement != sent.tx_hash
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    receipt = operator.confirm(sent)
    assert receipt["transactionHash"] == replacement
    assert production.registered(11)
    assert production.operator_nonce() == before + 1
    [row] = [r for r in production.rows() if r.function == "registerInstitution"]
    assert row.state == MINED and row.gas_price > int(sent.tx["gasPrice"])
    assert row.replaced_hashes == "0x" + bytes(sent.tx_hash).hex()


def _queue_states(engine: Engine) -> list[tuple[str, int | None]]:
    table = ChainTransaction.__table__
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.state, table.c.nonce).order_by(table.c.id))
        return [(state, nonce) for state, nonce in rows]


def test_a_transaction_reverted_on_chain_is_recorded_as_failed_with_its_reason(
    world: World, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'queue.sqlite'}")
    migrate(engine)
    account = world.operator.account
    operator = Transactor(world.w3, account, TxQueue(engine, world.w3, account))
    bank = institution_address(21)
    world.ledger.register_institution(operator, bank, InstitutionType.BANK, "Bank 21")
    with pytest.raises(ChainError):  # already registered
        world.ledger.register_institution(operator, bank, InstitutionType.BANK, "Bank 21")
    first = _queue_states(engine)[0][1]
    assert first is not None
    assert _queue_states(engine) == [(MINED, first), (FAILED, first + 1)]
    engine.dispose()


def test_a_transaction_the_node_refuses_gives_its_nonce_back(world: World, tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'queue.sqlite'}")
    migrate(engine)
    unfunded = Account.create()
    queue = TxQueue(engine, world.w3, unfunded)
    transfer = {"to": world.operator.address, "data": b"", "gas": 21_000, "gasPrice": 10**9}
    with pytest.raises(ChainError):  # it cannot pay for gas
        queue.submit(transfer, "transfer")
    assert _queue_states(engine) == [(REJECTED, None)]
    world.w3.eth.send_transaction(
        {"from": world.w3.eth.accounts[0], "to": unfunded.address, "value": Wei(10**17)}
    )
    queue.wait(queue.submit(transfer, "transfer"))
    assert _queue_states(engine) == [(REJECTED, None), (MINED, 0)]  # nonce 0 handed out again
    engine.dispose()
