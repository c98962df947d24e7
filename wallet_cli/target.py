"""Where a signed request goes and which EIP-712 domain it is signed for.

Relayed (default): the domain is the one the platform reports (read by the API from the
contract), the signature nonce is the one the platform reads from the chain. Direct
(``--rpc``): the domain is read from the contract on that node, and must be the platform's when
the platform can be asked (a signature for another deployment would be useless, or worse).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_account.signers.local import LocalAccount

from ledger_api.api import schemas
from ledger_api.chain import eip712
from ledger_api.errors import ChainError, InputError
from wallet_cli.chain import Node, read_url
from wallet_cli.platform import account_nonce, domain_of

if TYPE_CHECKING:
    from ledger_api.client import LedgerClient


def signature_deadline() -> int:
    """Until when a signature may be submitted (short: an unused one should soon be void)."""
    from ledger_api.chain.ledger import DEFAULT_SIGNATURE_TTL_S

    return int(time.time()) + DEFAULT_SIGNATURE_TTL_S


@dataclass
class Target:
    domain: eip712.Domain
    info: schemas.ChainInfo | None
    direct: Node | None  # set with --rpc: the wallet sends its own transactions there
    reader: Node | None  # a node to check the platform's answers against, if any

    @property
    def via(self) -> str:
        return f"directly to the node at {self.direct.url}" if self.direct else "platform relay"

    def nonce(self, client: LedgerClient, account: LocalAccount) -> int:
        """The signer's current contract nonce (re-read before every signature)."""
        if self.direct is not None:
            return self.direct.nonce_of(account.address)
        return account_nonce(client)[1]


def resolve_target(
    client: LedgerClient,
    *,
    rpc: str | None,
    chain_url: str | None = None,
    contract: str | None = None,
) -> Target:
    info = None if (rpc and contract) else client.chain_info()
    address = contract or (info.contract if info is not None else None)
    if address is None:  # pragma: no cover - info is None only when contract is given
        raise InputError("give --contract with --rpc when the platform cannot be asked")
    if rpc:
        node = Node(rpc, address)
        domain = node.domain
        if info is not None and (domain.chain_id, domain.verifying_contract.lower()) != (
            info.chain_id,
            info.contract.lower(),
        ):
            raise ChainError(
                f"the ledger at {rpc} (chain id {domain.chain_id}, contract "
                f"{domain.verifying_contract}) is not the platform's (chain id {info.chain_id}, "
                f"contract {info.contract})",
                code="wrong_chain",
            )
        return Target(domain=domain, info=info, direct=node, reader=node)
    assert info is not None
    url = read_url(None, chain_url)
    reader = Node(url, info.contract) if url else None
    if reader is not None:
        domain = reader.domain
        if (domain.chain_id, domain.verifying_contract.lower()) != (
            info.chain_id,
            info.contract.lower(),
        ):
            raise ChainError(
                f"the node at {url} is on chain id {domain.chain_id}, the platform on "
                f"{info.chain_id}: refusing to mix them",
                code="wrong_chain",
            )
    return Target(domain=domain_of(info), info=info, direct=None, reader=reader)
