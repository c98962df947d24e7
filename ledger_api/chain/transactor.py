"""Send transactions signed by a local key, with explicit gas and local nonce tracking.

Gas is never estimated on the hot path: each call names its gas limit (see ``GAS_LIMITS``),
which is both faster and deterministic. A refused transaction becomes a typed ChainError.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, cast

from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.types import TxParams, TxReceipt

from ledger_api.chain.revert import as_chain_error, decode_revert, revert_data_from_exception
from ledger_api.chain.txqueue import QueuedTransaction, TxQueue
from ledger_api.errors import ChainError

# Upper bounds with headroom over the measured gas of each call (scripts/bench.py gas).
GAS_LIMITS: dict[str, int] = {
    "registerInstitution": 250_000,
    "suspendInstitution": 80_000,
    "reinstateInstitution": 80_000,
    "grantRole": 120_000,
    "revokeRole": 80_000,
    "beginDefaultAdminTransfer": 120_000,
    "acceptDefaultAdminTransfer": 150_000,
    "cancelDefaultAdminTransfer": 80_000,
    "changeDefaultAdminDelay": 120_000,
    "rollbackDefaultAdminDelay": 80_000,
    "bindSubject": 200_000,
    "rebindSubject": 200_000,
    "increaseNonce": 80_000,
    "increaseNonceBySig": 120_000,
    "proposeAgreement": 200_000,
    "acceptAgreement": 100_000,
    "acceptAgreementBySig": 120_000,
    "withdrawProposal": 80_000,
    "suspendAgreement": 80_000,
    "reinstateAgreement": 80_000,
    "terminateAgreement": 80_000,
    "issueGrant": 150_000,
    "issueGrantBySig": 180_000,
    "revokeGrant": 100_000,
    "revokeGrantBySig": 140_000,
    "anchor": 150_000,
    "openDispute": 400_000,
    "openDisputeBySig": 450_000,
    "resolveDispute": 120_000,
    # Receivables (supply chain), beside the ledger.
    "registerReceivable": 200_000,
    "registerPayable": 250_000,
    "confirmReceivable": 120_000,
    "confirmReceivableBySig": 150_000,
    "splitPart": 120_000,
    "transferPart": 100_000,
    "financePart": 120_000,
    "releasePart": 80_000,
    "settlePart": 100_000,
    "declareDefault": 80_000,
    "registerReceivableBySig": 250_000,
    "registerPayableBySig": 300_000,
    "splitPartBySig": 150_000,
    "transferPartBySig": 130_000,
    "financePartBySig": 150_000,
    "releasePartBySig": 110_000,
    "settlePartBySig": 130_000,
}
GAS_PER_BATCHED_GRANT = 90_000
GAS_BATCH_BASE = 80_000
# anchorMany: a fresh root's slot, counter and event, plus its calldata (scripts/bench.py gas).
GAS_PER_GROUPED_ANCHOR = 60_000
GAS_ANCHOR_GROUP_BASE = 60_000
DEPLOY_GAS = 7_000_000


@dataclass(frozen=True)
class SentTransaction:
    """A transaction sent and not yet confirmed."""

    tx_hash: HexBytes
    tx: dict[str, Any]
    call: ContractFunction | None
    queued: QueuedTransaction | None = None  # sent through the durable queue


class Transactor:
    """One signing account; thread-safe (the API relays from several threads).

    With a ``queue`` every transaction goes through the database's durable queue, which
    assigns nonces across all processes signing with this key and finishes what a crash left
    (``ledger_api.chain.txqueue``): that is how the platform's own key is used. Without one
    the nonce is counted in this process (keys used by one process only: tests, tools).
    """

    def __init__(self, w3: Web3, account: LocalAccount, queue: TxQueue | None = None) -> None:
        self.w3 = w3
        self.account = account
        self.address = account.address
        self.queue = queue
        self._lock = threading.Lock()
        self._nonce: int | None = None
        self._chain_id = w3.eth.chain_id

    def forget_nonce(self) -> None:
        """Re-read the nonce from the chain on the next send (after a snapshot revert or reorg)."""
        with self._lock:
            self._nonce = None

    def transact(self, call: ContractFunction, gas: int | None = None) -> TxReceipt:
        return self.confirm(self.send(call, gas))

    def send(self, call: ContractFunction, gas: int | None = None) -> SentTransaction:
        """Sign and send ``call`` without waiting for it to be mined (``confirm`` waits), so
        several transactions of this account can be in one block."""
        limit = gas if gas is not None else GAS_LIMITS[call.fn_name]
        if self.queue is not None:
            tx = dict(call.build_transaction(cast(TxParams, self._unnumbered_fields(limit))))
            return self._queued(tx, call.fn_name, call)
        with self._lock:
            tx = dict(call.build_transaction(cast(TxParams, self._tx_fields(limit))))
            return SentTransaction(self._send_raw(tx), tx, call)

    def confirm(self, sent: SentTransaction) -> TxReceipt:
        """Wait until ``sent`` is mined; a reverted transaction raises its ChainError."""
        if sent.queued is not None and self.queue is not None:
            receipt = self.queue.wait(sent.queued)
        else:
            receipt = self.w3.eth.wait_for_transaction_receipt(sent.tx_hash, timeout=120)
        if receipt["status"] != 1:
            raise self._explain_failure(sent.tx, receipt, sent.call)
        return receipt

    def deploy(self, contract_factory: Any, *args: Any, gas: int = DEPLOY_GAS) -> TxReceipt:
        constructor = contract_factory.constructor(*args)
        if self.queue is not None:
            tx = dict(constructor.build_transaction(self._unnumbered_fields(gas)))
            return self.confirm(self._queued(tx, "deploy", None))
        with self._lock:
            tx = dict(constructor.build_transaction(self._tx_fields(gas)))
            return self.confirm(SentTransaction(self._send_raw(tx), tx, None))

    def _unnumbered_fields(self, gas: int) -> dict[str, Any]:
        """Fields for building a transaction the queue numbers (the nonce is a placeholder)."""
        return {
            "from": self.address,
            "nonce": 0,
            "gas": gas,
            "gasPrice": self.w3.eth.gas_price,
            "chainId": self._chain_id,
        }

    def _queued(
        self, tx: dict[str, Any], function: str, call: ContractFunction | None
    ) -> SentTransaction:
        assert self.queue is not None
        fields = {k: v for k, v in tx.items() if k in ("to", "data", "gas", "gasPrice")}
        queued = self.queue.submit(fields, function)
        return SentTransaction(queued.tx_hash, queued.tx, call, queued)

    def _tx_fields(self, gas: int) -> dict[str, Any]:
        if self._nonce is None:
            self._nonce = self.w3.eth.get_transaction_count(self.address, "pending")
        return {
            "from": self.address,
            "nonce": self._nonce,
            "gas": gas,
            "gasPrice": self.w3.eth.gas_price,
            "chainId": self._chain_id,
        }

    def _send_raw(self, tx: dict[str, Any]) -> HexBytes:
        """Sign and send ``tx`` (under the lock); its hash."""
        signed = self.account.sign_transaction(tx)
        try:
            tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        except Exception as exc:  # eth-tester executes on send and raises on revert
            self._nonce = None  # unknown whether the node took the nonce: re-read it
            if revert_data_from_exception(exc) is not None:
                raise as_chain_error(exc) from None
            raise ChainError(f"could not send transaction: {exc}") from exc
        self._nonce = int(tx["nonce"]) + 1
        return HexBytes(tx_hash)

    def _explain_failure(
        self, tx: dict[str, Any], receipt: TxReceipt, call: ContractFunction | None
    ) -> ChainError:
        if receipt["gasUsed"] >= tx["gas"]:
            return ChainError(f"transaction ran out of gas (limit {tx['gas']})", code="out_of_gas")
        replay = {k: tx[k] for k in ("from", "to", "data", "gas") if k in tx}
        try:
            self.w3.eth.call(replay, receipt["blockNumber"] - 1)  # type: ignore[arg-type]
        except Exception as exc:
            data = revert_data_from_exception(exc)
            if data is not None:
                return decode_revert(data)
        return ChainError("transaction reverted", code="contract_revert")
