"""Reading a subject's records for the API: decrypted, with dispute flags and optional leaves.

One indexed query per call (categories + subject), data keys from the app's keyring cache;
leaves are computed only when the subject has disputes (they cost two keccaks each).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Connection

from ledger_api.anchoring.merkle import record_leaf
from ledger_api.api.supply_chain_overdue import CATEGORY as OWED_CATEGORY
from ledger_api.api.supply_chain_overdue import record_as_of
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


_SQL_CACHE: dict[tuple[str, int], str] = {}


def _records_sql(paramstyle: str, categories: int) -> str:
    """``SELECT .. FROM records WHERE category IN (?, ..) AND subject_id = ? ORDER BY id``
    (the records' unique index leads with the category, then the subject)."""
    sql = _SQL_CACHE.get((paramstyle, categories))
    if sql is None:
        mark = "?" if paramstyle == "qmark" else "%s"
        columns = ", ".join(c.name for c in _COLUMNS)
        where = f"category IN ({', '.join([mark] * categories)}) AND subject_id = {mark}"
        sql = f"SELECT {columns} FROM {RECORDS.name} WHERE {where} ORDER BY id"
        _SQL_CACHE[(paramstyle, categories)] = sql
    return sql


def _select_rows(conn: Connection, subject_id: bytes, bits: list[int]) -> list[_Row]:
    """The subject's record rows on the driver's own cursor: this runs on every read, and
    building, compiling and wrapping a Core statement costs more than the query itself."""
    if not bits:
        return []
    params = (*bits, bytes(subject_id))
    sql = _records_sql(conn.dialect.paramstyle, len(bits))
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        return [_Row(*row) for row in cursor.fetchall()]
    finally:
        cursor.close()


class _Row(NamedTuple):
    id: int
    record_uid: bytes
    provider: str
    category: int
    record_key_hash: bytes
    salt: bytes
    sealed: bytes


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
    now: int | None = None,
) -> list[ReadRecord]:
    """Newest version of each record, oldest first; records in ``hidden_leaves`` left out.

    ``category_bits`` None: every category of ``catalog``. ``now``: supply-chain records
    shown as of that moment (overdue once due and unpaid, ``supply_chain_overdue``)."""
    bits = list(catalog.category_bits if category_bits is None else category_bits)
    rows = _select_rows(conn, subject_id, bits)
    if not rows:
        return []
    newest: dict[tuple[str, int, bytes], _Row] = {}
    for row in rows:
        newest[(row.provider, row.category, row.record_key_hash)] = row
    aead = keyring.aead(conn, subject_id)
    need_leaf = with_leaves or bool(open_leaves) or bool(hidden_leaves)
    out: list[ReadRecord] = []
    owed_bit = catalog.category(OWED_CATEGORY).bit if now is not None else None
    for row in sorted(newest.values(), key=lambda r: r.id):
        leaf = None
        if need_leaf:
            digest = hashlib.sha256(row.sealed).digest()
            leaf = record_leaf(row.salt, row.record_uid, subject_id, row.category, digest)
            if leaf in hidden_leaves:
                continue
        fields = json.loads(open_record(aead, row.record_uid, subject_id, row.sealed))
        if row.category == owed_bit and now is not None:
            fields = record_as_of(fields, now)
        out.append(
            ReadRecord(
                record_uid=row.record_uid,
                category=catalog.category(row.category).name,
                category_bit=row.category,
                provider=row.provider,
                fields=fields,
                leaf=leaf,
                disputed=leaf is not None and leaf in open_leaves,
            )
        )
    return out
