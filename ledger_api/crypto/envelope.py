"""AES-256-GCM primitives with associated data that binds every ciphertext to its place.

Sealed values are ``nonce (12 bytes) || ciphertext || tag``. The associated data of a record is
its record uid and subject id, so a ciphertext copied to another row or subject fails to open;
a wrapped data key is bound to its subject and to the master key id that wrapped it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger_api.errors import CryptoError

KEY_BYTES = 32
NONCE_BYTES = 12
_RECORD_AD = b"ccl/record/v1"
_USCC_AD = b"ccl/uscc/v1"
_WRAP_AD = b"ccl/data-key/v1"


def record_associated_data(record_uid: bytes, subject_id: bytes) -> bytes:
    return _RECORD_AD + record_uid + subject_id


def seal_record(
    aead: AESGCM, record_uid: bytes, subject_id: bytes, plaintext: bytes, nonce: bytes | None = None
) -> bytes:
    nonce = os.urandom(NONCE_BYTES) if nonce is None else nonce
    return nonce + aead.encrypt(nonce, plaintext, _RECORD_AD + record_uid + subject_id)


def open_record(aead: AESGCM, record_uid: bytes, subject_id: bytes, sealed: bytes) -> bytes:
    try:
        return aead.decrypt(
            sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _RECORD_AD + record_uid + subject_id
        )
    except (InvalidTag, ValueError):
        raise CryptoError(
            f"record 0x{record_uid.hex()} does not decrypt: ciphertext altered or moved",
            code="decryption_failed",
        ) from None


def seal_uscc(aead: AESGCM, subject_id: bytes, uscc: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + aead.encrypt(nonce, uscc.encode(), _USCC_AD + subject_id)


def open_uscc(aead: AESGCM, subject_id: bytes, sealed: bytes) -> str:
    try:
        return aead.decrypt(
            sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _USCC_AD + subject_id
        ).decode()
    except (InvalidTag, ValueError):
        raise CryptoError(
            "subject directory entry does not decrypt", code="decryption_failed"
        ) from None


def wrap_data_key(master: bytes, key_id: str, subject_id: bytes, data_key: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(master).encrypt(nonce, data_key, _WRAP_AD + key_id.encode() + subject_id)


def new_data_keys(
    master: bytes, key_id: str, subjects: Sequence[tuple[bytes, str]]
) -> list[tuple[bytes, AESGCM, bytes, bytes]]:
    """A fresh data key for each ``(subject id, USCC)``: the raw key, its cipher, the key
    wrapped as ``wrap_data_key`` wraps it and the USCC sealed as ``seal_uscc`` seals it.

    One draw of randomness and one master-key cipher serve all of them: a first batch
    creates thousands of subjects, and per key those cost about 40% of the time.
    """
    wrap = AESGCM(master).encrypt
    wrap_ad = _WRAP_AD + key_id.encode()
    per_key = KEY_BYTES + 2 * NONCE_BYTES
    randomness = os.urandom(per_key * len(subjects))
    created = []
    for i, (subject_id, uscc) in enumerate(subjects):
        offset = per_key * i
        data_key = randomness[offset : offset + KEY_BYTES]
        wrap_nonce = randomness[offset + KEY_BYTES : offset + KEY_BYTES + NONCE_BYTES]
        uscc_nonce = randomness[offset + KEY_BYTES + NONCE_BYTES : offset + per_key]
        aead = AESGCM(data_key)
        created.append(
            (
                data_key,
                aead,
                wrap_nonce + wrap(wrap_nonce, data_key, wrap_ad + subject_id),
                uscc_nonce + aead.encrypt(uscc_nonce, uscc.encode(), _USCC_AD + subject_id),
            )
        )
    return created


def unwrap_data_key(master: bytes, key_id: str, subject_id: bytes, wrapped: bytes) -> bytes:
    try:
        return AESGCM(master).decrypt(
            wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _WRAP_AD + key_id.encode() + subject_id
        )
    except (InvalidTag, ValueError):
        raise CryptoError(
            f"data key of subject 0x{subject_id.hex()} does not unwrap under master key {key_id!r}",
            code="unwrap_failed",
        ) from None
