"""Helpers of the financing tests: a product body, a signed application, refusal checks."""

from __future__ import annotations

from typing import Any

from api_support import Api
from eth_account.signers.local import LocalAccount

from ledger_api.financing import client as fin
from ledger_api.financing.schemas import ApplicationOut, ProductOut

ZHENGZHOU = "410100"
DAY = 86_400


def product_body(api: Api, **overrides: Any) -> dict[str, Any]:
    now = int(api.clock())
    body: dict[str, Any] = {
        "name": "小微信用贷",
        "kind": "pure_credit",
        "amount_min": 100_000,
        "amount_max": 3_000_000,
        "term_min_months": 6,
        "term_max_months": 36,
        "rate_min_bp": 350,
        "rate_max_bp": 600,
        "regions": [ZHENGZHOU, "410300"],
        "industries": ["C", "F"],
        "categories": ["registration", "tax"],
        "valid_from": now - DAY,
        "valid_until": now + 90 * DAY,
    }
    return body | overrides


def publish(api: Api, bank: LocalAccount | None = None, **overrides: Any) -> ProductOut:
    who = bank or api.world.bank.account
    return fin.publish_product(api.client(who), product_body(api, **overrides))


def signed_application(
    api: Api, product: ProductOut, *, subject: int = 0, amount: int = 500_000, **kw: Any
) -> dict[str, Any]:
    key = api.world.subject_keys[subject]
    request = fin.ApplicationRequest(
        product=product,
        amount=amount,
        term_months=kw.get("term_months", 12),
        region=kw.get("region", ZHENGZHOU),
        industry=kw.get("industry", "C"),
    )
    nonce = api.world.ledger.nonce_of(key.address)
    return fin.application_body(key, api.world.ledger.domain, nonce, request, int(api.clock()))


def apply(api: Api, product: ProductOut, subject: int = 0, **kw: Any) -> ApplicationOut:
    body = signed_application(api, product, subject=subject, **kw)
    return fin.apply(api.client(api.world.subject_keys[subject]), body)


def approval(**overrides: Any) -> dict[str, Any]:
    return {
        "decision": "approved",
        "amount": 400_000,
        "rate_bp": 420,
        "term_months": 12,
        "pure_credit": True,
        "first_loan": True,
        "renewal_without_repayment": False,
    } | overrides


def assert_refused(api: Api, before: int, response: Any, status: int, code: str) -> None:
    """A 4xx problem+json with the stable code, and its audited access-log entry."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert api.entry_count() == before + 1
    entry = api.last_entry()
    assert (entry["decision"], entry["reason"]) == ("denied", code)
