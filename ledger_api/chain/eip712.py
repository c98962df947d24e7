"""EIP-712 typed messages the ledger contract accepts, built and signed in Python.

The type strings here must hash to the ``*_TYPEHASH`` constants in the contracts; a test
asserts it. The domain always comes from the deployed contract (``eip712Domain()``), so a
signature is bound to one chain id and one contract address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from ledger_api.crypto.ecdsa import require_canonical_s

DOMAIN_NAME = "CreditConsentLedger"
DOMAIN_VERSION = "1"

# Primary type -> fields, in the order of the Solidity type string.
TYPES: dict[str, list[tuple[str, str]]] = {
    "Registration": [
        ("subjectId", "bytes32"),
        ("account", "address"),
        ("nonce", "uint256"),
        ("deadline", "uint64"),
    ],
    "IncreaseNonce": [("newNonce", "uint256"), ("nonce", "uint256"), ("deadline", "uint64")],
    "Grant": [
        ("institution", "address"),
        ("categories", "uint32"),
        ("purpose", "uint8"),
        ("level", "uint8"),
        ("notBefore", "uint64"),
        ("notAfter", "uint64"),
        ("maxUses", "uint32"),
        ("nonce", "uint256"),
        ("deadline", "uint64"),
    ],
    "AgreementAcceptance": [
        ("agreementId", "uint256"),
        ("nonce", "uint256"),
        ("deadline", "uint256"),
    ],
    "Revocation": [("grantId", "uint256"), ("nonce", "uint256"), ("deadline", "uint64")],
    "OpenDispute": [
        ("kind", "uint8"),
        ("anchorRoot", "bytes32"),
        ("leaf", "bytes32"),
        ("reasonHash", "bytes32"),
        ("nonce", "uint256"),
        ("deadline", "uint64"),
    ],
    # Signed by a core enterprise to confirm what it owes (Receivables contract, same domain
    # name, its own verifying contract). No nonce: a receivable is confirmed once.
    "ReceivableConfirmation": [
        ("receivableId", "uint32"),
        ("debtor", "address"),
        ("deadline", "uint64"),
    ],
    # The other signed supply-chain acts carry the signer's nonce in the Receivables contract.
    "ReceivableRegistration": [
        ("debtor", "address"),
        ("amount", "uint48"),
        ("currency", "bytes3"),
        ("dueDate", "uint64"),
        ("invoiceHash", "bytes32"),
        ("contractHash", "bytes32"),
        ("nonce", "uint256"),
        ("deadline", "uint64"),
    ],
    # Signed by a core enterprise registering its own payable: counts as its confirmation.
    "PayableRegistration": [
        ("supplier", "address"),
        ("amount", "uint48"),
        ("currency", "bytes3"),
        ("dueDate", "uint64"),
        ("invoiceHash", "bytes32"),
        ("contractHash", "bytes32"),
        ("nonce", "uint256"),
        ("deadline", "uint64"),
    ],
    "PartSplit": [
        ("partId", "uint64"),
        ("value", "uint48"),
        ("nonce", "uint256"),
        ("deadline", "uint64"),
    ],
    "PartTransfer": [
        ("partId", "uint64"),
        ("to", "address"),
        ("nonce", "uint256"),
        ("deadline", "uint64"),
    ],
    "PartFinancing": [
        ("partId", "uint64"),
        ("institution", "address"),
        ("registryHash", "bytes32"),
        ("nonce", "uint256"),
        ("deadline", "uint64"),
    ],
    "PartRelease": [("partId", "uint64"), ("nonce", "uint256"), ("deadline", "uint64")],
    "PartSettlement": [
        ("partId", "uint64"),
        ("value", "uint48"),
        ("nonce", "uint256"),
        ("deadline", "uint64"),
    ],
}


def type_string(primary: str) -> str:
    fields = ",".join(f"{kind} {name}" for name, kind in TYPES[primary])
    return f"{primary}({fields})"


def type_hash(primary: str) -> bytes:
    return keccak(text=type_string(primary))


@dataclass(frozen=True)
class Domain:
    chain_id: int
    verifying_contract: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": self.chain_id,
            "verifyingContract": self.verifying_contract,
        }


def domain_from_contract(contract: Any) -> Domain:
    """Read the domain the contract itself uses (EIP-5267), never assume a chain id."""
    _fields, name, version, chain_id, verifying_contract, _salt, _ext = (
        contract.functions.eip712Domain().call()
    )
    if (name, version) != (DOMAIN_NAME, DOMAIN_VERSION):
        raise ValueError(f"unexpected EIP-712 domain {name!r} v{version!r}")
    return Domain(chain_id=int(chain_id), verifying_contract=str(verifying_contract))


def typed_message(domain: Domain, primary: str, message: dict[str, Any]) -> dict[str, Any]:
    missing = {name for name, _ in TYPES[primary]} - message.keys()
    if missing:
        raise ValueError(f"{primary} is missing {sorted(missing)}")
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            primary: [{"name": name, "type": kind} for name, kind in TYPES[primary]],
        },
        "primaryType": primary,
        "domain": domain.as_dict(),
        "message": {name: message[name] for name, _ in TYPES[primary]},
    }


def sign_typed(private_key: Any, domain: Domain, primary: str, message: dict[str, Any]) -> bytes:
    """Sign; eth-account produces low-s signatures (65 bytes r||s||v)."""
    signable = encode_typed_data(full_message=typed_message(domain, primary, message))
    return bytes(Account.sign_message(signable, private_key).signature)


def recover_typed(domain: Domain, primary: str, message: dict[str, Any], signature: bytes) -> str:
    """The signer of a typed message; ValueError for a high-s signature, which the contract's
    OpenZeppelin ``ECDSA`` would refuse too (``ledger_api.crypto.ecdsa``)."""
    require_canonical_s(signature)
    signable = encode_typed_data(full_message=typed_message(domain, primary, message))
    return str(Account.recover_message(signable, signature=signature))
