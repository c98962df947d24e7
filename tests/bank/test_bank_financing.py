"""ccl-bank's financing verbs over real HTTP: publish a product, list the applications filed
with their grants, approve one (the loan recorded), report its repayment; a decision on
another bank's application is one error line."""

from __future__ import annotations

import json
import time
from pathlib import Path

from bankkit import USCC, Bank, ServedPlatform

from ledger_api.financing import client as fin

DAY = 86_400


def _product_file(tmp_path: Path) -> Path:
    now = int(time.time())
    path = tmp_path / "product.json"
    path.write_text(
        json.dumps(
            {"name": "科创信用贷", "kind": "pure_credit", "amount_min": 100000,
             "amount_max": 2000000, "term_min_months": 6, "term_max_months": 24,
             "rate_min_bp": 350, "rate_max_bp": 550, "regions": ["410100"],
             "industries": ["C"], "categories": ["tax"], "valid_from": now - DAY,
             "valid_until": now + 60 * DAY}
        )
    )  # fmt: skip
    return path


def _enterprise_applies(platform: ServedPlatform, product_id: int) -> int:
    key = platform.world.subject_keys[0]
    wallet = platform.client(key)
    product = fin.product(wallet, product_id)
    request = fin.ApplicationRequest(product, 300_000, 12, "410100", "C")
    nonce = platform.world.ledger.nonce_of(key.address)
    body = fin.application_body(key, platform.world.ledger.domain, nonce, request, int(time.time()))
    return fin.apply(wallet, body).id


def test_a_bank_publishes_lists_approves_and_reports_repayment(
    bank: Bank, platform: ServedPlatform, tmp_path: Path
) -> None:
    platform.ingest_for(USCC)
    published = bank.json("publish-product", str(_product_file(tmp_path)))
    assert published["institution_name"] == "中原银行郑州分行"
    application_id = _enterprise_applies(platform, published["id"])
    listed = bank.signed("loan-applications", "--status", "submitted")
    assert listed.exit_code == 0 and "科创信用贷" in listed.stdout
    decided = bank.signed(
        "decide", str(application_id), "--approve", "--amount", "300000", "--rate-bp", "400",
        "--term", "12", "--pure-credit", "--first-loan",
    )  # fmt: skip
    assert decided.exit_code == 0, decided.stderr
    assert f"Application {application_id} approved; loan" in decided.stdout
    [approved] = bank.json("loan-applications", "--status", "approved")
    repaid = bank.signed("loan-outcome", str(approved["loan_id"]), "repaid")
    assert repaid.exit_code == 0 and "repaid" in repaid.stdout


def test_deciding_another_banks_application_is_one_error_line(
    bank: Bank, platform: ServedPlatform, tmp_path: Path
) -> None:
    platform.ingest_for(USCC)
    other = platform.client(platform.world.bank_b.account)
    now = int(time.time())
    product = fin.publish_product(
        other, json.loads(_product_file(tmp_path).read_text()) | {"valid_from": now - DAY}
    )
    application_id = _enterprise_applies(platform, product.id)
    result = bank.signed("decide", str(application_id), "--decline", "credit_history")
    assert result.exit_code == 1
    assert result.stderr.count("error: ") == 1 and "Traceback" not in result.stderr
    assert "not addressed to this institution" in result.stderr
