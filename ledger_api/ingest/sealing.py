"""Sealing a validated batch: its new records encrypted under their subjects' keys, hashed
into leaves, and the batch's Merkle tree and proofs built. Reads the database, writes nothing.

A batch's sealing is begun (``Sealer.begin``: which records are new, their keys, the
randomness, and for a pooled batch its tasks submitted) and finished (``Sealer.finish``:
the pool's results collected, or the records sealed here). The two halves let the writer
do other work while the pool seals.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine

from ledger_api.anchoring.merkle import MerkleTree, join_subtrees, subtree_leaf_ranges
from ledger_api.crypto.keys import (
    DataKeyCache,
    MasterKey,
    NewSubjects,
    SubjectKeyring,
    SubjectKeys,
)
from ledger_api.ingest.batch import CheckedBatch, Progress
from ledger_api.ingest.pool import PriorityPool
from ledger_api.ingest.rows import PreparedRow
from ledger_api.ingest.validate import RowError
from ledger_api.ingest.workers import SealedSubtree, seal_rows, seal_subtrees
from ledger_api.store.records import stored_record_uids
from ledger_api.worker_count import balanced

# A value the bulk insert binds (store.bulk.as_blobs turns bytes into bytearray).
Blob = bytes | bytearray
# Records of a batch looked up before storing it without looking them all up (see begin).
PROBE_ROWS = 32
# A pooled batch's tree is built as the (up to) 16 subtrees this deep, dealt out to the workers.
SUBTREE_DEPTH = 4
# Salt (32 bytes) and AES-GCM nonce (12 bytes) drawn per record.
RANDOM_PER_RECORD = 44


@dataclass
class Sealed:
    """A batch's new records, encrypted and hashed, ready to be written (nothing written)."""

    records: dict[str, Sequence[Any]]  # records' columns but batch, provider, category; leaf order
    root: bytes | None
    manifest: bytes | None  # record uids in leaf order
    new_subjects: NewSubjects  # keys created for the batch, stored with it
    keyring: SubjectKeyring  # holds those keys (shared once the batch is committed)
    duplicates: int
    refused: list[RowError]  # rows of crypto-shredded subjects
    fresh: Sequence[PreparedRow] = ()  # the new records' rows (risk events are derived from)


class Submitted(NamedTuple):
    """A pooled batch's sealing tasks: subtrees' leaf ranges, the subtrees of each task, and
    the tasks' futures."""

    groups: list[list[range]]
    tasks: list[list[int]]
    futures: list[Any]  # Future[list[SealedSubtree]]


@dataclass
class SealJob:
    """A batch's sealing begun by ``Sealer.begin``: what ``Sealer.finish`` needs."""

    fresh: list[PreparedRow]  # the records to store, in leaf order
    keys: SubjectKeys
    keyring: SubjectKeyring
    duplicates: int
    refused: list[RowError]
    items: list[tuple[bytes, bytes, bytes]]  # (uid, subject id, payload): what the pool seals
    randomness: bytes
    bit: int
    submitted: Submitted | None  # the pool's tasks, if a pool seals the batch


