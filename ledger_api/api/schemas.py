"""Request and response models (the OpenAPI document and ``ledger_api.client`` use them).

Binary values travel as 0x-hex strings.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ledger_api.chain.types import AccessLevel, Purpose

HexStr = str
# Whole bytes only: an odd number of hex digits passed a {130,} pattern and then failed
# bytes.fromhex in the handler (500).
SIGNATURE_PATTERN = r"^0x(?:[0-9a-fA-F]{2}){65,}$"
_PURPOSE_NAMES = {p.name.lower(): p.name.lower() for p in Purpose}
_LEVEL_NAMES = {level.name.lower(): level.name.lower() for level in AccessLevel}
PurposeName = Enum("PurposeName", _PURPOSE_NAMES, type=str)  # type: ignore[misc]
LevelName = Enum("LevelName", _LEVEL_NAMES, type=str)  # type: ignore[misc]


class Health(BaseModel):
    status: str


class AgreementTermsOut(BaseModel):
    """An institution's data-sharing agreement as on chain (what any grant to it is bound by)."""

    categories: int  # bit mask of catalog category bits
    purposes: int  # bit mask of Purpose values
    not_before: int
    not_after: int
    status: str  # proposed, active, suspended, terminated


class InstitutionOut(BaseModel):
    """An institution as registered on chain: what a wallet shows before signing a grant."""

    address: str
    name: str
    kind: str  # bank, insurer, guarantor, credit_service
    suspended: bool
    agreement_id: int
    state_block: int
    agreement: AgreementTermsOut | None = None  # None: no agreement (agreement_id 0)


class ChainInfo(BaseModel):
    chain_id: int
    contract: str
    head_block: int
    state_block: int
    account_nonce: int | None = None
    # The key that signs access receipts (the platform's operator key, OPERATOR_ROLE on chain).
    platform_signer: str | None = None


class AccessReceipt(BaseModel):
    grant_id: int | None
    checked_block: int
    access_log_id: int
    response_hash: HexStr


class SignedReceipt(BaseModel):
    claims: dict[str, Any]
    signer: str
    signature: HexStr


class RecordOut(BaseModel):
    # Extra keys are kept as sent, so a record's dump is what the response hash covers: a
    # record the enterprise volunteered carries "self_reported": true (docs/financing.md).
    model_config = ConfigDict(extra="allow")

    record_uid: HexStr
    category: str
    fields: dict[str, Any]
    disputed: bool = False
    leaf: HexStr | None = None


class CreditReport(BaseModel):
    subject_id: HexStr
    categories: dict[str, list[RecordOut]]
    receipt: AccessReceipt
    signed_receipt: SignedReceipt | None = None  # None only from older servers


class RecordsPage(BaseModel):
    subject_id: HexStr
    category: str | None
    level: str
    records: list[RecordOut]
    receipt: AccessReceipt
    signed_receipt: SignedReceipt | None = None  # None only from older servers


class Verification(BaseModel):
    predicate: str
    argument: str
    result: bool
    receipt: AccessReceipt
    signed_receipt: SignedReceipt


class Score(BaseModel):
    score: int
    band: str
    reason_codes: list[str]
    categories_used: list[str]
    scorecard: str
    receipt: AccessReceipt
    signed_receipt: SignedReceipt | None = None  # None only from older servers


class RegistrationIn(BaseModel):
    uscc: str = Field(min_length=18, max_length=18)


class SignatureIn(BaseModel):
    signature: HexStr = Field(pattern=SIGNATURE_PATTERN, max_length=4096)


class Registration(BaseModel):
    id: int
    account: str
    subject_id: HexStr
    uscc_masked: str
    status: str
    deadline: int
    typed_data: dict[str, Any] | None = None
    tx_hash: HexStr | None = None
    requested_at: datetime | None = None  # when the enterprise asked (UTC)


class SubjectMe(BaseModel):
    subject_id: HexStr
    subject_index: int
    account: str


class GrantTermsIn(BaseModel):
    institution: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    categories: int = Field(ge=1, lt=2**32)
    purpose: int = Field(ge=0, le=5)
    level: int = Field(ge=0, le=2)
    not_before: int = Field(ge=0, lt=2**40)
    not_after: int = Field(ge=0, lt=2**40)
    max_uses: int = Field(default=0, ge=0, lt=2**32)


class SignedGrantIn(BaseModel):
    terms: GrantTermsIn
    signer: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    deadline: int = Field(ge=0, lt=2**64)
    signature: HexStr = Field(pattern=SIGNATURE_PATTERN, max_length=4096)


class GrantBatchIn(BaseModel):
    grants: list[SignedGrantIn] = Field(min_length=1, max_length=100)


class SkippedGrantOut(BaseModel):
    """A batch item the contract skipped instead of issuing (the rest of the batch was issued)."""

    index: int  # position in the request's ``grants``
    reason: str  # not_a_subject, deadline_passed, signature_or_nonce_invalid, ...


