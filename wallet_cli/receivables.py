"""``ccl-wallet receivable ...``: supply-chain receivables (应收账款) for core enterprises and
their suppliers.

Each verb asks the platform for the EIP-712 typed data of the act, checks it says what was
asked (part, amount), shows it in words, and signs only after you confirm (``--yes`` skips the
question, never the password). The platform relays the signature: no gas. Amounts are yuan
with at most two decimals; enterprises are named by USCC (统一社会信用代码), banks by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from wallet_cli.keys import unlock
from wallet_cli.options import DEFAULT_ACCOUNT, AccountName, AssumeYes, PasswordFile
from wallet_cli.output import Column, get_output
from wallet_cli.platform import platform
from wallet_cli.preview import show_and_confirm

if TYPE_CHECKING:
    from ledger_api.api.supply_chain_schemas import ActToSign

SUMMARY = (
    "Supply-chain receivables: register, register-payable, confirm, split, transfer, finance, "
    "settle, list."
)

app = typer.Typer(name="receivable", help=SUMMARY, no_args_is_help=True)
app.__doc__ = SUMMARY  # the registry's one-line help is read from here

PartArg = Annotated[int, typer.Argument(help="The part id (see 'receivable list').", min=1)]
Amount = Annotated[str, typer.Argument(help="Yuan, at most two decimals (e.g. 12000.50).")]
# A receivable's terms, the same whichever party registers it.
Due = Annotated[str, typer.Option("--due", help="Due date YYYY-MM-DD (within a year).")]
InvoiceNo = Annotated[str, typer.Option("--invoice", help="Invoice number (hashed on chain).")]
ContractNo = Annotated[str, typer.Option("--contract", help="Contract number (hashed).")]
Currency = Annotated[str, typer.Option("--currency")]


def sign_act(
    act: str,
    terms: dict[str, Any],
    name: str,
    password_file: Any,
    yes: bool,
    *,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Unlock, fetch the act's typed data, show it in words, confirm, sign, relay."""
    from ledger_api.supply_chain_client import perform

    account = unlock(name, password_file=password_file)

    def review(offer: ActToSign) -> None:
        shown = {"act": offer.act, "in words": offer.summary, "signer": account.address}
        shown |= {k: terms[k] for k in ("invoice_no", "contract_no") if k in terms}
        shown |= {k: v for k, v in offer.typed_data["message"].items() if k != "nonce"}
        shown["contract"] = offer.typed_data["domain"]["verifyingContract"]
        show_and_confirm("You are about to sign:", shown, "Sign and submit?", assume_yes=yes)

    with platform(account) as client:
        done = perform(client, account, act, terms, extra=extra, review=review)
    return done.model_dump(exclude_none=True)


@app.command("register")
def register(
    debtor: Annotated[str, typer.Argument(help="The core enterprise that owes it: its USCC.")],
    amount: Amount,
    due: Due,
    invoice: InvoiceNo,
    contract: ContractNo,
    my_uscc: Annotated[str, typer.Option("--my-uscc", help="Your own USCC (for your record).")],
    currency: Currency = "CNY",
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
    yes: AssumeYes = False,
) -> None:
    """Register a receivable a core enterprise owes you (pending until it confirms)."""
    terms = {
        "debtor": debtor, "amount": amount, "currency": currency, "due_date": due,
        "invoice_no": invoice, "contract_no": contract,
    }  # fmt: skip
    done = sign_act(
        "registration", terms, name, password_file, yes, extra={"supplier_uscc": my_uscc}
    )
    get_output().done(
        f"Receivable {done['receivable_id']} registered; it counts once the debtor confirms it",
        done,
    )


@app.command("register-payable")
def register_payable(
    supplier: Annotated[str, typer.Argument(help="The supplier you owe: its USCC.")],
    amount: Amount,
    due: Due,
    invoice: InvoiceNo,
    contract: ContractNo,
    my_uscc: Annotated[str, typer.Option("--my-uscc", help="Your own USCC (for the record).")],
    currency: Currency = "CNY",
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
    yes: AssumeYes = False,
) -> None:
    """Register, as the core enterprise, what you owe a supplier: confirmed at once."""
    terms = {
        "supplier": supplier, "amount": amount, "currency": currency, "due_date": due,
        "invoice_no": invoice, "contract_no": contract,
    }  # fmt: skip
    done = sign_act("payable", terms, name, password_file, yes, extra={"debtor_uscc": my_uscc})
    get_output().done(
        f"Payable registered and confirmed: receivable {done['receivable_id']}, "
        f"part {done['part_id']} held by {supplier}",
        done,
    )


