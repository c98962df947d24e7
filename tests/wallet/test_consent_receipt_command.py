"""`ccl-wallet grants receipt ID --out FILE`: the grant's consent receipt, signed by the
platform, saved as the JSON the platform signed; another's grant is a one-line error."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jsonschema
from enterprisekit import Enterprise
from platformkit import InProcessPlatform
from walletkit import assert_one_line_error

from ledger_api.chain.ledger import GrantTerms
from ledger_api.chain.types import AccessLevel, Purpose
from ledger_api.receipts.consent import load_schema, receipt_signer
from wallet_cli.output import EXIT_USAGE


def test_grants_receipt_saves_the_platform_signed_consent_record(
    enterprise: Enterprise, platform: InProcessPlatform, tmp_path: Path
) -> None:
    grant_id = enterprise.grant()
    out = tmp_path / "receipt.json"
    result = enterprise("grants", "receipt", str(grant_id), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert "中原银行郑州分行" in result.stdout  # the institution by name
    assert f"grant {grant_id} (active" in result.stdout
    receipt = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.validate(receipt, load_schema(), cls=jsonschema.Draft202012Validator)
    assert receipt["signer"] == platform.ctx.platform_account.address
    assert receipt_signer(receipt) == receipt["signer"]
    assert receipt["record"]["pii_principal"]["id"] == enterprise.subject_id
    summary = enterprise.json("grants", "receipt", str(grant_id), "--out", str(out))
    assert summary["institution_name"] == "中原银行郑州分行"
    assert summary["consent_status"] == "active"


def test_grants_receipt_of_another_grant_is_a_one_line_error(
    enterprise: Enterprise, platform: InProcessPlatform, tmp_path: Path
) -> None:
    world = platform.world
    now = int(time.time())
    terms = GrantTerms(
        world.bank.address, 0b10, Purpose.LOAN_APPLICATION, AccessLevel.QUERY, now - 60,
        now + 3600,
    )  # fmt: skip
    others = world.ledger.issue_grant(world.subject_tx[0], terms)  # another enterprise's
    out = tmp_path / "receipt.json"
    result = enterprise("grants", "receipt", str(others), "--out", str(out))
    assert_one_line_error(result, 1, f"grant {others} is not one of yours")
    assert not out.exists()


def test_grants_receipt_without_its_arguments_is_a_usage_error(enterprise: Enterprise) -> None:
    assert_one_line_error(enterprise("grants", "receipt", "1"), EXIT_USAGE, "--out FILE")
    assert_one_line_error(enterprise("grants", "receip", "1", "--out", "x"), EXIT_USAGE, "usage")
