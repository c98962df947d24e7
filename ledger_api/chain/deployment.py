"""Deploy the ledger and keep a record of where it lives."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from web3 import Web3

from ledger_api.chain.artifacts import load_artifact
from ledger_api.chain.transactor import Transactor
from ledger_api.errors import ChainError


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    address: str
    deployment_block: int
    deployment_tx: str
    operator: str

    def save(self, path: Path) -> None:
        """Write atomically: a crash never leaves a half-written record."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as tmp:
            json.dump(asdict(self), tmp, indent=2)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp.name, path)

    @classmethod
    def load(cls, path: Path) -> Deployment:
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            raise ChainError(f"no deployment record at {path}", code="not_deployed") from None


def deploy_ledger(w3: Web3, operator: Transactor) -> Deployment:
    """Deploy ConsentLedger with ``operator`` holding the admin and operator roles."""
    artifact = load_artifact()
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = operator.deploy(factory, operator.address)
    address = receipt["contractAddress"]
    if address is None:
        raise ChainError("deployment produced no contract address")
    return Deployment(
        chain_id=w3.eth.chain_id,
        address=str(address),
        deployment_block=int(receipt["blockNumber"]),
        deployment_tx="0x" + bytes(receipt["transactionHash"]).hex(),
        operator=operator.address,
    )


def check_deployment(w3: Web3, deployment: Deployment) -> None:
    """Refuse a record that does not match the chain we are connected to."""
    if w3.eth.chain_id != deployment.chain_id:
        raise ChainError(
            f"deployment is for chain {deployment.chain_id}, connected to {w3.eth.chain_id}",
            code="wrong_chain",
        )
    if not w3.eth.get_code(Web3.to_checksum_address(deployment.address)):
        raise ChainError(f"no contract at {deployment.address}", code="not_deployed")
