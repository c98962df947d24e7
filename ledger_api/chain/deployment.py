"""Deploy the ledger and keep a record of where it lives."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from web3 import Web3

from ledger_api.chain.artifacts import load_artifact
from ledger_api.chain.receivables import RECEIVABLES_VERSION, deploy_receivables
from ledger_api.chain.transactor import Transactor
from ledger_api.errors import ChainError

# The ConsentLedger versions this code reads and writes (ConsentLedger.CONTRACT_VERSION). A
# record without a version is a deployment of the contract before 2.0.0: see docs/upgrading.md.
CONTRACT_VERSION = "2.1.0"
KNOWN_CONTRACT_VERSIONS = frozenset({CONTRACT_VERSION})
# How long handing the governance key on takes (AccessControlDefaultAdminRules' delay).
DEFAULT_GOVERNANCE_DELAY_S = 2 * 86400


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    address: str
    deployment_block: int
    deployment_tx: str
    operator: str
    contract_version: str
    governance: str  # holds DEFAULT_ADMIN_ROLE: grants OPERATOR_ROLE and REGULATOR_ROLE
    governance_delay_s: int
    # The supply-chain Receivables contract beside the ledger (None in records written before it).
    receivables: str | None = None

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
        """The record at ``path``; refused unless it names a contract version this code knows."""
        try:
            fields = json.loads(path.read_text())
        except FileNotFoundError:
            raise ChainError(f"no deployment record at {path}", code="not_deployed") from None
        except (OSError, ValueError) as exc:
            raise ChainError(
                f"unreadable deployment record at {path}: {exc}", code="bad_deployment"
            ) from None
        if not isinstance(fields, dict):
            raise ChainError(f"deployment record at {path} is not an object", code="bad_deployment")
        require_known_version(fields.get("contract_version"), str(path))
        try:
            return cls(**fields)
        except TypeError as exc:
            raise ChainError(
                f"deployment record at {path} is incomplete: {exc}", code="bad_deployment"
            ) from None


def require_known_version(version: object, where: str) -> None:
    """Refuse a ConsentLedger version this code does not know (one clear message)."""
    if version in KNOWN_CONTRACT_VERSIONS:
        return
    known = ", ".join(sorted(KNOWN_CONTRACT_VERSIONS))
    named = "names no contract version" if version is None else f"is for contract {version!r}"
    raise ChainError(
        f"deployment {where} {named}; this software knows ConsentLedger {known} "
        "(see docs/upgrading.md)",
        code="unknown_contract_version",
    )


def deploy_ledger(
    w3: Web3,
    operator: Transactor,
    governance: str,
    governance_delay_s: int = DEFAULT_GOVERNANCE_DELAY_S,
) -> Deployment:
    """Deploy ConsentLedger: ``operator`` holds the operator (and provider) roles, the separate
    ``governance`` address administers roles, handed on only after ``governance_delay_s``."""
    artifact = load_artifact()
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = operator.deploy(
        factory, operator.address, Web3.to_checksum_address(governance), governance_delay_s
    )
    address = receipt["contractAddress"]
    if address is None:
        raise ChainError("deployment produced no contract address")
    return Deployment(
        chain_id=w3.eth.chain_id,
        address=str(address),
        deployment_block=int(receipt["blockNumber"]),
        deployment_tx="0x" + bytes(receipt["transactionHash"]).hex(),
        operator=operator.address,
        contract_version=CONTRACT_VERSION,
        governance=Web3.to_checksum_address(governance),
        governance_delay_s=governance_delay_s,
        receivables=deploy_receivables(w3, operator, str(address)),
    )


def check_deployment(w3: Web3, deployment: Deployment) -> None:
    """Refuse a record that does not match the chain we are connected to."""
    if w3.eth.chain_id != deployment.chain_id:
        raise ChainError(
            f"deployment is for chain {deployment.chain_id}, connected to {w3.eth.chain_id}",
            code="wrong_chain",
        )
    address = Web3.to_checksum_address(deployment.address)
    if not w3.eth.get_code(address):
        raise ChainError(f"no contract at {deployment.address}", code="not_deployed")
    if deployment.receivables and not w3.eth.get_code(
        Web3.to_checksum_address(deployment.receivables)
    ):
        raise ChainError(
            f"no Receivables contract at {deployment.receivables}", code="not_deployed"
        )
    require_known_version(deployment.contract_version, f"record for {deployment.address}")
    if deployment.receivables:
        _require_receivables_version(w3, deployment.receivables)
    on_chain = version_on_chain(w3, address)
    if on_chain != deployment.contract_version:
        raise ChainError(
            f"the contract at {deployment.address} is ConsentLedger "
            f"{on_chain or '(unversioned, before 2.0.0)'}, its record says "
            f"{deployment.contract_version} (see docs/upgrading.md)",
            code="unknown_contract_version",
        )


def _require_receivables_version(w3: Web3, address: str) -> None:
    """The Receivables contract beside the ledger must be the one this code speaks: 1.0.0 had
    no ``registerPayableBySig``, and a call to it would fail only when a payable is relayed."""
    on_chain = version_on_chain(w3, address)
    if on_chain != RECEIVABLES_VERSION:
        raise ChainError(
            f"the Receivables contract at {address} is "
            f"{on_chain or '(unversioned)'}; this software knows Receivables "
            f"{RECEIVABLES_VERSION} (see docs/upgrading.md)",
            code="unknown_contract_version",
        )


def version_on_chain(w3: Web3, address: str) -> str | None:
    """The contract's CONTRACT_VERSION, None for a contract without one."""
    abi = [f for f in load_artifact()["abi"] if f.get("name") == "CONTRACT_VERSION"]
    contract = w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)
    try:
        return str(contract.functions.CONTRACT_VERSION().call())
    except Exception:  # web3's or eth-tester's revert: a contract before 2.0.0
        return None
