"""A bank reads under a grant with ``ccl-bank`` and anyone holding the receipt can check it:
each way a receipt can be wrong is caught by its own step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bankkit import USCC, Bank, ServedPlatform

from ledger_api.client import LedgerClient
from ledger_api.receipts.sources import PlatformSources
from ledger_api.receipts.verify import (
    FAILED,
    NOT_ANCHORED,
    VERIFIED,
    load_receipt_file,
    record_leaf_of,
    verify_receipt,
)


def _read_with_receipt(bank: Bank, platform: ServedPlatform, path: Path) -> tuple[int, Any]:
    platform.ingest_for(USCC)
    grant_id = platform.grant()
    result = bank.signed(
        "records", USCC, "--category", "tax", "--grant", str(grant_id), "--receipt-out", str(path)
    )
    assert result.exit_code == 0, result.stderr
    return grant_id, json.loads(path.read_text())


def _steps(result_json: dict[str, Any]) -> dict[str, Any]:
    return {s["name"]: s for s in result_json["steps"]}


def test_a_read_prints_its_receipt_and_the_saved_receipt_verifies_once_anchored(
    bank: Bank, platform: ServedPlatform, tmp_path: Path
) -> None:
    path = tmp_path / "receipt.json"
    grant_id, saved = _read_with_receipt(bank, platform, path)
    assert saved["receipt"]["grant_id"] == grant_id
    assert saved["signed_receipt"]["claims"]["entry_hash"].startswith("0x")
    assert f"Access receipt: grant {grant_id}" in bank.results[-1].stdout

    before = bank.signed("--json", "receipt", "verify", str(path))
    assert before.exit_code == 3, before.stderr  # not anchored yet: open, not failed
    verdict = json.loads(before.stdout)
    assert verdict["status"] == NOT_ANCHORED
    assert "not anchored yet" in _steps(verdict)["inclusion"]["detail"]
    assert all(s["ok"] for n, s in _steps(verdict).items() if n != "inclusion")

    assert platform.anchor() is not None
    after = bank.json("receipt", "verify", str(path))
    assert after["status"] == VERIFIED, after
    assert {s["name"] for s in after["steps"]} == {
        "response",
        "signature",
        "entry",
        "inclusion",
        "grant",
    }
    text = bank.signed("receipt", "verify", str(path))
    assert text.exit_code == 0 and "verified" in text.stdout


def test_a_tampered_signature_fails_the_signature_check(
    bank: Bank, platform: ServedPlatform, tmp_path: Path
) -> None:
    path = tmp_path / "receipt.json"
    _, saved = _read_with_receipt(bank, platform, path)
    signature = saved["signed_receipt"]["signature"]
    saved["signed_receipt"]["signature"] = (
        signature[:10] + ("0" if signature[10] != "0" else "1") + signature[11:]
    )
    path.write_text(json.dumps(saved))
    result = bank.signed("--json", "receipt", "verify", str(path))
    assert result.exit_code == 1
    assert _steps(json.loads(result.stdout))["signature"]["ok"] is False


def test_an_edited_answer_fails_the_response_check(
    bank: Bank, platform: ServedPlatform, tmp_path: Path
) -> None:
    path = tmp_path / "receipt.json"
    _, saved = _read_with_receipt(bank, platform, path)
    saved["records"] = saved["records"][:-1]
    path.write_text(json.dumps(saved))
    verdict = bank.json("receipt", "verify", str(path), code=1)
    assert verdict["status"] == FAILED
    assert _steps(verdict)["response"]["ok"] is False


class _Lying(PlatformSources):
    """A platform that answers with another entry, or moves the checked block."""

    def __init__(
        self, client: LedgerClient, *, entry_id: int | None = None, block: int | None = None
    ):
        super().__init__(client)
        self.entry_id = entry_id
        self.block = block

    def entry(self, entry_id: int) -> dict[str, Any]:
        answer = super().entry(self.entry_id or entry_id)
        if self.block is not None:
            answer["fields"]["checked_block"] = self.block
        return answer


def test_an_entry_other_than_the_signed_one_fails_the_entry_check(
    bank: Bank, platform: ServedPlatform, tmp_path: Path
) -> None:
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    grant_id, _ = _read_with_receipt(bank, platform, first)
    result = bank.signed(
        "records", USCC, "--category", "tax", "--grant", str(grant_id), "--receipt-out", str(second)
    )
    assert result.exit_code == 0
    other = load_receipt_file(second)["receipt"]["access_log_id"]
    client = platform.client(platform.world.bank.account)
    verdict = verify_receipt(load_receipt_file(first), _Lying(client, entry_id=other))
    steps = {s.name: s for s in verdict.steps}
    assert verdict.status == FAILED
    assert steps["entry"].ok is False
    assert "not the one the platform signed" in steps["entry"].detail


def test_a_grant_not_usable_at_the_checked_block_fails_the_grant_check(
    bank: Bank, platform: ServedPlatform, tmp_path: Path
) -> None:
    path = tmp_path / "receipt.json"
    before_grant = platform.world.w3.eth.block_number
    _read_with_receipt(bank, platform, path)
    client = platform.client(platform.world.bank.account)
    verdict = verify_receipt(load_receipt_file(path), _Lying(client, block=before_grant))
    steps = {s.name: s for s in verdict.steps}
    assert steps["grant"].ok is False
    assert f"not usable at block {before_grant}: unknown_grant" in steps["grant"].detail


def test_the_subject_recomputes_its_record_leaf_from_what_it_is_shown(
    platform: ServedPlatform,
) -> None:
    platform.ingest_for(USCC)
    subject = platform.client(platform.world.subject_tx[0].account)
    record = subject.my_records("tax").records[0]
    proof = subject.record_proof(record.record_uid)
    assert "0x" + record_leaf_of(proof).hex() == proof.leaf


def test_an_entry_is_shown_only_to_its_institution_its_subject_and_regulators(
    bank: Bank, platform: ServedPlatform, tmp_path: Path
) -> None:
    path = tmp_path / "receipt.json"
    _, saved = _read_with_receipt(bank, platform, path)
    entry_id = saved["receipt"]["access_log_id"]
    subject = platform.client(platform.world.subject_tx[0].account)
    assert subject.call("GET", f"/v1/access-log/entries/{entry_id}")["fields"]["id"] == entry_id
    regulator = platform.client(platform.world.regulator.account)
    assert regulator.call("GET", f"/v1/access-log/entries/{entry_id}")["entry_hash"].startswith(
        "0x"
    )
    stranger = platform.client(platform.world.bank_b.account)
    with pytest.raises(Exception) as refused:
        stranger.call("GET", f"/v1/access-log/entries/{entry_id}")
    assert getattr(refused.value, "code", None) == "unknown_entry"