class GrantIds(BaseModel):
    grant_ids: list[int]  # the issued grants, in request order
    skipped: list[SkippedGrantOut] = []


class RevocationIn(BaseModel):
    grant_id: int = Field(ge=1, lt=2**63)
    deadline: int = Field(ge=0, lt=2**64)
    signature: HexStr = Field(pattern=SIGNATURE_PATTERN, max_length=4096)


class NonceIncreaseIn(BaseModel):
    new_nonce: int = Field(ge=0, lt=2**255)
    deadline: int = Field(ge=0, lt=2**64)
    signature: HexStr = Field(pattern=SIGNATURE_PATTERN, max_length=4096)


class TxResult(BaseModel):
    tx_hash: HexStr
    block_number: int


class GrantStatus(BaseModel):
    grant_id: int
    institution_index: int
    institution: str | None
    categories: int
    purpose: str
    level: str
    not_before: int
    not_after: int
    max_uses: int
    used: int
    status: str  # "usable" or the GrantCheck code that makes it unusable


class AccessLogEntryOut(BaseModel):
    id: int
    at: str
    actor: str
    actor_role: str
    action: str
    category: int | None
    purpose: int | None
    level: int | None
    grant_id: int | None
    checked_block: int | None
    decision: str
    reason: str
    entry_hash: HexStr
    leaf: HexStr | None = None
    proof: list[HexStr] | None = None
    root: HexStr | None = None
    anchor_status: str | None = None
    anchor_sequence: int | None = None
    anchor_tx: HexStr | None = None


class AccessLogPage(BaseModel):
    entries: list[AccessLogEntryOut]
    limit: int
    offset: int


class RecordProofOut(BaseModel):
    record_uid: HexStr
    leaf: HexStr
    proof: list[HexStr]
    root: HexStr
    anchored: bool
    anchor_sequence: int | None
    # The leaf's preimage (with record_uid), which a dispute sends to the contract; the wallet
    # rehashes it before signing the leaf. Empty in answers of older servers.
    salt: HexStr = ""
    subject_id: HexStr = ""
    category: int = 0
    content_digest: HexStr = ""


class DisputeIn(BaseModel):
    record_uid: HexStr = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    kind: int = Field(ge=0, le=1)  # 0 objection, 1 credit repair
    reason_hash: HexStr = Field(pattern=r"^0x[0-9a-fA-F]{64}$")
    deadline: int = Field(ge=0, lt=2**64)
    signature: HexStr = Field(pattern=SIGNATURE_PATTERN, max_length=4096)
    # The text behind reason_hash, for the operator who resolves it (never on chain).
    reason: str | None = Field(default=None, min_length=1, max_length=2000)


class DisputeOut(BaseModel):
    dispute_id: int
    kind: str
    status: str
    outcome: str
    opened_at: int
    resolved_at: int
    anchor_root: HexStr
    leaf: HexStr


class DisputeResolveIn(BaseModel):
    outcome: int = Field(ge=1, le=3)  # 1 upheld, 2 rejected, 3 repaired
    resolution_hash: HexStr = Field(pattern=r"^0x[0-9a-fA-F]{64}$")


class CommitmentIn(BaseModel):
    text: str = Field(min_length=1, max_length=10_000)
    signature: HexStr = Field(pattern=SIGNATURE_PATTERN, max_length=4096)


class CommitmentOut(BaseModel):
    id: int
    text: str
    leaf: HexStr
    status: str
    anchor_sequence: int | None
    tx_hash: HexStr | None


class InstitutionIn(BaseModel):
    address: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    kind: int = Field(ge=0, le=3)
    name: str = Field(min_length=1, max_length=200)


class RoleIn(BaseModel):
    role: str = Field(pattern=r"^(OPERATOR|PROVIDER|REGULATOR)_ROLE$")
    address: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")


class AgreementIn(BaseModel):
    institution: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$")
    categories: list[str] = Field(min_length=1, max_length=64)
    purposes: list[PurposeName] = Field(min_length=1)
    not_before: int = Field(ge=0, lt=2**64)
    not_after: int = Field(ge=0, lt=2**64)
    document_hash: HexStr = Field(pattern=r"^0x[0-9a-fA-F]{64}$")


class AgreementOut(BaseModel):
    agreement_id: int


class AnchorOut(BaseModel):
    anchor_id: int | None


class LogFindingOut(BaseModel):
    kind: str
    entry_id: int
    detail: str


class LogVerification(BaseModel):
    clean: bool
    entries_checked: int
    findings: list[LogFindingOut]


class IngestOut(BaseModel):
    batch_id: HexStr
    provider: str
    category: str
    state: str
    rows_total: int
    accepted: int
    duplicates: int
    rejected: list[dict[str, Any]]
    root: HexStr | None
    leaf_count: int
    anchor_sequence: int | None
    tx_hash: HexStr | None
    already_known: bool


class AuditRows(BaseModel):
    view: str
    result: list[dict[str, Any]] | dict[str, Any]
