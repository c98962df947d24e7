"""The grants enterprises gave this institution, and the check before a query.

Neither is a read of subject data: the platform answers from the chain's grant state through
the canonical check (``chain/grant_rules``), and writes no data-access entry. ``check`` puts its
verdict in the exit code (0 usable, 3 not usable) so that a script can check before it queries;
``grants receipt`` saves a grant's platform-signed consent receipt (``wallet_cli.consent_receipt``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ledger_api.errors import InputError
from wallet_cli.bank.session import PurposeOption, signed_client
from wallet_cli.bank.shapes import moment, named, names
from wallet_cli.meanings import REFUSALS
from wallet_cli.options import DEFAULT_ACCOUNT, AccountName, PasswordFile
from wallet_cli.output import Column, get_output

# Not usable is an answer, not an error: distinct from 1 (error) and 2 (usage), the same number
# as `receipt verify`'s "ask again later".
EXIT_NOT_USABLE = 3


def _status(status: Any) -> str:
    if not isinstance(status, dict):
        return str(status)
    if status.get("usable"):
        return "usable"
    reason = str(status.get("reason") or "not usable")
    meaning = REFUSALS.get(reason)
    return f"not usable: {meaning} ({reason})" if meaning else f"not usable: {reason}"


def grants(
    action: Annotated[
        str | None,
        typer.Argument(help="receipt: save a grant's consent receipt (with GRANT_ID, --out)"),
    ] = None,
    grant_id: Annotated[int | None, typer.Argument(help="the grant, for receipt")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="receipt: the file to write", dir_okay=False)
    ] = None,
    usable: Annotated[bool, typer.Option("--usable", help="Only the grants usable now.")] = False,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """List the grants enterprises gave your institution, with their live status.

    `ccl-bank grants receipt ID --out FILE` saves one grant as a consent receipt (an
    ISO/IEC TS 27560 consent record) signed by the platform.
    """
    if action is not None:
        if action != "receipt" or grant_id is None or out is None:
            raise InputError(
                "usage: ccl-bank grants receipt GRANT_ID --out FILE", code="bad_arguments"
            )
        from wallet_cli.consent_receipt import save_consent_receipt

        with signed_client(name, password_file) as client:
            save_consent_receipt(client, grant_id, out, as_role="institution")
        return
    with signed_client(name, password_file) as client:
        found = [g.model_dump() for g in client.institution_grants(usable=usable)]
    rows = []
    for g in found:
        window = g.get("window") or {}
        uses_left = g.get("uses_left")
        rows.append(
            {
                **g,
                "enterprise": g.get("subject_uscc") or g.get("subject_id"),
                "category_names": ", ".join(names(g.get("categories"))),
                "purpose_name": named(g.get("purpose")),
                "level_name": named(g.get("level")),
                "valid": f"{moment(window.get('not_before'))} - {moment(window.get('not_after'))}",
                "uses": "unlimited" if not g.get("max_uses") else f"{uses_left} of {g['max_uses']}",
                "state": _status(g.get("status")),
            }
        )
    output = get_output()
    if output.json_mode:
        output.json(found)
        return
    output.rows(
        rows,
        [
            Column("grant_id", "Grant", justify="right"),
            Column("enterprise", "Enterprise (USCC)", no_wrap=True),
            Column("category_names", "Categories"),
            Column("purpose_name", "Purpose"),
            Column("level_name", "Level"),
            Column("valid", "Valid"),
            Column("uses", "Uses left"),
            Column("state", "Status"),
        ],
        empty="no usable grants" if usable else "no grants name your institution yet",
    )


def check(
    grant: Annotated[int, typer.Argument(help="The grant id.")],
    category: Annotated[str, typer.Option("--category", help="The catalog category, e.g. tax.")],
    purpose: PurposeOption = "loan_application",
    level: Annotated[str, typer.Option("--level", help="verify, query or detail.")] = "query",
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> int:
    """Check a grant for one intended query before making it (reads no data).

    Exit code 0 when the grant is usable for this query, 3 when it is not (the reason is
    printed), 1 on an error (e.g. a grant naming another institution).
    """
    with signed_client(name, password_file) as client:
        answer = client.check_grant(
            grant, category=category, purpose=purpose, level=level
        ).model_dump()
    out = get_output()
    usable = bool(answer.get("usable"))
    if out.json_mode:
        out.json(answer)
        return 0 if usable else EXIT_NOT_USABLE
    reason = answer.get("reason")
    verdict = (
        "usable"
        if usable
        else _status({"usable": False, "reason": reason}).removeprefix("not usable: ")
    )
    out.record(
        {
            "grant": answer.get("grant_id", grant),
            "category": named(answer.get("category", category)),
            "purpose": named(answer.get("purpose", purpose)),
            "level": named(answer.get("level", level)),
            "usable": usable,
            "reason": None if usable else verdict,
            "checked_block": answer.get("checked_block"),
        },
        title=f"Grant {grant} for a {named(answer.get('level', level))} read of "
        f"{named(answer.get('category', category))}: {'usable' if usable else 'NOT usable'}",
    )
    return 0 if usable else EXIT_NOT_USABLE
