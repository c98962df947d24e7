"""Every ``ccl-bank`` command: where its code lives and its one-line help (lazy, as the
wallet's registry; the key verbs are the wallet's own)."""

from __future__ import annotations

from wallet_cli.registry import COMMANDS as WALLET_COMMANDS
from wallet_cli.registry import CommandEntry

COMMANDS: dict[str, CommandEntry] = {
    # The key verbs are the wallet's own: same code, same one-line help.
    **{verb: WALLET_COMMANDS[verb] for verb in ("new", "import", "list", "address")},
    "agreements": CommandEntry(
        "wallet_cli.bank.agreements",
        "agreements",
        "List your institution's data-sharing agreements and their status.",
    ),
    "accept": CommandEntry(
        "wallet_cli.bank.agreements",
        "accept",
        "Accept a proposed agreement by signature (the platform relays it: no gas).",
    ),
    "grants": CommandEntry(
        "wallet_cli.bank.grants",
        "grants",
        "List the grants enterprises gave your institution, with their live status.",
    ),
    "check": CommandEntry(
        "wallet_cli.bank.grants",
        "check",
        "Check a grant for one intended query before making it (reads no data).",
    ),
    "report": CommandEntry(
        "wallet_cli.bank.reads",
        "report",
        "Read an enterprise's standard credit report (public fields; agreement only).",
    ),
    "records": CommandEntry(
        "wallet_cli.bank.reads",
        "records",
        "Read an enterprise's records of one category under a grant.",
    ),
    "verify": CommandEntry(
        "wallet_cli.bank.reads",
        "verify",
        "Ask a yes/no verification (核验) about an enterprise under a grant.",
    ),
    "score": CommandEntry(
        "wallet_cli.bank.reads",
        "score",
        "Get an enterprise's credit score computed in the data safe room.",
    ),
    "export": CommandEntry(
        "wallet_cli.bank.reads",
        "export",
        "Read records under a grant and write them to a JSON or CSV file.",
    ),
    "receipt": CommandEntry(
        "wallet_cli.bank.receipt",
        "receipt",
        "Verify a saved access receipt: signature, log entry, anchor and grant.",
    ),
    "receivables": CommandEntry(
        "wallet_cli.bank.receivables",
        "receivables",
        "Receivable parts financed with your institution (ever, or --financed: locked now).",
    ),
    "receivable": CommandEntry(
        "wallet_cli.bank.receivables",
        "receivable_app",
        "Act on one financed receivable part: release PART once it is repaid.",
    ),
    "subscribe": CommandEntry(
        "wallet_cli.bank.monitoring_commands",
        "subscribe",
        "Subscribe to risk alerts (needs a monitoring grant) or to public push by region.",
    ),
    "subscriptions": CommandEntry(
        "wallet_cli.bank.monitoring_commands",
        "subscriptions",
        "List your institution's subscriptions and how far their deliveries are.",
    ),
    "events": CommandEntry(
        "wallet_cli.bank.monitoring_commands",
        "events",
        "Print a subscription's events as they come (events tail, server-sent events).",
    ),
    "webhook-receiver": CommandEntry(
        "wallet_cli.bank.monitoring_commands",
        "webhook_receiver",
        "Receive webhooks, verify their signatures and print each alert.",
    ),
    "publish-product": CommandEntry(
        "wallet_cli.bank.financing_commands",
        "publish_product",
        "Publish a loan product (name, kind, ranges, regions, industries, categories, validity).",
    ),
    "loan-applications": CommandEntry(
        "wallet_cli.bank.financing_commands",
        "loan_applications",
        "Applications to your products, with the grant each was filed under.",
    ),
    "decide": CommandEntry(
        "wallet_cli.bank.financing_commands",
        "decide",
        "Approve an application (recording the loan) or decline it with a reason code.",
    ),
    "loan-outcome": CommandEntry(
        "wallet_cli.bank.financing_commands",
        "loan_outcome",
        "Report that a loan was repaid or defaulted (anchored on chain).",
    ),
}
