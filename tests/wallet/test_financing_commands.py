"""ccl-wallet's financing verbs against the API app: products, apply (one confirmation signs
the application and its grant), applications, withdraw-application; a refusal is one line."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from enterprisekit import Enterprise
from eth_account import Account
from walletkit import Wallet, assert_one_line_error

from ledger_api.financing import client as fin
from ledger_api.financing.schemas import ProductOut

DAY = 86_400


def _publish(enterprise: Enterprise, **overrides: Any) -> ProductOut:
    now = int(time.time())
    body = {
        "name": "小微信用贷",
        "kind": "pure_credit",
        "amount_min": 100_000,
        "amount_max": 3_000_000,
        "term_min_months": 6,
        "term_max_months": 36,
        "rate_min_bp": 350,
        "rate_max_bp": 600,
        "regions": ["410100"],
        "industries": ["C"],
        "categories": ["registration", "tax"],
        "valid_from": now - DAY,
        "valid_until": now + 90 * DAY,
    } | overrides
    bank = enterprise.platform.client(enterprise.platform.bank)
    return fin.publish_product(bank, body)


def _apply_args(product: ProductOut, amount: int = 500_000) -> list[str]:
    return [
        "apply", str(product.id), "--amount", str(amount), "--term", "12",
        "--region", "410100", "--industry", "C", "--yes",
    ]  # fmt: skip


def test_products_lists_open_products_with_the_banks_name(
    wallet: Wallet, enterprise: Enterprise
) -> None:
    product = _publish(enterprise)
    result = wallet(["--json", "products", "--region", "410100"])
    assert result.exit_code == 0, result.stderr
    assert '"name": "小微信用贷"' in result.stdout and f'"id": {product.id}' in result.stdout


def test_apply_signs_application_and_grant_once_and_the_bank_decides(
    enterprise: Enterprise,
) -> None:
    product = _publish(enterprise)
    result = enterprise(*_apply_args(product))
    assert result.exit_code == 0, result.stderr
    assert "registration, tax" in result.stderr and "loan_application" in result.stderr
    [filed] = enterprise.json("applications")
    assert filed["status"] == "submitted" and filed["grant_id"] > 0
    assert enterprise.bank_reads(filed["grant_id"]).records  # the bank reads under that grant
    bank = enterprise.platform.client(enterprise.platform.bank)
    fin.decide(bank, filed["id"], {"decision": "approved", "amount": 400_000, "rate_bp": 400,
                                   "term_months": 12, "pure_credit": True})  # fmt: skip
    [decided] = enterprise.json("applications")
    assert decided["status"] == "approved" and decided["loan_id"] is not None
    shown = enterprise("loan", str(decided["loan_id"]))
    assert shown.exit_code == 0, shown.stderr
    assert "400,000 yuan at 4.00% for 12 months, active (pure credit)" in shown.stdout


def test_withdraw_application_closes_it(enterprise: Enterprise) -> None:
    product = _publish(enterprise)
    assert enterprise(*_apply_args(product)).exit_code == 0
    [filed] = enterprise.json("applications")
    assert enterprise("withdraw-application", str(filed["id"])).exit_code == 0
    assert enterprise.json("applications")[0]["status"] == "withdrawn"


def test_an_amount_outside_the_products_range_is_one_error_line(enterprise: Enterprise) -> None:
    product = _publish(enterprise)
    result = enterprise(*_apply_args(product, amount=50_000))
    assert_one_line_error(result, 2, "outside the product's")
    assert enterprise.json("applications") == []


CRITERIA = ("compliant_operation", "fixed_premises", "financing_need", "good_credit",
            "lawful_loan_use")  # fmt: skip


def test_whitelist_apply_review_and_push_through_the_wallet(
    enterprise: Enterprise, tmp_path: Path
) -> None:
    evidence = []
    for criterion in CRITERIA:
        path = tmp_path / f"{criterion}.pdf"
        path.write_bytes(criterion.encode())
        evidence += ["--evidence", f"{criterion}={path}"]
    applied = enterprise.json(
        "whitelist-apply", "--region", "410100", "--industry", "C", *evidence, "--yes"
    )
    assert applied["state"] == "submitted"
    assert applied["criteria"]["good_credit"] == "0x" + hashlib.sha256(b"good_credit").hexdigest()
    world = enterprise.platform.world
    reviewer = Account.create()
    world.ledger.grant_role(world.governance, "REGULATOR_ROLE", reviewer.address)
    regulator = enterprise.platform.client(world.regulator.account)
    regulator.call("POST", "/v1/audit/whitelist/reviewers",
                   json_body={"address": reviewer.address, "regions": ["410100"]})  # fmt: skip
    reviewing = enterprise.platform.client(reviewer)
    entry_path = f"/v1/audit/whitelist/{applied['id']}"
    reviewing.call("POST", f"{entry_path}/review", json_body={"action": "start_review"})
    for criterion in CRITERIA:  # the reviewer's findings, each met
        reviewing.call("POST", f"{entry_path}/criteria/{criterion}",
                       json_body={"evidence_hash": "0x" + "cd" * 32})  # fmt: skip
    reviewing.call("POST", f"{entry_path}/review", json_body={"action": "recommend"})
    grant_id = enterprise.grant()
    bank = enterprise.platform.bank.address
    pushed = enterprise.json("whitelist-push", str(applied["id"]), "--bank", f"{bank}:{grant_id}")
    assert pushed["state"] == "pushed"
    [mine] = enterprise.json("whitelist")
    assert mine["pushes"][0]["institution"] == bank


def test_self_report_is_signed_stored_and_withdrawn(enterprise: Enterprise) -> None:
    added = enterprise.json(
        "self-report", "--topic", "orders", "--date", "2026-11-30",
        "--text", "年度供货合同", "--commitment", "本企业承诺所填报信息真实。", "--yes",
    )  # fmt: skip
    assert added["provider"] == "self_reported" and added["status"] == "active"
    assert enterprise("withdraw-self-report", str(added["id"])).exit_code == 0
    assert [r["status"] for r in enterprise.json("self-reports")] == ["withdrawn"]
