"""``ccl regulator whitelist``: a white-list reviewer's steps through the platform API.

A reviewer is a regulator-role key designated for region codes (docs/financing.md), so it signs
with the regulator's keystore options (``--keystore``, ``--password-file``; never a password
argument). Each step is said in words before it is sent; evidence files stay on this machine:
only their SHA-256 is sent, as the wallet does for the enterprise's own evidence.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger_api.errors import InputError
from ledger_api.regulator_cli import (
    DEFAULT_API,
    ApiUrl,
    JsonFlag,
    Keystore,
    PasswordFile,
    YesFlag,
    one_line,
    regulator_client,
)

whitelist_app = typer.Typer(
    help="White-list (白名单) review in the regions your key is designated for: list, start "
    "review, record the five criteria with evidence, recommend or reject, push to banks.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

CRITERIA = ("compliant_operation", "fixed_premises", "financing_need", "good_credit",
            "lawful_loan_use")  # fmt: skip
EntryId = Annotated[int, typer.Argument(min=1, max=2**63 - 1, help="The white-list entry id.")]


def _place(entry: dict[str, Any]) -> str:
    """The entry's region and industry with their catalog names: 410102 郑州市 · C 制造业."""
    from ledger_api.monitoring.rules import default_rules, region_of

    rules = default_rules()
    region = rules.regions.get(region_of(entry["region"]) or "")
    industry = rules.industries.get(entry["industry"])
    region_name = f" {region.name}" if region is not None else ""
    industry_name = f" {industry.name}" if industry is not None else ""
    return f"{entry['region']}{region_name} · {entry['industry']}{industry_name}"


def _line(entry: dict[str, Any]) -> str:
    submitted = datetime.fromtimestamp(entry["submitted_at"], UTC).strftime("%Y-%m-%d %H:%M")
    findings = entry.get("findings") or {}
    met = sum(1 for f in findings.values() if f.get("met"))
    pushes = ", ".join(
        f"{p['institution_name']} ({p['institution']}) {p['decision'] or 'pending'}"
        for p in entry.get("pushes") or []
    )
    reason = f"  reason {entry['reason']}" if entry.get("reason") else ""
    return (
        f"#{entry['id']}  {_place(entry)}  {entry['state']}  submitted {submitted} UTC  "
        f"criteria met {met}/{len(CRITERIA)}{reason}" + (f"  pushed to {pushes}" if pushes else "")
    )


def _evidence_hash(path: Path) -> str:
    try:
        return "0x" + hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise InputError(f"cannot read evidence {path}: {exc.strerror}") from None


def _confirm(words: str, address: str, yes: bool) -> None:
    typer.echo(f"{words}; signed by reviewer {address}.", err=True)
    if not yes and not typer.confirm("Send?", err=True):
        raise typer.Exit(1)


def _done(entry: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(entry, ensure_ascii=False))
    else:
        typer.echo(_line(entry))


@whitelist_app.command("list")
@one_line
def list_entries(
    state: Annotated[
        str | None, typer.Option(help="Only entries in this state (submitted, under_review, ...).")
    ] = None,
    api_url: ApiUrl = DEFAULT_API,
    keystore: Keystore = None,
    password_file: PasswordFile = None,
    as_json: JsonFlag = False,
) -> None:
    """The entries of the regions you are designated for (a prefecture covers its counties)."""
    from ledger_api.financing import client as fin

    with regulator_client(api_url, keystore, password_file) as client:
        entries = fin.reviewer_entries(client, state)
    if as_json:
        typer.echo(json.dumps(entries, ensure_ascii=False, indent=2))
        return
    if not entries:
        typer.echo(
            "no white-list entries in your regions" + (f" in state {state}" if state else "")
        )
    for entry in entries:
        typer.echo(_line(entry))


@whitelist_app.command("start-review")
@one_line
def start_review(
    entry_id: EntryId,
    api_url: ApiUrl = DEFAULT_API,
    keystore: Keystore = None,
    password_file: PasswordFile = None,
    as_json: JsonFlag = False,
    yes: YesFlag = False,
) -> None:
    """Take a submitted entry under review."""
    _step(entry_id, "start_review", "START REVIEW of", api_url, keystore, password_file,
          as_json, yes)  # fmt: skip


