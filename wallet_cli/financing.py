"""Loan products and applications (信贷产品, 贷款申请) from the wallet.

``apply`` shows the product, the grant it needs (institution by name, categories, purpose,
window) and the application, asks once, unlocks once and signs both: the EIP-712 Grant and the
application (EIP-191 over a hash that covers the grant's signature). The platform relays the
grant and files the application with it, so the bank can read what it needs to decide.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger_api.errors import InputError
from ledger_api.financing import client as fin
from ledger_api.financing.schemas import ApplicationOut
from ledger_api.financing.self_reports import SelfReportEntry, sign_entry
from wallet_cli.keys import keystore_dir, unlock
from wallet_cli.options import DEFAULT_ACCOUNT, AccountName, AssumeYes, PasswordFile
from wallet_cli.output import Column, get_output
from wallet_cli.platform import account_nonce, act_as, domain_of, platform
from wallet_cli.preview import show_and_confirm
from wallet_cli.terms import utc_time

Region = Annotated[str, typer.Option("--region", help="Your division code, e.g. 410102.")]
Industry = Annotated[str, typer.Option("--industry", help="Your GB/T 4754 section, e.g. C.")]


def products(
    region: Annotated[str | None, typer.Option("--region", help="Division code.")] = None,
    industry: Annotated[str | None, typer.Option("--industry", help="GB/T 4754 section.")] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help="pure_credit, guarantee, pledge, supply_chain.")
    ] = None,
) -> None:
    """Loan products open now, with their bank, ranges and the categories they read."""
    with platform() as client:
        found = fin.products(client, region=region, industry=industry, kind=kind)
    rows = [
        p.model_dump()
        | {
            "amount": f"{p.amount_min:,}..{p.amount_max:,}",
            "term": f"{p.term_min_months}..{p.term_max_months} months",
            "rate": f"{p.rate_min_bp / 100:.2f}%..{p.rate_max_bp / 100:.2f}%",
            "reads": ", ".join(p.categories),
        }
        for p in found
    ]
    get_output().rows(
        rows,
        [
            Column("id", "Product", justify="right"),
            Column("name", "Name"),
            Column("institution_name", "Bank"),
            Column("kind", "Kind"),
            Column("amount", "Amount (yuan)"),
            Column("term", "Term"),
            Column("rate", "Rate"),
            Column("reads", "Reads"),
        ],
        empty="no loan products match",
    )


def apply(
    product_id: Annotated[int, typer.Argument(help="The product's id (see products).", min=1)],
    amount: Annotated[int, typer.Option("--amount", help="Yuan.", min=1)],
    term: Annotated[int, typer.Option("--term", help="Months.", min=1)],
    region: Region,
    industry: Industry,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
    yes: AssumeYes = False,
) -> None:
    """Apply for a loan product; one confirmation signs the application and its grant."""
    entry = keystore_dir().find(name)
    with platform() as client:
        product = fin.product(client, product_id)
        info = client.chain_info()
        window = fin.grant_terms_for(product, 0, product.decision_days)
        show_and_confirm(
            "You are about to apply for this loan and grant the bank what it needs:",
            {
                "product": f"{product.name} (#{product.id})",
                "bank": f"{product.institution_name} ({product.institution})",
                "amount": f"{amount:,} yuan",
                "term": f"{term} months",
                "region": region,
                "industry": industry,
                "grant_categories": ", ".join(product.categories),
                "grant_purpose": "loan_application",
                "grant_level": "query",
                "grant_days": (window.not_after - window.not_before) // 86_400,
                "signer": f"{entry.name} ({entry.address})",
                "chain_id": info.chain_id,
                "contract": info.contract,
            },
            "Sign the application and the grant?",
            assume_yes=yes,
        )
        account = unlock(name, password_file=password_file)
        act_as(client, account)
        info, nonce = account_nonce(client)
        request = fin.ApplicationRequest(product, amount, term, region, industry)
        body = fin.application_body(account, domain_of(info), nonce, request, int(client.clock()))
        filed = fin.apply(client, body)
    get_output().done(
        f"Application {filed.id} filed with {filed.institution_name} under grant {filed.grant_id}; "
        f"decision due by {utc_time(filed.decision_deadline)}",
        filed.model_dump(),
    )


def _row(a: ApplicationOut) -> dict[str, Any]:
    return a.model_dump() | {
        "submitted": utc_time(a.submitted_at),
        "due": utc_time(a.decision_deadline),
        "state": a.status + (" (overdue)" if a.overdue else ""),
    }


def applications(name: AccountName = DEFAULT_ACCOUNT, password_file: PasswordFile = None) -> None:
    """Your loan applications and where each stands (submitted, approved, declined...)."""
    account = unlock(name, password_file=password_file)
    with platform(account) as client:
        mine = fin.my_applications(client)
    get_output().rows(
        [_row(a) for a in mine],
        [
            Column("id", "Application", justify="right"),
            Column("product_name", "Product"),
            Column("institution_name", "Bank"),
            Column("amount", "Amount", justify="right"),
            Column("state", "Status"),
            Column("decline_reason", "Reason"),
            Column("loan_id", "Loan", justify="right"),
            Column("submitted", "Submitted", no_wrap=True),
            Column("due", "Decision due", no_wrap=True),
        ],
        empty="no loan applications",
    )


def withdraw_application(
    application_id: Annotated[int, typer.Argument(help="The application's id.", min=1)],
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """Withdraw a loan application the bank has not decided yet."""
    account = unlock(name, password_file=password_file)
    with platform(account) as client:
        done = fin.withdraw(client, application_id)
    get_output().done(f"Application {done.id} withdrawn", done.model_dump())


def loan(
    loan_id: Annotated[int, typer.Argument(help="The loan's id (see applications).", min=1)],
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """A loan you obtained: its terms (kept sealed at the platform) and status."""
    account = unlock(name, password_file=password_file)
    with platform(account) as client:
        got = fin.my_loan(client, loan_id)
    get_output().done(
        f"Loan {got.id} from {got.institution_name}: {got.amount:,} yuan at "
        f"{got.rate_bp / 100:.2f}% for {got.term_months} months, {got.status}"
        + (" (pure credit)" if got.pure_credit else ""),
        got.model_dump(),
    )


# -- the white list (白名单) ------------------------------------------------------------------

CRITERIA_HELP = (
    "criterion=FILE, once for each of compliant_operation, fixed_premises, financing_need, "
    "good_credit, lawful_loan_use (the file's SHA-256 is sent, never the file)"
)


def _evidence(pairs: list[str]) -> dict[str, str]:
    """criterion -> 0x SHA-256 of the named evidence file."""
    out: dict[str, str] = {}
    for pair in pairs:
        criterion, sep, path = pair.partition("=")
        if not sep:
            raise InputError(f"--evidence takes criterion=FILE, got {pair!r}")
        try:
            out[criterion.strip()] = "0x" + hashlib.sha256(Path(path).read_bytes()).hexdigest()
        except OSError as exc:
            raise InputError(f"cannot read evidence {path}: {exc.strerror}") from None
    return out


def whitelist_apply(
    region: Region,
    industry: Industry,
    evidence: Annotated[list[str], typer.Option("--evidence", help=CRITERIA_HELP)],
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
    yes: AssumeYes = False,
) -> None:
    """Apply to your region's financing white list with evidence for the five criteria."""
    hashes = _evidence(evidence)
    show_and_confirm(
        "You are about to apply to the financing white list:",
        {"region": region, "industry": industry, **hashes},
        "Submit this application?",
        assume_yes=yes,
    )
    account = unlock(name, password_file=password_file)
    with platform(account) as client:
        entry = fin.whitelist_apply(client, region, industry, hashes)
    get_output().done(f"White-list entry {entry['id']} {entry['state']}", entry)


