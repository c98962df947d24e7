"""Turn a revert (from eth-tester, web3 or a JSON-RPC node) into a typed Python error.

eth-tester raises ``TransactionFailed`` with the revert bytes inside its message; web3 raises
``ContractCustomError`` / ``ContractLogicError`` with ``data``; a mined failed transaction on a
node has only a status of 0 and is replayed with ``eth_call`` to get its revert data. All three
end up in :func:`decode_revert`.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from typing import Any

from eth_abi import decode
from eth_utils import function_signature_to_4byte_selector

from ledger_api.chain.artifacts import ledger_abi, load_artifact
from ledger_api.errors import ChainError

_HEX_BLOB = re.compile(r"0x[0-9a-fA-F]{8,}")
# eth-tester puts the revert data in its message as a Python bytes literal.
_BYTES_LITERAL = re.compile(r"b'(?:[^'\\]|\\.)*'|b\"(?:[^\"\\]|\\.)*\"")
_PANIC_SELECTOR = bytes.fromhex("4e487b71")
_ERROR_SELECTOR = bytes.fromhex("08c379a0")


class ContractRevert(ChainError):
    """The contract refused the call with a custom error, e.g. ``GrantAlreadyRevoked(7)``."""

    code = "contract_revert"
    status = 409
    title = "Refused by the ledger contract"

    def __init__(self, error_name: str, args: dict[str, Any]) -> None:
        shown = ", ".join(f"{k}={_show(v)}" for k, v in args.items())
        super().__init__(f"{error_name}({shown})", code=_snake(error_name))
        self.error_name = error_name
        self.args_by_name = args


def _show(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _canonical_type(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return str(param["type"])


@cache
def _errors_by_selector() -> dict[bytes, tuple[str, list[str], list[str]]]:
    table = {}
    # The receivables contract's errors too: it runs beside the ledger under the same client.
    for entry in [*ledger_abi(), *load_artifact("Receivables")["abi"]]:
        if entry["type"] != "error":
            continue
        types = [_canonical_type(p) for p in entry["inputs"]]
        signature = f"{entry['name']}({','.join(types)})"
        table[function_signature_to_4byte_selector(signature)] = (
            entry["name"],
            [p["name"] for p in entry["inputs"]],
            types,
        )
    return table


def decode_revert(data: bytes) -> ChainError:
    """Map raw revert data to the most specific error we can name."""
    selector, payload = data[:4], data[4:]
    known = _errors_by_selector().get(selector)
    if known is not None:
        name, names, types = known
        values = decode(types, payload)
        return ContractRevert(name, dict(zip(names, values, strict=True)))
    if selector == _ERROR_SELECTOR:
        return ChainError(f"reverted: {decode(['string'], payload)[0]}", code="contract_revert")
    if selector == _PANIC_SELECTOR:
        return ChainError(f"panic 0x{decode(['uint256'], payload)[0]:02x}", code="contract_panic")
    if not data:
        return ChainError(
            "reverted without data (out of gas or invalid call)", code="contract_revert"
        )
    return ChainError(f"reverted with unknown data 0x{data.hex()}", code="contract_revert")


def revert_data_from_exception(exc: BaseException) -> bytes | None:
    """Find the revert bytes carried by an exception from eth-tester or web3, if any."""
    data = getattr(exc, "data", None)
    if isinstance(data, bytes):
        return data
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    for text in (str(exc), *(str(a) for a in getattr(exc, "args", ()))):
        literal = _BYTES_LITERAL.search(text)
        if literal:
            value = ast.literal_eval(literal.group(0))
            if isinstance(value, bytes):
                return value
        match = _HEX_BLOB.search(text)
        if match:
            return bytes.fromhex(match.group(0)[2:])
    if type(exc).__name__ == "TransactionFailed":
        return b""
    return None


def as_chain_error(exc: BaseException) -> ChainError:
    data = revert_data_from_exception(exc)
    if data is None:
        return ChainError(f"chain call failed: {type(exc).__name__}: {exc}")
    return decode_revert(data)
