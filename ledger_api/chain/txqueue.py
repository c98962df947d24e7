"""One transaction sender per key across every process: a durable queue in the database.

API workers and CLIs that sign with the same key each hold a ``TxQueue`` on the same
database. The queue hands out nonces under a row lock (``tx_senders``), writes each signed
transaction (``chain_transactions``) before broadcasting it, and records its fate. So:

- two processes never use the same nonce, and none skips one: the next nonce is the chain's
  pending count or one past the highest nonce still open in the queue, whichever is larger;
- a process that dies after signing and before sending leaves the signed bytes, which the
  next ``recover`` (any process, at start and before each send) broadcasts again — the same
  bytes have the same hash, so a transaction is never sent twice;
- a process that dies after sending leaves a ``sent`` row whose receipt is recorded later;
- a transaction stuck in the pool past ``replace_after_s`` is signed again with the same
  nonce and a higher gas price; whichever version is mined is the one recorded.

A node that refuses a transaction outright (the embedded chain executes on send and refuses
reverts) never took its nonce: the row becomes ``rejected`` and the nonce is handed out again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import requests
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from sqlalchemy import Engine, Table, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as SqlIntegrityError
from web3 import Web3
from web3.exceptions import TransactionNotFound
from web3.types import TxReceipt

from ledger_api.chain.revert import as_chain_error, revert_data_from_exception
from ledger_api.errors import ChainError
from ledger_api.store.chain_transactions import ChainTransaction, TxSender

SIGNED = "signed"  # written, maybe not yet broadcast
SENT = "sent"  # the node took it
MINED = "mined"  # receipt status 1
FAILED = "failed"  # receipt status 0 (reverted on chain)
REJECTED = "rejected"  # the node refused it before taking the nonce
OPEN_STATES = (SIGNED, SENT)

_TABLE = cast(Table, ChainTransaction.__table__)
_SENDERS = cast(Table, TxSender.__table__)
# Geth and anvil replace a pooled transaction only for at least 10% more: 12.5% clears it.
FEE_BUMP_NUM, FEE_BUMP_DEN = 9, 8


@dataclass(frozen=True)
class QueuedTransaction:
    """A transaction the queue has signed, written and broadcast (or will broadcast)."""

    row_id: int
    nonce: int
    tx_hash: HexBytes
    tx: dict[str, Any]


_ANOTHER_VERSION_HINTS = ("nonce too low", "already known", "underpriced", "already imported")


def _lost_answer(exc: Exception) -> bool:
    """True when the node may have taken the transaction without our hearing it."""
    return isinstance(exc, requests.exceptions.RequestException | OSError | TimeoutError)


def _now() -> datetime:
    return datetime.now(UTC)


class TxQueue:
    """The durable sender of one key; thread-safe and safe across processes."""

    def __init__(
        self,
        engine: Engine,
        w3: Web3,
        account: LocalAccount,
        *,
        replace_after_s: float = 60.0,
        recover_after_s: float = 5.0,
        poll_s: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.w3 = w3
        self.account = account
        self.address = account.address
        self.replace_after_s = replace_after_s
        self.recover_after_s = recover_after_s
        self.poll_s = poll_s
        self._clock = clock
        self._chain_id = w3.eth.chain_id
        # Sends of one process go out in nonce order: a node that executes on send (the
        # embedded chain) refuses a nonce ahead of the chain.
        self._lock = threading.Lock()
        self._last_recovery = float("-inf")

    # -- sending ----------------------------------------------------------------------------

    def submit(self, tx: dict[str, Any], function: str) -> QueuedTransaction:
        """Assign ``tx`` the next nonce, sign it, write it, then broadcast it.

        ``tx`` holds ``to`` (absent for a deployment), ``data``, ``gas`` and ``gasPrice``. A
        node's refusal raises its ChainError (the nonce goes back to the queue); an unknown
        outcome (the node unreachable) leaves the transaction to ``wait`` or ``recover``.
        """
        with self._lock:
            if self._clock() - self._last_recovery >= self.recover_after_s:
                self.recover()
            queued, raw = self._allocate_and_write(tx, function)
            self._broadcast(queued.row_id, queued.tx_hash, raw)
            return queued

    def _allocate_and_write(
        self, tx: dict[str, Any], function: str
    ) -> tuple[QueuedTransaction, bytes]:
        for _attempt in range(5):
            try:
                with self.engine.begin() as conn:
                    nonce = self._next_nonce(conn)
                    fields = {**tx, "nonce": nonce, "chainId": self._chain_id}
                    fields["from"] = self.address
                    signed = self.account.sign_transaction(fields)
                    row_id = conn.execute(
                        insert(_TABLE)
                        .values(
                            sender=self.address,
                            nonce=nonce,
                            function=function[:64],
                            to_address=fields.get("to"),
                            data=bytes(HexBytes(fields.get("data", b""))),
                            gas=int(fields["gas"]),
                            gas_price=int(fields["gasPrice"]),
                            raw=bytes(signed.raw_transaction),
                            tx_hash=bytes(signed.hash),
                            replaced_hashes="",
                            state=SIGNED,
                            created_at=_now(),
                        )
                        .returning(_TABLE.c.id)
                    ).scalar_one()
                    conn.execute(
                        update(_SENDERS)
                        .where(_SENDERS.c.sender == self.address)
                        .values(next_nonce=nonce + 1)
                    )
                queued = QueuedTransaction(row_id, nonce, HexBytes(signed.hash), fields)
                return queued, bytes(signed.raw_transaction)
            except SqlIntegrityError:  # two processes created the sender's row at once
                continue
        raise ChainError("could not assign a nonce", code="nonce_unavailable")

    def _next_nonce(self, conn: Connection) -> int:
        """Under the sender's row lock: the chain's pending count, or one past the highest
        nonce still open in the queue (signed by a process that has not yet broadcast it)."""
        locked = conn.execute(
            update(_SENDERS)
            .where(_SENDERS.c.sender == self.address)
            .values(next_nonce=_SENDERS.c.next_nonce)
        ).rowcount
        if not locked:
            conn.execute(insert(_SENDERS).values(sender=self.address, next_nonce=0))
        open_max = conn.execute(
            select(func.max(_TABLE.c.nonce)).where(
                _TABLE.c.sender == self.address, _TABLE.c.state.in_(OPEN_STATES)
            )
        ).scalar()
        pending = int(self.w3.eth.get_transaction_count(self.address, "pending"))
        return max(pending, -1 if open_max is None else int(open_max) + 1)

    def _broadcast(self, row_id: int, tx_hash: HexBytes, raw: bytes) -> None:
        try:
            self.w3.eth.send_raw_transaction(raw)
        except Exception as exc:
            if revert_data_from_exception(exc) is not None:  # the embedded chain refused it
                error = as_chain_error(exc)
                self._finish(row_id, REJECTED, error=str(error), release_nonce=True)
                raise error from None
            if self._known_to_node(tx_hash) or _lost_answer(exc):
                # Taken already ("already known"), or no answer (node unreachable, timeout):
                # ``wait`` and ``recover`` find the receipt or broadcast the same bytes again.
                return
            message = str(exc).lower()
            if any(hint in message for hint in _ANOTHER_VERSION_HINTS):
                # Another version of this nonce is pooled or mined: ``wait`` sorts it out.
                self._set_state(row_id, SENT, only_from=SIGNED)
                return
            # The node answered and refused (no funds, bad fee, ...): it never took the nonce.
            self._finish(row_id, REJECTED, error=str(exc), release_nonce=True)
            raise ChainError(f"the node refused the transaction: {exc}", code="tx_refused") from exc
        self._set_state(row_id, SENT, only_from=SIGNED)

    def _known_to_node(self, tx_hash: HexBytes) -> bool:
        try:
            self.w3.eth.get_transaction(tx_hash)
        except Exception:  # not found, or the node did not answer: not known to be taken
            return False
        return True

    # -- waiting ----------------------------------------------------------------------------

    def wait(self, queued: QueuedTransaction, timeout: float = 120.0) -> TxReceipt:
        """The receipt of whichever version of ``queued`` was mined; records its fate.

        While waiting: a version the node lost is broadcast again, and one stuck longer than
        ``replace_after_s`` is replaced with a higher gas price.
        """
        deadline = self._clock() + timeout
        stuck_at = self._clock() + self.replace_after_s
        while True:
            receipt = self._receipt_of(queued.row_id)
            if receipt is not None:
                return receipt
            now = self._clock()
            if now >= deadline:
                raise ChainError(
                    f"transaction {queued.tx_hash.hex()} not mined within {timeout:.0f} s; "
                    "it stays queued and is finished by the next recovery",
                    code="tx_timeout",
                )
            if now >= stuck_at:
                self.replace(queued.row_id)
                stuck_at = now + self.replace_after_s
            time.sleep(self.poll_s)

    def _receipt_of(self, row_id: int) -> TxReceipt | None:
        """The receipt of the row's mined version, recorded; None while none is mined (a
        version the node never took is broadcast again)."""
        row = self._row(row_id)
        receipt = self._recorded_receipt(row)
        if receipt is None and row.state == SIGNED:
            self._broadcast(row_id, HexBytes(row.tx_hash), row.raw)
        return receipt

    def _recorded_receipt(self, row: Any) -> TxReceipt | None:
        """The receipt of whichever version of ``row`` was mined, its fate recorded."""
        if row.state == REJECTED:
            raise ChainError(row.error or "the node refused the transaction")
        for tx_hash in self._hashes(row):
            try:
                receipt = self.w3.eth.get_transaction_receipt(tx_hash)
            except TransactionNotFound:
                continue
            if receipt is None:
                continue
            state = MINED if receipt["status"] == 1 else FAILED
            if row.state in OPEN_STATES:
                self._finish(row.id, state, block=int(receipt["blockNumber"]), tx_hash=tx_hash)
            return receipt
        return None

    def replace(self, row_id: int) -> HexBytes | None:
        """Sign the row's transaction again, same nonce, gas price raised by 12.5% (or to the
        node's current price if higher), and broadcast it; the new hash, or None if the row is
        no longer open."""
        with self._lock:
            row = self._row(row_id)
            if row.state not in OPEN_STATES or row.nonce is None:
                return None
            price = max(
                -(-row.gas_price * FEE_BUMP_NUM // FEE_BUMP_DEN), int(self.w3.eth.gas_price)
            )
            fields: dict[str, Any] = {
                "from": self.address,
                "nonce": row.nonce,
                "gas": row.gas,
                "gasPrice": price,
                "data": row.data,
                "chainId": self._chain_id,
            }
            if row.to_address is not None:
                fields["to"] = row.to_address
            signed = self.account.sign_transaction(fields)
            earlier = ",".join(filter(None, (row.replaced_hashes, "0x" + row.tx_hash.hex())))
            with self.engine.begin() as conn:
                conn.execute(
                    update(_TABLE)
                    .where(_TABLE.c.id == row_id, _TABLE.c.state.in_(OPEN_STATES))
                    .values(
                        raw=bytes(signed.raw_transaction),
                        tx_hash=bytes(signed.hash),
                        gas_price=price,
                        replaced_hashes=earlier,
                    )
                )
            self._broadcast(row_id, HexBytes(signed.hash), bytes(signed.raw_transaction))
            return HexBytes(signed.hash)

    # -- recovery ---------------------------------------------------------------------------

    def recover(self) -> dict[str, int]:
        """Finish what crashed processes left: record receipts of mined rows, broadcast the
        others again. Counts by outcome."""
        self._last_recovery = self._clock()
        counts = {"mined": 0, "rebroadcast": 0}
        with self.engine.connect() as conn:
            open_ids = (
                conn.execute(
                    select(_TABLE.c.id)
                    .where(_TABLE.c.sender == self.address, _TABLE.c.state.in_(OPEN_STATES))
                    .order_by(_TABLE.c.nonce)
                )
                .scalars()
                .all()
            )
        for row_id in open_ids:
            row = self._row(row_id)
            if row.state not in OPEN_STATES:  # finished meanwhile by another process
                continue
            if self._recorded_receipt(row) is not None:
                counts["mined"] += 1
            elif row.state == SIGNED or not self._known_to_node(HexBytes(row.tx_hash)):
                try:
                    self._broadcast(row_id, HexBytes(row.tx_hash), row.raw)
                except ChainError:
                    continue  # refused now: recorded as rejected, its nonce handed out again
                counts["rebroadcast"] += 1
        return counts

    # -- rows -------------------------------------------------------------------------------

    def _row(self, row_id: int) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(select(_TABLE).where(_TABLE.c.id == row_id)).one()

    @staticmethod
    def _hashes(row: Any) -> list[HexBytes]:
        earlier = [HexBytes(h) for h in row.replaced_hashes.split(",") if h]
        return [HexBytes(row.tx_hash), *earlier]

    def _set_state(self, row_id: int, state: str, *, only_from: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(_TABLE)
                .where(_TABLE.c.id == row_id, _TABLE.c.state == only_from)
                .values(state=state, sent_at=_now())
            )

    def _finish(
        self,
        row_id: int,
        state: str,
        *,
        block: int | None = None,
        tx_hash: HexBytes | None = None,
        error: str | None = None,
        release_nonce: bool = False,
    ) -> None:
        values: dict[str, Any] = {"state": state, "finished_at": _now(), "error": error}
        if block is not None:
            values["block_number"] = block
        if tx_hash is not None:
            values["tx_hash"] = bytes(tx_hash)
        if release_nonce:
            values["nonce"] = None
        with self.engine.begin() as conn:
            conn.execute(
                update(_TABLE)
                .where(_TABLE.c.id == row_id, _TABLE.c.state.in_(OPEN_STATES))
                .values(**values)
            )
