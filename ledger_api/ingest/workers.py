"""The CPU-bound halves of ingestion, as pure functions a process pool can run on chunks.

Both the sequential path and the pool run exactly these functions, so their output is the
same bytes whichever path a batch takes:

``check_rows``  normalise, canonicalise and key-hash parsed rows (no batch-level state: the
                duplicate / repeated-key pass stays in the caller, in row order);
                ``check_lines`` the same for JSON lines, those in normal form decoded by
                ``StrictDecoder``;
``seal_rows``   AES-256-GCM under each subject's data key with nonces the caller drew, and
                the salted leaf hash of every sealed record; ``seal_subtrees`` also builds
                the Merkle trees over parts of a batch (the pool's way).

A pool worker is set up once (``init_worker``) with the catalog and the pseudonym key; raw
data keys travel with each sealing task (only the keys of that chunk's subjects). None of
them is ever logged or kept beyond the worker's life.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import suppress

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger_api.anchoring.keccak import keccak256_hasher
from ledger_api.anchoring.merkle import MerkleTree
from ledger_api.catalog.loader import Catalog, Category
from ledger_api.ingest.parse import ParsedRow, parse_jsonl_lines
from ledger_api.ingest.rows import Checked, PreparedRow, RefusedRow
from ledger_api.ingest.strict import StrictDecoder
from ledger_api.ingest.validate import FieldProblem, RowValidator, not_unicode_problem

_SUBJECT_CACHE = 1_000_000
_RECORD_AD = b"ccl/record/v1"

# Per worker process state (set by init_worker).
_catalog: Catalog | None = None
_pseudonym_key: bytes = b""
_checkers: dict[str, Checkers] = {}
_subjects: dict[str, bytes] = {}


# A category's row validator and strict decoder (both compiled once per category).
Checkers = tuple[RowValidator, StrictDecoder]


def category_checkers(cache: dict[str, Checkers], catalog: Catalog, category: Category) -> Checkers:
    """The validator and strict decoder of ``category``, from ``cache`` or made into it."""
    checkers = cache.get(category.name)
    if checkers is None:
        validator = RowValidator(catalog, category)
        checkers = cache[category.name] = (validator, StrictDecoder(validator))
    return checkers


# A row checked by the validator or the strict decoder: (row, USCC, record key, canonical
# JSON), or (row, reason) if refused.
_Normalised = tuple[int, str, str, bytes] | RefusedRow


def check_rows(
    validator: RowValidator,
    key: bytes,
    provider: str,
    rows: Iterable[ParsedRow],
    known_subjects: dict[str, bytes],
) -> list[Checked]:
    """Validate parsed rows one by one (pure per row, so chunks can run anywhere)."""
    return _keyed(validator, key, provider, _normalised(validator, rows), known_subjects)


def check_lines(
    validator: RowValidator,
    strict: StrictDecoder,
    key: bytes,
    provider: str,
    lines: Sequence[str],
    first: int,
    known_subjects: dict[str, bytes],
) -> list[Checked]:
    """``check_rows`` over JSON lines numbered from ``first``: lines in normal form through
    the strict decoder, the others parsed and validated (the same result, more slowly)."""
    return _keyed(
        validator, key, provider, _decoded(validator, strict, lines, first), known_subjects
    )


def _normalised(validator: RowValidator, rows: Iterable[ParsedRow]) -> Iterator[_Normalised]:
    normalise = validator.normalise
    encode = validator.canonical
    for number, raw, problem in rows:
        if raw is None:
            yield RefusedRow(number, problem or "unreadable row")
            continue
        try:
            row = normalise(raw)
        except FieldProblem as exc:
            yield RefusedRow(number, str(exc))
            continue
        try:
            payload = encode(row)
        except UnicodeEncodeError:  # JSON may escape a lone surrogate; UTF-8 can't hold one
            yield RefusedRow(number, not_unicode_problem(row))
            continue
        yield number, row["uscc"], row["record_key"], payload


def _decoded(
    validator: RowValidator, strict: StrictDecoder, lines: Sequence[str], first: int
) -> Iterator[_Normalised]:
    for number, (line, found) in enumerate(
        zip(lines, strict.canonical_lines(lines), strict=True), start=first
    ):
        if found is None:
            yield from _normalised(validator, parse_jsonl_lines([line], number))
        else:
            yield number, *found


def _keyed(
    validator: RowValidator,
    key: bytes,
    provider: str,
    rows: Iterable[_Normalised],
    known_subjects: dict[str, bytes],
) -> list[Checked]:
    """Checked rows: the record uid, subject id and keyed hashes of each valid row."""
    cat = validator.category
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
    for item in rows:
        if isinstance(item, RefusedRow):
            add(item)
            continue
        number, uscc, record_key, payload = item
        mac = rk_mac()
        mac.update(record_key.encode())
        key_hash = mac.digest()
        mac = content_mac()
        mac.update(payload)
        content = mac.digest()
        uid = sha256(prefix_uid + key_hash + content).digest()
        sid = known_subjects.get(uscc)
        if sid is None:
            # == identity.uscc.subject_id (HMAC-SHA256), minus re-validating the USCC
            sid = hmac_digest(key, uscc.encode(), "sha256")
            if len(known_subjects) < _SUBJECT_CACHE:
                known_subjects[uscc] = sid
        add(PreparedRow(number, uid, sid, uscc, key_hash, content, payload))
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


def init_worker(catalog: Catalog, pseudonym_key: bytes, idle_priority: bool) -> None:
    global _catalog, _pseudonym_key
    _catalog = catalog
    _pseudonym_key = pseudonym_key
    if idle_priority:
        run_at_idle_priority()
    _checkers.clear()
    _subjects.clear()
    # A forked worker inherits the parent's million objects; the cyclic collector would
    # walk them all in every full collection (and copy their pages). Tasks here create no
    # cycles worth collecting during the pool's life.
    gc.freeze()


def run_at_idle_priority() -> None:
    """Let every other runnable thread of the machine have a core before this process.

    The ingesting process's writer thread is the pipeline's critical path: it seals, stores
    and anchors every batch in turn, and waits for the workers only for the seal it needs
    next. A worker that shares the writer's core while the writer inserts delays every
    later batch; at idle priority it runs on what the writer and the rest of the machine
    leave, and has the core to itself whenever the writer waits for it (on 2 cores, 3 to 4%
    faster on average; see the README). Where Linux's ``SCHED_IDLE`` is not available, the
    lowest ``nice`` level.

    The price: while other processes keep every core busy (an API server under load), the
    workers nearly stop, and the ingestion with them: it yields to the interactive work.
    ``CCL_INGEST_WORKER_PRIORITY=normal`` keeps them at the ingesting process's priority.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        with suppress(AttributeError, OSError):
            os.nice(19)


