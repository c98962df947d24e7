"""Loan applications: one wallet confirmation signs the application and the grant the product
needs; the platform relays the grant as the wallet's grant relay does, then stores the
application referencing the grant, so a bank never holds an application it cannot read.

The bank decides within ``financing_decision_days``; unanswered ones past their deadline are
overdue (the regulator's view lists them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import Connection, select, update

from ledger_api.anchoring.keccak import keccak256
from ledger_api.chain.ledger import SignedGrant
from ledger_api.chain.types import AccessLevel, Purpose
from ledger_api.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from ledger_api.financing.tables import APPLICATIONS

_DOMAIN = b"ccl/loan-application/v1\x00"
DAY_S = 86_400


@dataclass(frozen=True)
class ApplicationTerms:
    """What the enterprise's application signature covers (with the grant's signature)."""

    product_id: int
    amount: int
    term_months: int
    region: str
    industry: str
    account: str

    def digest(self, grant_signature: bytes) -> bytes:
        body = json.dumps(
            {
                "product_id": self.product_id,
                "amount": self.amount,
                "term_months": self.term_months,
                "region": self.region,
                "industry": self.industry,
                "account": self.account,
                "grant_signature": "0x" + grant_signature.hex(),
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return keccak256(_DOMAIN + body.encode())


def sign_application(key: Any, terms: ApplicationTerms, grant_signature: bytes) -> bytes:
    """The wallet's half: EIP-191 over the application digest (which binds the grant)."""
    message = encode_defunct(primitive=terms.digest(grant_signature))
    return bytes(Account.sign_message(message, key.key).signature)


def recover_applicant(terms: ApplicationTerms, grant_signature: bytes, signature: bytes) -> str:
    message = encode_defunct(primitive=terms.digest(grant_signature))
    try:
        return str(Account.recover_message(message, signature=signature))
    except Exception:
        raise InputError(
            "the application signature does not recover", code="bad_application_signature"
        ) from None


def check_against_product(
    product: Any, terms: ApplicationTerms, grant: SignedGrant, now: int, deadline: int
) -> None:
    """Refuse an application the product does not take, or a grant that would not let the
    bank read what the product needs until the decision is due."""
    if not product.valid_from <= now < product.valid_until:
        raise ConflictError(
            f"loan product {product.id} is not open (valid {product.valid_from}.."
            f"{product.valid_until})",
            code="product_not_active",
        )
    if not product.amount_min <= terms.amount <= product.amount_max:
        raise InputError(
            f"amount {terms.amount} is outside the product's {product.amount_min}.."
            f"{product.amount_max}",
            code="amount_out_of_range",
        )
    if not product.term_min_months <= terms.term_months <= product.term_max_months:
        raise InputError(
            f"term {terms.term_months} months is outside the product's "
            f"{product.term_min_months}..{product.term_max_months}",
            code="term_out_of_range",
        )
    if not serves(json.loads(product.regions), terms.region):
        raise InputError(
            f"the product does not serve region {terms.region}", code="region_not_served"
        )
    if terms.industry not in json.loads(product.industries):
        raise InputError(
            f"the product does not serve industry section {terms.industry}",
            code="industry_not_served",
        )
    g = grant.terms
    problems = []
    if g.institution.lower() != product.institution.lower():
        problems.append("it names another institution")
    if int(g.categories) & int(product.categories) != int(product.categories):
        problems.append("it does not cover the product's categories")
    if g.purpose != Purpose.LOAN_APPLICATION:
        problems.append("its purpose is not loan_application")
    if g.level < AccessLevel.QUERY:
        problems.append("its level is below query")
    if g.not_before > now or g.not_after < deadline:
        problems.append("its window does not run from now to the decision deadline")
    if problems:
        raise InputError(
            "the grant does not fit the product: " + "; ".join(problems), code="grant_mismatch"
        )


def check_place(place: tuple[str, str] | None, region: str, industry: str) -> None:
    """KPIs are counted by region and industry: they must be the registered ones."""
    if place is None:
        return
    if region != place[0]:
        raise InputError(
            f"the enterprise is registered in {place[0]}, not {region}", code="region_mismatch"
        )
    if industry != place[1]:
        raise InputError(
            f"the enterprise is registered in section {place[1]}, not {industry}",
            code="industry_mismatch",
        )


def serves(regions: list[str], region: str) -> bool:
    """A product serves a division listed, or any county of a prefecture listed."""
    return region in regions or (region[:4] + "00") in regions


def load_application(conn: Connection, application_id: int) -> Any:
    row = conn.execute(select(APPLICATIONS).where(APPLICATIONS.c.id == application_id)).first()
    if row is None:
        raise NotFoundError(f"no loan application {application_id}", code="application_not_found")
    return row


def require_open_for(row: Any, institution: str) -> None:
    """The bank deciding must be the application's, and the application still open."""
    if row.institution != institution:
        raise ForbiddenError(
            f"loan application {row.id} is not addressed to this institution",
            code="not_your_application",
        )
    if row.status == "withdrawn":
        raise ConflictError(
            f"loan application {row.id} was withdrawn", code="application_withdrawn"
        )
    if row.status != "submitted":
        raise ConflictError(
            f"loan application {row.id} is already {row.status}", code="already_decided"
        )


def close_application(conn: Connection, row: Any, status: str, now: int, **values: Any) -> None:
    """Move a submitted application to ``status``; a concurrent change makes it a conflict."""
    done = conn.execute(
        update(APPLICATIONS)
        .where(APPLICATIONS.c.id == row.id, APPLICATIONS.c.status == "submitted")
        .values(status=status, decided_at=now, **values)
    ).rowcount
    if done != 1:
        raise ConflictError(
            f"loan application {row.id} changed meanwhile", code="application_changed"
        )


def is_overdue(row: Any, now: int) -> bool:
    return row.status == "submitted" and now > int(row.decision_deadline)
