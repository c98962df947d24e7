"""The embedded chain keeps everything across restarts and crashes, and reads logs by index."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_tester import EthereumTester
from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from web3 import Web3

from ledger_api.chain.embedded import EmbeddedChain, EmbeddedProvider, open_embedded
from ledger_api.chain.embedded_store import LogQuery
from ledger_api.errors import ChainError

REPO = Path(__file__).resolve().parents[2]

# Hand-assembled contracts, so these tests need no compiler and no ledger artifact.
# LOG2 emitter: topic0 = calldata[0:32], topic1 = calldata[32:64], data = calldata[64:];
# then SSTORE(slot = topic0, value = topic1) so storage can be checked across restarts.
LOG2_RUNTIME = bytes.fromhex(
    "6040360380604060003760003560203591"  # len = size - 64; calldatacopy; t1, t0, len
    "6000a2"  # LOG2(0, len, t0, t1)
    "60203560003555"  # SSTORE(cd[0], cd[32])
    "00"
)
# LOG1 emitter: topic0 = calldata[0:32], data = calldata[32:].
LOG1_RUNTIME = bytes.fromhex("60203603806020600037600035906000a100")

STORED_TOPIC = keccak(text="Stored(bytes32,uint256)")
STORED_ABI = [
    {
        "type": "event",
        "name": "Stored",
        "anonymous": False,
        "inputs": [
            {"name": "key", "type": "bytes32", "indexed": True},
            {"name": "value", "type": "uint256", "indexed": False},
        ],
    }
]


def initcode(runtime: bytes) -> bytes:
    """PUSH1 len DUP1 PUSH1 11 PUSH1 0 CODECOPY PUSH1 0 RETURN, then the runtime."""
    return bytes.fromhex(f"60{len(runtime):02x}80600b6000396000f3") + runtime


def word(value: int | bytes) -> bytes:
    return value.to_bytes(32, "big") if isinstance(value, int) else value.rjust(32, b"\0")


def sender(chain: EmbeddedChain, index: int = 0) -> ChecksumAddress:
    return to_checksum_address(Account.from_key(chain.dev_keys[index]).address)


def deploy(chain: EmbeddedChain, runtime: bytes) -> ChecksumAddress:
    tx = chain.w3.eth.send_transaction({"from": sender(chain), "data": initcode(runtime)})
    address = chain.w3.eth.get_transaction_receipt(tx)["contractAddress"]
    assert address is not None
    return to_checksum_address(address)


def emit(
    chain: EmbeddedChain, contract: ChecksumAddress, *topics: bytes, data: bytes = b""
) -> HexBytes:
    """Send a transaction that makes ``contract`` log; returns the transaction hash."""
    return chain.w3.eth.send_transaction(
        {"from": sender(chain), "to": contract, "data": b"".join(topics) + data}
    )


def emit_signed(
    chain: EmbeddedChain, contract: ChecksumAddress, key: str, *topics: bytes
) -> HexBytes:
    """Like ``emit`` but signed locally and sent raw, the way the platform sends."""
    w3 = chain.w3
    account = Account.from_key(key)
    signed = account.sign_transaction(
        {
            "to": contract,
            "data": b"".join(topics),
            "gas": 200_000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
            "nonce": w3.eth.get_transaction_count(account.address),
            "chainId": w3.eth.chain_id,
        }
    )
    return w3.eth.send_raw_transaction(signed.raw_transaction)


def plain(logs: Any) -> list[dict[str, Any]]:
    """Logs as comparable dicts, without the JSON-RPC ``removed`` flag eth-tester lacks."""
    return [{k: v for k, v in dict(log).items() if k != "removed"} for log in logs]


def scanned_logs(chain: EmbeddedChain, **params: Any) -> list[dict[str, Any]]:
    """eth-tester's own get_logs (walks every block) on the same chain."""
    return plain(EthereumTester.get_logs(chain.tester, **params))


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[EmbeddedChain]:
    with open_embedded(tmp_path / "chain") as opened:
        yield opened


def test_dev_keys_are_eth_testers_funded_defaults(chain: EmbeddedChain) -> None:
    assert chain.dev_keys[0] == "0x" + "00" * 31 + "01"
    assert chain.dev_keys[1] == "0x" + "00" * 31 + "02"
    assert isinstance(chain.provider, EmbeddedProvider)
    for key in chain.dev_keys:
        assert chain.w3.eth.get_balance(Account.from_key(key).address) >= 10**24


