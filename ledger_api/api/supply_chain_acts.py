"""The supply-chain acts an enterprise or a bank signs through the platform, in people's terms.

A request names enterprises by USCC (or address), institutions by name (or address) and
amounts in yuan with at most two decimals; :func:`act_fields` turns that into the EIP-712
message fields of the Receivables contract (addresses, fen, hashes). The wallet asks for the
typed data, shows it in words, signs it, and posts the same fields back with the signature;
the platform rebuilds the message with the signer's current nonce, checks the signature is the
requester's and relays it through the durable transaction queue (nobody holds gas).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import insert
from web3 import Web3

from ledger_api.chain import eip712
from ledger_api.chain.receivables import (
    MAX_AMOUNT,
    SIGNED_ACTS,
    ReceivablesContract,
    currency_code,
    document_hash,
)
from ledger_api.chain.revert import ContractRevert
from ledger_api.chain.signatures import signature_from_hex
from ledger_api.chain.state import ChainState, InstitutionProfile
from ledger_api.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from ledger_api.identity.uscc import subject_id as make_subject_id
from ledger_api.identity.uscc import validate_uscc
from ledger_api.store.supply_chain import SUPPLY_CHAIN_REFUSALS

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_YUAN = re.compile(r"^\d{1,13}(\.\d{1,2})?$")
MAX_INSTITUTIONS = 4096  # registry indices scanned when an institution is named by name

# API act name -> (EIP-712 primary type, the role that signs it).
ACTS: dict[str, tuple[str, str]] = {
    "registration": ("ReceivableRegistration", "subject"),
    "payable": ("PayableRegistration", "subject"),  # the debtor registers: confirmed at once
    "confirmation": ("ReceivableConfirmation", "subject"),
    "split": ("PartSplit", "subject"),
    "transfer": ("PartTransfer", "subject"),
    "financing": ("PartFinancing", "subject"),
    "release": ("PartRelease", "institution"),
    "settlement": ("PartSettlement", "subject"),
}


def to_fen(amount: str, what: str = "amount") -> int:
    """``"1234.56"`` yuan -> 123456 fen; refuses more than two decimals, zero and overflow."""
    text = amount.strip()
    if not _YUAN.match(text):
        raise InputError(
            f"{what} {amount!r} is not yuan with at most two decimals", code="bad_amount"
        )
    try:
        fen = int(Decimal(text) * 100)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise InputError(f"{what} {amount!r} is not a number", code="bad_amount") from None
    if not 0 < fen <= MAX_AMOUNT:
        raise InputError(
            f"{what} must be between 0.01 and {MAX_AMOUNT / 100:.2f}", code="bad_amount"
        )
    return fen


def yuan(fen: int) -> str:
    """123456 fen -> ``"1234.56"`` (the catalog's decimal with scale 2)."""
    return f"{fen // 100}.{fen % 100:02d}"


def due_timestamp(day: date) -> int:
    """A due date as the contract's UTC seconds: the end of that day in China (UTC+8)."""
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    return start + 16 * 3600 - 1


def due_day(timestamp: int) -> date:
    return datetime.fromtimestamp(timestamp + 8 * 3600, tz=UTC).date()


@dataclass(frozen=True)
class Enterprise:
    address: str
    uscc: str | None  # known when the request named it by USCC


def resolve_enterprise(state: ChainState, text: str, pseudonym_key: bytes) -> Enterprise:
    """An enterprise bound on the ledger, named by its USCC or its wallet address."""
    value = text.strip()
    if _ADDRESS.match(value):
        address = Web3.to_checksum_address(value)
        if state.subject_by_account(address) is None:
            raise InputError(f"{address} is no registered enterprise", code="not_an_enterprise")
        return Enterprise(address, None)
    uscc = validate_uscc(value.upper())
    binding = state.subject_by_id(make_subject_id(uscc, pseudonym_key))
    if binding is None:
        raise InputError(
            "this enterprise has not registered on the platform", code="not_an_enterprise"
        )
    return Enterprise(Web3.to_checksum_address(binding.account), uscc)


def resolve_institution(state: ChainState, text: str) -> InstitutionProfile:
    """A registered institution, named by its registry name or its address."""
    value = text.strip()
    if _ADDRESS.match(value):
        profile = state.institution(Web3.to_checksum_address(value))
        if profile is None:
            raise InputError(f"{value} is no registered institution", code="unknown_institution")
        return profile
    for index in range(1, MAX_INSTITUTIONS):
        profile = state.institution_at(index)
        if profile is None:
            break
        if profile.name == value:
            return profile
    raise InputError(f"no institution is named {value!r}", code="unknown_institution")


@dataclass(frozen=True)
class ActRequest:
    """What a request asks to sign, before it is turned into contract terms."""

    act: str
    receivable_id: int | None = None
    part_id: int | None = None
    debtor: str | None = None
    supplier: str | None = None  # a debtor's payable: whom it owes
    amount: str | None = None
    currency: str = "CNY"
    due_date: date | None = None
    invoice_no: str | None = None
    invoice_hash: str | None = None  # 0x-hex; instead of the number where it must not travel
    contract_hash: str | None = None
    value: str | None = None
    to: str | None = None
    institution: str | None = None
    registry_no: str = ""


@dataclass(frozen=True)
class ResolvedAct:
    primary: str
    fields: dict[str, Any]  # the message without nonce and deadline (raw: bytes, ints)
    words: str  # what is signed, in words
    debtor: Enterprise | None = None
    institution: InstitutionProfile | None = None


def _need(value: Any, name: str) -> Any:
    if value is None or value == "":
        raise InputError(f"{name} is required for this act", code="missing_field")
    return value


def _invoice_hash(request: ActRequest) -> bytes:
    """The invoice's hash; when the number is given too, it must be the number's hash."""
    if request.invoice_no is not None:
        hashed = document_hash(request.invoice_no)
        if request.invoice_hash is not None and request.invoice_hash.lower() != "0x" + hashed.hex():
            raise InputError("invoice_hash is not the invoice number's hash", code="hash_mismatch")
        return hashed
    return bytes.fromhex(_need(request.invoice_hash, "invoice_hash")[2:])


def act_fields(
    state: ChainState, request: ActRequest, signer: str, pseudonym_key: bytes
) -> ResolvedAct:
    """The contract terms of ``request`` signed by ``signer`` (InputError when incomplete)."""
    if request.act not in ACTS:
        raise NotFoundError(f"no supply-chain act {request.act!r}", code="unknown_act")
    primary = ACTS[request.act][0]
    if request.act in ("registration", "payable"):
        return _registration(state, request, primary, pseudonym_key)
    if request.act == "confirmation":
        rid = _need(request.receivable_id, "receivable_id")
        fields = {"receivableId": rid, "debtor": Web3.to_checksum_address(signer)}
        return ResolvedAct(primary, fields, f"Confirm receivable {rid}: you owe it at maturity")
    part_id = _need(request.part_id, "part_id")
    if request.act in ("split", "settlement"):
        fen = to_fen(_need(request.value, "value"), "value")
        fields = {"partId": part_id, "value": fen}
        verb = "Split off" if request.act == "split" else "Record a payment of"
        words = f"{verb} {yuan(fen)} {'from' if request.act == 'split' else 'on'} part {part_id}"
        return ResolvedAct(primary, fields, words)
    if request.act == "transfer":
        to = resolve_enterprise(state, _need(request.to, "to"), pseudonym_key)
        fields = {"partId": part_id, "to": to.address}
        return ResolvedAct(primary, fields, f"Transfer part {part_id} to {request.to}")
    if request.act == "financing":
        profile = resolve_institution(state, _need(request.institution, "institution"))
        registry = request.registry_no.strip()
        fields = {
            "partId": part_id,
            "institution": Web3.to_checksum_address(profile.address),
            "registryHash": document_hash(registry) if registry else b"\x00" * 32,
        }
        words = f"Finance part {part_id} with {profile.name}; the part is locked until released"
        if registry:
            words += f" (registry number {registry})"
        return ResolvedAct(primary, fields, words, institution=profile)
    return ResolvedAct(primary, {"partId": part_id}, f"Release the lock on part {part_id}")


def _registration(
    state: ChainState, request: ActRequest, primary: str, pseudonym_key: bytes
) -> ResolvedAct:
    """A supplier's receivable or a debtor's payable: the same terms, the other party named."""
    fen = to_fen(_need(request.amount, "amount"))
    due = _need(request.due_date, "due_date")
    terms = {
        "amount": fen,
        "currency": currency_code(request.currency),
        "dueDate": due_timestamp(due),
        "invoiceHash": _invoice_hash(request),
        "contractHash": bytes.fromhex(_need(request.contract_hash, "contract_hash")[2:]),
    }
    money = f"{yuan(fen)} {request.currency.upper()}"
    if request.act == "payable":
        named = _need(request.supplier, "supplier")
        supplier = resolve_enterprise(state, named, pseudonym_key)
        words = (
            f"Register that you owe {named} (supplier {supplier.address}) {money}, due "
            f"{due.isoformat()}; this counts as your confirmation; invoice and contract numbers "
            "as hashes"
        )
        fields = {"supplier": supplier.address, **terms}
        return ResolvedAct(primary, fields, words)
    named = _need(request.debtor, "debtor")
    debtor = resolve_enterprise(state, named, pseudonym_key)
    words = (
        f"Register a receivable of {money} owed by {named} (debtor {debtor.address}), due "
        f"{due.isoformat()}; invoice and contract numbers as hashes"
    )
    return ResolvedAct(primary, {"debtor": debtor.address, **terms}, words, debtor=debtor)


def typed_data(
    contract: ReceivablesContract, resolved: ResolvedAct, signer: str, deadline: int
) -> dict[str, Any]:
    """The EIP-712 typed data to sign (bytes as 0x-hex, so it is JSON and signable as is)."""
    message = full_message(contract, resolved, signer, deadline)
    typed = eip712.typed_message(contract.domain, resolved.primary, message)
    typed["message"] = {k: _jsonable(v) for k, v in typed["message"].items()}
    return typed


def full_message(
    contract: ReceivablesContract, resolved: ResolvedAct, signer: str, deadline: int
) -> dict[str, Any]:
    message = {**resolved.fields, "deadline": deadline}
    if resolved.primary in SIGNED_ACTS:  # every act but a confirmation carries a nonce
        message["nonce"] = contract.nonce_of(signer)
    return message


def check_signed_by(
    contract: ReceivablesContract,
    resolved: ResolvedAct,
    signer: str,
    deadline: int,
    signature_hex: str,
) -> tuple[dict[str, Any], bytes]:
    """The message and signature, once the signature is ``signer``'s over these terms (an
    ECDSA signature checked here; a contract wallet's left to the contract)."""
    signature = signature_from_hex(signature_hex)
    message = full_message(contract, resolved, signer, deadline)
    try:
        recovered = eip712.recover_typed(contract.domain, resolved.primary, message, signature)
    except Exception:  # not a 65-byte low-s ECDSA signature (eth-keys raises its own errors)
        recovered = None
    address = Web3.to_checksum_address(signer)
    # A contract wallet signs by ERC-1271, which only the contract checks (the relay is
    # simulated before it is sent, so a bad one is refused without a transaction).
    if recovered != address and not contract.w3.eth.get_code(address):
        raise ForbiddenError(
            "the signature is not the requester's over these terms (with its current nonce)",
            code="signer_mismatch",
        )
    return message, signature


def _jsonable(value: Any) -> Any:
    return "0x" + value.hex() if isinstance(value, bytes) else value


_REFUSAL_WORDS = {
    "part_locked": "part {partId} is financed with {financier} and locked: it cannot be "
    "financed again, split or transferred until that institution releases it",
    "not_holder": "part {partId} is not yours to move or finance",
    "not_debtor": "only the debtor of receivable {receivableId} may do this",
    "value_exceeds_part": "{value} yuan is more than part {partId} holds ({held} yuan)",
    "duplicate_receivable": "this receivable (same debtor, invoice number and amount) is "
    "already registered, as receivable {existingId}",
    "due_date_out_of_range": "the due date must be after today and at most a year from now",
    "institution_cannot_finance": "{institution} cannot finance supply-chain receivables "
    "({reason})",
    "not_financier": "only the institution that financed part {partId} may release it",
    "part_not_locked": "part {partId} is not financed",
    "part_matured": "part {partId} is past its due date and no longer moves",
    "unknown_part": "there is no part {partId}",
    "receivable_not_pending": "receivable {receivableId} is not waiting for confirmation",
    "same_party": "an enterprise cannot owe or pass a receivable to itself",
    "not_a_subject": "{account} is no registered enterprise",
}
_FINANCE_REASONS = {
    1: "not a registered institution", 2: "suspended", 3: "no active agreement",
    4: "agreement out of term", 5: "its agreement does not cover the supply_chain category",
    6: "its agreement does not cover the supply_chain_finance purpose",
    7: "registry index too large",
}  # fmt: skip


def refusal_in_words(exc: ContractRevert, state: ChainState) -> str:
    """A contract refusal as a sentence (amounts in yuan, institutions by name)."""
    template = _REFUSAL_WORDS.get(exc.code)
    if template is None:
        return str(exc.detail)
    args: dict[str, Any] = dict(exc.args_by_name)
    for key in ("financier", "institution"):
        if isinstance(args.get(key), str):
            profile = state.institution(Web3.to_checksum_address(args[key]))
            args[key] = profile.name if profile is not None else args[key]
    for key in ("value", "held"):
        if isinstance(args.get(key), int):
            args[key] = yuan(args[key])
    if "reason" in args:
        args["reason"] = _FINANCE_REASONS.get(int(args["reason"]), str(args["reason"]))
    try:
        return template.format(**args)
    except (KeyError, IndexError):
        return str(exc.detail)


@contextmanager
def recording_refusals(
    engine: Any,
    state: ChainState,
    actor: str,
    act: str,
    *,
    part_id: int | None = None,
    receivable_id: int | None = None,
    institution: str | None = None,
) -> Iterator[None]:
    """Keep every contract refusal of a supply-chain act with the part it named, then answer
    it in words with the contract error's code (409 problem+json; the problem handlers write
    its access-log entry)."""
    try:
        yield
    except ContractRevert as exc:
        words = refusal_in_words(exc, state)
        with engine.begin() as conn:
            conn.execute(
                insert(SUPPLY_CHAIN_REFUSALS).values(
                    at=datetime.now(UTC),
                    actor=actor,
                    act=act,
                    part_id=part_id,
                    receivable_id=receivable_id,
                    institution=institution,
                    code=exc.code,
                    detail=words[:400],
                )
            )
        raise ConflictError(words, code=exc.code, contract_error=exc.error_name) from None