@app.command("confirm")
def confirm(
    receivable_id: Annotated[int, typer.Argument(help="The receivable id.", min=1)],
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
    yes: AssumeYes = False,
) -> None:
    """Confirm, as the debtor, a receivable a supplier registered against you."""
    done = sign_act("confirmation", {"receivable_id": receivable_id}, name, password_file, yes)
    get_output().done(
        f"Receivable {receivable_id} confirmed: part {done['part_id']} holds it", done
    )


@app.command("split")
def split(
    part: PartArg,
    value: Amount,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
    yes: AssumeYes = False,
) -> None:
    """Split VALUE off a part you hold into a new part (you hold both)."""
    done = sign_act("split", {"part_id": part, "value": value}, name, password_file, yes)
    get_output().done(f"Part {done['new_part_id']} split off part {part}", done)


@app.command("transfer")
def transfer(
    part: PartArg,
    to: Annotated[str, typer.Argument(help="The receiving enterprise's USCC.")],
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
    yes: AssumeYes = False,
) -> None:
    """Transfer a whole part you hold to another enterprise (your own supplier)."""
    done = sign_act("transfer", {"part_id": part, "to": to}, name, password_file, yes)
    get_output().done(f"Part {part} transferred to {to}", done)


@app.command("finance")
def finance(
    part: PartArg,
    institution: Annotated[str, typer.Argument(help="The bank: its registered name or address.")],
    registry_no: Annotated[
        str, typer.Option("--registry-no", help="Movable-property financing registration no.")
    ] = "",
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
    yes: AssumeYes = False,
) -> None:
    """Finance a part you hold with an institution; the part is locked until released."""
    terms = {"part_id": part, "institution": institution, "registry_no": registry_no}
    done = sign_act("financing", terms, name, password_file, yes)
    get_output().done(f"Part {part} financed with {institution} and locked", done)


@app.command("settle")
def settle(
    part: PartArg,
    value: Amount,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
    yes: AssumeYes = False,
) -> None:
    """Record, as the debtor, a payment of VALUE on a part (a fully paid part is released)."""
    done = sign_act("settlement", {"part_id": part, "value": value}, name, password_file, yes)
    get_output().done(f"Payment of {value} recorded on part {part}", done)


PART_COLUMNS = [
    Column("part_id", "Part", justify="right"),
    Column("receivable_id", "Receivable", justify="right"),
    Column("value", "Outstanding", justify="right"),
    Column("debtor_uscc_masked", "Debtor"),
    Column("due_date", "Due", no_wrap=True),
    Column("financier_name", "Financed by"),
    Column("overdue", "Overdue"),
]
RECEIVABLE_COLUMNS = [
    Column("receivable_id", "Receivable", justify="right"),
    Column("amount", "Amount", justify="right"),
    Column("paid", "Paid", justify="right"),
    Column("supplier_uscc_masked", "Supplier"),
    Column("debtor_uscc_masked", "Debtor"),
    Column("due_date", "Due", no_wrap=True),
    Column("status", "Status"),
]


@app.command("list")
def list_(name: AccountName = DEFAULT_ACCOUNT, password_file: PasswordFile = None) -> None:
    """Your receivables (as supplier and as debtor) and the parts you hold or owe."""
    from ledger_api.supply_chain_client import my_receivables

    account = unlock(name, password_file=password_file)
    with platform(account) as client:
        mine = my_receivables(client)
    output = get_output()
    if output.json_mode:
        output.json(mine)
        return
    output.rows(mine["as_supplier"], RECEIVABLE_COLUMNS, title="Owed to you", empty="")
    output.rows(mine["as_debtor"], RECEIVABLE_COLUMNS, title="You owe", empty="")
    output.rows(mine["parts_held"], PART_COLUMNS, title="Parts you hold", empty="no parts held")
