"""A bank reads with ``ccl-bank`` as its staff would: report, records, verification, score and
export, each with its access receipt; mistakes end in one error line."""

from __future__ import annotations

import csv
import importlib
import inspect
import json
from pathlib import Path

from bankkit import USCC, Bank, ServedPlatform

from ledger_api.chain.types import AccessLevel
from wallet_cli.bank.registry import COMMANDS


def _one_error_line(stderr: str, *fragments: str) -> None:
    assert "Traceback" not in stderr
    assert stderr.count("error: ") == 1, stderr
    line = stderr.strip().splitlines()[-1]
    for fragment in fragments:
        assert fragment in line, line


def test_report_records_verify_and_score_each_print_their_receipt(
    bank: Bank, platform: ServedPlatform, tmp_path: Path
) -> None:
    platform.ingest_for(USCC)
    query = platform.grant()
    verify_grant = platform.grant(level=AccessLevel.VERIFY)

    report = bank.signed("report", USCC)
    assert report.exit_code == 0, report.stderr
    assert "郑州钱包测试有限公司" in report.stdout  # the registration's public name
    assert "Access receipt: no grant (agreement)" in report.stdout

    records = bank.json("records", USCC, "--category", "tax", "--grant", str(query))
    assert len(records["records"]) == 2 and records["receipt"]["grant_id"] == query
    assert records["signed_receipt"]["signer"] == platform.world.operator.address

    saved = tmp_path / "verification.json"
    verification = bank.signed(
        "verify",
        USCC,
        "--predicate",
        "no_tax_arrears_months",
        "--arg",
        "12",
        "--grant",
        str(verify_grant),
        "--receipt-out",
        str(saved),
    )
    assert verification.exit_code == 0, verification.stderr
    assert "result" in verification.stdout and "yes" in verification.stdout
    assert f"Access receipt: grant {verify_grant}" in verification.stdout
    assert json.loads(saved.read_text())["result"] is True

    score = bank.json("score", USCC, "--grant", str(verify_grant))
    assert "score" in score and score["receipt"]["grant_id"] == verify_grant


def test_export_writes_the_records_as_json_or_csv(
    bank: Bank, platform: ServedPlatform, tmp_path: Path
) -> None:
    platform.ingest_for(USCC)
    grant_id = platform.grant()
    as_json, as_csv = tmp_path / "tax.json", tmp_path / "tax.csv"
    for path, fmt in ((as_json, "json"), (as_csv, "csv")):
        result = bank.signed(
            "export",
            USCC,
            "--category",
            "tax",
            "--grant",
            str(grant_id),
            "--format",
            fmt,
            "--out",
            str(path),
        )
        assert result.exit_code == 0, result.stderr
        assert f"Exported 2 record(s) to {path}" in result.stdout
    exported = json.loads(as_json.read_text())
    assert len(exported["records"]) == 2 and "receipt" in exported
    rows = list(csv.DictReader(as_csv.open(encoding="utf-8")))
    assert len(rows) == 2 and {"record_uid", "category", "period", "tax_grade"} <= set(rows[0])
    assert {r["category"] for r in rows} == {"tax"}


def test_a_grant_to_another_institution_is_refused_in_one_line(
    bank: Bank, platform: ServedPlatform
) -> None:
    platform.ingest_for(USCC)
    theirs = platform.grant(institution=platform.world.bank_b.address)
    result = bank.signed("records", USCC, "--category", "tax", "--grant", str(theirs))
    assert result.exit_code == 1
    _one_error_line(result.stderr, "wrong_institution")


def test_a_wrong_password_is_one_line_and_nothing_is_read(
    bank: Bank, platform: ServedPlatform, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the password\n")
    result = bank("report", USCC, "--password-file", str(wrong))
    assert result.exit_code == 1
    _one_error_line(result.stderr, "wrong password")


def test_the_bank_password_comes_from_its_own_variable(
    bank: Bank, platform: ServedPlatform
) -> None:
    result = bank("--json", "report", USCC, CCL_BANK_PASSWORD="bank vault password")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["receipt"]["grant_id"] is None


def test_help_is_plain_and_names_the_bank_variables(bank: Bank) -> None:
    top = bank("--help")
    assert top.exit_code == 0 and "CCL_BANK_HOME" in top.stdout and "receipt" in top.stdout
    command = bank("records", "--help")
    assert "CCL_BANK_PASSWORD" in command.stdout and "CCL_WALLET" not in command.stdout
    assert "\x1b[" not in command.stdout  # no colour codes: plain help


def test_each_bank_command_lists_its_own_summary_and_the_global_options(bank: Bank) -> None:
    for name, entry in COMMANDS.items():
        function = getattr(importlib.import_module(entry.module), entry.function)
        doc = inspect.getdoc(function)
        assert doc is not None and doc.splitlines()[0] == entry.summary, name
        shown = bank(name, "--help")
        assert shown.exit_code == 0, (name, shown.stderr)
        for option in ("--json", "--debug", "--home", "--api-url"):
            assert option in shown.stdout, (name, option)