def check_chunk(provider: str, category: str, lines: list[str], first: int) -> list[Checked]:
    """``check_lines`` over JSON lines numbered from ``first`` (in a pool worker)."""
    assert _catalog is not None, "pool worker not initialised"
    validator, strict = category_checkers(_checkers, _catalog, _catalog.category(category))
    return check_lines(validator, strict, _pseudonym_key, provider, lines, first, _subjects)


def _cipher_lookup(keys: Mapping[bytes, bytes]) -> Callable[[bytes], AESGCM]:
    """A subject's cipher from its raw key, made once per subject."""
    ciphers: dict[bytes, AESGCM] = {}

    def cipher_of(sid: bytes) -> AESGCM:
        aead = ciphers.get(sid)
        if aead is None:
            aead = ciphers[sid] = AESGCM(keys[sid])
        return aead

    return cipher_of


# A sealed subtree: salts, sealed values, the subtree's root and each leaf's packed proof up to
# it, in the order of its items.
SealedSubtree = tuple[list[bytes], list[bytes], bytes, list[bytes]]


def seal_subtrees(
    keys: Mapping[bytes, bytes],
    subtrees: Sequence[tuple[Sequence[tuple[bytes, bytes, bytes]], bytes]],
    category: int,
) -> list[SealedSubtree]:
    """``seal_rows`` over each subtree's ``(items, randomness)`` with raw data keys, and the
    Merkle tree over its leaves (in a pool worker; ``merkle.subtree_leaf_ranges`` says which
    leaves form a subtree).

    The proofs of a large batch are tens of MB: built here, beside the sealing, they leave
    the writer thread only the top of the tree to build.
    """
    cipher_of = _cipher_lookup(keys)
    sealed_subtrees = []
    for items, randomness in subtrees:
        salts, sealed_values, leaves = seal_rows(cipher_of, items, randomness, category)
        tree = MerkleTree(leaves)
        sealed_subtrees.append((salts, sealed_values, tree.root, tree.packed_proofs()))
    return sealed_subtrees


def pool_warmup() -> None:
    """A no-op task: submitting it starts the pool's workers."""
