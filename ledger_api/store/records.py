"""Read stored records back: decrypted for a subject, or as a leaf with its inclusion proof.

This is what the API and the wallet's "my data" call; masking for institutions is
``ledger_api.catalog.mask_record`` on the decrypted ``fields``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, and_, column, select, values

from ledger_api.anchoring.merkle import record_leaf, unpack_proof, verify_proof
from ledger_api.catalog.loader import MAX_CATEGORIES, Catalog, default_catalog
from ledger_api.crypto.envelope import open_record
from ledger_api.crypto.keys import MasterKey, SubjectKeyring
from ledger_api.errors import NotFoundError
from ledger_api.settings import Settings
from ledger_api.store.bulk import IN_CHUNK, as_blobs, variable_limit
from ledger_api.store.models import BATCHES, RECORDS, BatchState
from ledger_api.store.types import Bytes


@dataclass(frozen=True)
class StoredRecord:
    record_uid: bytes
    subject_id: bytes
    provider: str
    category: str
    batch_id: bytes
    leaf_index: int
    fields: dict[str, Any]  # uscc, record_key and the category's fields, normalised

    @property
    def record_key(self) -> str:
        return str(self.fields["record_key"])


@dataclass(frozen=True)
class RecordProof:
    """Everything needed to check a record against the chain without decrypting it."""

    record_uid: bytes
    subject_id: bytes
    category_bit: int
    salt: bytes
    ciphertext_digest: bytes  # sha256(nonce || ciphertext)
    leaf: bytes
    proof: list[bytes]
    leaf_index: int
    batch_id: bytes
    root: bytes
    anchored: bool
    anchor_sequence: int | None
    tx_hash: bytes | None

    def verifies(self) -> bool:
        return verify_proof(self.proof, self.root, self.leaf)

    def as_dict(self) -> dict[str, Any]:
        return {
            "record_uid": "0x" + self.record_uid.hex(),
            "subject_id": "0x" + self.subject_id.hex(),
            "category": self.category_bit,
            "salt": "0x" + self.salt.hex(),
            "ciphertext_digest": "0x" + self.ciphertext_digest.hex(),
            "leaf": "0x" + self.leaf.hex(),
            "proof": ["0x" + p.hex() for p in self.proof],
            "leaf_index": self.leaf_index,
            "batch_id": "0x" + self.batch_id.hex(),
            "root": "0x" + self.root.hex(),
            "anchored": self.anchored,
            "anchor_sequence": self.anchor_sequence,
            "tx_hash": None if self.tx_hash is None else "0x" + self.tx_hash.hex(),
        }


_READ_COLUMNS = (
    RECORDS.c.id,
    RECORDS.c.record_uid,
    RECORDS.c.subject_id,
    RECORDS.c.provider,
    RECORDS.c.category,
    RECORDS.c.batch_id,
    RECORDS.c.leaf_index,
    RECORDS.c.record_key_hash,
    RECORDS.c.sealed,
)


def read_subject_records(
    conn: Connection,
    settings: Settings,
    subject_id: bytes,
    *,
    categories: Iterable[str] | None = None,
    latest_only: bool = True,
    catalog: Catalog | None = None,
    keyring: SubjectKeyring | None = None,
) -> list[StoredRecord]:
    """The subject's records, decrypted, oldest first.

    ``latest_only`` keeps only the newest version of each (provider, category, record key).
    Raises CryptoError ``subject_shredded`` once the subject's key is destroyed.
    """
    catalog = catalog or default_catalog()
    keyring = keyring or SubjectKeyring(MasterKey.from_settings(settings))
    if categories is None:
        bits = list(catalog.category_bits)
    else:
        bits = [catalog.category(c).bit for c in categories]
    rows = conn.execute(
        select(*_READ_COLUMNS).where(_of_subject(subject_id, bits)).order_by(RECORDS.c.id)
    ).all()
    if not rows:
        return []
    aead = keyring.aead(conn, subject_id)
    if latest_only:
        newest: dict[tuple[str, int, bytes], Any] = {}
        for row in rows:
            newest[(row.provider, row.category, row.record_key_hash)] = row
        rows = sorted(newest.values(), key=lambda r: r.id)
    return [
        StoredRecord(
            record_uid=row.record_uid,
            subject_id=row.subject_id,
            provider=row.provider,
            category=catalog.category(row.category).name,
            batch_id=row.batch_id,
            leaf_index=row.leaf_index,
            fields=json.loads(open_record(aead, row.record_uid, row.subject_id, row.sealed)),
        )
        for row in rows
    ]


def read_record(
    conn: Connection,
    settings: Settings,
    record_uid: bytes,
    subject_id: bytes,
    *,
    catalog: Catalog | None = None,
) -> StoredRecord:
    """One of the subject's records, decrypted (records are found by subject and uid)."""
    catalog = catalog or default_catalog()
    row = conn.execute(
        select(*_READ_COLUMNS).where(
            _of_subject(subject_id, catalog.category_bits),
            RECORDS.c.record_uid == record_uid,
        )
    ).first()
    if row is None:
        raise _not_the_subjects(record_uid)
    aead = SubjectKeyring(MasterKey.from_settings(settings)).aead(conn, row.subject_id)
    return StoredRecord(
        record_uid=row.record_uid,
        subject_id=row.subject_id,
        provider=row.provider,
        category=catalog.category(row.category).name,
        batch_id=row.batch_id,
        leaf_index=row.leaf_index,
        fields=json.loads(open_record(aead, row.record_uid, row.subject_id, row.sealed)),
    )