@whitelist_app.command("criterion")
@one_line
def criterion(
    entry_id: EntryId,
    name: Annotated[str, typer.Argument(metavar="CRITERION", help=", ".join(CRITERIA))],
    evidence: Annotated[
        Path, typer.Option("--evidence", help="The evidence file examined (only its hash is sent).")
    ],
    not_met: Annotated[
        bool, typer.Option("--not-met", help="Record the criterion as not met.")
    ] = False,
    api_url: ApiUrl = DEFAULT_API,
    keystore: Keystore = None,
    password_file: PasswordFile = None,
    as_json: JsonFlag = False,
    yes: YesFlag = False,
) -> None:
    """Record your finding on one of the five criteria, with the SHA-256 of its evidence."""
    from ledger_api.financing import client as fin

    if name not in CRITERIA:
        raise InputError(f"unknown criterion {name!r}; one of {', '.join(CRITERIA)}",
                         code="unknown_criterion")  # fmt: skip
    digest = _evidence_hash(evidence)
    verdict = "NOT MET" if not_met else "MET"
    with regulator_client(api_url, keystore, password_file) as client:
        _confirm(f"RECORD {name} of white-list entry #{entry_id} as {verdict}, evidence "
                 f"{evidence.name} sha256 {digest}", client.account.address, yes)  # fmt: skip
        entry = fin.record_criterion(client, entry_id, name, digest, not not_met)
    _done(entry, as_json)


@whitelist_app.command("recommend")
@one_line
def recommend(
    entry_id: EntryId,
    api_url: ApiUrl = DEFAULT_API,
    keystore: Keystore = None,
    password_file: PasswordFile = None,
    as_json: JsonFlag = False,
    yes: YesFlag = False,
) -> None:
    """Recommend an entry under review (all five criteria recorded and met)."""
    _step(entry_id, "recommend", "RECOMMEND", api_url, keystore, password_file, as_json, yes)


@whitelist_app.command("reject")
@one_line
def reject(
    entry_id: EntryId,
    reason: Annotated[
        str, typer.Option(help="A reason code, lowercase with underscores (premises_unproven).")
    ],
    repairable: Annotated[
        bool | None,
        typer.Option(
            "--repairable/--final",
            help="Whether the enterprise may resubmit with new evidence (say which).",
        ),
    ] = None,
    api_url: ApiUrl = DEFAULT_API,
    keystore: Keystore = None,
    password_file: PasswordFile = None,
    as_json: JsonFlag = False,
    yes: YesFlag = False,
) -> None:
    """Reject an entry under review, with a reason, repairable or final."""
    if repairable is None:
        raise InputError("say whether the rejection can be repaired: --repairable or --final")
    kind = "repairable" if repairable else "final"
    _step(entry_id, "reject", f"REJECT ({reason}, {kind})", api_url, keystore, password_file,
          as_json, yes, reason=reason, repairable=repairable)  # fmt: skip


@whitelist_app.command("push")
@one_line
def push(
    entry_id: EntryId,
    banks: Annotated[
        list[str],
        typer.Option(
            "--bank",
            help="A bank's address; repeat for each. It must hold the "
            "enterprise's live loan_application grant.",
        ),
    ],
    api_url: ApiUrl = DEFAULT_API,
    keystore: Keystore = None,
    password_file: PasswordFile = None,
    as_json: JsonFlag = False,
    yes: YesFlag = False,
) -> None:
    """Push a recommended entry to banks the enterprise chose (those holding its grant)."""
    from ledger_api.financing import client as fin

    with regulator_client(api_url, keystore, password_file) as client:
        _confirm(f"PUSH white-list entry #{entry_id} to {', '.join(banks)}",
                 client.account.address, yes)  # fmt: skip
        entry = fin.reviewer_push(client, entry_id, banks)
    _done(entry, as_json)


def _step(
    entry_id: int, action: str, words: str, api_url: str, keystore: Path | None,
    password_file: Path | None, as_json: bool, yes: bool, **extra: Any,
) -> None:  # fmt: skip
    from ledger_api.financing import client as fin

    with regulator_client(api_url, keystore, password_file) as client:
        _confirm(f"{words} white-list entry #{entry_id}", client.account.address, yes)
        entry = fin.review(client, entry_id, action, **extra)
    _done(entry, as_json)
