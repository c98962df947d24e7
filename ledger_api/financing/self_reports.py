"""Voluntary information (自愿填报) with a credit commitment (信用承诺).

The wallet signs (EIP-191) a digest covering the entry and the commitment text; the platform
stores the entry as a ``self_reported`` record under the provider name ``self_reported`` (so a
reader can never take it for a department's record), through the ingestion pipeline: sealed
under the enterprise's data key, anchored, and readable by an institution only under a grant
covering the self_reported category. A withdrawal stores a new version of the same record
saying it was withdrawn (readers see only that), keeps the first version's anchor, and is
itself an anchored financing event.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct

from ledger_api.anchoring.keccak import keccak256
from ledger_api.errors import InputError

PROVIDER = "self_reported"
CATEGORY = "self_reported"
_DOMAIN = b"ccl/self-report/v1\x00"
WITHDRAWN_TEXT = "已撤回 (withdrawn by the enterprise)"


@dataclass(frozen=True)
class SelfReportEntry:
    topic: str
    reported_on: str  # YYYY-MM-DD
    value_text: str | None
    value_amount: str | None
    commitment: str  # the credit commitment the enterprise signs with the entry
    account: str

    def digest(self) -> bytes:
        body = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return keccak256(_DOMAIN + body.encode())


def sign_entry(key: Any, entry: SelfReportEntry) -> bytes:
    message = encode_defunct(primitive=entry.digest())
    return bytes(Account.sign_message(message, key.key).signature)


def require_signed_by(entry: SelfReportEntry, signature: bytes, account: str) -> None:
    try:
        signer = Account.recover_message(
            encode_defunct(primitive=entry.digest()), signature=signature
        )
    except Exception:
        signer = None
    if signer != account:
        raise InputError(
            "the entry and its commitment are not signed by the requesting subject's key",
            code="bad_self_report_signature",
        )


def self_reported_mark(provider: str) -> dict[str, bool]:
    """The read's mark of a self-reported record (absent from every other record, so their
    answers stay as they were)."""
    return {"self_reported": True} if provider == PROVIDER else {}


def record_row(uscc: str, record_key: str, entry: SelfReportEntry) -> dict[str, Any]:
    """The self_reported record, as the catalog's category defines it."""
    row: dict[str, Any] = {
        "uscc": uscc,
        "record_key": record_key,
        "reported_on": entry.reported_on,
        "topic": entry.topic,
    }
    if entry.value_text is not None:
        row["value_text"] = entry.value_text
    if entry.value_amount is not None:
        row["value_amount"] = entry.value_amount
    return row


def withdrawal_row(uscc: str, record_key: str, topic: str, now: int) -> dict[str, Any]:
    return {
        "uscc": uscc,
        "record_key": record_key,
        "reported_on": datetime.fromtimestamp(now, UTC).date().isoformat(),
        "topic": topic,
        "value_text": WITHDRAWN_TEXT,
    }
