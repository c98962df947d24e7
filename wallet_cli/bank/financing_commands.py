"""``ccl-bank`` financing verbs: publish a loan product, list the applications to it, decide
one (approve with the loan's terms, or decline with a reason code), report a loan's outcome.

ccl-bank lists them in its registry (``wallet_cli/bank/registry.py``); ``register(app)`` adds
them to any other Typer application, each run guarded (one ``error:`` line, never a traceback).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ledger_api.errors import InputError
from ledger_api.financing import client as fin
from wallet_cli.bank.session import signed_client
from wallet_cli.config import current_config
from wallet_cli.options import DEFAULT_ACCOUNT, AccountName, PasswordFile
from wallet_cli.output import Column, get_output, run_guarded
from wallet_cli.terms import utc_time

if TYPE_CHECKING:
    from ledger_api.client import LedgerClient


def _signed(name: str, password_file: Path | None) -> AbstractContextManager[LedgerClient]:
    return signed_client(name, password_file)


def publish_product(
    product_file: Annotated[
        Path,
        typer.Argument(help="The product as JSON (fields: docs/financing.md).", dir_okay=False),
    ],
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """Publish a loan product (name, kind, ranges, regions, industries, categories, validity)."""
    try:
        body = json.loads(product_file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputError(f"{product_file} is not JSON: {exc}") from None
    with _signed(name, password_file) as client:
        product = fin.publish_product(client, body)
    get_output().done(f"Product {product.id} published: {product.name}", product.model_dump())


def loan_applications(
    status: Annotated[
        str | None, typer.Option("--status", help="submitted, approved, declined, withdrawn.")
    ] = None,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """Applications to your products, with the grant each was filed under."""
    with _signed(name, password_file) as client:
        found = fin.bank_applications(client, status)
    rows = [
        a.model_dump()
        | {
            "due": utc_time(a.decision_deadline),
            "state": a.status + (" (overdue)" if a.overdue else ""),
        }
        for a in found
    ]
    get_output().rows(
        rows,
        [
            Column("id", "Application", justify="right"),
            Column("product_name", "Product"),
            Column("subject_id", "Enterprise", no_wrap=True),
            Column("amount", "Amount", justify="right"),
            Column("term_months", "Months", justify="right"),
            Column("grant_id", "Grant", justify="right"),
            Column("state", "Status"),
            Column("due", "Decision due", no_wrap=True),
        ],
        empty="no loan applications",
    )


def decide(
    application_id: Annotated[int, typer.Argument(help="The application's id.", min=1)],
    approve: Annotated[bool, typer.Option("--approve", help="Approve (give the terms).")] = False,
    decline: Annotated[
        str | None, typer.Option("--decline", help="Decline with this reason code.")
    ] = None,
    amount: Annotated[int | None, typer.Option("--amount", help="Yuan.", min=1)] = None,
    rate_bp: Annotated[int | None, typer.Option("--rate-bp", help="Basis points.")] = None,
    term: Annotated[int | None, typer.Option("--term", help="Months.", min=1)] = None,
    pure_credit: Annotated[bool, typer.Option("--pure-credit", help="信用贷款.")] = False,
    first_loan: Annotated[bool, typer.Option("--first-loan", help="首贷.")] = False,
    renewal: Annotated[bool, typer.Option("--renewal", help="无还本续贷.")] = False,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """Approve an application (recording the loan) or decline it with a reason code."""
    if approve == (decline is not None):
        raise InputError("give exactly one of --approve or --decline REASON")
    body: dict[str, Any] = (
        {"decision": "declined", "reason": decline}
        if decline is not None
        else {
            "decision": "approved",
            "amount": amount,
            "rate_bp": rate_bp,
            "term_months": term,
            "pure_credit": pure_credit,
            "first_loan": first_loan,
            "renewal_without_repayment": renewal,
        }
    )
    with _signed(name, password_file) as client:
        decided = fin.decide(client, application_id, body)
    loan = f"; loan {decided.loan_id} recorded" if decided.loan_id else ""
    get_output().done(f"Application {decided.id} {decided.status}{loan}", decided.model_dump())


def loan_outcome(
    loan_id: Annotated[int, typer.Argument(help="The loan's id.", min=1)],
    outcome: Annotated[str, typer.Argument(help="repaid or defaulted.")],
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """Report that a loan was repaid or defaulted (anchored on chain)."""
    with _signed(name, password_file) as client:
        loan = fin.report_outcome(client, loan_id, outcome)
    get_output().done(f"Loan {loan.id} {loan.status}", loan.model_dump())


COMMANDS: dict[str, Callable[..., None]] = {
    "publish-product": publish_product,
    "loan-applications": loan_applications,
    "decide": decide,
    "loan-outcome": loan_outcome,
}


def _guarded(command: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        code = run_guarded(lambda: command(*args, **kwargs), debug=current_config().debug)
        if code:
            raise typer.Exit(code)

    return run


def register(app: typer.Typer) -> None:
    """Add the financing verbs to ``app`` (ccl-bank)."""
    for command_name, command in COMMANDS.items():
        app.command(command_name)(_guarded(command))
