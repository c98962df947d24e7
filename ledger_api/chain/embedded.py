"""The embedded chain: an in-process EVM (eth-tester + py-evm) that persists to disk.

Why it exists: the default deployment (docs/ARCHITECTURE.md) needs a real EVM without running a
node. eth-tester gives us one but keeps everything in memory and serves ``eth_getLogs`` by
walking every block and looking each transaction up by scanning back from the head, which is
quadratic in chain length. This module keeps eth-tester's behaviour (auto-mining one block per
transaction, snapshots, time travel, its JSON-RPC formatting) and changes three things:

* py-evm's database is a SQLite key/value table (``embedded_store``), so the chain survives the
  process; the open SQLite transaction is committed only after a block is mined or the head
  moves, together with the log index rows of the new blocks, so a killed process always leaves
  the last fully mined block readable and the index in step with it;
* a log index (``logs`` table) serves ``eth_getLogs`` with indexed range queries, and a
  transaction table serves receipts and transactions without scanning back from the head;
* log indices are numbered per block, as JSON-RPC nodes do (eth-tester numbers them per
  transaction, which only differs when a block holds several transactions).

On-disk layout of ``data_dir``: ``chain.sqlite3`` (plus SQLite's ``-wal``/``-shm`` files) and
``LOCK``, an advisory lock held while a process has the chain open, because two processes
mining on one database would fork it.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable
from functools import cache, partial
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

from eth.constants import BLANK_ROOT_HASH
from eth.db.schema import SchemaV1
from eth.exceptions import CanonicalHeadNotFound
from eth_tester import EthereumTester
from eth_tester.backends.pyevm.main import (
    ZERO_ADDRESS,
    PyEVMBackend,
    generate_genesis_state_for_keys,
    get_default_account_keys,
    get_default_genesis_params,
    setup_tester_chain,
)
from eth_tester.backends.pyevm.serializers import (
    serialize_transaction,
    serialize_transaction_receipt,
)
from eth_tester.exceptions import BlockNotFound, TransactionNotFound, ValidationError
from eth_tester.utils.filters import Filter, check_if_log_matches
from eth_utils import decode_hex, encode_hex, is_bytes
from web3 import EthereumTesterProvider, Web3
from web3.types import RPCEndpoint, RPCResponse

from ledger_api.chain.embedded_store import EmbeddedStore, IndexedLog, LogQuery
from ledger_api.errors import ChainError

__all__ = ["EmbeddedChain", "EmbeddedProvider", "open_embedded"]

DB_FILE = "chain.sqlite3"
LOCK_FILE = "LOCK"

_T = TypeVar("_T")


@cache
def _tester_chain_class() -> type[Any]:
    """eth-tester's own chain class (fork schedule, chain id, constant gas limit).

    eth-tester defines it inside ``setup_tester_chain`` and always builds it on an in-memory
    database; we borrow the class from a throwaway instance instead of copying its definition,
    so an eth-tester upgrade changes both paths alike.
    """
    _keys, template = setup_tester_chain(num_accounts=1)
    return type(template)


class _PersistentBackend(PyEVMBackend):
    """eth-tester's py-evm backend on the on-disk store, committing once per head change."""

    def __init__(self, store: EmbeddedStore) -> None:
        # PyEVMBackend.__init__ would build an in-memory chain; build ours on the store.
        self._store = store
        self._pinned_timestamp = False
        self.account_keys = get_default_account_keys()
        chain_class = _tester_chain_class()
        try:
            self.chain = chain_class(store.atomic_db)
        except CanonicalHeadNotFound:
            self.chain = chain_class.from_genesis(
                store.atomic_db,
                get_default_genesis_params(),
                generate_genesis_state_for_keys(self.account_keys),
            )
        self._sync_index()

    # -- head changes: every path that moves the canonical head ends in _sync_index ------

    def _guard(self, action: Callable[[], _T]) -> _T:
        """Run a head-changing action; on failure drop its writes and reload from disk."""
        try:
            result = action()
        except BaseException:
            self._store.rollback()
            self.chain = _tester_chain_class()(self._store.atomic_db)
            self._pinned_timestamp = False
            raise
        self._sync_index()
        return result

    def mine_blocks(self, num_blocks: int = 1, coinbase: bytes = ZERO_ADDRESS) -> tuple[bytes, ...]:
        self._refresh_pending_timestamp()
        hashes: tuple[bytes, ...] = self._guard(
            lambda: PyEVMBackend.mine_blocks(self, num_blocks, coinbase)
        )
        self._pinned_timestamp = False
        return hashes

    def revert_to_snapshot(self, snapshot: bytes) -> None:
        """Make the snapshot's block the canonical head, wherever it is in the block tree.

        eth-tester's own revert leaves the block-number lookups above the new head in place
        (py-evm's gap tracking expects them) and, when reverting later onto a block of an
        abandoned branch, stops repairing ancestors at the first such stale lookup, leaving a
        canonical chain that does not link up. Here lookups are trusted only up to the
        current head, so the path from the new head down to genesis is always rewritten.
        """
        self._guard(lambda: self._set_head(snapshot))

    def _set_head(self, block_hash: bytes) -> None:
        chaindb = self.chain.chaindb
        db = chaindb.db
        current_head = chaindb.get_canonical_head().block_number
        target = chaindb.get_block_header_by_hash(block_hash)
        header = target
        while header.block_number > current_head or (
            chaindb.get_canonical_block_hash(header.block_number) != header.hash
        ):
            chaindb._add_block_number_to_hash_lookup(db, header)
            header = chaindb.get_block_header_by_hash(header.parent_hash)
        db[SchemaV1.make_canonical_head_hash_lookup_key()] = target.hash
        self.chain = _tester_chain_class()(db)

    def apply_withdrawals(self, withdrawals_list: list[dict[str, int | str]]) -> None:
        self._guard(lambda: PyEVMBackend.apply_withdrawals(self, withdrawals_list))

    def reset_to_genesis(self, *args: Any, **kwargs: Any) -> None:
        """Make genesis the head again; the on-disk chain keeps its (now orphaned) blocks."""
        if any(a is not None for a in (*args, *kwargs.values())):
            raise NotImplementedError("the embedded chain cannot change its genesis")
        self.revert_to_snapshot(self.chain.get_canonical_block_hash(0))

    def time_travel(self, to_timestamp: int) -> int:
        self._pinned_timestamp = True  # eth-tester sets the pending timestamp, then mines
        return int(PyEVMBackend.time_travel(self, to_timestamp))

    def _sync_index(self) -> None:
        """Bring the index in step with the canonical chain, then commit both together.

        Walks back from the head only as far as the index disagrees with the chain (the fork
        point of a revert), so the usual cost is one comparison plus the new blocks.
        """
        head = int(self.chain.get_canonical_head().block_number)
        indexed = self._store.indexed_head()
        number = -1 if indexed is None else min(head, indexed)
        while number >= 0 and (
            self._store.indexed_hash(number) != self.chain.get_canonical_block_hash(number)
        ):
            number -= 1
        self._store.truncate_after(number)
        for block_number in range(number + 1, head + 1):
            self._index_block(block_number)
        self._store.commit()

    def _index_block(self, number: int) -> None:
        block = self.chain.get_canonical_block_by_number(number)
        receipts = block.get_receipts(self.chain.chaindb)
        logs: list[IndexedLog] = []
        for tx_index, (tx, receipt) in enumerate(zip(block.transactions, receipts, strict=True)):
            for log in receipt.logs:
                logs.append(
                    IndexedLog(
                        block_number=number,
                        log_index=len(logs),
                        block_hash=bytes(block.hash),
                        tx_index=tx_index,
                        tx_hash=bytes(tx.hash),
                        address=bytes(log.address),
                        topics=tuple(int(t).to_bytes(32, "big") for t in log.topics),
                        data=bytes(log.data),
                    )
                )
        tx_hashes = [bytes(tx.hash) for tx in block.transactions]
        self._store.add_block(number, bytes(block.hash), tx_hashes, logs)

    # -- block timestamps ----------------------------------------------------------------

    def _refresh_pending_timestamp(self) -> None:
        """Stamp an empty pending block with the current time.

        py-evm fixes a pending block's timestamp when the previous block is mined; a chain
        that idles for a day would otherwise stamp the next transaction a day in the past,
        and grant expiry is judged by block time.
        """
        header = self.chain.header
        if self._pinned_timestamp or header.transaction_root != BLANK_ROOT_HASH:
            return
        now = int(time.time())
        if now > header.timestamp:
            self.chain.header = header.copy(timestamp=now)

    def set_next_block_timestamp(self, timestamp: int) -> None:
        parent = self.chain.get_canonical_head()
        if timestamp <= parent.timestamp:
            raise ValidationError(
                f"next block timestamp {timestamp} must be after the head's {parent.timestamp}"
            )
        self.chain.header = self.chain.header.copy(timestamp=timestamp)
        self._pinned_timestamp = True

    def send_raw_transaction(self, raw_transaction: bytes) -> bytes:
        self._refresh_pending_timestamp()
        return bytes(PyEVMBackend.send_raw_transaction(self, raw_transaction))

    def send_signed_transaction(
        self, signed_transaction: dict[str, Any], block_number: Any = "latest"
    ) -> bytes:
        self._refresh_pending_timestamp()
        return bytes(PyEVMBackend.send_signed_transaction(self, signed_transaction, block_number))

    def send_transaction(self, transaction: dict[str, Any]) -> bytes:
        self._refresh_pending_timestamp()
        return bytes(PyEVMBackend.send_transaction(self, transaction))

    # -- transaction lookups through the index ------------------------------------------

    def _locate(self, tx_hash: bytes) -> tuple[Any, Any, int]:
        pending = self.chain.get_block()
        for index, tx in enumerate(pending.transactions):
            if tx.hash == tx_hash:
                return pending, tx, index
        found = self._store.find_transaction(bytes(tx_hash))
        if found is None:
            raise TransactionNotFound(f"No transaction found for hash: {encode_hex(tx_hash)}")
        number, index = found
        block = self.chain.get_canonical_block_by_number(number)
        return block, block.transactions[index], index

    def get_transaction_by_hash(self, transaction_hash: bytes) -> dict[str, Any]:
        block, tx, index = self._locate(transaction_hash)
        is_pending = block.number == self.chain.get_block().number
        return dict(serialize_transaction(block, tx, index, is_pending))

    def get_transaction_receipt(self, transaction_hash: bytes) -> dict[str, Any]:
        block, tx, index = self._locate(transaction_hash)
        is_pending = block.number == self.chain.get_block().number
        receipts = block.get_receipts(self.chain.chaindb)
        receipt = dict(
            serialize_transaction_receipt(
                block, receipts, tx, index, is_pending, self.chain.get_vm()
            )
        )
        # Number logs within the block, as JSON-RPC nodes (and our log index) do.
        offset = sum(len(r.logs) for r in receipts[:index])
        receipt["logs"] = [
            {**log, "log_index": log["log_index"] + offset} for log in receipt["logs"]
        ]
        return receipt


