"""Typed access to the Receivables contract: supply-chain payables confirmed by their debtor,
split and transferred down the chain, financed without double financing.

The contract runs beside the ConsentLedger and reads its enterprises (bound subjects),
institutions and agreements. Amounts are minor units (fen for CNY); invoice and contract numbers
reach the chain only as hashes (``document_hash``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger_api.chain import eip712
from ledger_api.chain.artifacts import load_artifact
from ledger_api.chain.revert import as_chain_error
from ledger_api.chain.transactor import Transactor
from ledger_api.errors import ChainError

CONTRACT_NAME = "Receivables"
RECEIVABLES_VERSION = "1.1.0"
# The catalog's supply_chain category bit: an agreement must cover it to finance a part.
SUPPLY_CHAIN_CATEGORY_BIT = 14
MAX_AMOUNT = 2**48 - 1  # minor units a receivable can hold (uint48 on chain)
DEFAULT_SIGNATURE_TTL_S = 3600


class ReceivableStatus(IntEnum):
    NONE = 0
    PENDING = 1
    CONFIRMED = 2
    SETTLED = 3


class FinanceRefusal(IntEnum):
    NONE = 0
    UNKNOWN_INSTITUTION = 1
    INSTITUTION_SUSPENDED = 2
    NO_ACTIVE_AGREEMENT = 3
    AGREEMENT_OUT_OF_TERM = 4
    CATEGORY_NOT_IN_AGREEMENT = 5
    PURPOSE_NOT_IN_AGREEMENT = 6
    REGISTRY_INDEX_TOO_LARGE = 7


@dataclass(frozen=True)
class ReceivableState:
    receivable_id: int
    debtor: str
    due_date: int
    status: ReceivableStatus
    currency: str
    supplier: str
    amount: int
    settled: int


@dataclass(frozen=True)
class PartState:
    part_id: int
    holder: str
    value: int
    receivable_id: int
    financier_index: int  # the institution's registry index; 0 when not financed

    @property
    def locked(self) -> bool:
        return self.financier_index != 0


@dataclass(frozen=True)
class NewReceivable:
    """What a supplier (or the debtor itself) registers."""

    counterparty: str  # the debtor when a supplier registers, the supplier when the debtor does
    amount: int
    due_date: int
    invoice_number: str
    contract_number: str
    currency: str = "CNY"

    def as_args(self) -> tuple[Any, ...]:
        if not 0 < self.amount <= MAX_AMOUNT:
            raise ChainError(
                f"amount {self.amount} is outside 1..{MAX_AMOUNT} minor units",
                code="amount_out_of_range",
            )
        return (
            Web3.to_checksum_address(self.counterparty),
            self.amount,
            currency_code(self.currency),
            self.due_date,
            document_hash(self.invoice_number),
            document_hash(self.contract_number),
        )


def currency_code(currency: str) -> bytes:
    """ISO 4217 alphabetic code as the contract's bytes3."""
    code = currency.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise ChainError(f"currency {currency!r} is not an ISO 4217 code", code="bad_currency")
    return code.encode("ascii")


def document_hash(number: str) -> bytes:
    """The hash that stands for an invoice or contract number on chain (trimmed, case kept)."""
    text = number.strip()
    if not text:
        raise ChainError("an invoice or contract number is required", code="missing_document")
    return keccak(text=text)


def deploy_receivables(w3: Web3, deployer: Transactor, ledger_address: str) -> str:
    """Deploy the Receivables contract reading ``ledger_address``; return its address."""
    artifact = load_artifact(CONTRACT_NAME)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = deployer.deploy(
        factory, Web3.to_checksum_address(ledger_address), SUPPLY_CHAIN_CATEGORY_BIT
    )
    address = receipt["contractAddress"]
    if address is None:
        raise ChainError("deployment produced no contract address")
    return str(address)


# Signed act (EIP-712 primary type) -> the contract function that relays it.
SIGNED_ACTS = {
    "ReceivableRegistration": "registerReceivableBySig",
    "PayableRegistration": "registerPayableBySig",
    "PartSplit": "splitPartBySig",
    "PartTransfer": "transferPartBySig",
    "PartFinancing": "financePartBySig",
    "PartRelease": "releasePartBySig",
    "PartSettlement": "settlePartBySig",
}


@dataclass(frozen=True)
class SignedAct:
    """A supply-chain act signed by the party entitled to it, for the platform to relay."""

    primary: str
    signer: str
    message: dict[str, Any]
    signature: bytes