def test_each_transaction_is_mined_in_its_own_block(chain: EmbeddedChain) -> None:
    contract = deploy(chain, LOG2_RUNTIME)
    start = chain.head_number
    emit(chain, contract, word(1), word(2))
    emit_signed(chain, contract, chain.dev_keys[1], word(3), word(4))
    assert chain.head_number == start + 2
    assert chain.w3.eth.block_number == start + 2


def _summary(chain: EmbeddedChain, contract: str, slots: list[int]) -> dict[str, Any]:
    w3 = chain.w3
    head = w3.eth.block_number
    return {
        "head": head,
        "hashes": [w3.eth.get_block(n)["hash"].hex() for n in range(head + 1)],
        "code": w3.eth.get_code(to_checksum_address(contract)).hex(),
        "storage": [w3.eth.get_storage_at(to_checksum_address(contract), s).hex() for s in slots],
        "nonce": w3.eth.get_transaction_count(sender(chain)),
        "balance": w3.eth.get_balance(sender(chain)),
        "logs": [
            json.loads(Web3.to_json(log))
            for log in plain(w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest"}))
        ],
    }


def test_reopened_chain_has_the_same_blocks_state_and_logs(tmp_path: Path) -> None:
    data = tmp_path / "chain"
    with open_embedded(data) as chain:
        contract = deploy(chain, LOG2_RUNTIME)
        for i in range(1, 6):
            emit(chain, contract, word(i), word(100 + i), data=b"payload")
        before = _summary(chain, contract, [1, 5, 6])
        assert before["storage"][0] == word(101).hex()

    with open_embedded(data) as chain:
        assert _summary(chain, contract, [1, 5, 6]) == before
        head_hash = chain.w3.eth.get_block("latest")["hash"]
        emit(chain, contract, word(6), word(106))
        block = chain.w3.eth.get_block("latest")
        assert block["number"] == before["head"] + 1
        assert block["parentHash"] == head_hash
        assert chain.w3.eth.get_storage_at(to_checksum_address(contract), 6) == word(106)


def test_a_chain_can_only_be_open_once(tmp_path: Path) -> None:
    with open_embedded(tmp_path / "chain"), pytest.raises(ChainError) as refused:
        open_embedded(tmp_path / "chain")
    assert refused.value.code == "chain_locked"
    open_embedded(tmp_path / "chain").close()  # released on close


_SUMMARY_HELPERS = """
import json, sys
from pathlib import Path
from tests.chain.test_embedded_chain import _summary, deploy, emit, word, LOG2_RUNTIME
from ledger_api.chain.embedded import open_embedded
"""


def _script(body: str) -> str:
    """A child-process program: the shared imports, then ``body``."""
    return _SUMMARY_HELPERS + textwrap.dedent(body)


def _run(body: str, *args: str) -> str:
    """Run ``body`` in a fresh interpreter; its standard output."""
    done = subprocess.run(
        [sys.executable, "-c", _script(body), *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_chain_written_by_one_process_is_read_by_another(tmp_path: Path) -> None:
    data = str(tmp_path / "chain")
    writer = _run(
        """
        with open_embedded(Path(sys.argv[1])) as chain:
            contract = deploy(chain, LOG2_RUNTIME)
            for i in range(1, 4):
                emit(chain, contract, word(i), word(10 * i), data=b"x" * i)
            print(json.dumps([contract, _summary(chain, contract, [1, 2, 3])]))
        """,
        data,
    )
    contract, written = json.loads(writer)
    reader = _run(
        """
        with open_embedded(Path(sys.argv[1])) as chain:
            print(json.dumps(_summary(chain, sys.argv[2], [1, 2, 3])))
        """,
        data,
        contract,
    )
    assert json.loads(reader) == written
    assert written["head"] == 4 and len(written["logs"]) == 3


def test_killed_writer_leaves_a_readable_chain(tmp_path: Path) -> None:
    data = tmp_path / "chain"
    script = _script(
        """
        with open_embedded(Path(sys.argv[1])) as chain:
            contract = deploy(chain, LOG2_RUNTIME)
            print(contract, flush=True)
            i = 0
            while True:
                i += 1
                emit(chain, contract, word(i), word(i))
                print(chain.head_number, flush=True)
        """
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", script, str(data)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    try:
        contract = to_checksum_address(writer.stdout.readline().strip())
        for _ in range(15):
            reported = int(writer.stdout.readline())
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=60)
    assert writer.returncode == -signal.SIGKILL

    with open_embedded(data) as chain:  # the dead writer's lock is gone with it
        head = chain.head_number
        assert head >= reported
        for number in range(head + 1):
            chain.w3.eth.get_block(number)
        logs = chain.w3.eth.get_logs({"fromBlock": 0, "toBlock": head})
        indexed = plain(chain.tester.get_logs(from_block=0, to_block=head))
        assert indexed == scanned_logs(chain, from_block=0, to_block=head)
        assert len(logs) == head - 1  # block 1 deployed, every later block logged once
        slot = head - 1
        assert chain.w3.eth.get_storage_at(to_checksum_address(contract), slot) == word(slot)
        emit(chain, contract, word(0), word(0))
        assert chain.head_number == head + 1


def test_revert_to_snapshot_rolls_back_head_and_log_index(tmp_path: Path) -> None:
    data = tmp_path / "chain"
    with open_embedded(data) as chain:
        w3 = chain.w3
        contract = deploy(chain, LOG2_RUNTIME)
        emit(chain, contract, word(1), word(1))
        base_head = chain.head_number
        base_logs = plain(w3.eth.get_logs({"fromBlock": 0}))
        snapshot = chain.take_snapshot()

        abandoned = emit(chain, contract, word(2), word(2))
        emit(chain, contract, word(3), word(3))
        assert len(w3.eth.get_logs({"fromBlock": 0})) == 3
        abandoned_branch = chain.take_snapshot()

        chain.revert_to_snapshot(snapshot)
        assert chain.head_number == base_head
        assert plain(w3.eth.get_logs({"fromBlock": 0})) == base_logs
        assert chain.store.indexed_head() == base_head
        assert chain.store.find_transaction(abandoned) is None
        with pytest.raises(Exception, match="not found"):
            w3.eth.get_transaction_receipt(abandoned)

        emit(chain, contract, word(4), word(4))  # a new branch at the same height
        new_branch = plain(w3.eth.get_logs({"fromBlock": 0}))
        assert [log["topics"][0] for log in new_branch] == [word(1), word(4)]
        assert plain(chain.tester.get_logs(from_block=0)) == scanned_logs(chain, from_block=0)
        new_branch_head = w3.eth.get_block("latest")["hash"]

        # Reverting onto the abandoned branch is a reorg: the index must follow it too.
        chain.revert_to_snapshot(abandoned_branch)
        assert [log["topics"][0] for log in w3.eth.get_logs({"fromBlock": 0})] == [
            word(1),
            word(2),
            word(3),
        ]
        assert w3.eth.get_transaction_receipt(abandoned)["blockNumber"] == base_head + 1
        chain.revert_to_snapshot(snapshot)
        emit(chain, contract, word(5), word(5))
        persisted_hash = w3.eth.get_block("latest")["hash"]
        assert persisted_hash != new_branch_head

    with open_embedded(data) as chain:  # the reverted head is what was persisted
        assert chain.head_number == base_head + 1
        assert chain.w3.eth.get_block("latest")["hash"] == persisted_hash
        topics = [log["topics"][0] for log in chain.w3.eth.get_logs({"fromBlock": 0})]
        assert topics == [word(1), word(5)]


def test_reset_to_genesis_keeps_the_funded_genesis_state(tmp_path: Path) -> None:
    with open_embedded(tmp_path / "chain") as chain:
        genesis = chain.w3.eth.get_block(0)["hash"]
        contract = deploy(chain, LOG2_RUNTIME)
        emit(chain, contract, word(1), word(1))
        chain.tester.reset_to_genesis()
        assert chain.head_number == 0
        assert chain.w3.eth.get_logs({"fromBlock": 0}) == []
        assert chain.w3.eth.get_code(contract) == b""
    with open_embedded(tmp_path / "chain") as chain:
        assert chain.head_number == 0 and chain.w3.eth.get_block(0)["hash"] == genesis
        assert chain.w3.eth.get_balance(sender(chain)) == 10**24
        assert deploy(chain, LOG2_RUNTIME) == contract  # same sender, same nonce


Busy = tuple[EmbeddedChain, ChecksumAddress, ChecksumAddress]


@pytest.fixture
def busy_chain(chain: EmbeddedChain) -> Busy:
    """Two LOG2 contracts and a LOG1 contract, logging a mix of topics over a dozen blocks."""
    first = deploy(chain, LOG2_RUNTIME)
    second = deploy(chain, LOG2_RUNTIME)
    single = deploy(chain, LOG1_RUNTIME)
    for i in range(4):
        emit(chain, first, word(i % 2), word(10 + i), data=b"first")
        emit(chain, second, word(i % 3), word(10 + i))
        emit(chain, single, word(i % 2), data=b"single")
    chain.mine_blocks(3)
    emit_signed(chain, second, chain.dev_keys[2], word(1), word(99))
    return chain, first, second


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"from_block": 0},
        {"from_block": 0, "to_block": "latest"},
        {"from_block": 5, "to_block": 9},
        {"from_block": 0, "topics": [word(1).hex()]},
        {"from_block": 0, "topics": [None, word(11).hex()]},
        {"from_block": 0, "topics": [[word(0).hex(), word(2).hex()]]},
        {"from_block": 0, "topics": [word(1).hex(), [word(13).hex(), word(99).hex()]]},
        {"from_block": 0, "topics": [None, None]},
        {"from_block": 0, "topics": [None, None, None]},
        {"from_block": 0, "topics": [[word(0).hex(), None]]},
        {"from_block": 0, "topics": []},
    ],
    ids=repr,
)
def test_indexed_logs_equal_eth_testers_scan(busy_chain: Busy, params: dict[str, Any]) -> None:
    chain = busy_chain[0]
    indexed = plain(chain.tester.get_logs(**params))
    assert indexed == scanned_logs(chain, **params)
    if params.get("from_block") == 0 and len(params.get("topics") or ()) < 3:
        assert indexed, "every case from genesis but the three-topic one matches something"