def record_proof(conn: Connection, record_uid: bytes, subject_id: bytes) -> RecordProof:
    """The subject's record's leaf, stored inclusion proof and its batch's root and anchor.

    Looked up under every category bit, not only the catalog's: a record stays provable
    whatever later catalog versions hold."""
    row = conn.execute(
        select(
            RECORDS.c.record_uid,
            RECORDS.c.subject_id,
            RECORDS.c.category,
            RECORDS.c.salt,
            RECORDS.c.sealed,
            RECORDS.c.proof,
            RECORDS.c.leaf_index,
            RECORDS.c.batch_id,
            BATCHES.c.root,
            BATCHES.c.state,
            BATCHES.c.anchor_sequence,
            BATCHES.c.tx_hash,
        )
        .join(BATCHES, BATCHES.c.batch_id == RECORDS.c.batch_id)
        .where(_of_subject(subject_id, _EVERY_CATEGORY), RECORDS.c.record_uid == record_uid)
    ).first()
    if row is None:
        raise _not_the_subjects(record_uid)
    digest = hashlib.sha256(row.sealed).digest()
    return RecordProof(
        record_uid=row.record_uid,
        subject_id=row.subject_id,
        category_bit=row.category,
        salt=row.salt,
        ciphertext_digest=digest,
        leaf=record_leaf(row.salt, row.record_uid, row.subject_id, row.category, digest),
        proof=unpack_proof(row.proof),
        leaf_index=row.leaf_index,
        batch_id=row.batch_id,
        root=row.root,
        anchored=row.state == BatchState.ANCHORED,
        anchor_sequence=row.anchor_sequence,
        tx_hash=row.tx_hash,
    )


# Every bit a catalog category can have (the on-chain category bitmask is a uint256).
_EVERY_CATEGORY = tuple(range(MAX_CATEGORIES))


def _of_subject(subject_id: bytes, bits: Sequence[int]) -> ColumnElement[bool]:
    """The subject's records of those categories, as the records' unique (category, subject,
    uid) index finds them: naming the categories is what lets it seek instead of scan."""
    return and_(RECORDS.c.category.in_(list(bits)), RECORDS.c.subject_id == subject_id)


def _not_the_subjects(record_uid: bytes) -> NotFoundError:
    """A record looked up under a subject is missing, or is another subject's: the caller is
    told the same either way (the uid of someone else's record reveals nothing)."""
    return NotFoundError(
        f"no record 0x{record_uid.hex()} among the subject's", code="not_your_record"
    )


def stored_record_uids(
    conn: Connection, category: int, pairs: Sequence[tuple[bytes, bytes]]
) -> set[bytes]:
    """The uids among ``pairs`` ((subject id, record uid) of ``category``) that are stored.

    Each pair is looked up in the records' unique (category, subject, uid) index, a chunk of
    pairs per statement. On SQLite the pairs drive the join (``CROSS JOIN`` fixes the order;
    a row-value ``IN`` scans the whole index instead) and each chunk's uids come back as one
    JSON row (see ``ledger_api.store.bulk`` on fetching many rows while other threads run).
    """
    found: set[bytes] = set()
    if not pairs:
        return found
    per = max(1, min(IN_CHUNK, (variable_limit(conn) - 1) // 2))
    if conn.dialect.name == "sqlite":
        table = conn.dialect.identifier_preparer.format_table(RECORDS)
        tail = (
            f") SELECT json_group_array(hex(r.record_uid)) FROM wanted CROSS JOIN {table} AS r "
            "ON r.subject_id = wanted.s AND r.category = ? AND r.record_uid = wanted.u"
        )
        for start in range(0, len(pairs), per):
            part = pairs[start : start + per]
            sql = "WITH wanted(s, u) AS (VALUES " + ", ".join(["(?, ?)"] * len(part)) + tail
            packed = conn.exec_driver_sql(sql, (*as_blobs(chain.from_iterable(part)), category))
            found.update(bytes.fromhex(uid) for uid in orjson.loads(packed.scalar_one()))
        return found
    for start in range(0, len(pairs), per):
        wanted = values(column("s", Bytes), column("u", Bytes), name="wanted").data(
            list(pairs[start : start + per])
        )
        query = select(RECORDS.c.record_uid).select_from(
            wanted.join(
                RECORDS,
                and_(
                    RECORDS.c.subject_id == wanted.c.s,
                    RECORDS.c.category == category,
                    RECORDS.c.record_uid == wanted.c.u,
                ),
            )
        )
        found.update(conn.execute(query).scalars())
    return found


def subject_uscc(conn: Connection, settings: Settings, subject_id: bytes) -> str:
    """The USCC behind a pseudonymous subject id (from the encrypted subject directory)."""
    return SubjectKeyring(MasterKey.from_settings(settings)).uscc_of(conn, subject_id)