class ReceivablesContract:
    """The deployed contract; every write goes through a caller's Transactor."""

    def __init__(self, w3: Web3, address: str) -> None:
        self.w3 = w3
        self.address: ChecksumAddress = Web3.to_checksum_address(address)
        self.contract: Contract = w3.eth.contract(
            address=self.address, abi=load_artifact(CONTRACT_NAME)["abi"]
        )
        self._domain: eip712.Domain | None = None

    @property
    def domain(self) -> eip712.Domain:
        if self._domain is None:
            self._domain = eip712.domain_from_contract(self.contract)
        return self._domain

    def _call(self, fn: str, *args: Any) -> Any:
        try:
            return getattr(self.contract.functions, fn)(*args).call()
        except Exception as exc:
            raise as_chain_error(exc) from None

    def transact(self, sender: Transactor, fn: str, *args: Any) -> TxReceipt:
        return sender.transact(getattr(self.contract.functions, fn)(*args))

    def events(self, receipt: TxReceipt, event: str) -> list[Any]:
        return list(getattr(self.contract.events, event)().process_receipt(receipt, errors=DISCARD))

    # -- writes ----------------------------------------------------------------------------------
    def register_receivable(self, supplier: Transactor, new: NewReceivable) -> int:
        receipt = self.transact(supplier, "registerReceivable", *new.as_args())
        return int(self.events(receipt, "ReceivableRegistered")[0]["args"]["receivableId"])

    def register_payable(self, debtor: Transactor, new: NewReceivable) -> tuple[int, int]:
        receipt = self.transact(debtor, "registerPayable", *new.as_args())
        confirmed = self.events(receipt, "ReceivableConfirmed")[0]["args"]
        return int(confirmed["receivableId"]), int(confirmed["partId"])

    def confirm(self, debtor: Transactor, receivable_id: int) -> int:
        receipt = self.transact(debtor, "confirmReceivable", receivable_id)
        return self._confirmed_part(receipt)

    def confirmation_message(
        self, receivable_id: int, debtor: str, deadline: int | None = None
    ) -> dict[str, Any]:
        """The EIP-712 typed data a debtor signs to confirm (eth_signTypedData_v4 shape)."""
        message = {
            "receivableId": receivable_id,
            "debtor": Web3.to_checksum_address(debtor),
            "deadline": deadline or int(time.time()) + DEFAULT_SIGNATURE_TTL_S,
        }
        return eip712.typed_message(self.domain, "ReceivableConfirmation", message)

    def sign_confirmation(
        self, debtor: LocalAccount, receivable_id: int, deadline: int | None = None
    ) -> tuple[int, bytes]:
        typed = self.confirmation_message(receivable_id, debtor.address, deadline)
        message = typed["message"]
        signature = eip712.sign_typed(debtor.key, self.domain, "ReceivableConfirmation", message)
        return int(message["deadline"]), signature

    def relay_confirmation(
        self, relayer: Transactor, receivable_id: int, deadline: int, signature: bytes
    ) -> tuple[int, TxReceipt]:
        receipt = self.transact(
            relayer, "confirmReceivableBySig", receivable_id, deadline, signature
        )
        return self._confirmed_part(receipt), receipt

    # -- signed acts relayed by the platform (enterprises and banks hold no gas) ------------------
    def nonce_of(self, signer: str) -> int:
        return int(self._call("nonces", Web3.to_checksum_address(signer)))

    def act_message(
        self, primary: str, signer: str, fields: dict[str, Any], deadline: int | None = None
    ) -> dict[str, Any]:
        """The typed data ``signer`` signs for a relayed act (its next nonce, a deadline)."""
        if primary not in SIGNED_ACTS:
            raise ValueError(f"{primary} is not a signed receivables act")
        message = {
            **fields,
            "nonce": self.nonce_of(signer),
            "deadline": deadline or int(time.time()) + DEFAULT_SIGNATURE_TTL_S,
        }
        return eip712.typed_message(self.domain, primary, message)

    def sign_act(
        self,
        signer: LocalAccount,
        primary: str,
        fields: dict[str, Any],
        deadline: int | None = None,
    ) -> SignedAct:
        typed = self.act_message(primary, signer.address, fields, deadline)
        signature = eip712.sign_typed(signer.key, self.domain, primary, typed["message"])
        return SignedAct(primary, signer.address, typed["message"], signature)

    def relay(self, relayer: Transactor, act: SignedAct) -> TxReceipt:
        """Send a signed act; the contract checks the signature, the nonce and the deadline."""
        return relayer.transact(self.relay_function(act))

    def preflight(self, call: ContractFunction, sender: str) -> None:
        """Run ``call`` as ``sender`` without sending it: a refusal raises its typed error here,
        so a relay the contract would refuse costs no failed transaction on a real chain."""
        try:
            call.call({"from": Web3.to_checksum_address(sender)})
        except Exception as exc:
            raise as_chain_error(exc) from None

    def confirmation_function(
        self, receivable_id: int, deadline: int, signature: bytes
    ) -> ContractFunction:
        return self.contract.functions.confirmReceivableBySig(receivable_id, deadline, signature)

    def relay_function(self, act: SignedAct) -> ContractFunction:
        """The contract call that relays ``act`` (not yet sent)."""
        m, signer, deadline = act.message, act.signer, int(act.message["deadline"])
        if act.primary == "ReceivableRegistration":
            terms = (
                m["debtor"], m["amount"], m["currency"], m["dueDate"], m["invoiceHash"],
                m["contractHash"],
            )  # fmt: skip
            args: tuple[Any, ...] = (terms, signer, deadline, act.signature)
        elif act.primary == "PayableRegistration":
            terms = (
                m["supplier"], m["amount"], m["currency"], m["dueDate"], m["invoiceHash"],
                m["contractHash"],
            )  # fmt: skip
            args = (terms, signer, deadline, act.signature)
        elif act.primary == "PartSplit":
            args = (m["partId"], m["value"], signer, deadline, act.signature)
        elif act.primary == "PartTransfer":
            args = (m["partId"], m["to"], signer, deadline, act.signature)
        elif act.primary == "PartFinancing":
            args = (
                m["partId"], m["institution"], m["registryHash"], signer, deadline, act.signature,
            )  # fmt: skip
        elif act.primary == "PartRelease":
            args = (m["partId"], signer, deadline, act.signature)
        else:
            args = (m["partId"], m["value"], signer, deadline, act.signature)
        function: ContractFunction = getattr(self.contract.functions, SIGNED_ACTS[act.primary])
        return function(*args)

    def sign_payable(
        self, debtor: LocalAccount, new: NewReceivable, deadline: int | None = None
    ) -> SignedAct:
        """The debtor's signed PayableRegistration of ``new`` (counterparty: the supplier)."""
        supplier, amount, currency, due, invoice, contract = new.as_args()
        fields = {
            "supplier": supplier, "amount": amount, "currency": currency, "dueDate": due,
            "invoiceHash": invoice, "contractHash": contract,
        }  # fmt: skip
        return self.sign_act(debtor, "PayableRegistration", fields, deadline)

    def relay_payable(self, relayer: Transactor, act: SignedAct) -> tuple[int, int, TxReceipt]:
        """Relay a signed payable: (receivable id, its first part, the receipt)."""
        receipt = self.relay(relayer, act)
        confirmed = self.events(receipt, "ReceivableConfirmed")[0]["args"]
        return int(confirmed["receivableId"]), int(confirmed["partId"]), receipt

    def split(self, holder: Transactor, part_id: int, value: int) -> int:
        receipt = self.transact(holder, "splitPart", part_id, value)
        return int(self.events(receipt, "PartSplit")[0]["args"]["newPartId"])

    def transfer(self, holder: Transactor, part_id: int, to: str) -> TxReceipt:
        return self.transact(holder, "transferPart", part_id, Web3.to_checksum_address(to))

    def finance(
        self, holder: Transactor, part_id: int, institution: str, registry_number: str = ""
    ) -> TxReceipt:
        registry = document_hash(registry_number) if registry_number.strip() else b"\x00" * 32
        return self.transact(
            holder, "financePart", part_id, Web3.to_checksum_address(institution), registry
        )

    def release(self, institution: Transactor, part_id: int) -> TxReceipt:
        return self.transact(institution, "releasePart", part_id)

    def settle(self, debtor: Transactor, part_id: int, value: int) -> TxReceipt:
        return self.transact(debtor, "settlePart", part_id, value)

    def declare_default(self, reporter: Transactor, part_id: int) -> TxReceipt:
        return self.transact(reporter, "declareDefault", part_id)

    # -- reads -----------------------------------------------------------------------------------
    def receivable(self, receivable_id: int) -> ReceivableState:
        debtor, due, status, currency, supplier, amount, settled = self._call(
            "receivable", receivable_id
        )
        return ReceivableState(
            receivable_id,
            str(debtor),
            int(due),
            ReceivableStatus(status),
            bytes(currency).decode("ascii", "replace"),
            str(supplier),
            int(amount),
            int(settled),
        )

    def part(self, part_id: int) -> PartState:
        holder, value, receivable_id, financier = self._call("part", part_id)
        return PartState(part_id, str(holder), int(value), int(receivable_id), int(financier))

    def counts(self) -> tuple[int, int]:
        receivables, parts = self._call("counts")
        return int(receivables), int(parts)

    def key_of(self, debtor: str, invoice_number: str, amount: int) -> bytes:
        return bytes(
            self._call(
                "receivableKey",
                Web3.to_checksum_address(debtor),
                document_hash(invoice_number),
                amount,
            )
        )

    def _confirmed_part(self, receipt: TxReceipt) -> int:
        return int(self.events(receipt, "ReceivableConfirmed")[0]["args"]["partId"])
