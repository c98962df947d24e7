"""Deterministic synthetic financing activity: products, applications, decisions and loans in
realistic proportions (most answered within days, about a quarter declined, first loans a
minority), for the KPI views, the demo and tests.

``generate`` only draws plain values; ``store`` writes them as the API would (each loan's
terms sealed under its enterprise's data key, which must exist).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

from sqlalchemy import Connection, insert

from ledger_api.crypto.keys import SubjectKeyring
from ledger_api.financing.loans import LoanTerms, insert_loan
from ledger_api.financing.tables import APPLICATIONS, PRODUCTS
from ledger_api.synth.generator import Enterprise

DAY_S = 86_400
DECLINE_REASONS = ("insufficient_cash_flow", "credit_history", "incomplete_documents")


@dataclass(frozen=True)
class SynthApplication:
    subject_id: bytes
    institution: str
    region: str
    industry: str
    amount: int
    term_months: int
    submitted_at: int
    status: str  # approved | declined | submitted
    decided_at: int | None
    decline_reason: str | None
    loan: LoanTerms | None


def generate(
    enterprises: list[tuple[bytes, Enterprise]],
    institutions: list[str],
    *,
    start: int,
    days: int,
    count: int,
    seed: int = 0,
) -> list[SynthApplication]:
    """``count`` applications spread over ``days`` from ``start`` (UTC seconds)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        subject_id, enterprise = rng.choice(enterprises)
        submitted = start + rng.randrange(days * DAY_S)
        amount = rng.choice((100, 200, 300, 500, 800, 1000, 2000)) * 1000
        term = rng.choice((6, 12, 12, 24, 36))
        roll = rng.random()
        status = "declined" if roll < 0.25 else "submitted" if roll < 0.32 else "approved"
        # Most answered within days, a few take weeks.
        decided = (
            None
            if status == "submitted"
            else submitted + int(rng.expovariate(1 / 4) * DAY_S) + 3600
        )
        loan = None
        if status == "approved":
            loan = LoanTerms(
                amount=amount,
                rate_bp=rng.randrange(350, 600),
                term_months=term,
                pure_credit=rng.random() < 0.6,
                first_loan=rng.random() < 0.3,
                renewal_without_repayment=rng.random() < 0.1,
                granted_at=int(decided or submitted),
            )
        out.append(
            SynthApplication(
                subject_id=subject_id,
                institution=rng.choice(institutions),
                region=enterprise.division,
                industry=enterprise.section,
                amount=amount,
                term_months=term,
                submitted_at=submitted,
                status=status,
                decided_at=decided,
                decline_reason=rng.choice(DECLINE_REASONS) if status == "declined" else None,
                loan=loan,
            )
        )
    return out


def store(
    conn: Connection, keyring: SubjectKeyring, applications: list[SynthApplication], now: int
) -> None:
    """Write a product per institution, the applications and the loans (grant ids are 0:
    synthetic applications carry no on-chain grant)."""
    products: dict[str, int] = {}
    for app in applications:
        if app.institution not in products:
            products[app.institution] = int(
                conn.execute(
                    insert(PRODUCTS)
                    .values(
                        institution=app.institution,
                        name="小微信用贷(合成)",
                        kind="pure_credit",
                        amount_min=10_000,
                        amount_max=10_000_000,
                        term_min_months=3,
                        term_max_months=60,
                        rate_min_bp=300,
                        rate_max_bp=800,
                        regions="[]",
                        industries="[]",
                        categories=0b101,
                        purpose="loan_application",
                        valid_from=0,
                        valid_until=2**62,
                        created_at=now,
                    )
                    .returning(PRODUCTS.c.id)
                ).scalar_one()
            )
        row_id = conn.execute(
            insert(APPLICATIONS)
            .values(
                product_id=products[app.institution],
                institution=app.institution,
                subject_id=app.subject_id,
                account="0x" + "00" * 20,
                grant_id=0,
                amount=app.amount,
                term_months=app.term_months,
                region=app.region,
                industry=app.industry,
                application_hash=os.urandom(32),
                signature=b"",
                status=app.status,
                decision_deadline=app.submitted_at + 30 * DAY_S,
                submitted_at=app.submitted_at,
                decided_at=app.decided_at,
                decline_reason=app.decline_reason,
            )
            .returning(
                APPLICATIONS.c.id,
                APPLICATIONS.c.institution,
                APPLICATIONS.c.subject_id,
                APPLICATIONS.c.region,
                APPLICATIONS.c.industry,
            )
        ).one()
        if app.loan is not None:
            insert_loan(conn, keyring, row_id, app.loan)