def whitelist(name: AccountName = DEFAULT_ACCOUNT, password_file: PasswordFile = None) -> None:
    """Your white-list entries: state, reason, and each bank's answer."""
    account = unlock(name, password_file=password_file)
    with platform(account) as client:
        entries = fin.my_whitelist(client)
    rows = [
        e
        | {
            "banks": ", ".join(
                f"{p['institution_name']}: {p['decision'] or 'waiting'}" for p in e["pushes"]
            )
        }
        for e in entries
    ]
    get_output().rows(
        rows,
        [
            Column("id", "Entry", justify="right"),
            Column("region", "Region"),
            Column("state", "State"),
            Column("reason", "Reason"),
            Column("banks", "Banks"),
        ],
        empty="no white-list entries",
    )


def whitelist_push(
    entry_id: Annotated[int, typer.Argument(help="Your recommended entry.", min=1)],
    bank: Annotated[
        list[str], typer.Option("--bank", help="ADDRESS:GRANT_ID of a bank holding your grant.")
    ],
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """Push your recommended entry to banks holding your loan_application grant."""
    banks = []
    for item in bank:
        address, sep, grant = item.rpartition(":")
        if not sep or not grant.isdigit():
            raise InputError(f"--bank takes ADDRESS:GRANT_ID, got {item!r}")
        banks.append({"institution": address, "grant_id": int(grant)})
    account = unlock(name, password_file=password_file)
    with platform(account) as client:
        entry = fin.whitelist_push(client, entry_id, banks)
    get_output().done(f"White-list entry {entry['id']} pushed to {len(banks)} bank(s)", entry)


# -- voluntary information (自愿填报 + 信用承诺) -----------------------------------------------


def self_report(
    topic: Annotated[
        str, typer.Option("--topic", help="revenue, employees, assets, honours, orders, other.")
    ],
    reported_on: Annotated[str, typer.Option("--date", help="YYYY-MM-DD.")],
    commitment: Annotated[
        str, typer.Option("--commitment", help="Your credit commitment (信用承诺).")
    ],
    text: Annotated[str | None, typer.Option("--text", help="What you report.")] = None,
    amount: Annotated[
        str | None, typer.Option("--amount", help="An amount, e.g. 1200000.00.")
    ] = None,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
    yes: AssumeYes = False,
) -> None:
    """Add information about your enterprise, signed with a credit commitment that it is true."""
    entry_address = keystore_dir().find(name).address
    show_and_confirm(
        "You are about to sign this information and commit that it is true:",
        {"topic": topic, "date": reported_on, "text": text, "amount": amount,
         "commitment": commitment, "signer": entry_address},
        "Sign and submit?",
        assume_yes=yes,
    )  # fmt: skip
    account = unlock(name, password_file=password_file)
    entry = SelfReportEntry(topic, reported_on, text, amount, commitment, account.address)
    with platform(account) as client:
        added = fin.add_self_report(client, entry, "0x" + sign_entry(account, entry).hex())
    get_output().done(f"Entry {added['id']} stored and anchored as self-reported", added)


def self_reports(name: AccountName = DEFAULT_ACCOUNT, password_file: PasswordFile = None) -> None:
    """Your self-reported information and whether each is active or withdrawn."""
    account = unlock(name, password_file=password_file)
    with platform(account) as client:
        mine = fin.my_self_reports(client)
    get_output().rows(
        [r | {"submitted": utc_time(r["submitted_at"])} for r in mine],
        [
            Column("id", "Entry", justify="right"),
            Column("topic", "Topic"),
            Column("status", "Status"),
            Column("submitted", "Submitted", no_wrap=True),
            Column("entry_hash", "Signed hash", no_wrap=True),
        ],
        empty="no self-reported information",
    )


def withdraw_self_report(
    report_id: Annotated[int, typer.Argument(help="The entry's id.", min=1)],
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """Withdraw self-reported information (the withdrawal is recorded; the anchor stays)."""
    account = unlock(name, password_file=password_file)
    with platform(account) as client:
        done = fin.withdraw_self_report(client, report_id)
    get_output().done(f"Entry {done['id']} withdrawn", done)