class Sealer:
    """Seals batches with the subjects' keys under ``master``; a pool, when one runs, seals
    the batches of at least ``pool_rows`` records as ``workers`` tasks."""

    def __init__(
        self,
        engine: Engine,
        master: MasterKey,
        data_keys: DataKeyCache,
        *,
        chunk_size: int,
        pool_rows: int,
        workers: int,
    ) -> None:
        self.engine = engine
        self.master = master
        self.data_keys = data_keys
        self.chunk_size = chunk_size
        self.pool_rows = pool_rows
        self.workers = workers

    def begin(
        self, checked: CheckedBatch, pool: PriorityPool | None, *, look_up_all: bool
    ) -> SealJob:
        """Which records are new, their keys, their randomness; a pooled batch's tasks.

        Records already stored are left out if ``look_up_all`` or a probe of the batch finds
        some; otherwise inserting one fails on its unique key and the caller seals again
        with ``look_up_all``.
        """
        prepared = checked.prepared
        keyring = SubjectKeyring(self.master, self.data_keys)
        bit = checked.category.bit
        with self.engine.connect() as conn:
            subject_uids = [(p.subject_id, p.uid) for p in prepared]
            probe = subject_uids[:: max(1, len(subject_uids) // PROBE_ROWS)]
            if look_up_all or stored_record_uids(conn, bit, probe):
                already = stored_record_uids(conn, bit, subject_uids)
                fresh = [p for p in prepared if p.uid not in already]
            else:
                fresh = list(prepared)
            keys = keyring.keys_for(conn, {p.subject_id: p.uscc for p in fresh})
            if keys.shredded and not look_up_all:
                # A shredded subject's row is refused, unless it is a duplicate: look those up.
                shredded = [(p.subject_id, p.uid) for p in fresh if p.subject_id in keys.shredded]
                stored = stored_record_uids(conn, bit, shredded)
                fresh = [p for p in fresh if p.uid not in stored]
        duplicates = checked.duplicates + len(prepared) - len(fresh)
        refused: list[RowError] = []
        if keys.shredded:
            kept = []
            for p in fresh:
                if p.subject_id in keys.shredded:
                    refused.append(
                        RowError(p.row, "subject was crypto-shredded; no new records accepted")
                    )
                else:
                    kept.append(p)
            fresh = kept
        # Leaf order = subject order: the subject index then grows sequentially per batch.
        fresh.sort(key=attrgetter("subject_id"))
        # One urandom call for all salts/nonces (drawn here even when a pool seals, so both
        # paths store the same bytes).
        randomness = os.urandom(RANDOM_PER_RECORD * len(fresh))
        items = [(p.uid, p.subject_id, p.payload) for p in fresh]
        submitted = None
        if pool is not None and len(items) >= self.pool_rows:
            submitted = self._submit(pool, keyring, items, randomness, bit)
        return SealJob(fresh, keys, keyring, duplicates, refused, items, randomness, bit, submitted)

    def finish(
        self, job: SealJob, progress: Progress | None, meanwhile: Callable[[], None]
    ) -> Sealed:
        """``meanwhile`` runs while the pool seals (else before sealing here); then the
        batch's columns, root and proofs."""
        fresh = job.fresh
        n = len(fresh)
        if progress is not None:
            progress(0, 2 * n)  # sealing + storing
        meanwhile()
        root: bytes | None
        salts: Sequence[Blob]
        sealed_values: Sequence[Blob]
        proofs: Sequence[Blob]
        if job.submitted is not None:
            salts, sealed_values, root, proofs = self._collect(n, job.submitted)
        else:
            salts, sealed_values, leaves = self._seal_here(
                job.keys.ciphers, job.items, job.randomness, job.bit, progress
            )
            root, proofs = None, []
            if n:
                tree = MerkleTree(leaves)
                root, proofs = tree.root, tree.packed_proofs()
        if progress is not None and n:
            progress(n, 2 * n)
        uids = [p.uid for p in fresh]
        return Sealed(
            records={
                "record_uid": uids,
                "leaf_index": list(range(n)),
                "subject_id": [p.subject_id for p in fresh],
                "record_key_hash": [p.key_hash for p in fresh],
                "content_digest": [p.content for p in fresh],
                "salt": salts,
                "sealed": sealed_values,
                "proof": proofs,
            },
            root=root,
            manifest=b"".join(uids) if n else None,
            new_subjects=job.keys.new_subjects,
            keyring=job.keyring,
            duplicates=job.duplicates,
            refused=job.refused,
            fresh=fresh,
        )

    def _submit(
        self,
        pool: PriorityPool,
        keyring: SubjectKeyring,
        items: list[tuple[bytes, bytes, bytes]],
        randomness: bytes,
        bit: int,
    ) -> Submitted:
        """The pool's tasks sealing ``items`` (``_collect`` joins their results).

        The tree is built in parts (``subtree_leaf_ranges``): the workers seal and build
        whole subtrees, and the writer only joins their roots and extends their proofs. The
        subtrees are dealt out by size (``balanced``): one task a worker.
        """
        n = len(items)
        groups = subtree_leaf_ranges(n, min(SUBTREE_DEPTH, n.bit_length() - 1))
        sizes = [(g, sum(map(len, ranges))) for g, ranges in enumerate(groups)]
        tasks = balanced(sizes, self.workers)
        futures = []
        r = RANDOM_PER_RECORD
        for task in tasks:
            parts = []
            subjects: set[bytes] = set()
            for g in task:
                part = [item for rng in groups[g] for item in items[rng.start : rng.stop]]
                subjects.update(item[1] for item in part)
                drawn = b"".join(randomness[r * rng.start : r * rng.stop] for rng in groups[g])
                parts.append((part, drawn))
            futures.append(pool.submit(seal_subtrees, keyring.raw_keys(subjects), parts, bit))
        return Submitted(groups, tasks, futures)

    def _collect(
        self, n: int, submitted: Submitted
    ) -> tuple[list[Blob], list[Blob], bytes, list[Blob]]:
        """Salts, sealed values, root and proofs of the sealing ``_submit`` began."""
        groups, tasks, futures = submitted
        salts: list[Blob] = [b""] * n
        sealed_values: list[Blob] = [b""] * n
        proofs: list[Blob] = [b""] * n
        roots: list[bytes] = [b""] * len(groups)
        partial: list[list[bytes]] = [[] for _ in groups]
        for task, future in zip(tasks, futures, strict=True):
            subtrees: list[SealedSubtree] = future.result()
            for g, (part_salts, part_sealed, root, part_proofs) in zip(task, subtrees, strict=True):
                roots[g] = root
                partial[g] = part_proofs
                _place(salts, groups[g], part_salts)
                _place(sealed_values, groups[g], part_sealed)
        root, tops = join_subtrees(roots)
        # Each proof as the bytearray the insert binds (store.bulk.as_blobs), made in one
        # step rather than joined as bytes and copied again.
        join = bytearray().join
        for ranges, part_proofs, top in zip(groups, partial, tops, strict=True):
            _place(proofs, ranges, [join((p, top)) for p in part_proofs])
        return salts, sealed_values, root, proofs

    def _seal_here(
        self,
        ciphers: dict[bytes, AESGCM],
        items: list[tuple[bytes, bytes, bytes]],
        randomness: bytes,
        bit: int,
        progress: Progress | None,
    ) -> tuple[list[bytes], list[bytes], list[bytes]]:
        n = len(items)
        r = RANDOM_PER_RECORD
        salts: list[bytes] = []
        sealed_values: list[bytes] = []
        leaves: list[bytes] = []
        step = max(self.chunk_size, 1)
        for start in range(0, n, step):
            end = min(start + step, n)
            part = seal_rows(
                ciphers.__getitem__, items[start:end], randomness[r * start : r * end], bit
            )
            salts += part[0]
            sealed_values += part[1]
            leaves += part[2]
            if progress is not None and end < n:
                progress(end, 2 * n)
        return salts, sealed_values, leaves


def _place(out: list[Blob], ranges: list[range], values: Sequence[Blob]) -> None:
    """Put a subtree's ``values`` (in its leaves' order) at its leaves' indexes in ``out``."""
    start = 0
    for r in ranges:
        out[r.start : r.stop] = values[start : start + len(r)]
        start += len(r)
