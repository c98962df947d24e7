"""Reads under the platform's gate: report, records, verify, score, and export to a file.

Each prints the answer, then its access receipt (``session.show_receipt``); ``--receipt-out``
saves the answer with its signed receipt. The answer is kept exactly as the platform sent it
(not re-shaped), so the response hash in the receipt can be recomputed from the saved file.
"""

from __future__ import annotations

import csv
import io
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from wallet_cli.bank.session import (
    GrantOption,
    PurposeOption,
    ReceiptOut,
    Subject,
    show_receipt,
    signed_client,
)
from wallet_cli.files import write_json_file, write_text_file
from wallet_cli.options import DEFAULT_ACCOUNT, AccountName, PasswordFile
from wallet_cli.output import Column, get_output, note

_BASE = "/v1/institution/subjects"


def _read(
    name: str, password_file: Path | None, subject: str, action: str, params: dict[str, Any]
) -> dict[str, Any]:
    with signed_client(name, password_file) as client:
        answer: dict[str, Any] = client.call("GET", f"{_BASE}/{subject}/{action}", params=params)
    return answer


def _record_rows(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Column]]:
    keys: list[str] = []
    for record in records:
        keys += [k for k in record.get("fields", {}) if k not in keys]
    rows = [{**r.get("fields", {}), "disputed": r.get("disputed", False)} for r in records]
    columns = [Column(k, k) for k in keys] + [Column("disputed", "disputed")]
    return rows, columns


def report(
    subject: Subject,
    purpose: PurposeOption = "loan_application",
    receipt_out: ReceiptOut = None,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """Read an enterprise's standard credit report (public fields; agreement only)."""
    answer = _read(name, password_file, subject, "report", {"purpose": purpose})
    out = get_output()
    if out.json_mode:
        out.json(answer)
    else:
        typer.echo(f"Standard credit report of {subject} (purpose {purpose})")
        for category, records in answer.get("categories", {}).items():
            rows, columns = _record_rows(records)
            out.rows(rows, columns, title=category, empty=f"{category}: no records")
    show_receipt(answer, receipt_out)


def records(
    subject: Subject,
    category: Annotated[str, typer.Option("--category", help="The catalog category, e.g. tax.")],
    grant: GrantOption,
    purpose: PurposeOption = "loan_application",
    level: Annotated[str, typer.Option("--level", help="query (masked) or detail.")] = "query",
    receipt_out: ReceiptOut = None,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """Read an enterprise's records of one category under a grant."""
    answer = _records(name, password_file, subject, category, grant, purpose, level)
    out = get_output()
    if out.json_mode:
        out.json(answer)
    else:
        rows, columns = _record_rows(answer.get("records", []))
        out.rows(
            rows,
            columns,
            title=f"{answer.get('category')} records of {subject} "
            f"(level {answer.get('level')}, grant {grant})",
            empty="no records",
        )
    show_receipt(answer, receipt_out)


def _records(
    name: str,
    password_file: Path | None,
    subject: str,
    category: str,
    grant: int,
    purpose: str,
    level: str,
) -> dict[str, Any]:
    params = {"category": category, "purpose": purpose, "grant_id": grant, "level": level}
    return _read(name, password_file, subject, "records", params)


def verify(
    subject: Subject,
    predicate: Annotated[
        str,
        typer.Option(
            "--predicate",
            help="What to verify: no_tax_arrears_months, tax_grade_at_least, "
            "insured_headcount_at_least, no_social_insurance_arrears, "
            "no_judgments_as_defendant, no_admin_penalties, no_utility_arrears.",
        ),
    ],
    arg: Annotated[
        str, typer.Option("--arg", help="The predicate's argument (months, grade or count).")
    ],
    grant: GrantOption,
    purpose: PurposeOption = "loan_application",
    receipt_out: ReceiptOut = None,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """Ask a yes/no verification (核验) about an enterprise under a grant."""
    params = {"predicate": predicate, "arg": arg, "purpose": purpose, "grant_id": grant}
    answer = _read(name, password_file, subject, "verify", params)
    _print(
        answer,
        ("predicate", "argument", "result"),
        f"Verification about {subject} (grant {grant})",
    )
    show_receipt(answer, receipt_out)


def score(
    subject: Subject,
    grant: GrantOption,
    purpose: PurposeOption = "loan_application",
    receipt_out: ReceiptOut = None,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """Get an enterprise's credit score computed in the data safe room."""
    answer = _read(name, password_file, subject, "score", {"purpose": purpose, "grant_id": grant})
    _print(
        answer,
        ("score", "band", "reason_codes", "categories_used", "scorecard"),
        f"Credit score of {subject} (grant {grant})",
    )
    show_receipt(answer, receipt_out)


def _print(answer: dict[str, Any], keys: tuple[str, ...], title: str) -> None:
    """The answer's ``keys`` as a record; with ``--json`` the whole answer (receipts too)."""
    out = get_output()
    if out.json_mode:
        out.json(answer)
    else:
        out.record({k: answer.get(k) for k in keys}, title=title)


class ExportFormat(StrEnum):
    json = "json"
    csv = "csv"


def export(
    subject: Subject,
    category: Annotated[str, typer.Option("--category", help="The catalog category, e.g. tax.")],
    grant: GrantOption,
    out: Annotated[Path, typer.Option("--out", help="The file to write.", dir_okay=False)],
    file_format: Annotated[
        ExportFormat, typer.Option("--format", help="json (the answer) or csv (one row a record).")
    ] = ExportFormat.json,
    purpose: PurposeOption = "loan_application",
    level: Annotated[str, typer.Option("--level", help="query (masked) or detail.")] = "query",
    receipt_out: ReceiptOut = None,
    name: AccountName = DEFAULT_ACCOUNT,
    password_file: PasswordFile = None,
) -> None:
    """Read records under a grant and write them to a JSON or CSV file."""
    answer = _records(name, password_file, subject, category, grant, purpose, level)
    found = answer.get("records", [])
    if file_format is ExportFormat.json:
        write_json_file(out, answer)
    else:
        write_text_file(out, _csv(found))
    note(f"Wrote {len(found)} {category} record(s) to {out}")
    get_output().done(
        f"Exported {len(found)} record(s) to {out} ({file_format.value})",
        {"file": str(out), "format": file_format.value, "records": len(found), **answer},
    )
    show_receipt(answer, receipt_out)


def _csv(records: list[dict[str, Any]]) -> str:
    rows, columns = _record_rows(records)
    keys = ["record_uid", "category", *(c.key for c in columns)]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=keys, extrasaction="ignore")
    writer.writeheader()
    for record, row in zip(records, rows, strict=True):
        writer.writerow({"record_uid": record["record_uid"], "category": record["category"], **row})
    return buffer.getvalue()
