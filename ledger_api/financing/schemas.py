"""Request and response bodies of the financing endpoints."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from ledger_api.api.schemas import SIGNATURE_PATTERN, SignedGrantIn

PRODUCT_KINDS = ("pure_credit", "guarantee", "pledge", "supply_chain")
ProductKind = Literal["pure_credit", "guarantee", "pledge", "supply_chain"]
RegionCode = Field(pattern=r"^41\d{4}$")  # Henan division codes (province 41)
Yuan = Field(ge=1, le=10**12)
HASH_PATTERN = r"^0x[0-9a-fA-F]{64}$"


class ProductIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: ProductKind
    amount_min: int = Yuan
    amount_max: int = Yuan
    term_min_months: int = Field(ge=1, le=360)
    term_max_months: int = Field(ge=1, le=360)
    rate_min_bp: int = Field(ge=0, le=10_000)
    rate_max_bp: int = Field(ge=0, le=10_000)
    regions: list[str] = Field(min_length=1, max_length=200)
    industries: list[str] = Field(min_length=1, max_length=21)
    categories: list[str] = Field(min_length=1, max_length=15)
    valid_from: int = Field(ge=0, lt=2**63)
    valid_until: int = Field(ge=0, lt=2**63)


class ProductOut(BaseModel):
    id: int
    institution: str
    institution_name: str
    name: str
    kind: str
    amount_min: int
    amount_max: int
    term_min_months: int
    term_max_months: int
    rate_min_bp: int
    rate_max_bp: int
    regions: list[str]
    industries: list[str]
    categories: list[str]
    category_mask: int
    purpose: str
    valid_from: int
    valid_until: int
    decision_days: int  # the bank answers an application within this many days


class ApplicationIn(BaseModel):
    """The application and the grant the product needs, signed in one confirmation: the
    application signature (EIP-191) covers the application hash, which covers the grant's
    EIP-712 signature."""

    product_id: int = Field(ge=1, lt=2**63)
    amount: int = Yuan
    term_months: int = Field(ge=1, le=360)
    region: str = RegionCode
    industry: str = Field(pattern=r"^[A-T]$")
    grant: SignedGrantIn
    signature: str = Field(pattern=SIGNATURE_PATTERN, max_length=4096)


class ApplicationOut(BaseModel):
    id: int
    product_id: int
    product_name: str
    institution: str
    institution_name: str
    subject_id: str
    grant_id: int
    amount: int
    term_months: int
    region: str
    industry: str
    status: str
    submitted_at: int
    decision_deadline: int
    decided_at: int | None
    decline_reason: str | None
    overdue: bool
    loan_id: int | None = None


class DecisionIn(BaseModel):
    decision: Literal["approved", "declined"]
    amount: int | None = Field(default=None, ge=1, le=10**12)
    rate_bp: int | None = Field(default=None, ge=0, le=10_000)
    term_months: int | None = Field(default=None, ge=1, le=360)
    pure_credit: bool = False
    first_loan: bool = False
    renewal_without_repayment: bool = False
    reason: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{1,47}$")


class LoanOut(BaseModel):
    id: int
    application_id: int
    institution: str
    institution_name: str
    subject_id: str
    amount: int
    rate_bp: int
    term_months: int
    pure_credit: bool
    first_loan: bool
    renewal_without_repayment: bool
    granted_at: int
    status: str
    outcome_at: int | None
    anchored: bool


class OutcomeIn(BaseModel):
    outcome: Literal["repaid", "defaulted"]


class EventOut(BaseModel):
    id: int
    kind: str
    actor: str
    at: int
    record: str
    leaf: str = Field(pattern=HASH_PATTERN)
    anchored: bool
    anchor_sequence: int | None
    tx_hash: str | None


# -- the white list ---------------------------------------------------------------------------


class ReviewerIn(BaseModel):
    address: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    regions: list[str] = Field(min_length=1, max_length=50)


class ReviewerOut(BaseModel):
    id: int
    address: str
    region: str
    designated_by: str
    designated_at: int


class WhitelistIn(BaseModel):
    region: str = RegionCode
    industry: str = Field(pattern=r"^[A-T]$")
    # The five criteria, each with the hash of its evidence (documents stay with the parties).
    criteria: dict[str, str] = Field(min_length=5, max_length=5)


class ReviewIn(BaseModel):
    action: Literal["start_review", "recommend", "reject", "remove", "expire"]
    reason: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{1,47}$")
    repairable: bool | None = None


class FindingIn(BaseModel):
    """A reviewer's finding on one criterion: the hash of the evidence it examined (the
    document stays with the reviewer) and whether the criterion is met."""

    evidence_hash: str = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    met: bool = True


class ReviewerPushIn(BaseModel):
    """Banks a reviewer pushes a recommended entry to: each must hold the enterprise's live
    loan_application grant (the enterprise chose it by granting it)."""

    banks: list[Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]] = Field(
        min_length=1, max_length=20
    )


class PushTarget(BaseModel):
    institution: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    grant_id: int = Field(ge=1, lt=2**63)


class PushIn(BaseModel):
    banks: list[PushTarget] = Field(min_length=1, max_length=20)


class PushOut(BaseModel):
    id: int
    institution: str
    institution_name: str
    grant_id: int
    pushed_at: int
    due_at: int
    decision: str | None
    decided_at: int | None
    overdue: bool  # unanswered past its deadline (the regulator's view shows it)


class WhitelistOut(BaseModel):
    id: int
    subject_id: str
    region: str
    industry: str
    state: str
    criteria: dict[str, str]
    # criterion -> the reviewer's finding {evidence, met, reviewer, at}
    findings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    reason: str | None
    repairable: bool | None
    reviewer: str | None
    submitted_at: int
    updated_at: int
    pushes: list[PushOut]


class PushDecisionIn(BaseModel):
    decision: Literal["approved", "declined"]
