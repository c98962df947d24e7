"""The data plane's ``Anchorer`` on the ledger contract: one transaction per Merkle root, or
several roots in one transaction (``anchorMany``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from web3.types import TxReceipt

from ledger_api.anchoring.anchorer import AnchoredRoot, AnchorKind, AnchorReceipt, PendingAnchor
from ledger_api.chain.ledger import Ledger
from ledger_api.chain.revert import ContractRevert
from ledger_api.chain.transactor import SentTransaction, Transactor
from ledger_api.chain.types import AnchorKind as ChainAnchorKind
from ledger_api.errors import ConflictError, InputError, IntegrityError
from ledger_api.settings import Settings


@dataclass
class _AnchorGroup:
    """One ``anchorMany`` transaction shared by its roots' pending anchors; mined once (the
    roots' sequences, the receipt and its block's time, looked up once for all roots)."""

    sent: SentTransaction
    mined: tuple[dict[bytes, int], TxReceipt, int] | None = field(default=None)


class ChainAnchorer:
    """Implements ``ledger_api.anchoring.anchorer.GroupAnchorer``; ``transactor`` pays the gas.

    DATA_BATCH roots need a sender with PROVIDER_ROLE, the other kinds OPERATOR_ROLE.
    """

    def __init__(self, ledger: Ledger, transactor: Transactor) -> None:
        self.ledger = ledger
        self.transactor = transactor

    def anchor(
        self, kind: AnchorKind, root: bytes, leaf_count: int, reference: bytes
    ) -> AnchorReceipt:
        return self.confirm_anchor(self.send_anchor(kind, root, leaf_count, reference))

    def send_anchor(
        self, kind: AnchorKind, root: bytes, leaf_count: int, reference: bytes
    ) -> PendingAnchor:
        if len(root) != 32 or len(reference) != 32:
            raise InputError("root and reference must be 32 bytes")
        with _root_conflicts():  # eth-tester executes a transaction when it is sent
            sent = self.ledger.send_anchor(
                self.transactor, ChainAnchorKind(int(kind)), root, leaf_count, reference
            )
        return PendingAnchor(root, sent)

    def send_anchors(
        self, kind: AnchorKind, items: Sequence[tuple[bytes, int, bytes]]
    ) -> list[PendingAnchor]:
        if not items:
            return []
        if any(len(root) != 32 or len(reference) != 32 for root, _n, reference in items):
            raise InputError("roots and references must be 32 bytes")
        group = _AnchorGroup(
            self.ledger.send_anchors(self.transactor, ChainAnchorKind(int(kind)), list(items))
        )
        return [PendingAnchor(root, group) for root, _n, _r in items]

    def confirm_anchor(self, pending: PendingAnchor) -> AnchorReceipt:
        if isinstance(pending.handle, _AnchorGroup):
            return self._confirm_grouped(pending.root, pending.handle)
        assert isinstance(pending.handle, SentTransaction)
        with _root_conflicts():  # a node reports a revert in the receipt
            sequence, receipt = self.ledger.confirm_anchor(self.transactor, pending.handle)
        return self._receipt(pending.root, sequence, receipt, self._block_time(receipt))

    def _confirm_grouped(self, root: bytes, group: _AnchorGroup) -> AnchorReceipt:
        if group.mined is None:
            sequences, receipt = self.ledger.confirm_anchors(self.transactor, group.sent)
            group.mined = sequences, receipt, self._block_time(receipt)
        sequences, receipt, anchored_at = group.mined
        sequence = sequences.get(root)
        if sequence is None:  # anchorMany skips a root anchored before, as anchor refuses it
            raise ConflictError(f"root 0x{root.hex()} is already anchored", code="root_exists")
        return self._receipt(root, sequence, receipt, anchored_at)

    def _block_time(self, receipt: TxReceipt) -> int:
        return self.ledger.block_time(int(receipt["blockNumber"]))  # receipts carry no time

    def _receipt(
        self, root: bytes, sequence: int, receipt: TxReceipt, anchored_at: int
    ) -> AnchorReceipt:
        return AnchorReceipt(
            root=root,
            sequence=sequence,
            block_number=int(receipt["blockNumber"]),
            tx_hash=bytes(receipt["transactionHash"]),
            anchored_at=anchored_at,
        )

    def anchored(self, root: bytes) -> AnchoredRoot | None:
        record = self.ledger.anchor_of(root)
        if record is None:
            return None
        try:
            kind = AnchorKind(int(record.kind))
        except ValueError:  # e.g. SUBJECT_STATEMENT, which the data plane never anchors
            raise IntegrityError(
                f"root 0x{root.hex()} is anchored as {record.kind.name}, not a data-plane kind"
            ) from None
        return AnchoredRoot(
            root=root,
            kind=kind,
            leaf_count=record.leaf_count,
            sequence=record.sequence,
            submitter=record.submitter,
        )

    def anchor_transaction(self, root: bytes) -> AnchorReceipt | None:
        event = self.ledger.anchor_event(root)
        if event is None:
            return None
        return AnchorReceipt(
            root=root,
            sequence=event.sequence,
            block_number=event.block_number,
            tx_hash=event.tx_hash,
            anchored_at=self.ledger.block_time(event.block_number),
        )


@contextmanager
def _root_conflicts() -> Iterator[None]:
    """A root anchored before is a ConflictError, as InMemoryAnchorer raises it (the pipeline
    then asks ``anchored()``)."""
    try:
        yield
    except ContractRevert as exc:
        if exc.error_name == "RootAlreadyAnchored":
            raise ConflictError(str(exc), code="root_exists") from None
        raise


@contextmanager
def open_anchorer(settings: Settings) -> Iterator[ChainAnchorer]:
    """The platform's anchorer for a command: the chain from settings, the operator key pays.

    The chain connection (for the embedded chain: its files and its lock) is closed when the
    block ends, so a second command in the same process finds the chain free.
    """
    from ledger_api.chain.connection import (
        ensure_platform_roles,
        open_chain,
        open_ledger,
        operator_transactor,
    )
    from ledger_api.store.db import make_engine, migrate

    connection = open_chain(settings)
    engine = make_engine(settings.resolved_database_url)
    try:
        migrate(engine)  # the transaction queue's tables
        operator = operator_transactor(settings, connection.w3, engine)
        ledger = open_ledger(settings, connection, operator)
        if settings.mode == "embedded":
            ensure_platform_roles(ledger, operator)
        yield ChainAnchorer(ledger, operator)
    finally:
        engine.dispose()
        connection.close()
