"""Bank verbs for supply-chain finance: ``ccl-bank receivables [--financed]`` lists the parts of
receivables financed with your institution; ``ccl-bank receivable release PART`` releases the
lock on a part once it is repaid (signed EIP-712 ``PartRelease``, relayed by the platform).

Both are in the ``ccl-bank`` registry; ``register(app)`` adds them to any other Typer app.
"""

from __future__ import annotations

from typing import Annotated

import typer

from wallet_cli.keys import unlock
from wallet_cli.options import DEFAULT_ACCOUNT, AccountName, AssumeYes, PasswordFile
from wallet_cli.output import Column, get_output
from wallet_cli.platform import platform
from wallet_cli.receivables import sign_act

RECEIVABLE_SUMMARY = "Act on one financed receivable part: release PART once it is repaid."
receivable_app = typer.Typer(name="receivable", help=RECEIVABLE_SUMMARY, no_args_is_help=True)
receivable_app.__doc__ = RECEIVABLE_SUMMARY  # the registry's one-line help is read from here

PART_COLUMNS = [
    Column("part_id", "Part", justify="right"),
    Column("receivable_id", "Receivable", justify="right"),
    Column("value", "Outstanding", justify="right"),
    Column("holder_uscc_masked", "Holder"),
    Column("debtor_uscc_masked", "Debtor"),
    Column("due_date", "Due", no_wrap=True),
    Column("locked", "Locked"),
    Column("overdue", "Overdue"),
]


def receivables(
    financed: Annotated[
        bool, typer.Option("--financed", help="Only the parts locked with you now.")
    ] = False,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """Receivable parts financed with your institution (ever, or --financed: locked now)."""
    from ledger_api.supply_chain_client import financed_parts

    account = unlock(name, password_file=password_file)
    with platform(account) as client:
        parts = financed_parts(client, current=financed)
    get_output().rows(
        parts,
        PART_COLUMNS,
        title="Financed with you now" if financed else "Financed with you",
        empty="no receivable parts financed with you",
    )


@receivable_app.command("release")
def release(
    part: Annotated[int, typer.Argument(help="The part id (see 'ccl-bank receivables').", min=1)],
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
    yes: AssumeYes = False,
) -> None:
    """Release the lock on a part you financed (repaid, or settled outside the chain)."""
    done = sign_act("release", {"part_id": part}, name, password_file, yes)
    get_output().done(f"Part {part} released: it may move or be financed again", done)


def register(app: typer.Typer) -> None:
    """Add ``receivables`` and ``receivable release`` to ``app``."""
    app.command("receivables")(receivables)
    app.add_typer(receivable_app, name="receivable")
