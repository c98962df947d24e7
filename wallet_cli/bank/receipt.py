"""``ccl-bank receipt verify FILE``: check a saved access receipt (``ledger_api.receipts``).

The platform is asked for the access-log entry and its proof (a party's signed request: the
bank's key); everything the chain knows (the anchored root, the grant at the checked block, the
platform's receipt key) is read from ``--node`` when one is given, else from the platform's
public endpoints. Exit code 0 when verified, 1 when a check failed, 3 while the entry's range is
not anchored yet (ask again later).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ledger_api.receipts.sources import NodeSources, PlatformSources, ReceiptSources
from ledger_api.receipts.verify import FAILED, NOT_ANCHORED, load_receipt_file, verify_receipt
from wallet_cli.bank.session import signed_client
from wallet_cli.options import DEFAULT_ACCOUNT, AccountName, PasswordFile
from wallet_cli.output import Column, get_output

EXIT_NOT_ANCHORED = 3
_SYMBOLS = {True: "ok", False: "FAILED", None: "open"}


class ReceiptAction(StrEnum):
    verify = "verify"


def receipt(
    action: Annotated[ReceiptAction, typer.Argument(help="verify: check a saved receipt.")],
    file: Annotated[
        Path, typer.Argument(help="The answer saved with --receipt-out.", dir_okay=False)
    ],
    node: Annotated[
        str | None,
        typer.Option("--node", help="Read the chain facts from this node's RPC URL instead."),
    ] = None,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> int:
    """Verify a saved access receipt: signature, log entry, anchor and grant."""
    document = load_receipt_file(file)
    with signed_client(name, password_file) as client:
        sources: ReceiptSources = PlatformSources(client)
        if node is None:
            verdict = verify_receipt(document, sources)
        else:
            from wallet_cli.chain import Node, node_errors

            contract = client.chain_info().contract
            sources = NodeSources(client, Node(node, contract).w3, contract)
            with node_errors(node):
                verdict = verify_receipt(document, sources)
    out = get_output()
    if out.json_mode:
        out.json(verdict.as_json())
    else:
        out.rows(
            [{"name": s.name, "ok": _SYMBOLS[s.ok], "detail": s.detail} for s in verdict.steps],
            [Column("name", "Check"), Column("ok", "Result"), Column("detail", "Detail")],
            title=f"Receipt {file}: {verdict.status.replace('_', ' ')}",
        )
    if verdict.status == FAILED:
        return 1
    return EXIT_NOT_ANCHORED if verdict.status == NOT_ANCHORED else 0
