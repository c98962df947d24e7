"""Set up an embedded platform as an operator does before `ccl ingest`: `ccl init`, then a
provider registered on the ledger (PROVIDER_ROLE) and named in the provider directory."""

from __future__ import annotations

import json
from pathlib import Path

from eth_account import Account
from typer.testing import CliRunner

from ledger_api.chain.connection import open_chain, operator_transactor
from ledger_api.chain.deployment import Deployment
from ledger_api.chain.ledger import Ledger
from ledger_api.cli import app
from ledger_api.operator.providers import DIRECTORY_FILE
from ledger_api.settings import Settings


def init_platform(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["init"], env={"CCL_DATA_DIR": str(data_dir)})
    assert result.exit_code == 0, result.output


def register_provider(data_dir: Path, *names: str) -> str:
    """A new account given PROVIDER_ROLE by the platform key, listed under ``names``."""
    settings = Settings(data_dir=data_dir)
    address = str(Account.create().address)
    connection = open_chain(settings)
    try:
        ledger = Ledger(connection.w3, Deployment.load(settings.resolved_deployment_file))
        ledger.grant_role(operator_transactor(settings, connection.w3), "PROVIDER_ROLE", address)
    finally:
        connection.close()
    directory = data_dir / DIRECTORY_FILE
    entries = json.loads(directory.read_text()) if directory.exists() else {}
    entries.update(dict.fromkeys(names, address))
    directory.write_text(json.dumps(entries, indent=2))
    return address
