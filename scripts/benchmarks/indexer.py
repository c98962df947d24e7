"""Indexer benchmark: catch-up speed on anvil (JSON-RPC) and on the embedded chain.

* ``events_per_s``: 100,000 ``GrantIssued`` events on anvil (1,000 ``issueGrantsBySig``
  transactions of 100 signed grants, automined one per block), indexed from scratch into a
  fresh SQLite file. Only the indexer's catch-up is timed, not generating the events.
* ``embedded_blocks_per_s``: the embedded chain (open_embedded in a temporary directory) with
  the usual test world, a few hundred grants and 3,000 empty blocks, indexed from scratch.

Grants are signed with a hand-built EIP-712 digest and coincurve (about 50x faster than
eth-account's typed-data path; the first signature is checked against eth-account's), and the
batch calldata is ABI-encoded directly: generation is not what is measured, but it should not
take ten minutes either.

Prints progress to stderr; ``run()`` returns the figures.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from coincurve import PrivateKey
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak
from hexbytes import HexBytes
from web3 import Web3

from indexer.follower import Indexer
from ledger_api.chain import eip712
from ledger_api.chain.deployment import Deployment, deploy_ledger
from ledger_api.chain.ledger import GrantTerms, Ledger
from ledger_api.chain.transactor import GAS_BATCH_BASE, GAS_PER_BATCHED_GRANT, Transactor
from ledger_api.chain.types import AccessLevel, InstitutionType, Purpose
from ledger_api.settings import Settings
from ledger_api.store.db import make_engine, migrate

ROOT = Path(__file__).resolve().parents[2]
ANVIL = ROOT / "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
ANVIL_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
)
EVENTS_TARGET = 100_000
BATCH = 100
EMBEDDED_EMPTY_BLOCKS = 3_000
_DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
BATCH_TYPE = "((address,uint32,uint8,uint8,uint64,uint64,uint32),address,uint64,bytes32,bytes32)[]"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fresh_engine(directory: Path, name: str) -> Any:
    url = f"sqlite:///{directory / name}"
    migrate(url)
    return make_engine(url)


def _time_catch_up(w3: Web3, deployment: Deployment, engine: Any) -> tuple[float, int, int]:
    indexer = Indexer.for_engine(w3, deployment, engine, Settings(), confirmation_depth=0)
    start = time.perf_counter()
    events = indexer.catch_up()
    elapsed = time.perf_counter() - start
    status = indexer.status()
    return elapsed, events, (status.indexed_block or 0) - deployment.deployment_block + 1


class _FastGrantSigner:
    """EIP-712 ``Grant`` signatures from one key, computed directly (checked once)."""

    def __init__(self, ledger: Ledger, key: str) -> None:
        self.key = PrivateKey(bytes.fromhex(key.removeprefix("0x")))
        self.account = Account.from_key(key)
        domain = ledger.domain
        self.separator = keccak(
            keccak(text=_DOMAIN_TYPE)
            + keccak(text=eip712.DOMAIN_NAME) + keccak(text=eip712.DOMAIN_VERSION)
            + domain.chain_id.to_bytes(32, "big")
            + bytes.fromhex(domain.verifying_contract[2:]).rjust(32, b"\0")
        )  # fmt: skip
        self.type_hash = eip712.type_hash("Grant")
        self.domain = domain

    def compact(self, terms: GrantTerms, nonce: int, deadline: int) -> tuple[Any, ...]:
        words = [
            bytes.fromhex(terms.institution[2:]).rjust(32, b"\0"),
            *(v.to_bytes(32, "big") for v in (terms.categories, int(terms.purpose),
              int(terms.level), terms.not_before, terms.not_after, terms.max_uses, nonce,
              deadline)),
        ]  # fmt: skip
        digest = keccak(b"\x19\x01" + self.separator + keccak(self.type_hash + b"".join(words)))
        signature = self.key.sign_recoverable(digest, hasher=None)
        r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
        vs = (v << 255 | s).to_bytes(32, "big")
        return (terms.as_tuple(), self.account.address, deadline, r, vs)

    def check_against_eth_account(self, terms: GrantTerms, deadline: int) -> None:
        reference = eip712.sign_typed(self.account.key, self.domain, "Grant",
                                      terms.as_message(0, deadline))  # fmt: skip
        mine = self.compact(terms, 0, deadline)
        if reference[:32] != mine[3]:
            raise RuntimeError("fast EIP-712 digest differs from eth-account's")


def _generate_on_anvil(w3: Web3) -> tuple[Deployment, int]:
    operator = Transactor(w3, Account.from_key(ANVIL_KEYS[0]))
    # The benchmark never administers roles: a fresh governance key, then forgotten.
    ledger = Ledger(w3, deploy_ledger(w3, operator, Account.create().address))
    institution = Account.from_key(ANVIL_KEYS[1]).address
    ledger.register_institution(operator, institution, InstitutionType.BANK, "Bench Bank")
    subject = Account.from_key(ANVIL_KEYS[2])
    deadline, signature = ledger.sign_registration(subject, keccak(b"bench-subject"))
    ledger.bind_subject(operator, keccak(b"bench-subject"), subject.address, deadline, signature)
    now = int(time.time())
    terms = GrantTerms(institution, 0b1110, Purpose.LOAN_APPLICATION, AccessLevel.QUERY,
                       now - 60, now + 86400 * 365)  # fmt: skip
    signer = _FastGrantSigner(ledger, ANVIL_KEYS[2])
    deadline = now + 86400
    signer.check_against_eth_account(terms, deadline)
    selector = ledger.contract.functions.issueGrantsBySig([]).selector
    account = operator.account
    base = ledger.nonce_of(subject.address)  # registration used the first nonce
    nonce = w3.eth.get_transaction_count(account.address)
    gas_price = w3.eth.gas_price
    chain_id = w3.eth.chain_id
    last_hash = HexBytes(b"")
    for tx_number in range(EVENTS_TARGET // BATCH):
        batch = [
            signer.compact(terms, base + tx_number * BATCH + i, deadline) for i in range(BATCH)
        ]
        data = bytes.fromhex(selector[2:]) + abi_encode([BATCH_TYPE], [batch])
        tx: dict[str, Any] = {"to": ledger.address, "data": data, "nonce": nonce + tx_number,
              "gasPrice": gas_price, "gas": GAS_BATCH_BASE + GAS_PER_BATCHED_GRANT * BATCH,
              "chainId": chain_id}  # fmt: skip
        last_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        if tx_number == 0 and w3.eth.wait_for_transaction_receipt(last_hash)["status"] != 1:
            raise RuntimeError("the first grant batch reverted")
        if tx_number % 100 == 99:
            _log(f"  sent {(tx_number + 1) * BATCH} grants")
    receipt = w3.eth.wait_for_transaction_receipt(last_hash, timeout=600)
    if receipt["status"] != 1:
        raise RuntimeError("a grant batch reverted")
    return ledger.deployment, ledger.contract.functions.grantCount().call()


def bench_anvil(directory: Path) -> dict[str, Any]:
    port = _free_port()
    process = subprocess.Popen(
        [str(ANVIL), "--port", str(port), "--host", "127.0.0.1", "--silent",
         "--gas-limit", "60000000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{port}", request_kwargs={"timeout": 600}))
        while not w3.is_connected():
            time.sleep(0.05)
        _log(f"anvil: generating {EVENTS_TARGET} GrantIssued events")
        started = time.perf_counter()
        deployment, grants = _generate_on_anvil(w3)
        _log(f"  generated {grants} grants in {time.perf_counter() - started:.1f}s; indexing")
        engine = _fresh_engine(directory, "anvil.sqlite")
        elapsed, events, blocks = _time_catch_up(w3, deployment, engine)
        engine.dispose()
    finally:
        process.terminate()
        process.wait(timeout=30)
    return {
        "anvil_events": events,
        "anvil_blocks": blocks,
        "anvil_catch_up_s": round(elapsed, 2),
        "events_per_s": round(events / elapsed),
    }


def bench_embedded(directory: Path) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "tests"))
    from world import build_world  # the same cast of members as the tests

    from ledger_api.chain.embedded import open_embedded

    with open_embedded(directory / "chain") as chain:
        _log("embedded: building the world, grants and empty blocks")
        world = build_world(chain.w3)
        key = world.subject_keys[1]
        nonce = world.ledger.nonce_of(key.address)
        now = int(time.time())
        terms = GrantTerms(world.bank.address, 0b110, Purpose.LOAN_APPLICATION,
                           AccessLevel.QUERY, now - 60, now + 86400)  # fmt: skip
        signer = _FastGrantSigner(world.ledger, "0x" + bytes(key.key).hex())
        for round_number in range(3):
            batch = [signer.compact(terms, nonce + round_number * BATCH + i, now + 3600)
                     for i in range(BATCH)]  # fmt: skip
            world.ledger.transact(world.operator, "issueGrantsBySig", batch,
                                  gas=GAS_BATCH_BASE + GAS_PER_BATCHED_GRANT * BATCH)  # fmt: skip
            chain.mine_blocks(EMBEDDED_EMPTY_BLOCKS // 3)
        engine = _fresh_engine(directory, "embedded.sqlite")
        _log("  indexing")
        elapsed, events, blocks = _time_catch_up(chain.w3, world.ledger.deployment, engine)
        engine.dispose()
    return {
        "embedded_blocks": blocks,
        "embedded_events": events,
        "embedded_catch_up_s": round(elapsed, 2),
        "embedded_blocks_per_s": round(blocks / elapsed),
    }


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ccl-bench-indexer-") as tmp:
        directory = Path(tmp)
        result = {**bench_embedded(directory), **bench_anvil(directory)}
    result["database"] = "sqlite"
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(run(), sort_keys=True))
