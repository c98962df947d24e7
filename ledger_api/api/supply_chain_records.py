"""A confirmed receivable as a ``supply_chain`` record of its supplier.

The invoice number and both USCCs reach the platform only in the supplier's registration
request (the chain holds hashes). They are sealed under a key derived from the master key and
kept by receivable id; once the debtor confirms, the record is built from them and the chain's
terms and goes through the ingest pipeline like any provider's record: encrypted under the
supplier's data key, stored, anchored through the anchor journal, readable by a bank under a
grant covering ``supply_chain``. A later state (financed, paid) is stored as a newer version
under the same record key.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import insert, select, update

from ledger_api.api.supply_chain_acts import due_day, yuan
from ledger_api.chain.receivables import ReceivableState
from ledger_api.errors import IntegrityError, NotFoundError
from ledger_api.ingest.pipeline import ingest_batch
from ledger_api.store.supply_chain import RECEIVABLE_DOCUMENTS

CATEGORY = "supply_chain"
_INFO = b"ccl supply-chain documents v1"
_NONCE_BYTES = 12


def _cipher(master_key: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(master_key)
    return AESGCM(key)


def seal(master_key: bytes, receivable_id: int, document: dict[str, Any]) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    plain = json.dumps(document, ensure_ascii=False, sort_keys=True).encode()
    return nonce + _cipher(master_key).encrypt(nonce, plain, receivable_id.to_bytes(8, "big"))


def unseal(master_key: bytes, receivable_id: int, sealed: bytes) -> dict[str, Any]:
    nonce, body = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
    plain = _cipher(master_key).decrypt(nonce, body, receivable_id.to_bytes(8, "big"))
    document: dict[str, Any] = json.loads(plain)
    return document


def mask(uscc: str) -> str:
    return uscc[:2] + "*" * 12 + uscc[-4:]


def keep_document(
    ctx: Any,
    receivable_id: int,
    supplier: str,
    debtor: str,
    *,
    supplier_uscc: str,
    debtor_uscc: str,
    invoice_no: str,
) -> None:
    """Keep what the record will need once the debtor confirms (sealed)."""
    document = {
        "supplier_uscc": supplier_uscc,
        "debtor_uscc": debtor_uscc,
        "invoice_no": invoice_no.strip(),
    }
    with ctx.engine.begin() as conn:
        conn.execute(
            insert(RECEIVABLE_DOCUMENTS).values(
                receivable_id=receivable_id,
                supplier=supplier,
                debtor=debtor,
                sealed=seal(ctx.settings.master_key_bytes, receivable_id, document),
                debtor_uscc_masked=mask(debtor_uscc),
                record_status=None,
                created_at=datetime.now(UTC),
            )
        )


def load_document(ctx: Any, receivable_id: int) -> tuple[dict[str, Any], str | None]:
    """The unsealed document and the status last recorded (None before confirmation)."""
    with ctx.engine.connect() as conn:
        row = conn.execute(
            select(RECEIVABLE_DOCUMENTS).where(
                RECEIVABLE_DOCUMENTS.c.receivable_id == receivable_id
            )
        ).first()
    if row is None:
        raise NotFoundError(
            f"the platform holds no registration request for receivable {receivable_id}",
            code="receivable_unknown_to_platform",
        )
    return unseal(ctx.settings.master_key_bytes, receivable_id, row.sealed), row.record_status


def record_row(document: dict[str, Any], owed: ReceivableState, status: str) -> dict[str, Any]:
    """The supplier's ``supply_chain`` record for this receivable (catalog category bit 14)."""
    return {
        "uscc": document["supplier_uscc"],
        "record_key": f"receivable-{owed.receivable_id}",
        "core_enterprise_uscc": document["debtor_uscc"],
        "invoice_no": document["invoice_no"],
        "payable_amount": yuan(owed.amount),
        "confirmed_on": document["confirmed_on"],
        "due_date": due_day(owed.due_date).isoformat(),
        "status": status,
    }


def record_state(ctx: Any, owed: ReceivableState, status: str) -> bool:
    """Store (a newer version of) the supplier's record; False when nothing changed."""
    document, recorded = load_document(ctx, owed.receivable_id)
    if recorded == status:
        return False
    if "confirmed_on" not in document:
        document["confirmed_on"] = datetime.fromtimestamp(ctx.clock(), tz=UTC).date().isoformat()
    row = record_row(document, owed, status)
    result = ingest_batch(
        ctx.engine,
        ctx.data_anchorer,
        ctx.settings,
        provider=ctx.relayer.address,
        category=CATEGORY,
        data=json.dumps(row, ensure_ascii=False).encode(),
        fmt="jsonl",
        catalog=ctx.catalog,
    )
    if result.rejected:
        raise IntegrityError(
            f"the supply_chain record of receivable {owed.receivable_id} was refused: "
            f"{result.rejected[0]}",
            code="supply_chain_record_refused",
        )
    with ctx.engine.begin() as conn:
        conn.execute(
            update(RECEIVABLE_DOCUMENTS)
            .where(RECEIVABLE_DOCUMENTS.c.receivable_id == owed.receivable_id)
            .values(
                record_status=status,
                sealed=seal(ctx.settings.master_key_bytes, owed.receivable_id, document),
            )
        )
    return True
