"""A process that sends through the durable transaction queue (driven by test_txqueue.py).

    python txqueue_sender.py RPC_URL DB_URL SCHEMA DEPLOYMENT_JSON FIRST COUNT [FAULT]

registers institutions FIRST .. FIRST+COUNT-1 (addresses derived from the index) with the
operator key. FAULT kills the process with SIGKILL at one point of the first transaction:
``after_write`` (written, not broadcast) or ``after_send`` (broadcast, receipt not recorded).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3

from ledger_api.chain.deployment import Deployment
from ledger_api.chain.ledger import Ledger
from ledger_api.chain.transactor import Transactor
from ledger_api.chain.txqueue import TxQueue
from ledger_api.chain.types import InstitutionType
from ledger_api.store.db import make_engine

ANVIL_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def institution_address(index: int) -> str:
    return Web3.to_checksum_address((0xC0DE0000 + index).to_bytes(20, "big"))


def _die(*_args: Any, **_kwargs: Any) -> Any:
    os.kill(os.getpid(), signal.SIGKILL)


def main(argv: list[str]) -> None:
    rpc_url, db_url, schema, deployment_path, first, count = argv[:6]
    fault = argv[6] if len(argv) > 6 else ""
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    engine = make_engine(db_url, schema=schema or None)
    account = Account.from_key(ANVIL_KEY)
    queue = TxQueue(engine, w3, account)
    if fault == "after_write":
        queue._broadcast = _die  # type: ignore[method-assign]
    elif fault == "after_send":
        queue.wait = _die  # type: ignore[method-assign]
    ledger = Ledger(w3, Deployment.load(Path(deployment_path)))
    operator = Transactor(w3, account, queue)
    for index in range(int(first), int(first) + int(count)):
        ledger.register_institution(
            operator, institution_address(index), InstitutionType.BANK, f"Bank {index}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
