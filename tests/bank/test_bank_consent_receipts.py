"""``ccl-bank grants receipt ID --out FILE``: the institution saves a grant naming it as the
platform-signed consent record; a grant naming another institution is a one-line error."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from bankkit import Bank, ServedPlatform

from ledger_api.receipts.consent import load_schema, receipt_signer


def test_the_bank_saves_a_grants_signed_consent_receipt(
    bank: Bank, platform: ServedPlatform, tmp_path: Path
) -> None:
    grant_id = platform.grant()
    out = tmp_path / "consent.json"
    result = bank.signed("grants", "receipt", str(grant_id), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert f"grant {grant_id} (active" in result.stdout
    assert "中原银行郑州分行" in result.stdout and "tax" in result.stdout  # names, not numbers
    receipt = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.validate(receipt, load_schema(), cls=jsonschema.Draft202012Validator)
    assert receipt_signer(receipt) == receipt["signer"] == platform.ctx.platform_account.address
    record = receipt["record"]
    assert record["recipients"][0]["address"] == platform.world.bank.address
    assert record["pii_principal"]["id"] == "0x" + platform.world.subject_ids[0].hex()

    summary = bank.json("grants", "receipt", str(grant_id), "--out", str(out))
    assert summary["institution_name"] == "中原银行郑州分行"
    assert (summary["consent_status"], summary["categories"]) == ("active", ["tax"])
    assert summary["record_id"] == record["record_id"]


def test_a_consent_receipt_of_another_institutions_grant_is_a_one_line_error(
    bank: Bank, platform: ServedPlatform, tmp_path: Path
) -> None:
    theirs = platform.grant(institution=platform.world.bank_b.address)
    out = tmp_path / "consent.json"
    result = bank.signed("grants", "receipt", str(theirs), "--out", str(out))
    assert result.exit_code == 1
    assert result.stderr.count("error: ") == 1 and "Traceback" not in result.stderr
    assert not out.exists()


def test_grants_receipt_without_its_file_is_a_usage_error(bank: Bank) -> None:
    result = bank.signed("grants", "receipt", "1")
    assert result.exit_code == 2 and "ccl-bank grants receipt GRANT_ID --out FILE" in result.stderr
