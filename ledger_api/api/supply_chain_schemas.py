"""Request and response models of the supply-chain routes (amounts in yuan, 2 decimals)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from ledger_api.api.schemas import SIGNATURE_PATTERN, HexStr

YUAN_PATTERN = r"^\d{1,13}(\.\d{1,2})?$"
PartId = Field(ge=1, lt=2**64)


HASH_PATTERN = r"^0x[0-9a-fA-F]{64}$"


class OwedTerms(BaseModel):
    """What is owed, whoever registers it (the counterparty is added by the act)."""

    amount: str = Field(pattern=YUAN_PATTERN, description="yuan, at most two decimals")
    # Checked here, so a malformed code is a 422 like any malformed parameter.
    currency: str = Field(default="CNY", pattern=r"^[A-Za-z]{3}$", description="ISO 4217 code")
    due_date: date
    contract_hash: str = Field(
        pattern=HASH_PATTERN, description="keccak256 of the trimmed contract number (UTF-8)"
    )


class ReceivableBase(OwedTerms):
    debtor: str = Field(min_length=1, max_length=42, description="the debtor's USCC or address")


class PayableBase(OwedTerms):
    supplier: str = Field(
        min_length=1, max_length=42, description="the supplier owed it: its USCC or address"
    )


class InvoiceHash(BaseModel):
    invoice_hash: str = Field(
        pattern=HASH_PATTERN, description="keccak256 of the trimmed invoice number (UTF-8)"
    )


class ReceivableTerms(ReceivableBase, InvoiceHash):
    """The query of the typed data: numbers only as hashes (a URL ends up in access logs)."""


class PayableTerms(PayableBase, InvoiceHash):
    """The query of a debtor's payable typed data (numbers only as hashes)."""


class ConfirmationTerms(BaseModel):
    receivable_id: int = Field(ge=1, lt=2**32)


class PartTerms(BaseModel):
    part_id: int = PartId


class ValueTerms(PartTerms):
    value: str = Field(pattern=YUAN_PATTERN, description="yuan, at most two decimals")


class TransferTerms(PartTerms):
    to: str = Field(min_length=1, max_length=42, description="the receiving enterprise's USCC")


class FinancingTerms(PartTerms):
    institution: str = Field(min_length=1, max_length=128, description="registry name or address")
    registry_no: str = Field(default="", max_length=64, description="movable-property registry")


class Signed(BaseModel):
    deadline: int = Field(ge=1, lt=2**64)
    signature: HexStr = Field(pattern=SIGNATURE_PATTERN)


class SignedReceivable(ReceivableBase, Signed):
    invoice_no: str = Field(
        min_length=1, max_length=40, description="the invoice number, for your record (sealed)"
    )
    supplier_uscc: str | None = Field(
        default=None,
        min_length=18,
        max_length=18,
        description="your own USCC, for your supply_chain record (checked against your key)",
    )


class SignedPayable(PayableBase, Signed):
    invoice_no: str = Field(
        min_length=1, max_length=40, description="the invoice number, for the supplier's record"
    )
    debtor_uscc: str | None = Field(
        default=None,
        min_length=18,
        max_length=18,
        description="your own USCC, for the supplier's record (checked against your key)",
    )


class SignedConfirmation(Signed):
    pass


class SignedValue(Signed):
    value: str = Field(pattern=YUAN_PATTERN)


class SignedTransfer(Signed):
    to: str = Field(min_length=1, max_length=42)


class SignedFinancing(Signed):
    institution: str = Field(min_length=1, max_length=128)
    registry_no: str = Field(default="", max_length=64)


class ActToSign(BaseModel):
    act: str
    primary_type: str
    summary: str  # what is signed, in words
    deadline: int
    typed_data: dict[str, Any]  # eth_signTypedData_v4 shape


class ActDone(BaseModel):
    act: str
    tx_hash: HexStr
    block_number: int
    receivable_id: int | None = None
    part_id: int | None = None
    new_part_id: int | None = None
    record_status: str | None = None  # the supplier's supply_chain record, when it changed


class PartOut(BaseModel):
    part_id: int
    receivable_id: int
    holder: str
    holder_uscc_masked: str | None
    value: str  # outstanding, yuan
    value_fen: int
    locked: bool
    financier: str | None
    financier_name: str | None
    debtor: str
    debtor_uscc_masked: str | None
    due_date: date
    overdue: bool
    defaulted: bool


class ReceivableOut(BaseModel):
    receivable_id: int
    supplier: str
    supplier_uscc_masked: str | None
    debtor: str
    debtor_uscc_masked: str | None
    amount: str
    amount_fen: int
    paid: str
    currency: str
    due_date: date
    status: str  # pending, confirmed, settled; overdue once due and unpaid
    defaulted: bool


class MyReceivables(BaseModel):
    as_supplier: list[ReceivableOut]
    as_debtor: list[ReceivableOut]
    parts_held: list[PartOut]
    parts_owed: list[PartOut]  # the parts the caller owes as debtor, whoever holds them
