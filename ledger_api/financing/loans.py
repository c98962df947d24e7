"""Loans: an approved application's terms, sealed under the enterprise's data key like its
records (the record envelope), with only the columns the regulator's aggregates need in plain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ledger_api.crypto.envelope import open_record, seal_record
from ledger_api.crypto.keys import SubjectKeyring
from ledger_api.errors import ConflictError, ForbiddenError, NotFoundError
from ledger_api.financing.tables import LOANS

OUTCOMES = ("repaid", "defaulted")


@dataclass(frozen=True)
class LoanTerms:
    amount: int
    rate_bp: int
    term_months: int
    pure_credit: bool
    first_loan: bool
    renewal_without_repayment: bool
    granted_at: int


def loan_record_uid(application_id: int) -> bytes:
    """The envelope's record id of a loan (binds the ciphertext to its application)."""
    return hashlib.sha256(b"ccl/loan/v1" + application_id.to_bytes(8, "big")).digest()[:16]


def insert_loan(
    conn: Connection, keyring: SubjectKeyring, application: Any, terms: LoanTerms
) -> int:
    subject_id = bytes(application.subject_id)
    aead = keyring.aead(conn, subject_id)
    sealed = seal_record(
        aead,
        loan_record_uid(int(application.id)),
        subject_id,
        json.dumps(asdict(terms), sort_keys=True).encode(),
    )
    return int(
        conn.execute(
            insert(LOANS)
            .values(
                application_id=application.id,
                institution=application.institution,
                subject_id=subject_id,
                region=application.region,
                industry=application.industry,
                amount=terms.amount,
                pure_credit=terms.pure_credit,
                first_loan=terms.first_loan,
                renewal_without_repayment=terms.renewal_without_repayment,
                granted_at=terms.granted_at,
                terms_sealed=sealed,
                status="active",
            )
            .returning(LOANS.c.id)
        ).scalar_one()
    )


def open_terms(conn: Connection, keyring: SubjectKeyring, loan: Any) -> LoanTerms:
    subject_id = bytes(loan.subject_id)
    plain = open_record(
        keyring.aead(conn, subject_id),
        loan_record_uid(int(loan.application_id)),
        subject_id,
        bytes(loan.terms_sealed),
    )
    return LoanTerms(**json.loads(plain))


def load_loan(conn: Connection, loan_id: int) -> Any:
    row = conn.execute(select(LOANS).where(LOANS.c.id == loan_id)).first()
    if row is None:
        raise NotFoundError(f"no loan {loan_id}", code="loan_not_found")
    return row


def loan_of_application(conn: Connection, application_id: int) -> Any:
    return conn.execute(select(LOANS).where(LOANS.c.application_id == application_id)).first()


def report_outcome(conn: Connection, loan: Any, institution: str, outcome: str, now: int) -> None:
    """Repaid or defaulted, reported once by the lending institution."""
    if loan.institution != institution:
        raise ForbiddenError(f"loan {loan.id} is not this institution's", code="not_your_loan")
    if loan.status != "active":
        raise ConflictError(f"loan {loan.id} is already {loan.status}", code="loan_closed")
    done = conn.execute(
        update(LOANS)
        .where(LOANS.c.id == loan.id, LOANS.c.status == "active")
        .values(status=outcome, outcome_at=now)
    ).rowcount
    if done != 1:
        raise ConflictError(f"loan {loan.id} changed meanwhile", code="loan_closed")
