"""Reading a subject's records for the API: decrypted, with dispute flags and optional leaves.

One indexed query per call (subject + categories), data keys from the app's keyring cache;
leaves are computed only when the subject has disputes (they cost two keccaks each).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from ledger_api.anchoring.merkle import record_leaf
from ledger_api.catalog.loader import Catalog
from ledger_api.crypto.envelope import open_record
from ledger_api.crypto.keys import SubjectKeyring
from ledger_api.store.models import RECORDS

_COLUMNS = (
    RECORDS.c.id,
    RECORDS.c.record_uid,
    RECORDS.c.provider,
    RECORDS.c.category,
    RECORDS.c.record_key_hash,
    RECORDS.c.salt,
    RECORDS.c.sealed,
)


@dataclass(frozen=True)
class ReadRecord:
    record_uid: bytes
    category: str
    category_bit: int
    provider: str
    fields: dict[str, Any]
    leaf: bytes | None
    disputed: bool


def read_records(
    conn: Connection,
    keyring: SubjectKeyring,
    catalog: Catalog,
    subject_id: bytes,
    category_bits: Iterable[int] | None,
    *,
    open_leaves: set[bytes] | frozenset[bytes] = frozenset(),
    hidden_leaves: set[bytes] | frozenset[bytes] = frozenset(),
    with_leaves: bool = False,
) -> list[ReadRecord]:
    """Newest version of each record, oldest first; records in ``hidden_leaves`` left out."""
    query = select(*_COLUMNS).where(RECORDS.c.subject_id == subject_id)
    if category_bits is not None:
        bits = list(category_bits)
        query = query.where(
            RECORDS.c.category == bits[0] if len(bits) == 1 else RECORDS.c.category.in_(bits)
        )
    rows = conn.execute(query.order_by(RECORDS.c.id)).all()
    if not rows:
        return []
    newest: dict[tuple[str, int, bytes], Any] = {}
    for row in rows:
        newest[(row.provider, row.category, row.record_key_hash)] = row
    aead = keyring.aead(conn, subject_id)
    need_leaf = with_leaves or bool(open_leaves) or bool(hidden_leaves)
    out: list[ReadRecord] = []
    for row in sorted(newest.values(), key=lambda r: r.id):
        leaf = None
        if need_leaf:
            digest = hashlib.sha256(row.sealed).digest()
            leaf = record_leaf(row.salt, row.record_uid, subject_id, row.category, digest)
            if leaf in hidden_leaves:
                continue
        out.append(
            ReadRecord(
                record_uid=row.record_uid,
                category=catalog.category(row.category).name,
                category_bit=row.category,
                provider=row.provider,
                fields=json.loads(open_record(aead, row.record_uid, subject_id, row.sealed)),
                leaf=leaf,
                disputed=leaf is not None and leaf in open_leaves,
            )
        )
    return out
