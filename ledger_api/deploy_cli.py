"""``ccl deploy`` and ``ccl governance``: putting the ledger on a chain and appointing who
holds which role there.

Deploying is done once per network by the operator: the platform key (``CCL_OPERATOR_KEY``)
sends the contract through the database's transaction queue, and the deployment record the
API, the indexer and the wallets read is written only after the chain confirms it.

Role administration belongs to the governance key, held apart from the operator's (in
production on another machine or a hardware signer): its commands read the key from
``CCL_GOVERNANCE_KEY`` or a hidden prompt, never from an argument, and sign nothing else.
"""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import typer

from ledger_api.cli_errors import one_line_errors
from ledger_api.cli_support import load_settings as _settings
from ledger_api.errors import ChainError, InputError

governance_app = typer.Typer(
    help="Role administration with the governance key (operators, regulators).",
    no_args_is_help=True,
)
one_line = one_line_errors(lambda: False)

# Roles the governance key appoints; the operator appoints providers (`ccl admin grant-role`).
GOVERNED_ROLES = {"operator": "OPERATOR_ROLE", "regulator": "REGULATOR_ROLE"}


def _address(raw: str, what: str) -> str:
    from web3 import Web3

    try:
        return str(Web3.to_checksum_address(raw))
    except ValueError:
        raise InputError(f"{what} must be an address (0x and 40 hex digits), not {raw!r}") from None


def _echo(as_json: bool, data: dict[str, Any], text: str) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False) if as_json else text)


@one_line
def deploy(
    governance: Annotated[
        str | None,
        typer.Option(
            "--governance",
            envvar="CCL_GOVERNANCE_ADDRESS",
            help="Address of the governance key that will administer roles (production: "
            "required; embedded: the development governance key).",
        ),
    ] = None,
    delay_s: Annotated[
        int,
        typer.Option(
            "--governance-delay-s", min=0, help="Delay before a new governance key takes over."
        ),
    ] = 2 * 86400,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Deploy the ledger contract and write the deployment record (once per network).

    Refuses when a record already exists: a second deployment would be a second, empty
    ledger. Run `ccl db upgrade` first (the deployment is sent through the database's
    transaction queue).
    """
    from dataclasses import asdict

    from eth_account import Account

    from ledger_api.chain.connection import open_chain, operator_transactor
    from ledger_api.chain.deployment import check_deployment, deploy_ledger
    from ledger_api.store.db import ensure_schema, make_engine

    settings = _settings()
    path = settings.resolved_deployment_file
    if path.exists():
        raise InputError(
            f"a deployment record already exists at {path}; deploying again would start a "
            "second, empty ledger (move the record away first if that is what you want)",
            code="already_deployed",
        )
    if governance is None:
        if settings.mode != "embedded":
            raise InputError(
                "--governance (or CCL_GOVERNANCE_ADDRESS) is required: the address of the "
                "governance key, held apart from the operator key",
                code="governance_required",
            )
        governance = Account.from_key(settings.governance_key.get_secret_value()).address
    governor = _address(governance, "--governance")
    connection = open_chain(settings)
    engine = make_engine(settings.resolved_database_url)
    try:
        ensure_schema(engine, migrate_if_behind=settings.mode == "embedded")
        operator = operator_transactor(settings, connection.w3, engine)
        if governor == operator.address:
            raise InputError(
                "the governance key must not be the operator key (separation of duties)",
                code="governance_is_operator",
            )
        deployment = deploy_ledger(connection.w3, operator, governor, delay_s)
        check_deployment(connection.w3, deployment)  # code at the address, chain, version
        deployment.save(path)
    finally:
        engine.dispose()
        connection.close()
    _echo(
        as_json,
        {**asdict(deployment), "record": str(path)},
        f"ConsentLedger {deployment.contract_version} deployed at {deployment.address} "
        f"(chain {deployment.chain_id}, block {deployment.deployment_block}); "
        f"governance {deployment.governance}; record written to {path}",
    )


def _governance_key() -> Any:
    from eth_account import Account

    raw = os.environ.get("CCL_GOVERNANCE_KEY") or typer.prompt(
        "Governance key (hex)", hide_input=True, err=True
    )
    try:
        return Account.from_key(raw.strip())
    except (ValueError, TypeError):
        raise InputError("the governance key is not a private key (64 hex digits)") from None


def _change_role(role: str, account: str, *, grant: bool, as_json: bool) -> None:
    from ledger_api.chain.connection import open_chain, open_ledger
    from ledger_api.chain.transactor import Transactor

    if role not in GOVERNED_ROLES:
        raise InputError(f"role must be one of {', '.join(GOVERNED_ROLES)}, not {role!r}")
    target = _address(account, "ACCOUNT")
    settings = _settings()
    key = _governance_key()
    connection = open_chain(settings)
    try:
        ledger = open_ledger(settings, connection)
        if key.address != ledger.deployment.governance:
            raise InputError(
                f"the key given is {key.address}, the ledger's governance key is "
                f"{ledger.deployment.governance}",
                code="not_governance",
            )
        governance = Transactor(connection.w3, key)
        function = "grantRole" if grant else "revokeRole"
        role_name = GOVERNED_ROLES[role]
        try:
            from ledger_api.chain.ledger import role_id

            receipt = ledger.transact(governance, function, role_id(role_name), target)
        except ChainError as exc:
            raise ChainError(f"the ledger refused: {exc.detail}", code=exc.code) from None
    finally:
        connection.close()
    verb = "granted to" if grant else "revoked from"
    tx = "0x" + bytes(receipt["transactionHash"]).hex()
    _echo(
        as_json,
        {"role": role, "account": target, "granted": grant, "tx_hash": tx},
        f"{role} role {verb} {target} (tx {tx})",
    )


@governance_app.command("grant-role")
@one_line
def grant_role(
    role: Annotated[str, typer.Argument(help="operator or regulator")],
    account: Annotated[str, typer.Argument(help="The account's address.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Appoint an operator or a regulator (signed with the governance key)."""
    _change_role(role, account, grant=True, as_json=as_json)


@governance_app.command("revoke-role")
@one_line
def revoke_role(
    role: Annotated[str, typer.Argument(help="operator or regulator")],
    account: Annotated[str, typer.Argument(help="The account's address.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Withdraw an operator's or a regulator's role (signed with the governance key)."""
    _change_role(role, account, grant=False, as_json=as_json)