def _resolve_block(identifier: Any, head: int) -> int:
    """A block identifier eth-tester accepts, as a number (``pending`` is head + 1)."""
    if identifier is None or identifier in ("latest", "safe", "finalized"):
        return head
    if identifier == "earliest":
        return 0
    if identifier == "pending":
        return head + 1
    return int(identifier)


class _IndexedTester(EthereumTester):
    """EthereumTester whose log queries read the on-disk index instead of every block."""

    def __init__(self, backend: _PersistentBackend, store: EmbeddedStore) -> None:
        super().__init__(backend=backend)
        self._store = store

    def _query(
        self,
        from_block: Any,
        to_block: Any,
        address: Any,
        topics: Any,
        block_hash: Any = None,
    ) -> tuple[LogQuery, Any, Any]:
        self.validator.validate_inbound_filter_params(
            from_block=from_block, to_block=to_block, address=address, topics=topics
        )
        _from, _to, raw_address, raw_topics = self.normalizer.normalize_inbound_filter_params(
            from_block=from_block, to_block=to_block, address=address, topics=topics
        )
        head = self._store.indexed_head() or 0
        if block_hash is not None:
            if from_block is not None or to_block is not None:
                raise ValidationError("blockHash cannot be combined with fromBlock/toBlock")
            raw_hash = bytes(block_hash) if is_bytes(block_hash) else decode_hex(block_hash)
            number = self._store.block_number_of(raw_hash)
            if number is None:
                raise BlockNotFound(f"No block found for block hash: {encode_hex(raw_hash)}")
            start = end = number
        else:
            start = _resolve_block(from_block, head)
            end = min(_resolve_block(to_block, head), head)
        if raw_address is None:
            addresses = None
        elif isinstance(raw_address, tuple):
            addresses = tuple(bytes(a) for a in raw_address)
        else:
            addresses = (bytes(raw_address),)
        query = LogQuery(start, end, addresses, _topic_criteria(raw_topics))
        return query, raw_address, raw_topics

    def _indexed_entries(self, query: LogQuery) -> list[dict[str, Any]]:
        if query.from_block > query.to_block:
            return []
        return [log.as_raw_entry() for log in self._store.query_logs(query)]

    def get_logs(
        self,
        from_block: Any = None,
        to_block: Any = None,
        address: Any = None,
        topics: Any = None,
        blockHash: Any = None,  # the JSON-RPC key, which web3's middleware passes through
        block_hash: Any = None,
    ) -> tuple[dict[str, Any], ...]:
        query, _, _ = self._query(from_block, to_block, address, topics, blockHash or block_hash)
        return tuple(
            {**self.normalizer.normalize_outbound_log_entry(raw), "removed": False}
            for raw in self._indexed_entries(query)
        )

    def create_log_filter(
        self, from_block: Any = None, to_block: Any = None, address: Any = None, topics: Any = None
    ) -> Any:
        """eth-tester's filter creation, with the back-fill read from the index."""
        query, raw_address, raw_topics = self._query(from_block, to_block, address, topics)
        raw_filter_params = {
            # eth-tester's matcher reads "earliest" as "pending only"; nodes mean block 0.
            "from_block": 0 if from_block == "earliest" else from_block,
            "to_block": to_block,
            "addresses": raw_address,
            "topics": raw_topics,
        }
        new_filter = Filter(
            filter_params=raw_filter_params,
            filter_fn=partial(check_if_log_matches, **raw_filter_params),
        )
        raw_filter_id = next(self._filter_counter)
        self._log_filters[raw_filter_id] = new_filter
        if isinstance(raw_filter_params["from_block"], int):
            new_filter.add(*self._indexed_entries(query))
        return self.normalizer.normalize_outbound_filter_id(raw_filter_id)


