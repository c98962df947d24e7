"""Connect to the chain named by the settings: a JSON-RPC node, or the embedded chain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from eth_account import Account
from sqlalchemy import Engine
from web3 import Web3

from ledger_api.chain.deployment import Deployment, deploy_ledger
from ledger_api.chain.ledger import Ledger
from ledger_api.chain.transactor import Transactor
from ledger_api.chain.txqueue import TxQueue
from ledger_api.errors import ChainError
from ledger_api.settings import Settings


@dataclass
class ChainConnection:
    w3: Web3
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for closer in reversed(self.closers):
            closer()
        self.closers.clear()


def open_chain(settings: Settings) -> ChainConnection:
    if settings.chain_url:
        w3 = Web3(Web3.HTTPProvider(settings.chain_url, request_kwargs={"timeout": 30}))
        if not w3.is_connected():
            raise ChainError(
                f"chain node unreachable at {settings.chain_url}", code="chain_unreachable"
            )
        return ChainConnection(w3)
    from ledger_api.chain.embedded import open_embedded

    chain = open_embedded(settings.data_dir / "chain")
    return ChainConnection(chain.w3, closers=[chain.close])


def operator_transactor(settings: Settings, w3: Web3, engine: Engine | None = None) -> Transactor:
    """The platform's key; with the platform's database it sends through the durable queue
    that every process signing with this key shares (``ledger_api.chain.txqueue``)."""
    account = Account.from_key(settings.operator_key.get_secret_value())
    queue = TxQueue(engine, w3, account) if engine is not None else None
    return Transactor(w3, account, queue)


def load_or_deploy(settings: Settings, w3: Web3, operator: Transactor) -> Deployment:
    """The deployment record; in embedded mode a fresh chain gets the ledger deployed first."""
    path = settings.resolved_deployment_file
    if settings.mode == "embedded" and not path.exists():
        governance = Account.from_key(settings.governance_key.get_secret_value())
        deployment = deploy_ledger(w3, operator, governance.address)
        deployment.save(path)
        return deployment
    return Deployment.load(path)


def open_ledger(
    settings: Settings, connection: ChainConnection, operator: Transactor | None = None
) -> Ledger:
    operator = operator or operator_transactor(settings, connection.w3)
    return Ledger(connection.w3, load_or_deploy(settings, connection.w3, operator))


def ensure_platform_roles(ledger: Ledger, platform: Transactor) -> None:
    """The platform's key anchors ingested batches on the providers' behalf: it needs
    PROVIDER_ROLE besides OPERATOR_ROLE. The contract grants both at deployment, and nobody
    can grant itself a role, so a key without them is refused here, once, clearly."""
    missing = [
        r for r in ("OPERATOR_ROLE", "PROVIDER_ROLE") if not ledger.has_role(r, platform.address)
    ]
    if missing:
        raise ChainError(
            f"the platform key {platform.address} lacks {' and '.join(missing)} on the ledger "
            f"{ledger.address}; the governance key grants OPERATOR_ROLE, an operator PROVIDER_ROLE",
            code="missing_role",
        )