def test_earliest_means_genesis_as_on_json_rpc_nodes(
    busy_chain: Busy,
) -> None:
    """eth-tester's scan treats ``earliest`` as "pending only"; nodes read from block 0."""
    chain = busy_chain[0]
    from_genesis = plain(chain.tester.get_logs(from_block=0, to_block=6))
    assert from_genesis
    assert plain(chain.tester.get_logs(from_block="earliest", to_block=6)) == from_genesis


def test_indexed_logs_filter_by_address_like_eth_tester(
    busy_chain: Busy,
) -> None:
    chain, first, second = busy_chain
    for address in (first, [first, second], [second], first.lower()):
        params = {"from_block": 0, "address": address, "topics": [word(1).hex()]}
        indexed = plain(chain.tester.get_logs(**params))
        assert indexed == scanned_logs(chain, **params)
        assert indexed
    only_first = chain.tester.get_logs(from_block=0, address=first)
    assert {log["address"] for log in only_first} == {first}


def test_web3_reads_logs_through_the_index(busy_chain: Busy) -> None:
    chain, first, _second = busy_chain
    w3 = chain.w3
    logs = w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "address": first})
    assert len(logs) == 4
    log = logs[0]
    assert log["removed"] is False
    assert isinstance(log["blockNumber"], int) and isinstance(log["logIndex"], int)
    receipt = w3.eth.get_transaction_receipt(log["transactionHash"])
    assert plain(receipt["logs"]) == plain([log])

    by_hash = w3.eth.get_logs({"blockHash": log["blockHash"]})
    assert plain(by_hash) == plain([log])

    event_filter = w3.eth.filter({"fromBlock": 0, "address": [first]})
    assert plain(event_filter.get_all_entries()) == plain(logs)
    event_filter.get_new_entries()  # eth-tester queues the back-fill as changes too
    emit(chain, first, word(7), word(7))
    assert [e["topics"][0] for e in event_filter.get_new_entries()] == [word(7)]


