"""``ccl regulator``: a regulator's levers through the platform API, signed with its own key.

The key is an encrypted keystore file (``--keystore`` or ``CCL_REGULATOR_KEYSTORE``, the
wallet's format); its password comes from ``--password-file``, ``CCL_REGULATOR_PASSWORD`` or a
hidden prompt, never an argument. Each act is shown in words before it is signed; the
platform only broadcasts the regulator's own transaction (``ledger_api.api.routes.regulator``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ledger_api.cli_errors import one_line_errors
from ledger_api.errors import ChainError, InputError

if TYPE_CHECKING:  # imported by each command: `ccl --help` stays fast
    from ledger_api.client import LedgerClient

regulator_app = typer.Typer(
    help="A regulator's levers: suspend or reinstate institutions and agreements.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
one_line = one_line_errors(lambda: False)

PASSWORD_ENV = "CCL_REGULATOR_PASSWORD"
DEFAULT_API = "http://127.0.0.1:8700"

ApiUrl = Annotated[str, typer.Option("--api-url", envvar="CCL_API_URL", help="The platform API.")]
Keystore = Annotated[
    Path | None,
    typer.Option(
        "--keystore",
        envvar="CCL_REGULATOR_KEYSTORE",
        help="The regulator's encrypted keystore file (the wallet's format).",
    ),
]
PasswordFile = Annotated[
    Path | None,
    typer.Option(
        "--password-file", help=f"Read the password here (else ${PASSWORD_ENV} or a prompt)."
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
YesFlag = Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")]

# What each act does, in the words shown before signing.
MEANINGS = {
    "suspend_institution": "SUSPEND institution {name} ({target}): every read it makes is "
    "refused from the next block on",
    "reinstate_institution": "REINSTATE institution {name} ({target}): its reads are allowed "
    "again under usable grants",
    "suspend_agreement": "SUSPEND agreement {target} of {name}: no query under it until a "
    "regulator reinstates it",
    "reinstate_agreement": "REINSTATE agreement {target} of {name}",
    "terminate_agreement": "TERMINATE agreement {target} of {name} for good",
}


def _password(password_file: Path | None) -> Any:
    from pydantic import SecretStr

    from wallet_cli.secret_input import read_secret_file

    if password_file is not None:
        return read_secret_file(password_file, "password")
    if os.environ.get(PASSWORD_ENV):
        return SecretStr(os.environ[PASSWORD_ENV])
    return SecretStr(typer.prompt("Regulator keystore password", hide_input=True, err=True))


@contextmanager
def regulator_client(
    api_url: str, keystore: Path | None, password_file: Path | None
) -> Iterator[LedgerClient]:
    import httpx

    from ledger_api.client import LedgerClient
    from wallet_cli.keystore import decrypt_keystore, read_keystore_file

    if keystore is None:
        raise InputError("name the regulator's keystore: --keystore or CCL_REGULATOR_KEYSTORE")
    data = read_keystore_file(keystore, keystore.name)
    account = decrypt_keystore(data, _password(password_file), label=keystore.name)
    client = LedgerClient(api_url, account)
    try:
        yield client
    except httpx.TransportError:
        raise ChainError(
            f"platform unreachable at {api_url}", code="platform_unreachable"
        ) from None
    finally:
        client.close()


def _act(
    act: str,
    target: str,
    api_url: str,
    keystore: Path | None,
    password_file: Path | None,
    as_json: bool,
    yes: bool,
) -> None:
    with regulator_client(api_url, keystore, password_file) as client:
        prepared = client.prepare_regulator_act(act, target)
        words = MEANINGS[act].format(name=prepared.target_name, target=prepared.target)
        typer.echo(f"{words}; signed by regulator {client.account.address}.", err=True)
        if not yes and not typer.confirm("Sign and send?", err=True):
            raise typer.Exit(1)
        done = client.regulator_act(act, target, prepared)
    if as_json:
        typer.echo(json.dumps(done.model_dump(mode="json"), ensure_ascii=False))
        return
    typer.echo(
        f"{act.replace('_', ' ')}: {done.target_name} ({done.target}) in block "
        f"{done.block_number}, tx {done.tx_hash}"
    )


@regulator_app.command("suspend-institution")
@one_line
def suspend_institution(
    address: Annotated[str, typer.Argument(help="The institution's address.")],
    api_url: ApiUrl = DEFAULT_API,
    keystore: Keystore = None,
    password_file: PasswordFile = None,
    as_json: JsonFlag = False,
    yes: YesFlag = False,
) -> None:
    """Suspend an institution: its reads are refused from the next block on."""
    _act("suspend_institution", address, api_url, keystore, password_file, as_json, yes)


@regulator_app.command("reinstate-institution")
@one_line
def reinstate_institution(
    address: Annotated[str, typer.Argument(help="The institution's address.")],
    api_url: ApiUrl = DEFAULT_API,
    keystore: Keystore = None,
    password_file: PasswordFile = None,
    as_json: JsonFlag = False,
    yes: YesFlag = False,
) -> None:
    """Lift an institution's suspension."""
    _act("reinstate_institution", address, api_url, keystore, password_file, as_json, yes)


@regulator_app.command("suspend-agreement")
@one_line
def suspend_agreement(
    agreement_id: int,
    api_url: ApiUrl = DEFAULT_API,
    keystore: Keystore = None,
    password_file: PasswordFile = None,
    as_json: JsonFlag = False,
    yes: YesFlag = False,
) -> None:
    """Suspend an active agreement."""
    _act("suspend_agreement", str(agreement_id), api_url, keystore, password_file, as_json, yes)


@regulator_app.command("reinstate-agreement")
@one_line
def reinstate_agreement(
    agreement_id: int,
    api_url: ApiUrl = DEFAULT_API,
    keystore: Keystore = None,
    password_file: PasswordFile = None,
    as_json: JsonFlag = False,
    yes: YesFlag = False,
) -> None:
    """Lift an agreement's suspension."""
    _act("reinstate_agreement", str(agreement_id), api_url, keystore, password_file, as_json, yes)


@regulator_app.command("terminate-agreement")
@one_line
def terminate_agreement(
    agreement_id: int,
    api_url: ApiUrl = DEFAULT_API,
    keystore: Keystore = None,
    password_file: PasswordFile = None,
    as_json: JsonFlag = False,
    yes: YesFlag = False,
) -> None:
    """Terminate an agreement for good."""
    _act("terminate_agreement", str(agreement_id), api_url, keystore, password_file, as_json, yes)


@regulator_app.command("acts")
@one_line
def acts(
    api_url: ApiUrl = DEFAULT_API,
    keystore: Keystore = None,
    password_file: PasswordFile = None,
    institution: Annotated[
        str | None, typer.Option(help="Institution address or registered name.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every regulator's act, with who made it and on whom (the regulator_acts audit view)."""
    with regulator_client(api_url, keystore, password_file) as client:
        rows = client.audit("regulator_acts", institution=institution).result
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows if isinstance(rows, list) else []:
        agreement = f" agreement {row['agreement_id']}" if row.get("agreement_id") else ""
        typer.echo(
            f"{row['at']}  {row['act']}{agreement}  {row['institution_name']} "
            f"({row['institution']})  by {row['regulator']}"
        )


def _add_reviewer_commands() -> None:
    """``ccl regulator whitelist ...`` (ledger_api.reviewer_cli): a reviewer is a regulator key."""
    from ledger_api.reviewer_cli import whitelist_app

    regulator_app.add_typer(whitelist_app, name="whitelist")


_add_reviewer_commands()
