"""What the data plane needs from the chain: anchor a Merkle root, and ask whether one is.

The chain-backed implementation lives in ``ledger_api.chain``; :class:`InMemoryAnchorer` is the
in-process twin used by tests and by the benchmark's in-process mode.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ledger_api.chain.types import AnchorKind
from ledger_api.errors import ConflictError, InputError

# One enum for the chain and the data plane (the Solidity order is the ABI).
__all__ = [
    "AnchorKind",
    "AnchorReceipt",
    "AnchoredRoot",
    "Anchorer",
    "GroupAnchorer",
    "InMemoryAnchorer",
    "PendingAnchor",
]


@dataclass(frozen=True)
class AnchorReceipt:
    """The transaction that anchored ``root``: where and when the chain recorded it."""

    root: bytes
    sequence: int
    block_number: int
    tx_hash: bytes
    anchored_at: int | None = None  # the block's timestamp (UTC seconds), if known


@dataclass(frozen=True)
class AnchoredRoot:
    root: bytes
    kind: AnchorKind
    leaf_count: int
    sequence: int
    submitter: str


@dataclass(frozen=True)
class PendingAnchor:
    """An anchor sent and not yet confirmed; ``handle`` is the anchorer's own."""

    root: bytes
    handle: object


class Anchorer(Protocol):
    def anchor(
        self, kind: AnchorKind, root: bytes, leaf_count: int, reference: bytes
    ) -> AnchorReceipt: ...  # reference: 32-byte batch id

    def send_anchor(
        self, kind: AnchorKind, root: bytes, leaf_count: int, reference: bytes
    ) -> PendingAnchor:
        """``anchor`` without waiting for the chain: ``confirm_anchor`` waits and returns its
        receipt (or raises what ``anchor`` would). Several can be pending at once."""
        ...

    def confirm_anchor(self, pending: PendingAnchor) -> AnchorReceipt: ...

    def anchored(self, root: bytes) -> AnchoredRoot | None:
        """The contract's record of ``root`` (one state read), or None if not anchored."""
        ...

    def anchor_transaction(self, root: bytes) -> AnchorReceipt | None:
        """The transaction that anchored ``root``, searched for on chain (slower than
        ``anchored``: for recovering an anchor whose receipt was lost). None if not anchored,
        or if the node no longer holds the transaction's logs."""
        ...


@runtime_checkable
class GroupAnchorer(Anchorer, Protocol):
    """An anchorer that can put several roots in one transaction (each root still anchored
    exactly as ``send_anchor`` would anchor it, with its own sequence)."""

    def send_anchors(
        self, kind: AnchorKind, items: Sequence[tuple[bytes, int, bytes]]
    ) -> list[PendingAnchor]:
        """``send_anchor`` for each ``(root, leaf_count, reference)``, in one transaction; one
        pending anchor per item. A root anchored before is not anchored again: confirming its
        pending anchor raises ConflictError, as ``send_anchor`` would have."""
        ...


class InMemoryAnchorer:
    """An :class:`Anchorer` holding its anchors in a dict; one "block" per anchor.

    Like the contract, it refuses to anchor a root twice (``ConflictError``).
    """

    def __init__(self, submitter: str = "0x" + "00" * 20) -> None:
        self._submitter = submitter
        self._roots: dict[bytes, AnchoredRoot] = {}
        self._references: dict[bytes, bytes] = {}
        self._receipts: dict[bytes, AnchorReceipt] = {}
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
            )
            self._references[root] = reference
            tx_hash = hashlib.sha256(b"tx" + sequence.to_bytes(8, "big") + root).digest()
            receipt = self._receipts[root] = AnchorReceipt(
                root=root,
                sequence=sequence,
                block_number=sequence,
                tx_hash=tx_hash,
                anchored_at=int(time.time()),
            )
        return receipt

    def send_anchor(
        self, kind: AnchorKind, root: bytes, leaf_count: int, reference: bytes
    ) -> PendingAnchor:
        """Anchors at once (there is no block to wait for)."""
        return PendingAnchor(root, self.anchor(kind, root, leaf_count, reference))

    def confirm_anchor(self, pending: PendingAnchor) -> AnchorReceipt:
        assert isinstance(pending.handle, AnchorReceipt)
        return pending.handle

    def anchored(self, root: bytes) -> AnchoredRoot | None:
        with self._lock:
            return self._roots.get(root)

    def anchor_transaction(self, root: bytes) -> AnchorReceipt | None:
        with self._lock:
            return self._receipts.get(root)

    def reference_of(self, root: bytes) -> bytes | None:
        with self._lock:
            return self._references.get(root)

    def __len__(self) -> int:
        return len(self._roots)