def test_contract_events_get_logs_works_unchanged(chain: EmbeddedChain) -> None:
    address = deploy(chain, LOG2_RUNTIME)
    for key, value in ((b"a", 1), (b"b", 2), (b"a", 3)):
        emit(chain, address, STORED_TOPIC, word(key), data=word(value))
    contract = chain.w3.eth.contract(address=to_checksum_address(address), abi=STORED_ABI)
    events = contract.events.Stored().get_logs(
        from_block=0, to_block="latest", argument_filters={"key": word(b"a")}
    )
    assert [e["args"]["value"] for e in events] == [1, 3]
    assert contract.events.Stored().get_logs(from_block=events[1]["blockNumber"])[0] == events[1]


def test_logs_are_numbered_within_the_block(chain: EmbeddedChain) -> None:
    contract = deploy(chain, LOG2_RUNTIME)
    w3 = chain.w3
    chain.tester.disable_auto_mine_transactions()
    for i in (1, 2):  # two senders: eth-tester checks each pending tx against the head state
        second = w3.eth.send_transaction(
            {"from": sender(chain, i), "to": contract, "data": word(i) + word(i)}
        )
    chain.tester.enable_auto_mine_transactions()
    logs = w3.eth.get_logs({"fromBlock": "latest"})
    assert [(log["transactionIndex"], log["logIndex"]) for log in logs] == [(0, 0), (1, 1)]
    assert w3.eth.get_transaction_receipt(second)["logs"][0]["logIndex"] == 1