def _topic_criteria(raw_topics: Any) -> tuple[tuple[bytes, ...] | None, ...]:
    """eth-tester's normalised topics as per-position OR-sets (None: any value)."""
    if raw_topics is None:
        return ()
    criteria: list[tuple[bytes, ...] | None] = []
    for item in raw_topics:
        options = item if isinstance(item, tuple) else (item,)
        if any(option is None for option in options) or not options:
            criteria.append(None)
        else:
            criteria.append(tuple(bytes(option) for option in options))
    return tuple(criteria)


class EmbeddedProvider(EthereumTesterProvider):
    """eth-tester's web3 provider, serialised by the chain's lock.

    py-evm and the SQLite connection are not thread-safe, and web3 is called from worker
    threads by the API; one request at a time is the contract of a single in-process node.
    """

    def __init__(self, tester: EthereumTester, lock: threading.RLock) -> None:
        super().__init__(ethereum_tester=tester)
        self._lock = lock

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        with self._lock:
            return super().make_request(method, params)


class EmbeddedChain:
    """An open embedded chain. Use as a context manager or call ``close()``."""

    def __init__(self, data_dir: Path, *, durable: bool = False) -> None:
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = _acquire_lock(data_dir / LOCK_FILE)
        try:
            self.store = EmbeddedStore(data_dir / DB_FILE, durable=durable)
        except BaseException:
            self._lock_file.close()
            raise
        try:
            self._backend = _PersistentBackend(self.store)
        except BaseException:
            self.store.rollback()
            self.store.close()
            self._lock_file.close()
            raise
        self._lock = threading.RLock()
        self.tester = _IndexedTester(self._backend, self.store)
        self.provider = EmbeddedProvider(self.tester, self._lock)
        self.w3 = Web3(self.provider)
        self.dev_keys: list[str] = [k.to_hex() for k in self._backend.account_keys]
        self._closed = False

    @property
    def head_number(self) -> int:
        """Number of the latest mined block."""
        with self._lock:
            return int(self._backend.chain.get_canonical_head().block_number)

    def take_snapshot(self) -> int:
        with self._lock:
            return int(self.tester.take_snapshot())

    def revert_to_snapshot(self, snapshot_id: int) -> None:
        """Make the snapshot's block the head again (a reorg; the index follows)."""
        with self._lock:
            self.tester.revert_to_snapshot(snapshot_id)

    def mine_blocks(self, n: int = 1) -> list[str]:
        """Mine ``n`` blocks (empty unless auto-mining is off); returns their hashes."""
        with self._lock:
            return [str(h) for h in self.tester.mine_blocks(n)]

    def set_next_block_timestamp(self, timestamp: int) -> None:
        """The next mined block (by a transaction or ``mine_blocks``) gets this timestamp.

        Not persisted: a reopened chain stamps its next block with the current time.
        """
        with self._lock:
            self._backend.set_next_block_timestamp(timestamp)

    def time_travel(self, timestamp: int) -> None:
        """eth-tester's time travel: mines an empty block so the next one is at ``timestamp``."""
        with self._lock:
            self.tester.time_travel(timestamp)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.store.close()
            self._lock_file.close()

    def __enter__(self) -> EmbeddedChain:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _acquire_lock(path: Path) -> IO[str]:
    lock_file = path.open("a+")
    try:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.close()
        raise ChainError(
            f"the embedded chain in {path.parent} is open in another process",
            code="chain_locked",
        ) from None
    lock_file.truncate(0)
    lock_file.write(f"{os.getpid()}\n")
    lock_file.flush()
    return lock_file


def open_embedded(data_dir: Path, *, durable: bool = False) -> EmbeddedChain:
    """Open (creating on first use) the embedded chain stored in ``data_dir``.

    ``durable=True`` makes every mined block survive power loss too (fsync per block);
    the default survives a killed process, which is what a development chain needs.
    """
    return EmbeddedChain(Path(data_dir), durable=durable)
