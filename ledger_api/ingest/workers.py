"""The CPU-bound halves of ingestion, as pure functions a process pool can run on chunks.

Both the sequential path and the pool run exactly these functions, so their output is the
same bytes whichever path a batch takes:

``check_rows``  normalise, canonicalise and key-hash parsed rows (no batch-level state: the
                duplicate / repeated-key pass stays in the caller, in row order);
``seal_rows``   AES-256-GCM under each subject's data key with nonces the caller drew, and
                the salted leaf hash of every sealed record.

A pool worker is set up once (``init_worker``) with the catalog and the pseudonym key; raw
data keys travel with each sealing task (only the keys of that chunk's subjects). None of
them is ever logged or kept beyond the worker's life.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger_api.anchoring.keccak import keccak256_hasher
from ledger_api.catalog.loader import Catalog
from ledger_api.ingest.parse import ParsedRow, parse_jsonl_lines
from ledger_api.ingest.validate import FieldProblem, RowValidator, not_unicode_problem

# A checked row: (row, uid, subject id, USCC, record key hash, content digest, payload);
# a refused row: (row, reason).
Checked = tuple[int, bytes, bytes, str, bytes, bytes, bytes] | tuple[int, str]

_SUBJECT_CACHE = 1_000_000
_RECORD_AD = b"ccl/record/v1"

# Per worker process state (set by init_worker).
_catalog: Catalog | None = None
_pseudonym_key: bytes = b""
_validators: dict[str, RowValidator] = {}
_subjects: dict[str, bytes] = {}


def check_rows(
    validator: RowValidator,
    key: bytes,
    provider: str,
    rows: Iterable[ParsedRow],
    known_subjects: dict[str, bytes],
) -> list[Checked]:
    """Validate parsed rows one by one (pure per row, so chunks can run anywhere)."""
    cat = validator.category
    normalise = validator.normalise
    encode = validator.canonical
    # Keyed hashes (BLAKE2b-256 MAC under the pseudonym key) so that nobody without the
    # key can test a guessed record key or content against the database. The keyed,
    # prefixed states are set up once and copied per row.
    rk_mac = hashlib.blake2b(
        f"rk\x00{provider}\x00{cat.bit}\x00".encode(), key=key, digest_size=32
    ).copy
    content_mac = hashlib.blake2b(key=key, digest_size=32, person=b"ccl/content").copy
    prefix_uid = f"uid\x00{provider}\x00{cat.bit}\x00".encode()
    sha256 = hashlib.sha256
    hmac_digest = hmac.digest
    out: list[Checked] = []
    add = out.append
    for number, raw, problem in rows:
        if raw is None:
            add((number, problem or "unreadable row"))
            continue
        try:
            row = normalise(raw)
        except FieldProblem as exc:
            add((number, str(exc)))
            continue
        try:
            payload = encode(row)
        except UnicodeEncodeError:  # JSON may escape a lone surrogate; UTF-8 can't hold one
            add((number, not_unicode_problem(row)))
            continue
        mac = rk_mac()
        mac.update(row["record_key"].encode())
        key_hash = mac.digest()
        mac = content_mac()
        mac.update(payload)
        content = mac.digest()
        uid = sha256(prefix_uid + key_hash + content).digest()
        uscc = row["uscc"]
        sid = known_subjects.get(uscc)
        if sid is None:
            # == identity.uscc.subject_id (HMAC-SHA256), minus re-validating the USCC
            sid = hmac_digest(key, uscc.encode(), "sha256")
            if len(known_subjects) < _SUBJECT_CACHE:
                known_subjects[uscc] = sid
        add((number, uid, sid, uscc, key_hash, content, payload))
    return out


def seal_rows(
    cipher_of: Callable[[bytes], AESGCM],
    items: Sequence[tuple[bytes, bytes, bytes]],
    randomness: bytes,
    category: int,
) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """Seal ``(uid, subject id, payload)`` items; ``randomness`` holds 44 bytes per item
    (32-byte salt, 12-byte nonce). Returns the salts, sealed values and leaves, in order."""
    sha256 = hashlib.sha256
    k = keccak256_hasher
    bit = category.to_bytes(32, "big")
    salts: list[bytes] = []
    sealed_values: list[bytes] = []
    leaves: list[bytes] = []
    add_salt = salts.append
    add_sealed = sealed_values.append
    add_leaf = leaves.append
    # Items come sorted by subject: look the cipher up once per run of the same subject.
    last_sid: bytes | None = None
    encrypt: Callable[[bytes, bytes, bytes | None], bytes] = _no_cipher
    off = 0
    for uid, sid, payload in items:
        if sid != last_sid:
            encrypt = cipher_of(sid).encrypt
            last_sid = sid
        salt = randomness[off : off + 32]
        nonce = randomness[off + 32 : off + 44]
        off += 44
        ids = uid + sid  # in the associated data and in the leaf
        sealed = nonce + encrypt(nonce, payload, _RECORD_AD + ids)
        add_salt(salt)
        add_sealed(sealed)
        add_leaf(k(k(salt + ids + bit + sha256(sealed).digest()).digest()).digest())
    return salts, sealed_values, leaves


def _no_cipher(nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
    raise AssertionError("no subject's cipher looked up yet")


# ---------------------------------------------------------------------- pool side


def init_worker(catalog: Catalog, pseudonym_key: bytes) -> None:
    global _catalog, _pseudonym_key
    _catalog = catalog
    _pseudonym_key = pseudonym_key
    _validators.clear()
    _subjects.clear()
    # A forked worker inherits the parent's million objects; the cyclic collector would
    # walk them all in every full collection (and copy their pages). Tasks here create no
    # cycles worth collecting during the pool's life.
    gc.freeze()


def check_chunk(provider: str, category: str, lines: list[str], first: int) -> list[Checked]:
    """``check_rows`` over JSON lines numbered from ``first`` (in a pool worker)."""
    assert _catalog is not None, "pool worker not initialised"
    validator = _validators.get(category)
    if validator is None:
        validator = _validators[category] = RowValidator(_catalog, _catalog.category(category))
    return check_rows(
        validator, _pseudonym_key, provider, parse_jsonl_lines(lines, first), _subjects
    )


def seal_chunk(
    keys: Mapping[bytes, bytes],
    items: Sequence[tuple[bytes, bytes, bytes]],
    randomness: bytes,
    category: int,
) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """``seal_rows`` with raw data keys (in a pool worker)."""
    ciphers: dict[bytes, AESGCM] = {}

    def cipher_of(sid: bytes) -> AESGCM:
        aead = ciphers.get(sid)
        if aead is None:
            aead = ciphers[sid] = AESGCM(keys[sid])
        return aead

    return seal_rows(cipher_of, items, randomness, category)


def pool_warmup() -> None:
    """A no-op task: submitting it starts the pool's workers."""
