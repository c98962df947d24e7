"""Decoding is pure: log -> EventRecord and back, equal to web3's own ``process_log``."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from activity import everything
from receivables_kit import SupplyChain
from web3 import Web3
from world import World

from indexer.decode import (
    EventRecord,
    decode_log,
    encode_log,
    ledger_event_specs,
)
from ledger_api.chain.artifacts import ledger_abi, load_artifact

ADDRESS = Web3.to_checksum_address("0x00000000000000000000000000000000000000c1")
_counter = itertools.count(1)


def sample(abi_type: str) -> Any:
    n = next(_counter)
    if abi_type == "address":
        return Web3.to_checksum_address(n.to_bytes(20, "big"))
    if abi_type.startswith("bytes"):
        return bytes([n % 256]) * int(abi_type.removeprefix("bytes"))
    if abi_type == "string":
        return f"中原银行 {n}"
    bits = int(abi_type.removeprefix("uint"))
    return (1 << bits) - 1 - n  # large values: catches truncation and sign mistakes


def web3_args(log: dict[str, Any]) -> dict[str, Any]:
    """What web3's public ``process_log`` makes of the same log (the reference decoder)."""
    # Both contracts' events (their functions collide: CONTRACT_VERSION, nonces, eip712Domain).
    events = {e["name"]: e for e in [*ledger_abi(), *load_artifact("Receivables")["abi"]]
              if e["type"] == "event"}  # fmt: skip
    contract = Web3().eth.contract(address=ADDRESS, abi=list(events.values()))
    spec = ledger_event_specs()[bytes(log["topics"][0])]
    return dict(contract.events[spec.name]().process_log(log)["args"])


@pytest.mark.parametrize("spec", ledger_event_specs().values(), ids=lambda s: s.name)
def test_every_event_type_round_trips_and_matches_web3(spec: Any) -> None:
    record = EventRecord(
        name=spec.name,
        block_number=12345,
        block_hash=b"\xab" * 32,
        log_index=7,
        tx_hash=b"\xcd" * 32,
        tx_index=2,
        args={name: sample(t) for name, t in (*spec.indexed, *spec.data)},
    )
    record = EventRecord(**{**record.__dict__, "args": {n: record.args[n] for n in spec.order}})
    log = encode_log(record, ADDRESS)
    assert decode_log(log) == record
    assert dict(decode_log(log).args) == web3_args(log)  # type: ignore[union-attr]


def test_decoding_accepts_raw_json_rpc_logs_with_hex_strings() -> None:
    spec = next(s for s in ledger_event_specs().values() if s.name == "GrantIssued")
    record = EventRecord(
        spec.name,
        5,
        b"\x01" * 32,
        0,
        b"\x02" * 32,
        0,
        {"grantId": 9, "subjectIndex": 3, "institution": ADDRESS, "terms": 2**200},
    )
    log = encode_log(record, ADDRESS)
    raw = {
        "blockNumber": hex(log["blockNumber"]),
        "blockHash": "0x" + log["blockHash"].hex(),
        "logIndex": "0x0",
        "transactionHash": "0x" + log["transactionHash"].hex(),
        "transactionIndex": "0x0",
        "topics": ["0x" + t.hex() for t in log["topics"]],
        "data": "0x" + log["data"].hex(),
    }
    assert decode_log(raw) == record


def test_logs_of_unknown_events_are_skipped_not_fatal() -> None:
    log = {
        "topics": [b"\x99" * 32],
        "data": b"",
        "blockNumber": 1,
        "blockHash": b"\x00" * 32,
        "logIndex": 0,
        "transactionHash": b"\x00" * 32,
        "transactionIndex": 0,
    }
    assert decode_log(log) is None


def test_real_ledger_logs_decode_like_web3(world: World) -> None:
    everything(world)
    logs = world.w3.eth.get_logs(
        {"fromBlock": 0, "toBlock": "latest", "address": world.ledger.address}
    )
    names = set()
    for log in logs:
        record = decode_log(log)
        assert record is not None
        assert dict(record.args) == dict(
            world.ledger.contract.events[record.name]().process_log(log)["args"]
        )
        assert (record.block_hash, record.log_index) == (bytes(log["blockHash"]), log["logIndex"])
        names.add(record.name)
    ledger_events = {e["name"] for e in ledger_abi() if e["type"] == "event"}
    expected = ledger_events - {
        "RoleAdminChanged",
        "EIP712DomainChanged",  # never emitted by the ledger after deployment
    }
    assert expected <= names


def test_real_receivables_logs_decode_like_web3(supply_chain: SupplyChain) -> None:
    from test_receivables_replica import supply_chain_day

    supply_chain_day(supply_chain)
    contract = supply_chain.receivables.contract
    logs = supply_chain.world.w3.eth.get_logs(
        {"fromBlock": 0, "toBlock": "latest", "address": contract.address}
    )
    names = set()
    for log in logs:
        record = decode_log(log)
        assert record is not None
        assert dict(record.args) == dict(contract.events[record.name]().process_log(log)["args"])
        names.add(record.name)
    assert {"ReceivableRegistered", "ReceivableConfirmed", "PartSplit", "PartTransferred",
            "PartFinanced", "PartSettled", "PartReleased"} <= names  # fmt: skip
