"""Real-name registration: ``register USCC`` and ``registration-status [ID]``.

The platform answers a registration request with the EIP-712 ``Registration`` message binding
this key to the enterprise's pseudonymous subject id; the wallet checks that the message is for
THIS key and for the chain and contract the platform reports, shows it, signs it and submits
the signature. An operator then approves it, which binds the subject on chain.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from eth_utils import to_checksum_address

from ledger_api.api import schemas
from ledger_api.errors import InputError, NotFoundError
from ledger_api.identity.uscc import validate_uscc
from wallet_cli.keys import keystore_dir, unlock
from wallet_cli.options import DEFAULT_ACCOUNT, AccountName, AssumeYes, PasswordFile
from wallet_cli.output import get_output
from wallet_cli.platform import PlatformError, act_as, domain_of, platform
from wallet_cli.preview import show_and_confirm
from wallet_cli.state import last_registration_id, remember_registration
from wallet_cli.terms import utc_time


def mask_uscc(uscc: str) -> str:
    """The USCC as the platform shows it back (only its first 2 and last 4 characters)."""
    return uscc[:2] + "*" * 12 + uscc[-4:]


def _registration_record(reg: schemas.Registration) -> dict[str, Any]:
    return {
        "registration_id": reg.id,
        "status": reg.status,
        "account": reg.account,
        "enterprise": reg.uscc_masked,
        "subject_id": reg.subject_id,
        "signature_deadline": utc_time(reg.deadline),
        "tx_hash": reg.tx_hash,
    }


def _check_message(reg: schemas.Registration, address: str, info: schemas.ChainInfo) -> None:
    """Refuse to sign anything but a Registration of this key on the platform's chain."""
    typed = reg.typed_data or {}
    domain = typed.get("domain", {})
    message = typed.get("message", {})
    expected = domain_of(info).as_dict()
    try:
        same_contract = to_checksum_address(str(domain.get("verifyingContract"))) == (
            to_checksum_address(expected["verifyingContract"])
        )
        same_account = to_checksum_address(str(message.get("account"))) == address
    except ValueError:
        same_contract = same_account = False
    if (
        typed.get("primaryType") != "Registration"
        or domain.get("chainId") != expected["chainId"]
        or domain.get("name") != expected["name"]
        or not same_contract
        or not same_account
        or message.get("subjectId") != reg.subject_id
    ):
        raise PlatformError(
            "the platform asked to sign a registration message that is not for this key on "
            "its own chain and contract; nothing was signed",
            code="unexpected_typed_data",
        )


def register_enterprise(
    uscc: Annotated[str, typer.Argument(help="The enterprise's Unified Social Credit Code.")],
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
    yes: AssumeYes = False,
) -> None:
    """Bind this account to an enterprise: request, sign and submit a registration."""
    code = validate_uscc(uscc)
    entry = keystore_dir().find(name)  # a missing keystore fails before any prompt or request
    with platform() as client:
        info = client.chain_info()
        show_and_confirm(
            "You are about to sign this registration:",
            {
                "enterprise": mask_uscc(code),
                "account": f"{entry.name} ({entry.address})",
                "binding": "this key will act for the enterprise once an operator approves",
                "chain_id": info.chain_id,
                "contract": info.contract,
            },
            "Sign and submit this registration?",
            assume_yes=yes,
        )
        account = unlock(name, password_file=password_file)
        act_as(client, account)
        reg = client.request_registration(code)
        _check_message(reg, account.address, info)
        signed = client.sign_registration(reg)
    remember_registration(account.address, signed.id, signed.uscc_masked)
    record = _registration_record(signed)
    if get_output().json_mode:
        get_output().json(record)
    else:
        get_output().record(
            record,
            title=f"Registration {signed.id} submitted: an operator must now approve it "
            f"(check with 'ccl-wallet registration-status {signed.id}')",
        )


def registration_status(
    registration_id: Annotated[
        int | None,
        typer.Argument(help="Registration id (default: this account's last registration).", min=1),
    ] = None,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """Show the status of a registration (awaiting_signature, pending_approval, approved...)."""
    entry = keystore_dir().find(name)
    if registration_id is None:
        registration_id = last_registration_id(entry.address)
        if registration_id is None:
            raise NotFoundError(
                f"no registration recorded for account {entry.name} ({entry.address}); "
                "give its id or run 'ccl-wallet register USCC'",
                code="no_registration",
            )
    if registration_id >= 2**63:
        raise InputError("registration id is too large")
    account = unlock(name, password_file=password_file)
    with platform(account) as client:
        reg = client.registration_status(registration_id)
    get_output().record(_registration_record(reg), title=f"Registration {reg.id}")


def register(app: typer.Typer) -> None:
    app.command("register")(register_enterprise)
    app.command("registration-status")(registration_status)
