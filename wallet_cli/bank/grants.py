"""The grants enterprises gave this institution, and the check before a query.

Neither is a read of subject data: the platform answers from the chain's grant state through
the canonical check (``chain/grant_rules``), and writes no data-access entry.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from wallet_cli.bank.session import PurposeOption, signed_client
from wallet_cli.bank.shapes import moment, named, names
from wallet_cli.meanings import REFUSALS
from wallet_cli.options import DEFAULT_ACCOUNT, AccountName, PasswordFile
from wallet_cli.output import Column, get_output


def _status(status: Any) -> str:
    if not isinstance(status, dict):
        return str(status)
    if status.get("usable"):
        return "usable"
    reason = str(status.get("reason") or "not usable")
    meaning = REFUSALS.get(reason)
    return f"not usable: {meaning} ({reason})" if meaning else f"not usable: {reason}"


def grants(
    usable: Annotated[bool, typer.Option("--usable", help="Only the grants usable now.")] = False,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """List the grants enterprises gave your institution, with their live status."""
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
    out = get_output()
    if out.json_mode:
        out.json(found)
        return
    out.rows(
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
) -> None:
    """Check a grant for one intended query before making it (reads no data)."""
    with signed_client(name, password_file) as client:
        answer = client.check_grant(
            grant, category=category, purpose=purpose, level=level
        ).model_dump()
    out = get_output()
    if out.json_mode:
        out.json(answer)
        return
    usable = bool(answer.get("usable"))
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
