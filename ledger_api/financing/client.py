"""The financing calls of a signed client, and the wallet's one-confirmation application:
the grant a product needs and the application, signed together with one unlocked key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from pydantic import TypeAdapter

from ledger_api.chain import eip712
from ledger_api.chain.ledger import DEFAULT_SIGNATURE_TTL_S, GrantTerms, SignedGrant
from ledger_api.chain.types import AccessLevel, Purpose
from ledger_api.client import LedgerClient, _signed_grant_json
from ledger_api.financing.applications import DAY_S, ApplicationTerms, sign_application
from ledger_api.financing.schemas import ApplicationOut, LoanOut, ProductOut
from ledger_api.financing.self_reports import SelfReportEntry

# The grant outlives the decision deadline by this much, so the bank can still read when it
# decides on the last day.
GRANT_MARGIN_DAYS = 30


@dataclass(frozen=True)
class ApplicationRequest:
    product: ProductOut
    amount: int
    term_months: int
    region: str
    industry: str


def grant_terms_for(product: ProductOut, now: int, decision_days: int) -> GrantTerms:
    """The grant the product needs: its categories, purpose loan_application, query level,
    from now until past the decision deadline."""
    return GrantTerms(
        institution=product.institution,
        categories=product.category_mask,
        purpose=Purpose.LOAN_APPLICATION,
        level=AccessLevel.QUERY,
        not_before=now - 60,
        not_after=now + (decision_days + GRANT_MARGIN_DAYS) * DAY_S,
    )


def application_body(
    key: LocalAccount,
    domain: eip712.Domain,
    nonce: int,
    request: ApplicationRequest,
    now: int,
) -> dict[str, Any]:
    """The signed application: the EIP-712 Grant and the application over it (one unlock)."""
    terms = grant_terms_for(request.product, now, request.product.decision_days)
    deadline = now + DEFAULT_SIGNATURE_TTL_S
    grant_signature = eip712.sign_typed(key.key, domain, "Grant", terms.as_message(nonce, deadline))
    signed = SignedGrant(
        terms=terms, signer=key.address, deadline=deadline, signature=grant_signature
    )
    application = ApplicationTerms(
        request.product.id,
        request.amount,
        request.term_months,
        request.region,
        request.industry,
        key.address,
    )
    return {
        "product_id": request.product.id,
        "amount": request.amount,
        "term_months": request.term_months,
        "region": request.region,
        "industry": request.industry,
        "grant": _signed_grant_json(signed),
        "signature": "0x" + sign_application(key, application, grant_signature).hex(),
    }


def products(client: LedgerClient, **filters: Any) -> list[ProductOut]:
    rows = client.call("GET", "/v1/financing/products", params=filters)
    return TypeAdapter(list[ProductOut]).validate_python(rows)


def product(client: LedgerClient, product_id: int) -> ProductOut:
    return ProductOut.model_validate(client.call("GET", f"/v1/financing/products/{product_id}"))


def publish_product(client: LedgerClient, body: dict[str, Any]) -> ProductOut:
    return ProductOut.model_validate(
        client.call("POST", "/v1/institution/financing/products", json_body=body)
    )


def apply(client: LedgerClient, body: dict[str, Any]) -> ApplicationOut:
    return ApplicationOut.model_validate(
        client.call("POST", "/v1/subject/financing/applications", json_body=body)
    )


def my_applications(client: LedgerClient) -> list[ApplicationOut]:
    rows = client.call("GET", "/v1/subject/financing/applications")
    return TypeAdapter(list[ApplicationOut]).validate_python(rows)


def withdraw(client: LedgerClient, application_id: int) -> ApplicationOut:
    path = f"/v1/subject/financing/applications/{application_id}/withdrawal"
    return ApplicationOut.model_validate(client.call("POST", path))


def bank_applications(client: LedgerClient, status: str | None = None) -> list[ApplicationOut]:
    rows = client.call("GET", "/v1/institution/financing/applications", params={"status": status})
    return TypeAdapter(list[ApplicationOut]).validate_python(rows)


def decide(client: LedgerClient, application_id: int, body: dict[str, Any]) -> ApplicationOut:
    path = f"/v1/institution/financing/applications/{application_id}/decision"
    return ApplicationOut.model_validate(client.call("POST", path, json_body=body))


def bank_loan(client: LedgerClient, loan_id: int) -> LoanOut:
    return LoanOut.model_validate(client.call("GET", f"/v1/institution/financing/loans/{loan_id}"))


def my_loan(client: LedgerClient, loan_id: int) -> LoanOut:
    return LoanOut.model_validate(client.call("GET", f"/v1/subject/financing/loans/{loan_id}"))


def report_outcome(client: LedgerClient, loan_id: int, outcome: str) -> LoanOut:
    path = f"/v1/institution/financing/loans/{loan_id}/outcome"
    return LoanOut.model_validate(client.call("POST", path, json_body={"outcome": outcome}))


def whitelist_apply(
    client: LedgerClient, region: str, industry: str, criteria: dict[str, str]
) -> dict[str, Any]:
    body = {"region": region, "industry": industry, "criteria": criteria}
    return dict(client.call("POST", "/v1/subject/whitelist", json_body=body))


def my_whitelist(client: LedgerClient) -> list[dict[str, Any]]:
    return list(client.call("GET", "/v1/subject/whitelist"))


def whitelist_push(
    client: LedgerClient, entry_id: int, banks: list[dict[str, Any]]
) -> dict[str, Any]:
    path = f"/v1/subject/whitelist/{entry_id}/pushes"
    return dict(client.call("POST", path, json_body={"banks": banks}))


def add_self_report(client: LedgerClient, entry: SelfReportEntry, signature: str) -> dict[str, Any]:
    body = {
        "topic": entry.topic,
        "reported_on": entry.reported_on,
        "value_text": entry.value_text,
        "value_amount": entry.value_amount,
        "commitment": entry.commitment,
        "signature": signature,
    }
    return dict(client.call("POST", "/v1/subject/self-reports", json_body=body))


def my_self_reports(client: LedgerClient) -> list[dict[str, Any]]:
    return list(client.call("GET", "/v1/subject/self-reports"))


def withdraw_self_report(client: LedgerClient, report_id: int) -> dict[str, Any]:
    return dict(client.call("POST", f"/v1/subject/self-reports/{report_id}/withdrawal"))


# -- a white-list reviewer (a regulator-role key designated for regions) ----------------------


def reviewer_entries(client: LedgerClient, state: str | None = None) -> list[dict[str, Any]]:
    params = {} if state is None else {"state": state}
    return list(client.call("GET", "/v1/audit/whitelist/my-regions", params=params))


def review(client: LedgerClient, entry_id: int, action: str, **extra: Any) -> dict[str, Any]:
    body = {"action": action} | {k: v for k, v in extra.items() if v is not None}
    path = f"/v1/audit/whitelist/{entry_id}/review"
    return dict(client.call("POST", path, json_body=body))


def record_criterion(
    client: LedgerClient, entry_id: int, criterion: str, evidence_hash: str, met: bool
) -> dict[str, Any]:
    path = f"/v1/audit/whitelist/{entry_id}/criteria/{criterion}"
    body = {"evidence_hash": evidence_hash, "met": met}
    return dict(client.call("POST", path, json_body=body))


def reviewer_push(client: LedgerClient, entry_id: int, banks: list[str]) -> dict[str, Any]:
    path = f"/v1/audit/whitelist/{entry_id}/pushes"
    return dict(client.call("POST", path, json_body={"banks": banks}))
