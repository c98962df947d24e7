"""Data-plane models: subjects (key directory), catalog versions, ingest batches, records.

No column holds a plaintext field value or USCC: subjects are keyed by the pseudonymous subject
id, record keys and contents appear only as keyed hashes, and everything else is ciphertext.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ledger_api.store.base import Base
from ledger_api.store.types import BigId, Bytes, UTCDateTime, utcnow


class Subject(Base):
    """One enterprise: its wrapped data key and its sealed USCC (the encrypted directory)."""

    __tablename__ = "subjects"

    subject_id: Mapped[bytes] = mapped_column(Bytes, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64), index=True)  # master key wrapping the data key
    wrapped_key: Mapped[bytes | None] = mapped_column(Bytes)  # NULL once shredded
    uscc_sealed: Mapped[bytes | None] = mapped_column(Bytes)  # nonce || AES-GCM(USCC)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    shredded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class KeyEpoch(Base):
    """One row counting changes to subjects' keys: bumped by database triggers (migration
    0007) on every update of a wrapped key or its master key id and every delete of a subject.

    A cache of unwrapped data keys that has seen epoch N holds nothing stale while the epoch
    is still N, so it need not read each subject's row again; a writer that reads the epoch
    in its transaction knows no key it used was shredded or re-wrapped meanwhile. New
    subjects do not bump it (they change no key anyone holds).
    """

    __tablename__ = "key_epoch"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    epoch: Mapped[int] = mapped_column(BigInteger)


class CatalogVersion(Base):
    __tablename__ = "catalog_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    catalog_hash: Mapped[bytes] = mapped_column(Bytes, unique=True)
    document: Mapped[str] = mapped_column(Text)  # the canonical JSON that was hashed
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    anchor_sequence: Mapped[int | None] = mapped_column(BigInteger)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    tx_hash: Mapped[bytes | None] = mapped_column(Bytes)
    # The anchor journal's state: pending -> sent -> anchored (ledger_api.anchoring.journal).
    state: Mapped[str] = mapped_column(String(16), default="anchored", server_default="anchored")


class BatchState:
    """Persisted ingestion states, in order. A crash leaves a batch in one of them."""

    VALIDATED = "validated"  # batch row written; records not yet committed
    STORED = "stored"  # records, proofs and root committed atomically
    ANCHOR_SENT = "anchor_sent"  # about to / did send the anchor transaction
    ANCHORED = "anchored"  # receipt recorded: done
    EMPTY = "empty"  # nothing new to store (all rows rejected or already stored): done

    DONE = (ANCHORED, EMPTY)
    PENDING = (VALIDATED, STORED, ANCHOR_SENT)


class IngestBatch(Base):
    __tablename__ = "ingest_batches"

    batch_id: Mapped[bytes] = mapped_column(Bytes, primary_key=True)  # content hash
    provider: Mapped[str] = mapped_column(String(64))
    category: Mapped[int] = mapped_column(SmallInteger)  # catalog bit
    catalog_version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)
    rows_total: Mapped[int] = mapped_column(Integer)
    rows_accepted: Mapped[int] = mapped_column(Integer)  # new records stored by this batch
    rows_duplicate: Mapped[int] = mapped_column(Integer)
    rows_rejected: Mapped[int] = mapped_column(Integer)
    root: Mapped[bytes | None] = mapped_column(Bytes, unique=True)
    leaf_count: Mapped[int] = mapped_column(Integer, default=0)
    manifest: Mapped[bytes | None] = mapped_column(Bytes)  # record uids in leaf order
    tx_hash: Mapped[bytes | None] = mapped_column(Bytes)
    anchor_sequence: Mapped[int | None] = mapped_column(BigInteger)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    anchored_at: Mapped[int | None] = mapped_column(BigInteger)  # chain time, UTC seconds
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Record(Base):
    """One stored record: ciphertext, its salted Merkle leaf inputs and inclusion proof.

    ``record_uid`` is a keyed hash of (provider, category, record key, content digest), and the
    content holds the USCC: a uid determines its subject and category. Unique (category,
    subject, uid) is therefore unique uid, the "same record stored once" rule, and the same
    index serves a subject's reads, which name the categories they want (a grant's scope is a
    set of categories; "all" is the catalog's). Category first: a batch holds one category,
    so its entries go into one range of the index instead of next to every subject's older
    records across the whole index (migration 0006). There is no second index on the uid
    alone: it would cost every insert a random B-tree insertion. Look a record up by uid with
    its subject (``stored_record_uids``, ``record_proof``).
    """

    __tablename__ = "records"
    __table_args__ = (
        UniqueConstraint("batch_id", "leaf_index"),
        UniqueConstraint("category", "subject_id", "record_uid"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    record_uid: Mapped[bytes] = mapped_column(Bytes)
    batch_id: Mapped[bytes] = mapped_column(Bytes, ForeignKey("ingest_batches.batch_id"))
    leaf_index: Mapped[int] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(String(64))
    category: Mapped[int] = mapped_column(SmallInteger)
    subject_id: Mapped[bytes] = mapped_column(Bytes)
    record_key_hash: Mapped[bytes] = mapped_column(Bytes)  # keyed hash of the provider's key
    content_digest: Mapped[bytes] = mapped_column(Bytes)  # keyed hash of the canonical content
    salt: Mapped[bytes] = mapped_column(Bytes)
    sealed: Mapped[bytes] = mapped_column(Bytes)  # nonce || AES-256-GCM ciphertext+tag
    proof: Mapped[bytes] = mapped_column(Bytes)  # concatenated 32-byte siblings


# Typed Core handles for the bulk paths (no ORM object per row there).
SUBJECTS = cast(Table, Subject.__table__)
KEY_EPOCH = cast(Table, KeyEpoch.__table__)
CATALOG_VERSIONS = cast(Table, CatalogVersion.__table__)
BATCHES = cast(Table, IngestBatch.__table__)
RECORDS = cast(Table, Record.__table__)
