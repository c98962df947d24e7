"""Where a receipt's checks get their facts: the platform's endpoints, or a node of one's own.

``PlatformSources`` asks the platform for everything (the entry and its proof, whether a root is
anchored, the grant check at a block, who signs receipts). ``NodeSources`` asks the platform
only for the entry and its proof (it alone holds the log) and reads the rest from the contract
through the given node, so a platform that lied about the chain would be caught.
"""

from __future__ import annotations

from typing import Any, Protocol

from eth_utils import to_checksum_address
from web3 import Web3

from ledger_api.chain.artifacts import ledger_abi
from ledger_api.chain.types import AccessLevel, AnchorKind, GrantCheck, Purpose
from ledger_api.client import LedgerClient


class ReceiptSources(Protocol):
    def entry(self, entry_id: int) -> dict[str, Any]:
        """``GET /v1/access-log/entries/{id}``'s answer."""
        ...

    def signer_is_platform(self, address: str) -> bool: ...

    def anchored(self, root: bytes) -> bool:
        """Whether ``root`` is anchored on chain as an access-log root."""
        ...

    def grant_check(
        self,
        grant_id: int,
        block: int,
        institution: str,
        category: int,
        purpose: int,
        level: int,
        used_count: int,
    ) -> str:
        """The canonical check's code at ``block`` (``usable`` when it passes)."""
        ...


class PlatformSources:
    """Every fact from the platform's endpoints (the entry needs a party's signed request)."""

    def __init__(self, client: LedgerClient) -> None:
        self.client = client

    def entry(self, entry_id: int) -> dict[str, Any]:
        answer: dict[str, Any] = self.client.call("GET", f"/v1/access-log/entries/{entry_id}")
        return answer

    def signer_is_platform(self, address: str) -> bool:
        published = self.client.chain_info().platform_signer
        return published is not None and published.lower() == address.lower()

    def anchored(self, root: bytes) -> bool:
        answer = self.client.call("GET", f"/v1/receipts/anchors/0x{root.hex()}")
        return bool(answer["anchored"]) and answer.get("kind") == "access_log"

    def grant_check(
        self,
        grant_id: int,
        block: int,
        institution: str,
        category: int,
        purpose: int,
        level: int,
        used_count: int,
    ) -> str:
        answer = self.client.call(
            "GET",
            "/v1/receipts/grant-check",
            params={
                "grant_id": grant_id,
                "block": block,
                "institution": institution,
                "category": category,
                "purpose": purpose,
                "level": level,
                "used_count": used_count,
            },
        )
        return str(answer["result"])


class NodeSources(PlatformSources):
    """Chain facts read from the contract through ``w3`` (a node of one's own)."""

    def __init__(self, client: LedgerClient, w3: Web3, contract: str | None = None) -> None:
        super().__init__(client)
        address = contract or client.chain_info().contract
        self.contract = w3.eth.contract(address=to_checksum_address(address), abi=ledger_abi())

    def signer_is_platform(self, address: str) -> bool:
        role = Web3.keccak(text="OPERATOR_ROLE")
        return bool(self.contract.functions.hasRole(role, to_checksum_address(address)).call())

    def anchored(self, root: bytes) -> bool:
        _submitter, kind, _count, sequence = self.contract.functions.anchorOf(root).call()
        return int(sequence) != 0 and int(kind) == int(AnchorKind.ACCESS_LOG)

    def grant_check(
        self,
        grant_id: int,
        block: int,
        institution: str,
        category: int,
        purpose: int,
        level: int,
        used_count: int,
    ) -> str:
        call = self.contract.functions.checkGrant(
            grant_id,
            to_checksum_address(institution),
            category,
            int(Purpose(purpose)),
            int(AccessLevel(level)),
            used_count,
        )
        return GrantCheck(call.call(block_identifier=block)).code
