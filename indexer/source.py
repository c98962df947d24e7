"""What the follower reads from a node: the head, a range of the ledger's logs, block headers.

Only web3's public API: the provider's ``make_request("eth_getLogs")`` and ``w3.eth.get_block``
(batched with ``w3.batch_requests()`` where the provider supports it, one by one otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from web3 import EthereumTesterProvider, Web3
from web3.exceptions import BlockNotFound, Web3TypeError
from web3.types import RPCEndpoint

from indexer.decode import EventRecord, decode_log
from indexer.store import BlockInfo
from ledger_api.errors import ChainError

_BATCH = 500  # blocks per JSON-RPC batch: well under common request-size limits


def _block_info(block: Any) -> BlockInfo:
    return BlockInfo(
        number=int(block["number"]),
        hash=bytes(block["hash"]),
        parent_hash=bytes(block["parentHash"]),
        timestamp=int(block["timestamp"]),
    )


class ChainSource:
    """The logs of the ledger at ``address`` and of the contracts deployed beside it."""

    def __init__(self, w3: Web3, address: str, beside: Sequence[str] = ()) -> None:
        self.w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.addresses = [self.address, *(Web3.to_checksum_address(a) for a in beside)]
        self._batching: bool | None = None  # unknown until tried
        self._in_process = isinstance(w3.provider, EthereumTesterProvider)

    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def events(self, first: int, last: int) -> list[EventRecord]:
        """The ledger's decoded events in blocks ``[first, last]``, in chain order.

        Asks the provider directly (``make_request``, public API) for the raw JSON-RPC logs:
        ``w3.eth.get_logs`` runs web3's result formatters over every field of every log,
        slower than fetching and decoding together (decode_log takes the hex strings as they
        come). eth-tester's provider only understands formatted requests,
        so in-process chains go through ``w3.eth.get_logs``.
        """
        if self._in_process:
            logs = self.w3.eth.get_logs(
                {"fromBlock": first, "toBlock": last, "address": self.addresses}
            )
            return sorted(
                (r for r in map(decode_log, logs) if r is not None), key=lambda r: r.position
            )
        params = {"fromBlock": hex(first), "toBlock": hex(last), "address": self.addresses}
        response = self.w3.provider.make_request(RPCEndpoint("eth_getLogs"), [params])
        if "error" in response or "result" not in response:
            error = response.get("error")
            message = error.get("message") if isinstance(error, dict) else error
            raise ChainError(f"eth_getLogs {first}-{last} failed: {message}")
        records = [r for r in map(decode_log, response["result"]) if r is not None]
        records.sort(key=lambda r: r.position)  # nodes return chain order; don't rely on it
        return records

    def block(self, number: int) -> BlockInfo | None:
        try:
            return _block_info(self.w3.eth.get_block(number))
        except BlockNotFound:
            return None

    def blocks(self, numbers: Iterable[int]) -> dict[int, BlockInfo]:
        wanted = sorted(set(numbers))
        if self._batching is not False and len(wanted) > 1:
            try:
                return self._batched(wanted)
            except Web3TypeError:  # "Batch requests are not supported by this provider."
                self._batching = False
        found: dict[int, BlockInfo] = {}
        for number in wanted:
            info = self.block(number)
            if info is not None:
                found[number] = info
        return found

    def _batched(self, numbers: Sequence[int]) -> dict[int, BlockInfo]:
        found: dict[int, BlockInfo] = {}
        for start in range(0, len(numbers), _BATCH):
            with self.w3.batch_requests() as batch:
                for number in numbers[start : start + _BATCH]:
                    batch.add(self.w3.eth.get_block(number))
                for block in batch.execute():
                    if block is not None and not isinstance(block, BaseException):
                        info = _block_info(block)
                        found[info.number] = info
        self._batching = True
        return found
