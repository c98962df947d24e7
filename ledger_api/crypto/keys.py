"""Per-subject data keys in the ``subjects`` table: create, cache, rotate the master, shred."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, select, update

from ledger_api.crypto.envelope import (
    KEY_BYTES,
    open_uscc,
    seal_uscc,
    unwrap_data_key,
    wrap_data_key,
)
from ledger_api.errors import CryptoError, InputError, NotFoundError
from ledger_api.store.models import SUBJECTS
from ledger_api.store.types import utcnow

_SUBJECTS = SUBJECTS
_IN_CHUNK = 500  # bound parameter lists well under SQLite's limit


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


class SubjectKeyring:
    """Unwrapped per-subject AES-GCM objects, cached for the life of this keyring.

    Keep one keyring per operation (an ingest batch, a request): a key shredded elsewhere
    stays usable only in keyrings created before the shred.
    """

    def __init__(self, master: MasterKey) -> None:
        self.master = master
        self._cache: dict[bytes, AESGCM] = {}
        self._shredded: set[bytes] = set()

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
        """Unwrap the keys of those subjects that exist (one query per 500 ids)."""
        wanted = [s for s in dict.fromkeys(subject_ids) if s not in self._cache]
        for i in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[i : i + _IN_CHUNK]
            rows = conn.execute(
                select(_SUBJECTS.c.subject_id, _SUBJECTS.c.key_id, _SUBJECTS.c.wrapped_key).where(
                    _SUBJECTS.c.subject_id.in_(chunk)
                )
            )
            for subject_id, key_id, wrapped in rows:
                if wrapped is None:
                    self._shredded.add(subject_id)
                    continue
                if key_id != self.master.key_id:
                    raise CryptoError(
                        f"data keys are wrapped under master key {key_id!r}, "
                        f"but the configured master key is {self.master.key_id!r}",
                        code="wrong_master_key",
                    )
                self._cache[subject_id] = AESGCM(
                    unwrap_data_key(self.master.key, key_id, subject_id, wrapped)
                )

    def is_shredded(self, subject_id: bytes) -> bool:
        return subject_id in self._shredded

    def ensure(
        self, conn: Connection, subjects: Mapping[bytes, str]
    ) -> tuple[dict[bytes, AESGCM], set[bytes]]:
        """Keys for ``subjects`` (subject id -> USCC), creating new subjects' keys.

        Returns the ciphers and the set of shredded subjects (which get no new key: a
        shredded subject's data stays erased). New subject rows are inserted on ``conn``
        in the caller's transaction.
        """
        self.load(conn, subjects)
        new_rows = []
        now = utcnow()
        for subject_id, uscc in subjects.items():
            if subject_id in self._cache or subject_id in self._shredded:
                continue
            data_key = AESGCM.generate_key(bit_length=256)
            aead = AESGCM(data_key)
            new_rows.append(
                {
                    "subject_id": subject_id,
                    "key_id": self.master.key_id,
                    "wrapped_key": wrap_data_key(
                        self.master.key, self.master.key_id, subject_id, data_key
                    ),
                    "uscc_sealed": seal_uscc(aead, subject_id, uscc),
                    "created_at": now,
                    "shredded_at": None,
                }
            )
            self._cache[subject_id] = aead
        if new_rows:
            conn.execute(_SUBJECTS.insert(), new_rows)
        ciphers = {s: self._cache[s] for s in subjects if s in self._cache}
        return ciphers, {s for s in subjects if s in self._shredded}

    def forget(self, subject_ids: Iterable[bytes] | None = None) -> None:
        """Drop cached keys (all when ``subject_ids`` is None), e.g. after a rollback."""
        if subject_ids is None:
            self._cache.clear()
            self._shredded.clear()
            return
        for s in subject_ids:
            self._cache.pop(s, None)

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