def _sqlite_steps(chain: EmbeddedChain, read: Any) -> int:
    """SQLite virtual-machine steps spent by ``read``: every chain read goes through SQLite."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    chain.store.connection.set_progress_handler(count, 1)
    try:
        read()
    finally:
        chain.store.connection.set_progress_handler(None, 1)
    return steps


@pytest.mark.slow
def test_reading_logs_at_block_2000_costs_what_it_costs_at_block_10(
    chain: EmbeddedChain,
) -> None:
    w3 = chain.w3
    contract = deploy(chain, LOG2_RUNTIME)
    chain.mine_blocks(8)
    early_tx = emit(chain, contract, word(1), word(1))
    early = chain.head_number
    assert early == 10

    def read_block(number: int) -> Any:
        return lambda: w3.eth.get_logs({"fromBlock": number, "toBlock": number})

    def read_topic(number: int) -> Any:
        return lambda: w3.eth.get_logs(
            {"fromBlock": number, "toBlock": "latest", "topics": [word(1).hex()]}
        )

    def read_receipt() -> Any:
        return lambda: w3.eth.get_transaction_receipt(early_tx)

    early_costs = [
        _sqlite_steps(chain, read_block(early)),
        _sqlite_steps(chain, read_topic(early)),
        _sqlite_steps(chain, read_receipt()),
    ]
    chain.mine_blocks(2000)
    late_tx = emit(chain, contract, word(1), word(2))
    late = chain.head_number
    assert late == 2011
    assert len(read_block(late)()) == 1 and len(read_topic(late)()) == 1
    late_costs = [
        _sqlite_steps(chain, read_block(late)),
        _sqlite_steps(chain, read_topic(late)),
        _sqlite_steps(chain, lambda: w3.eth.get_transaction_receipt(late_tx)),
    ]
    for before, after in zip(early_costs, late_costs, strict=True):
        assert after <= 2 * before, (early_costs, late_costs)
    # The measure does see chain reads: walking a hundred blocks costs far more.
    walk = _sqlite_steps(chain, lambda: [w3.eth.get_block(n) for n in range(late - 100, late)])
    assert walk > 10 * max(late_costs)
    # The early receipt is found without walking back from the head either.
    assert _sqlite_steps(chain, read_receipt()) <= 2 * early_costs[2]

    plan = " ".join(chain.store.explain(LogQuery(late, late, None, ((word(1),),))))
    assert "SEARCH" in plan and "SCAN" not in plan


def test_next_block_timestamp_and_time_travel(chain: EmbeddedChain) -> None:
    w3 = chain.w3
    contract = deploy(chain, LOG2_RUNTIME)
    now = w3.eth.get_block("latest")["timestamp"]
    chain.set_next_block_timestamp(now + 3600)
    emit(chain, contract, word(1), word(1))
    assert w3.eth.get_block("latest")["timestamp"] == now + 3600
    emit(chain, contract, word(2), word(2))
    assert w3.eth.get_block("latest")["timestamp"] > now + 3600

    chain.time_travel(now + 86_400)
    emit(chain, contract, word(3), word(3))
    assert w3.eth.get_block("latest")["timestamp"] == now + 86_400
    with pytest.raises(Exception, match="must be after"):
        chain.set_next_block_timestamp(now)


def test_first_block_after_an_idle_spell_carries_the_current_time(
    chain: EmbeddedChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """py-evm stamps the pending block when the previous one is mined; grants expire by
    block time, so a transaction after a quiet day must not be stamped a day early."""
    contract = deploy(chain, LOG2_RUNTIME)
    mined_at = chain.w3.eth.get_block("latest")["timestamp"]
    monkeypatch.setattr(time, "time", lambda: float(mined_at + 86_400))
    emit(chain, contract, word(1), word(1))
    assert chain.w3.eth.get_block("latest")["timestamp"] == mined_at + 86_400


def test_durable_mode_syncs_every_commit(tmp_path: Path) -> None:
    with open_embedded(tmp_path / "chain", durable=True) as chain:
        assert chain.store.connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert chain.store.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_web3_over_the_embedded_provider_is_plain_web3(chain: EmbeddedChain) -> None:
    assert isinstance(chain.w3, Web3)
    assert chain.w3.is_connected()
    assert chain.w3.eth.chain_id == EthereumTester().backend.chain.chain_id
