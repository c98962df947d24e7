"""What every ``ccl-bank`` command shares: the signed client, names for addresses, receipts.

``signed_client`` unlocks the bank's keystore (password file, ``CCL_BANK_PASSWORD`` or a hidden
prompt) and opens the platform client; ``show_receipt`` prints the access receipt of a read and,
with ``--receipt-out``, saves the whole answer so that ``ccl-bank receipt verify`` (or anyone
else) can check it later.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from wallet_cli.files import write_json_file
from wallet_cli.keys import unlock
from wallet_cli.output import get_output, note
from wallet_cli.platform import platform

if TYPE_CHECKING:
    from ledger_api.client import LedgerClient

ReceiptOut = Annotated[
    Path | None,
    typer.Option(
        "--receipt-out",
        help="Save the whole answer with its signed receipt to this JSON file "
        "(check it later with 'ccl-bank receipt verify FILE').",
        dir_okay=False,
    ),
]
PurposeOption = Annotated[
    str,
    typer.Option(
        "--purpose", help="Why you read: loan_application, post_loan_monitoring, guarantee, ..."
    ),
]
GrantOption = Annotated[int, typer.Option("--grant", help="The grant id you read under.")]
Subject = Annotated[
    str, typer.Argument(help="The enterprise: its USCC (统一社会信用代码) or 0x subject id.")
]


@contextmanager
def signed_client(name: str, password_file: Path | None) -> Iterator[LedgerClient]:
    """The platform client signing as the bank's unlocked account."""
    account = unlock(name, password_file=password_file)
    with platform(account) as client:
        yield client


def show_receipt(answer: Mapping[str, Any], receipt_out: Path | None) -> None:
    """Print the read's access receipt (text mode; JSON keeps it in the answer) and save it."""
    receipt = answer.get("receipt") or {}
    signed = answer.get("signed_receipt") or {}
    if not get_output().json_mode:
        grant = receipt.get("grant_id")
        typer.echo(
            "Access receipt: "
            + ("no grant (agreement)" if grant is None else f"grant {grant}")
            + f", checked at block {receipt.get('checked_block')}"
            + f", access-log entry {receipt.get('access_log_id')}"
            + (f", signed by the platform ({signed['signer']})" if signed.get("signer") else "")
        )
    if receipt_out is not None:
        write_json_file(receipt_out, answer)
        note(
            f"Saved the answer and its receipt to {receipt_out} "
            f"(check it with: ccl-bank receipt verify {receipt_out})"
        )
