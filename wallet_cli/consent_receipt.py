"""Saving a grant's consent receipt (``ledger_api.receipts.consent``) for either party.

``ccl-wallet grants receipt`` (the subject) and ``ccl-bank grants receipt`` (the institution)
both fetch the platform-signed record, check that the signature covers it before writing
anything, and save it as the exact JSON the platform signed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ledger_api.errors import IntegrityError
from wallet_cli.files import write_json_file
from wallet_cli.output import get_output

if TYPE_CHECKING:
    from ledger_api.client import LedgerClient


def save_consent_receipt(
    client: LedgerClient,
    grant_id: int,
    out: Path,
    *,
    as_role: Literal["subject", "institution"],
) -> None:
    """Fetch the grant's consent receipt, check the signature covers it, write it to ``out``."""
    from ledger_api.receipts.consent import receipt_signer

    receipt = client.consent_receipt(grant_id, as_role=as_role)
    if receipt_signer(receipt) != receipt["signer"]:
        raise IntegrityError("the consent receipt's signature does not cover its record")
    write_json_file(out, receipt)
    record = receipt["record"]
    recipient = record["recipients"][0]
    categories = [str(c["name"]) for c in record["pii_categories"]]
    events = ", ".join(f"{e['type']} {e['at']}" for e in record["events"])
    get_output().done(
        f"Saved the consent receipt of grant {grant_id} ({record['consent_status']}; "
        f"{recipient['name'] or recipient['address']}; "
        f"{', '.join(categories) or '-'}; {events}) to {out}, signed by the "
        f"platform {receipt['signer']}.",
        {
            "grant_id": grant_id,
            "file": str(out),
            "record_id": record["record_id"],
            "receipt_id": record["receipt_id"],
            "consent_status": record["consent_status"],
            "subject_id": record["pii_principal"]["id"],
            "institution": recipient["address"],
            "institution_name": recipient["name"],
            "categories": categories,
            "signer": receipt["signer"],
        },
    )
