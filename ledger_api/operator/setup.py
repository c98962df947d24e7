"""``ccl init``: the embedded ledger is deployed on purpose, never as a side effect.

Before ``ccl init`` existed, the first ``ccl ingest`` against an empty data directory deployed
a new ledger without a word; an operator who had pointed CCL_DATA_DIR at the wrong place then
had records anchored on a chain nobody else used. Every chain-using command now calls
``require_initialised`` first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ledger_api.errors import InputError
from ledger_api.settings import Settings


@dataclass(frozen=True)
class Initialised:
    address: str
    chain_id: int
    deployment_block: int
    record: Path
    created: bool  # False: the record was there already, nothing was deployed


def require_initialised(settings: Settings) -> None:
    """Refuse, with what to run, when the embedded data directory holds no ledger yet."""
    if settings.mode == "embedded" and not settings.resolved_deployment_file.exists():
        raise InputError(
            f"no ledger in {settings.data_dir} (no {settings.resolved_deployment_file.name}): "
            "run `ccl init` to deploy one, or set CCL_DATA_DIR to the platform's data directory",
            code="not_initialised",
        )


def initialise(settings: Settings) -> Initialised:
    """Deploy the ledger on the embedded chain and write its deployment record (once)."""
    from ledger_api.chain.connection import (
        ensure_platform_roles,
        open_chain,
        open_ledger,
        operator_transactor,
    )
    from ledger_api.store.db import make_engine, migrate

    if settings.mode != "embedded":
        raise InputError(
            "`ccl init` sets up the embedded ledger; in production mode the ledger is deployed "
            "on the node and its record given by CCL_DEPLOYMENT_FILE",
            code="not_embedded",
        )
    existed = settings.resolved_deployment_file.exists()
    url = settings.resolved_database_url
    migrate(url)
    connection = open_chain(settings)
    engine = make_engine(url)
    try:
        operator = operator_transactor(settings, connection.w3, engine)
        ledger = open_ledger(settings, connection, operator)  # deploys when the record is missing
        ensure_platform_roles(ledger, operator)
        deployment = ledger.deployment
    finally:
        engine.dispose()
        connection.close()
    return Initialised(
        address=deployment.address,
        chain_id=deployment.chain_id,
        deployment_block=deployment.deployment_block,
        record=settings.resolved_deployment_file,
        created=not existed,
    )
