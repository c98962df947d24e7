"""Consent receipts: a grant as an ISO/IEC TS 27560-shaped consent record, signed by the platform.

The record is built from the chain (the grant's ``GrantIssued`` and ``GrantRevoked`` events,
which keep the terms even after the contract zeroes a revoked grant), the chain state (names of
the institution, the subject's binding) and the access log (uses, for exhaustion). It is signed
like a signed access receipt: EIP-191 ``personal_sign`` by the platform's key over the canonical
JSON of the record (sorted keys, compact, UTF-8). The field mapping is ``docs/consent-receipts.md``;
the JSON Schema is ``consent-receipt.schema.json`` next to this module.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from ledger_api.catalog.loader import Catalog, canonical_json
from ledger_api.chain.grant_layout import GrantWord
from ledger_api.errors import NotFoundError

SCHEMA_PATH = Path(__file__).with_name("consent-receipt.schema.json")
SCHEMA_VERSION = "ccl-consent-receipt/1.0 (ISO/IEC TS 27560:2023)"
SIGNATURE_SCHEME = "EIP-191 personal_sign over the canonical JSON of record"
PLATFORM_NAME = "河南省融资信用服务平台 (Henan financing credit service platform)"
JURISDICTION = "CN-HA"
LEGAL_BASIS = "consent (PIPL art. 13(1); 征信业管理条例 art. 14)"
# A stable namespace, so a grant's record id is the same wherever and whenever it is exported.
_RECORD_NAMESPACE = uuid.UUID("6f1c3a52-27e0-4b5e-9c56-2756000c0001")


@dataclass(frozen=True)
class ChainEvent:
    """A block-stamped event of the grant (its issue or revocation)."""

    block: int
    timestamp: int
    tx_hash: str


@dataclass(frozen=True)
class GrantFacts:
    """Everything a consent record states about one grant."""

    chain_id: int
    contract: str
    grant_id: int
    terms: GrantWord
    subject_id: bytes
    subject_account: str | None
    institution: str
    institution_name: str | None
    institution_kind: str | None
    issued: ChainEvent
    revoked: ChainEvent | None
    used: int
    last_use_at: int | None  # UTC seconds of the last allowed access under the grant
    now: int


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def record_id(chain_id: int, contract: str, grant_id: int) -> str:
    return str(uuid.uuid5(_RECORD_NAMESPACE, f"{chain_id}:{contract.lower()}:{grant_id}"))


def consent_status(facts: GrantFacts) -> str:
    """``withdrawn``, ``exhausted``, ``expired``, ``pending`` (not yet valid) or ``active``,
    in the order the canonical grant check applies them."""
    terms = facts.terms
    if facts.revoked is not None:
        return "withdrawn"
    if terms.max_uses and facts.used >= terms.max_uses:
        return "exhausted"
    if facts.now >= terms.not_after:
        return "expired"
    if facts.now < terms.not_before:
        return "pending"
    return "active"


def _events(facts: GrantFacts) -> list[dict[str, Any]]:
    issued = facts.issued
    events: list[dict[str, Any]] = [
        {
            "type": "given",
            "at": _iso(issued.timestamp),
            "block": issued.block,
            "tx_hash": issued.tx_hash,
            "by": "pii_principal",
        }
    ]
    terms = facts.terms
    if facts.revoked is not None:
        revoked = facts.revoked
        events.append(
            {
                "type": "withdrawn",
                "at": _iso(revoked.timestamp),
                "block": revoked.block,
                "tx_hash": revoked.tx_hash,
                "by": "pii_principal",
            }
        )
    ended = facts.revoked.timestamp if facts.revoked is not None else facts.now
    if terms.max_uses and facts.used >= terms.max_uses and facts.last_use_at is not None:
        # The access log's clock is the server's, the grant's the chain's: a use is never
        # shown before the grant it used.
        exhausted_at = max(facts.last_use_at, issued.timestamp)
        events.append({"type": "exhausted", "at": _iso(exhausted_at), "by": "system"})
    if ended >= terms.not_after:
        # A grant given already past its end expired as it was given.
        expired_at = max(terms.not_after, issued.timestamp)
        events.append({"type": "expired", "at": _iso(expired_at), "by": "system"})
    return sorted(events, key=lambda e: (e["at"], e["type"] != "given"))


def build_record(facts: GrantFacts, catalog: Catalog, platform: str) -> dict[str, Any]:
    """The consent record of ``facts`` (unsigned)."""
    terms = facts.terms
    categories = []
    for bit in range(32):
        if terms.categories >> bit & 1:
            try:
                category = catalog.category(bit)
                categories.append({"bit": bit, "name": category.name, "title": category.title,
                                   "title_zh": category.title_zh})  # fmt: skip
            except NotFoundError:  # a bit no catalog version names: kept as the bit
                categories.append({"bit": bit, "name": f"category_{bit}", "title": None,
                                   "title_zh": None})  # fmt: skip
    grant_ref = record_id(facts.chain_id, facts.contract, facts.grant_id)
    return {
        "schema_version": SCHEMA_VERSION,
        "record_id": grant_ref,
        "receipt_id": str(uuid.uuid4()),
        "receipt_issued_at": _iso(facts.now),
        "language": "zh-CN",
        "jurisdiction": JURISDICTION,
        "legal_basis": LEGAL_BASIS,
        "consent_type": "explicit, signed (EIP-712 Grant by the subject's key)",
        "pii_principal": {
            "id": "0x" + facts.subject_id.hex(),
            "id_type": "pseudonymous subject id (HMAC-SHA256 of the USCC under the platform's key)",
            "account": facts.subject_account,
        },
        "controller": {"name": PLATFORM_NAME, "address": platform, "role": "platform operator"},
        "recipients": [
            {
                "name": facts.institution_name,
                "address": facts.institution,
                "type": facts.institution_kind,
            }
        ],
        "purposes": [{"purpose": terms.purpose.name.lower()}],
        "pii_categories": categories,
        "processing": {
            "access_level": terms.level.name.lower(),
            "max_uses": terms.max_uses or None,
            "uses": facts.used,
        },
        "validity": {"not_before": _iso(terms.not_before), "not_after": _iso(terms.not_after)},
        "consent_status": consent_status(facts),
        "withdrawal_method": {
            "description": (
                "The enterprise signs a revocation with its wallet key and the platform relays "
                "it on chain; reads are refused from the next block on."
            ),
            "command": f"ccl-wallet revoke {facts.grant_id}",
            "endpoint": "POST /v1/subject/revocations",
        },
        "evidence": {
            "chain_id": facts.chain_id,
            "contract": facts.contract,
            "grant_id": facts.grant_id,
        },
        "events": _events(facts),
    }


def sign_record(record: dict[str, Any], platform: LocalAccount) -> dict[str, Any]:
    """The consent receipt: the record, the platform's address and its signature."""
    signed = platform.sign_message(encode_defunct(primitive=canonical_json(record)))
    return {
        "record": record,
        "signer": platform.address,
        "signature_scheme": SIGNATURE_SCHEME,
        "signature": "0x" + bytes(signed.signature).hex(),
    }


def receipt_signer(receipt: dict[str, Any]) -> str:
    """The address that signed ``receipt["record"]`` (compare it with the platform's)."""
    message = encode_defunct(primitive=canonical_json(receipt["record"]))
    return str(Account.recover_message(message, signature=receipt["signature"]))


def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return schema
