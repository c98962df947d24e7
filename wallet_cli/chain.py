"""Reading the ledger contract from a JSON-RPC node, and sending the wallet's own transactions.

Two options name a node:

- ``--rpc URL``: submit DIRECTLY to this node, the wallet's own (funded) key sending the
  transaction, instead of asking the platform to relay a signature. The node is also read.
- ``--chain-url URL`` (env ``CCL_WALLET_CHAIN_URL``): a node only READ, to check what the
  platform says (institution names, anchored roots) while the platform still relays.

The contract address comes from ``--contract`` or the platform's ``/v1/chain``; the EIP-712
domain is then read from the contract itself (EIP-5267), never assumed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer
from eth_account.signers.local import LocalAccount
from eth_utils import is_address, to_checksum_address

from ledger_api.chain import eip712
from ledger_api.chain.types import InstitutionType
from ledger_api.errors import ChainError, InputError, LedgerError

CHAIN_URL_ENV = "CCL_WALLET_CHAIN_URL"
NODE_TIMEOUT_S = 30

RpcOption = Annotated[
    str | None,
    typer.Option(
        "--rpc",
        help="Submit directly to this JSON-RPC node with the wallet's own funded key "
        "(default: the platform relays the signature, no gas needed).",
    ),
]
ChainUrlOption = Annotated[
    str | None,
    typer.Option(
        "--chain-url",
        help=f"A JSON-RPC node to READ the ledger from, to check what the platform says "
        f"(institution names, anchored roots). Env {CHAIN_URL_ENV}.",
    ),
]
ContractOption = Annotated[
    str | None,
    typer.Option(
        "--contract",
        help="Ledger contract address on the node (default: as reported by the platform).",
    ),
]

if TYPE_CHECKING:  # web3 is slow to import: only commands that reach a node load it
    from web3 import Web3

    from ledger_api.chain.ledger import AnchorRecord
    from ledger_api.chain.transactor import Transactor

Web3Factory = Callable[[str], "Web3"]


def _default_web3(url: str) -> Web3:
    from web3 import Web3

    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": NODE_TIMEOUT_S}))


# Replaced by tests to hand the wallet an in-process chain for a made-up URL.
WEB3_FACTORY: Web3Factory = _default_web3


@dataclass(frozen=True)
class InstitutionInfo:
    address: str
    name: str
    kind: InstitutionType


def read_url(rpc: str | None, chain_url: str | None) -> str | None:
    """The node to read from: ``--rpc``, else ``--chain-url``, else ``CCL_WALLET_CHAIN_URL``."""
    return rpc or chain_url or os.environ.get(CHAIN_URL_ENV) or None


def checksum(address: str, what: str) -> str:
    if not is_address(address.lower()):
        raise InputError(f"{what} {address!r} is not an address (0x and 40 hex digits)")
    return str(to_checksum_address(address))


class Node:
    """The ledger contract as seen through one JSON-RPC node."""

    def __init__(self, url: str, contract: str) -> None:
        from ledger_api.chain.deployment import Deployment, require_known_version, version_on_chain
        from ledger_api.chain.ledger import Ledger

        self.url = url
        with node_errors(url):
            self.w3 = WEB3_FACTORY(url)
            if not self.w3.is_connected():
                raise ChainError(f"chain node unreachable at {url}", code="node_unreachable")
            address = checksum(contract, "contract")
            if not self.w3.eth.get_code(to_checksum_address(address)):
                raise ChainError(
                    f"no ledger contract at {address} on the node at {url}", code="not_deployed"
                )
            version = version_on_chain(self.w3, to_checksum_address(address))
            require_known_version(version, f"at {address}")
            deployment = Deployment(
                chain_id=self.w3.eth.chain_id,
                address=address,
                deployment_block=0,
                deployment_tx="",
                operator="",
                contract_version=str(version),
                governance="",
                governance_delay_s=0,
            )
            self.ledger = Ledger(self.w3, deployment)

    @property
    def domain(self) -> eip712.Domain:
        with node_errors(self.url):
            return self.ledger.domain

    def institution(self, address: str) -> InstitutionInfo | None:
        with node_errors(self.url):
            profile = self.ledger.institution_profile(address)
        if profile is None:
            return None
        return InstitutionInfo(
            address=checksum(address, "institution"), name=profile[0], kind=profile[1]
        )

    def anchor_of(self, root: bytes) -> AnchorRecord | None:
        with node_errors(self.url):
            return self.ledger.anchor_of(root)

    def nonce_of(self, address: str) -> int:
        with node_errors(self.url):
            return self.ledger.nonce_of(address)

    def sender(self, account: LocalAccount) -> Transactor:
        from ledger_api.chain.transactor import Transactor

        with node_errors(self.url):
            return Transactor(self.w3, account)


@contextmanager
def node_errors(url: str) -> Iterator[None]:
    """Anything but our own errors (connection refused, bad answers) -> one ChainError line."""
    try:
        yield
    except LedgerError:
        raise
    except Exception as exc:
        raise ChainError(
            f"chain node at {url} failed: {type(exc).__name__}", code="node_error"
        ) from exc
