"""What the data plane needs from the chain: anchor a Merkle root, and ask whether one is.

The chain-backed implementation lives in ``ledger_api.chain``; :class:`InMemoryAnchorer` is the
in-process twin used by tests and by the benchmark's in-process mode.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Protocol

from ledger_api.errors import ConflictError, InputError


class AnchorKind(IntEnum):  # matches the Solidity enum order
    DATA_BATCH = 0
    ACCESS_LOG = 1
    CATALOG_VERSION = 2
    RECORD_STATUS = 3


@dataclass(frozen=True)
class AnchorReceipt:
    root: bytes
    sequence: int
    block_number: int
    tx_hash: bytes


@dataclass(frozen=True)
class AnchoredRoot:
    root: bytes
    kind: AnchorKind
    leaf_count: int
    sequence: int
    submitter: str
    anchored_at: int


class Anchorer(Protocol):
    def anchor(
        self, kind: AnchorKind, root: bytes, leaf_count: int, reference: bytes
    ) -> AnchorReceipt: ...  # reference: 32-byte batch id

    def anchored(self, root: bytes) -> AnchoredRoot | None: ...


class InMemoryAnchorer:
    """An :class:`Anchorer` holding its anchors in a dict; one "block" per anchor.

    Like the contract, it refuses to anchor a root twice (``ConflictError``).
    """

    def __init__(self, submitter: str = "0x" + "00" * 20) -> None:
        self._submitter = submitter
        self._roots: dict[bytes, AnchoredRoot] = {}
        self._references: dict[bytes, bytes] = {}
        self._lock = threading.Lock()
        self.calls = 0  # anchor transactions sent, for tests

    def anchor(
        self, kind: AnchorKind, root: bytes, leaf_count: int, reference: bytes
    ) -> AnchorReceipt:
        if len(root) != 32 or len(reference) != 32:
            raise InputError("root and reference must be 32 bytes")
        if leaf_count <= 0:
            raise InputError("leaf_count must be positive")
        with self._lock:
            self.calls += 1
            if root in self._roots:
                raise ConflictError(f"root 0x{root.hex()} is already anchored", code="root_exists")
            sequence = len(self._roots) + 1
            self._roots[root] = AnchoredRoot(
                root=root,
                kind=AnchorKind(kind),
                leaf_count=leaf_count,
                sequence=sequence,
                submitter=self._submitter,
                anchored_at=int(time.time()),
            )
            self._references[root] = reference
        tx_hash = hashlib.sha256(b"tx" + sequence.to_bytes(8, "big") + root).digest()
        return AnchorReceipt(root=root, sequence=sequence, block_number=sequence, tx_hash=tx_hash)

    def anchored(self, root: bytes) -> AnchoredRoot | None:
        with self._lock:
            return self._roots.get(root)

    def reference_of(self, root: bytes) -> bytes | None:
        with self._lock:
            return self._references.get(root)

    def __len__(self) -> int:
        return len(self._roots)


class FileAnchorer(InMemoryAnchorer):
    """Development stand-in that persists its anchors to a JSON file.

    Lets the CLI (``ccl ingest`` then ``ccl verify``) work across processes before the
    chain-backed anchorer is configured. Not a security boundary: whoever can write the
    file can forge anchors. Embedded mode only.
    """

    def __init__(self, path: Path, submitter: str = "0x" + "00" * 20) -> None:
        super().__init__(submitter)
        self.path = path
        if path.exists():
            try:
                document = json.loads(path.read_text())
                for entry in document["anchors"]:
                    root = bytes.fromhex(entry["root"])
                    self._roots[root] = AnchoredRoot(
                        root=root,
                        kind=AnchorKind(entry["kind"]),
                        leaf_count=entry["leaf_count"],
                        sequence=entry["sequence"],
                        submitter=entry["submitter"],
                        anchored_at=entry["anchored_at"],
                    )
                    self._references[root] = bytes.fromhex(entry["reference"])
            except (OSError, ValueError, KeyError) as exc:
                raise InputError(f"anchor file {path} is unreadable: {exc}") from None

    def anchor(
        self, kind: AnchorKind, root: bytes, leaf_count: int, reference: bytes
    ) -> AnchorReceipt:
        receipt = super().anchor(kind, root, leaf_count, reference)
        self._save()
        return receipt

    def _save(self) -> None:
        with self._lock:
            entries = [
                {
                    "root": a.root.hex(),
                    "kind": int(a.kind),
                    "leaf_count": a.leaf_count,
                    "sequence": a.sequence,
                    "submitter": a.submitter,
                    "anchored_at": a.anchored_at,
                    "reference": self._references[a.root].hex(),
                }
                for a in sorted(self._roots.values(), key=lambda a: a.sequence)
            ]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"anchors": entries}, indent=1))
        os.replace(tmp, self.path)
