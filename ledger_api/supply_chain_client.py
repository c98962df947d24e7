"""Signing supply-chain acts through the API: ask for the typed data, look at it, sign, send.

The wallet CLI, the bank CLI and the tests use :func:`perform`. Before signing, the typed data
is checked against the terms asked for (the platform could not slip in another part, amount or
counterparty) and shown through ``review``, which may refuse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount

from ledger_api.api.supply_chain_acts import to_fen
from ledger_api.api.supply_chain_schemas import ActDone, ActToSign
from ledger_api.chain.receivables import document_hash
from ledger_api.client import LedgerClient
from ledger_api.errors import IntegrityError

PREFIX = "/v1/supply-chain"
# act -> the POST path that relays it ({part_id} / {receivable_id} come from the terms).
ACT_PATHS = {
    "registration": PREFIX + "/receivables",
    "payable": PREFIX + "/payables",
    "confirmation": PREFIX + "/receivables/{receivable_id}/confirmation",
    "split": PREFIX + "/parts/{part_id}/split",
    "transfer": PREFIX + "/parts/{part_id}/transfer",
    "financing": PREFIX + "/parts/{part_id}/financing",
    "settlement": PREFIX + "/parts/{part_id}/settlement",
    "release": PREFIX + "/parts/{part_id}/release",
}
_PATH_KEYS = ("part_id", "receivable_id")
Review = Callable[[ActToSign], None]


def to_sign(client: LedgerClient, act: str, terms: dict[str, Any]) -> ActToSign:
    data = client.call("GET", f"{PREFIX}/typed-data/{act}", params=terms)
    return ActToSign.model_validate(data)


def sign_typed_data(account: LocalAccount, typed: dict[str, Any]) -> str:
    signable = encode_typed_data(full_message=typed)
    return "0x" + bytes(Account.sign_message(signable, account.key).signature).hex()


def check_terms(act: str, terms: dict[str, Any], offer: ActToSign) -> None:
    """Refuse typed data that does not say what was asked for."""
    message = offer.typed_data.get("message", {})
    expected: dict[str, Any] = {}
    if "part_id" in terms:
        expected["partId"] = int(terms["part_id"])
    if "receivable_id" in terms:
        expected["receivableId"] = int(terms["receivable_id"])
    if act in ("split", "settlement"):
        expected["value"] = to_fen(str(terms["value"]))
    if act in ("registration", "payable"):
        expected["amount"] = to_fen(str(terms["amount"]))
    for key, value in expected.items():
        if message.get(key) != value:
            raise IntegrityError(
                f"the platform's typed data says {key}={message.get(key)!r}, not {value!r}; "
                "nothing was signed",
                code="typed_data_mismatch",
            )
    check_hashes(terms, offer)
    if offer.act != act:
        raise IntegrityError(
            f"asked to sign {act}, offered {offer.act}", code="typed_data_mismatch"
        )


def perform(
    client: LedgerClient,
    account: LocalAccount,
    act: str,
    terms: dict[str, Any],
    *,
    extra: dict[str, Any] | None = None,
    review: Review | None = None,
) -> ActDone:
    """Sign ``act`` over ``terms`` as ``account`` and have the platform relay it."""
    terms = _hashed_numbers(terms)
    query = {k: v for k, v in terms.items() if k != "invoice_no"}  # URLs are logged
    offer = to_sign(client, act, query)
    check_terms(act, terms, offer)
    if review is not None:
        review(offer)
    signature = sign_typed_data(account, offer.typed_data)
    path = ACT_PATHS[act].format(**terms)
    body = {k: v for k, v in terms.items() if k not in (*_PATH_KEYS, "invoice_hash")}
    body.update(extra or {}, deadline=offer.deadline, signature=signature)
    return ActDone.model_validate(client.call("POST", path, json_body=_jsonable(body)))


def _hashed_numbers(terms: dict[str, Any]) -> dict[str, Any]:
    """A registration's invoice and contract numbers as the hashes the contract keeps (the
    invoice number itself still goes in the signed request's body, for the record)."""
    out = dict(terms)
    if "invoice_no" in out:
        out["invoice_hash"] = "0x" + document_hash(str(out["invoice_no"])).hex()
    if "contract_no" in out:
        out["contract_hash"] = "0x" + document_hash(str(out.pop("contract_no"))).hex()
    return out


def check_hashes(terms: dict[str, Any], offer: ActToSign) -> None:
    message = offer.typed_data.get("message", {})
    for key, field in (("invoice_hash", "invoiceHash"), ("contract_hash", "contractHash")):
        if key in terms and str(message.get(field, "")).lower() != str(terms[key]).lower():
            raise IntegrityError(
                f"the platform's typed data has another {field}; nothing was signed",
                code="typed_data_mismatch",
            )


def _jsonable(body: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in body.items()}


def my_receivables(client: LedgerClient) -> dict[str, Any]:
    return dict(client.call("GET", f"{PREFIX}/receivables"))


def financed_parts(client: LedgerClient, *, current: bool = True) -> list[dict[str, Any]]:
    params = {"financed": "true" if current else "false"}
    return list(client.call("GET", f"{PREFIX}/institution/parts", params=params))
