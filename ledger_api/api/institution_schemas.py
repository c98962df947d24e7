"""Models of an institution's own view (its agreements and grants) and of regulators' acts.

Every id travels with its name: categories and purposes by catalog / enum name, institutions
by their registered name, so that a person reads the answer and a program keeps the ids.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ledger_api.api.schemas import SIGNATURE_PATTERN, HexStr


class Named(BaseModel):
    id: int
    name: str


class Term(BaseModel):
    starts_at: int = Field(description="UTC seconds; the agreement applies from here")
    ends_at: int = Field(description="UTC seconds; the agreement no longer applies from here")


class AcceptanceToSign(BaseModel):
    typed_data: dict[str, Any] = Field(
        description="EIP-712 `AgreementAcceptance` in the shape of MetaMask's "
        "eth_signTypedData_v4 (types with EIP712Domain, primaryType, domain, message)"
    )
    deadline: int = Field(description="UTC seconds; send the signature back before it")


class InstitutionAgreement(BaseModel):
    agreement_id: int
    institution: HexStr
    institution_name: str
    status: str = Field(description="proposed, active, suspended, terminated, superseded, ...")
    categories: list[Named]
    purposes: list[Named]
    term: Term
    document_hash: HexStr
    acceptance: AcceptanceToSign | None = Field(
        description="Only for a proposed agreement: what to sign to accept it without gas"
    )


class AcceptanceIn(BaseModel):
    signature: str = Field(pattern=SIGNATURE_PATTERN, max_length=4096)
    deadline: int = Field(ge=0, lt=2**64, description="the deadline of the typed data signed")


class AcceptanceOut(BaseModel):
    tx_hash: HexStr
    block_number: int
    agreement_id: int
    status: str


class GrantWindow(BaseModel):
    not_before: int
    not_after: int


class GrantUsability(BaseModel):
    usable: bool
    reason: str | None = Field(description="the canonical check's code when not usable")


class InstitutionGrant(BaseModel):
    grant_id: int
    subject_id: HexStr
    subject_uscc: str | None = Field(
        description="The enterprise's USCC, shown to the institution it authorised; null once "
        "the grant is revoked or when the platform holds no record of the enterprise"
    )
    categories: list[Named]
    purpose: Named
    level: Named
    window: GrantWindow
    max_uses: int = Field(description="0: no cap")
    uses_left: int | None = Field(description="null: no cap")
    status: GrantUsability


class GrantCheckOut(BaseModel):
    grant_id: int
    usable: bool
    reason: str | None
    checked_block: int
    category: Named
    purpose: Named
    level: Named


class RegulatorActIn(BaseModel):
    signed_transaction: str = Field(
        pattern=r"^0x(?:[0-9a-fA-F]{2})+$",
        max_length=8192,
        description="the regulator's own signed transaction, as prepared by the GET of the "
        "same path; the platform broadcasts it unchanged",
    )


class UnsignedTransaction(BaseModel):
    act: str
    target: str = Field(description="the institution's address or the agreement id")
    target_name: str = Field(description="the institution's registered name")
    transaction: dict[str, Any] = Field(
        description="to, data, gas, nonce, chainId and fees, ready for eth_account to sign"
    )


class RegulatorActOut(BaseModel):
    act: str
    tx_hash: HexStr
    block_number: int
    target: str
    target_name: str
    regulator: HexStr
