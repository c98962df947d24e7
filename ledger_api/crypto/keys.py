"""Per-subject data keys in the ``subjects`` table: create, cache, rotate the master, shred."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, select, update

from ledger_api.crypto.envelope import (
    KEY_BYTES,
    new_data_keys,
    open_uscc,
    unwrap_data_key,
    wrap_data_key,
)
from ledger_api.errors import CryptoError, InputError, NotFoundError
from ledger_api.store.bulk import insert_columns, select_in
from ledger_api.store.models import KEY_EPOCH, SUBJECTS
from ledger_api.store.types import utcnow

_SUBJECTS = SUBJECTS
_KEY_EPOCH = KEY_EPOCH


@dataclass(frozen=True)
class MasterKey:
    key_id: str
    key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES:
            raise InputError("a master key is 32 bytes")
        if not self.key_id or len(self.key_id) > 64:
            raise InputError("a master key id is 1..64 characters")

    @classmethod
    def from_settings(cls, settings: object) -> MasterKey:
        return cls(
            key_id=str(getattr(settings, "master_key_id")),  # noqa: B009
            key=bytes(getattr(settings, "master_key_bytes")),  # noqa: B009
        )


def shredded_error(subject_id: bytes) -> CryptoError:
    return CryptoError(
        f"subject 0x{subject_id.hex()} was crypto-shredded: its records can no longer be read",
        code="subject_shredded",
    )


def read_key_epoch(conn: Connection, *, hold: bool = False) -> int:
    """The subjects' key epoch (see ``store.models.KeyEpoch``). ``hold``: until the caller's
    transaction ends, no key changes (PostgreSQL ``FOR SHARE``: a shred waits for it; SQLite
    has one writer, so a writing transaction holds it anyway)."""
    query = select(_KEY_EPOCH.c.epoch).where(_KEY_EPOCH.c.id == 1)
    if hold:
        query = query.with_for_update(read=True)
    return int(conn.execute(query).scalar_one())


class DataKeyCache:
    """Unwrapped data keys kept across operations (bounded, least recently used first out).

    An entry is keyed by what unwrapping depends on: the subject, the wrapping master key id
    and the wrapped bytes. Every entry was read from its row (or created and committed) at the
    cache's key epoch: while the database's epoch is the same, no key was shredded or
    re-wrapped since, and a keyring serves entries without reading their rows (``trusted``).
    A keyring that finds another epoch empties the cache (``at_epoch``) and reads every row.
    """

    def __init__(self, master: MasterKey, max_keys: int = 100_000) -> None:
        if max_keys < 1:
            raise InputError("a data key cache holds at least one key")
        self.master = master
        self.max_keys = max_keys
        self._entries: OrderedDict[bytes, tuple[str, bytes, AESGCM, bytes | None]] = OrderedDict()
        self._lock = threading.Lock()  # an ingestor's writer thread and its caller share it
        self._epoch: int | None = None  # the key epoch every entry is valid at

    def at_epoch(self, epoch: int) -> None:
        """The database's key epoch was just read as ``epoch``: entries of another epoch may
        be stale, so they all go."""
        with self._lock:
            if self._epoch != epoch:
                self._entries.clear()
                self._epoch = epoch

    def trusted(self, subject_id: bytes, epoch: int) -> tuple[AESGCM, bytes] | None:
        """The cached cipher and raw key, if the key epoch is still ``epoch`` (as read by the
        caller since :meth:`at_epoch`): no need to read the subject's row."""
        with self._lock:
            entry = self._entries.get(subject_id) if self._epoch == epoch else None
            if entry is None or entry[3] is None:
                return None
            self._entries.move_to_end(subject_id)
            return entry[2], entry[3]

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, subject_id: bytes, key_id: str, wrapped: bytes) -> AESGCM | None:
        found = self.lookup(subject_id, key_id, wrapped)
        return None if found is None else found[0]

    def lookup(
        self, subject_id: bytes, key_id: str, wrapped: bytes
    ) -> tuple[AESGCM, bytes | None] | None:
        """The cached cipher and its raw key (None if it was put without one)."""
        with self._lock:
            entry = self._entries.get(subject_id)
            if entry is None:
                return None
            if entry[0] != key_id or entry[1] != wrapped:
                del self._entries[subject_id]  # rotated or re-keyed: never serve the old key
                return None
            self._entries.move_to_end(subject_id)
            return entry[2], entry[3]

    def put(
        self,
        subject_id: bytes,
        key_id: str,
        wrapped: bytes,
        aead: AESGCM,
        raw: bytes | None = None,
        *,
        epoch: int | None = None,
    ) -> None:
        """Cache a key read from its row (or created and committed) at key ``epoch``; left out
        if the cache has moved on to another epoch meanwhile."""
        if key_id != self.master.key_id:
            return
        with self._lock:
            if epoch is not None and epoch != self._epoch:
                return
            self._entries[subject_id] = (key_id, wrapped, aead, raw)
            self._entries.move_to_end(subject_id)
            while len(self._entries) > self.max_keys:
                self._entries.popitem(last=False)

    def discard(self, subject_id: bytes) -> None:
        """Forget the subject's key (it was shredded)."""
        with self._lock:
            self._entries.pop(subject_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._epoch = None


@dataclass
class NewSubjects:
    """``subjects`` rows still to insert, column by column: keys created at ``created_at``
    under the master key ``key_id``."""

    key_id: str
    created_at: datetime
    subject_ids: list[bytes] = field(default_factory=list)
    wrapped_keys: list[bytes] = field(default_factory=list)
    usccs_sealed: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class SubjectKeys:
    """What :meth:`SubjectKeyring.keys_for` found or created for a set of subjects."""

    ciphers: dict[bytes, AESGCM]
    shredded: set[bytes]
    new_subjects: NewSubjects


def insert_subjects(conn: Connection, new: NewSubjects) -> None:
    """Insert new subjects' rows (from :class:`SubjectKeys`) in the caller's transaction."""
    insert_columns(
        conn,
        _SUBJECTS,
        {
            "subject_id": new.subject_ids,
            "wrapped_key": new.wrapped_keys,
            "uscc_sealed": new.usccs_sealed,
        },
        {"key_id": new.key_id, "created_at": new.created_at, "shredded_at": None},
    )


class SubjectKeyring:
    """Unwrapped per-subject AES-GCM objects, cached for the life of this keyring.

    Keep one keyring per operation (an ingest batch, a request): a key shredded elsewhere
    stays usable only in keyrings created before the shred. ``shared`` (a
    :class:`DataKeyCache` of the same master key) serves keys of earlier operations while the
    key epoch is unchanged, without reading their rows; ``epoch`` is the key epoch this
    keyring first read (None without ``shared``), for a writer to check in its transaction.
    """

    def __init__(self, master: MasterKey, shared: DataKeyCache | None = None) -> None:
        if shared is not None and shared.master != master:
            raise InputError("a shared data key cache belongs to one master key")
        self.master = master
        self.shared = shared
        self._cache: dict[bytes, AESGCM] = {}
        # Raw data keys of the cached ciphers, for sealing in worker processes (never logged).
        self._raw: dict[bytes, bytes] = {}
        self._shredded: set[bytes] = set()
        # (subject id, wrapped key) of the keys created here, for share_created.
        self._created: list[tuple[bytes, bytes]] = []
        self.epoch: int | None = None

    def aead(self, conn: Connection, subject_id: bytes) -> AESGCM:
        """The subject's cipher; CryptoError ``subject_shredded`` or NotFoundError if none."""
        cached = self._cache.get(subject_id)
        if cached is not None:
            return cached
        if subject_id in self._shredded:
            raise shredded_error(subject_id)
        self.load(conn, [subject_id])
        if subject_id in self._shredded:
            raise shredded_error(subject_id)
        try:
            return self._cache[subject_id]
        except KeyError:
            raise NotFoundError(f"no data key for subject 0x{subject_id.hex()}") from None

    def load(self, conn: Connection, subject_ids: Iterable[bytes]) -> None:
        """Unwrap the keys of those subjects that exist (reads their rows in chunks)."""
        wanted = [s for s in dict.fromkeys(subject_ids) if s not in self._cache]
        if not wanted:
            return
        shared = self.shared
        master = self.master
        epoch: int | None = None
        if shared is not None:
            # Read before the rows: a key changed in between leaves a later epoch in the
            # database, which the next reader (and this operation's writer) will see.
            epoch = read_key_epoch(conn)
            if self.epoch is None:
                self.epoch = epoch
            shared.at_epoch(epoch)
            unread = []
            for subject_id in wanted:
                trusted = shared.trusted(subject_id, epoch)
                if trusted is None:
                    unread.append(subject_id)
                else:
                    self._cache[subject_id], self._raw[subject_id] = trusted
            wanted = unread
            if not wanted:
                return
        rows = select_in(
            conn,
            _SUBJECTS,
            (_SUBJECTS.c.subject_id, _SUBJECTS.c.key_id, _SUBJECTS.c.wrapped_key),
            _SUBJECTS.c.subject_id,
            wanted,
        )
        for subject_id, key_id, wrapped in rows:
            if wrapped is None:
                self._shredded.add(subject_id)
                if shared is not None:
                    shared.discard(subject_id)
                continue
            if key_id != master.key_id:
                raise CryptoError(
                    f"data keys are wrapped under master key {key_id!r}, "
                    f"but the configured master key is {master.key_id!r}",
                    code="wrong_master_key",
                )
            found = None if shared is None else shared.lookup(subject_id, key_id, wrapped)
            if found is None or found[1] is None:
                raw = unwrap_data_key(master.key, key_id, subject_id, wrapped)
                aead = AESGCM(raw)
                if shared is not None:
                    shared.put(subject_id, key_id, wrapped, aead, raw, epoch=epoch)
            else:
                aead, raw = found[0], found[1]
            self._cache[subject_id] = aead
            self._raw[subject_id] = raw

    def is_shredded(self, subject_id: bytes) -> bool:
        return subject_id in self._shredded

    def keys_for(self, conn: Connection, subjects: Mapping[bytes, str]) -> SubjectKeys:
        """Keys for ``subjects`` (subject id -> USCC), creating new subjects' keys.

        Reads only: the rows of new subjects come back in ``new_subjects``, for the caller to
        insert in the transaction that stores what they encrypt (keys that were never stored
        encrypt nothing stored). Shredded subjects get no new key: their data stays erased.
        New keys reach the shared cache through :meth:`share_created`, once committed.
        """
        self.load(conn, subjects)
        master = self.master
        new = NewSubjects(master.key_id, utcnow())
        cache = self._cache
        shredded = self._shredded
        unknown = [
            (subject_id, uscc)
            for subject_id, uscc in subjects.items()
            if subject_id not in cache and subject_id not in shredded
        ]
        created = new_data_keys(master.key, master.key_id, unknown)
        for (subject_id, _uscc), (data_key, aead, wrapped, uscc_sealed) in zip(
            unknown, created, strict=True
        ):
            self._created.append((subject_id, wrapped))
            new.subject_ids.append(subject_id)
            new.wrapped_keys.append(wrapped)
            new.usccs_sealed.append(uscc_sealed)
            cache[subject_id] = aead
            self._raw[subject_id] = data_key
        return SubjectKeys(
            ciphers={s: cache[s] for s in subjects if s in cache},
            shredded={s for s in subjects if s in shredded},
            new_subjects=new,
        )

    def share_created(self) -> None:
        """Offer the keys :meth:`keys_for` created to the shared cache; call it once their
        subjects' rows are committed, so the next operation need not unwrap them again.

        (A keyring serves a cached key only while the row it reads holds the same wrapped
        bytes, so a key whose row was never stored would not be served anyway.)
        """
        if self.shared is not None:
            key_id = self.master.key_id
            for subject_id, wrapped in self._created:  # forget() drops these too: all cached
                aead, raw = self._cache[subject_id], self._raw[subject_id]
                self.shared.put(subject_id, key_id, wrapped, aead, raw, epoch=self.epoch)
        self._created.clear()

    def raw_keys(self, subject_ids: Iterable[bytes]) -> dict[bytes, bytes]:
        """The raw data keys of cached subjects (to seal in a worker process; keep secret)."""
        raw = self._raw
        return {s: raw[s] for s in subject_ids}

    def forget(self, subject_ids: Iterable[bytes] | None = None) -> None:
        """Drop cached keys (all when ``subject_ids`` is None), e.g. after a rollback."""
        if subject_ids is None:
            self._cache.clear()
            self._raw.clear()
            self._shredded.clear()
            self._created.clear()
            return
        forgotten = set(subject_ids)
        for s in forgotten:
            self._cache.pop(s, None)
            self._raw.pop(s, None)
        self._created = [c for c in self._created if c[0] not in forgotten]

    def uscc_of(self, conn: Connection, subject_id: bytes) -> str:
        aead = self.aead(conn, subject_id)
        sealed = conn.execute(
            select(_SUBJECTS.c.uscc_sealed).where(_SUBJECTS.c.subject_id == subject_id)
        ).scalar_one()
        return open_uscc(aead, subject_id, sealed)


def rotate_master_key(
    conn: Connection,
    old: MasterKey | Mapping[str, MasterKey],
    new: MasterKey,
    *,
    progress: Callable[[int, int | None], None] | None = None,
) -> int:
    """Re-wrap every live data key under ``new``; records are not touched.

    ``old`` is the current master key (or every retired key by id). Runs in the caller's
    transaction, so a failure leaves every key under its old master. Returns keys re-wrapped.
    """
    olds = {old.key_id: old} if isinstance(old, MasterKey) else dict(old)
    rows = conn.execute(
        select(_SUBJECTS.c.subject_id, _SUBJECTS.c.key_id, _SUBJECTS.c.wrapped_key).where(
            _SUBJECTS.c.wrapped_key.is_not(None), _SUBJECTS.c.key_id != new.key_id
        )
    ).all()
    total = len(rows)
    for done, (subject_id, key_id, wrapped) in enumerate(rows, start=1):
        master = olds.get(key_id)
        if master is None:
            raise CryptoError(
                f"subject 0x{subject_id.hex()} is wrapped under master key {key_id!r}, "
                "which was not supplied",
                code="wrong_master_key",
            )
        data_key = unwrap_data_key(master.key, key_id, subject_id, wrapped)
        conn.execute(
            update(_SUBJECTS)
            .where(_SUBJECTS.c.subject_id == subject_id)
            .values(
                key_id=new.key_id,
                wrapped_key=wrap_data_key(new.key, new.key_id, subject_id, data_key),
            )
        )
        if progress is not None and (done % 1000 == 0 or done == total):
            progress(done, total)
    return total


def shred_subject(conn: Connection, subject_id: bytes) -> bool:
    """Destroy the subject's data key (and sealed USCC). False if it was already shredded.

    Records stay in place, unreadable, so every anchored Merkle root still verifies.
    """
    row = conn.execute(
        select(_SUBJECTS.c.wrapped_key).where(_SUBJECTS.c.subject_id == subject_id)
    ).first()
    if row is None:
        raise NotFoundError(f"no subject 0x{subject_id.hex()}")
    if row.wrapped_key is None:
        return False
    conn.execute(
        update(_SUBJECTS)
        .where(_SUBJECTS.c.subject_id == subject_id)
        .values(wrapped_key=None, uscc_sealed=None, shredded_at=utcnow())
    )
    return True
