"""A regulator's levers: suspend and reinstate an institution, suspend, reinstate or terminate
an agreement.

Only a REGULATOR_ROLE key may make these calls on chain, and the platform's key never holds
that role (separation of duties), so the regulator signs its own transaction: the GET of
``/v1/regulator/acts/{act}/transaction`` prepares it, the regulator's client signs it, and the
route of the act checks it is exactly that call from the requesting regulator before it
broadcasts it. The platform adds nothing but the broadcast; each act is an event the indexer
shows in the ``regulator_acts`` audit view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from eth_account import Account
from eth_account.typed_transactions import TypedTransaction
from fastapi import APIRouter, Path, Query
from hexbytes import HexBytes
from web3 import Web3

from ledger_api.api.auth import Actor, ContextDep, RegulatorDep
from ledger_api.api.context import AppContext
from ledger_api.api.institution_schemas import (
    RegulatorActIn,
    RegulatorActOut,
    UnsignedTransaction,
)
from ledger_api.api.problems import PROBLEMS
from ledger_api.chain.revert import as_chain_error
from ledger_api.chain.transactor import GAS_LIMITS
from ledger_api.chain.types import AgreementStatus
from ledger_api.errors import ChainError, ConflictError, ForbiddenError, InputError, NotFoundError

router = APIRouter(prefix="/v1/regulator", tags=["regulator"], responses=PROBLEMS)

AddressPath = Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{40}$")]
AgreementPath = Annotated[int, Path(ge=1, lt=2**63)]


@dataclass(frozen=True)
class Act:
    function: str  # the contract function
    on_agreement: bool  # the target is an agreement id, else an institution address
    # Agreement acts: the statuses the contract accepts the act from (None: any but one).
    allowed_from: tuple[AgreementStatus, ...] = ()


ACTS: dict[str, Act] = {
    "suspend_institution": Act("suspendInstitution", False),
    "reinstate_institution": Act("reinstateInstitution", False),
    "suspend_agreement": Act("suspendAgreement", True, (AgreementStatus.ACTIVE,)),
    "reinstate_agreement": Act("reinstateAgreement", True, (AgreementStatus.SUSPENDED,)),
    "terminate_agreement": Act(
        "terminateAgreement",
        True,
        tuple(
            s
            for s in AgreementStatus
            if s not in (AgreementStatus.NONE, AgreementStatus.TERMINATED)
        ),
    ),
}


def _target(ctx: AppContext, act: Act, raw: str | int) -> tuple[Any, str]:
    """The call's argument and the name of the institution it hits; refuses what the
    contract would refuse, so that a regulator never signs a transaction bound to revert."""
    if act.on_agreement:
        try:
            agreement_id = int(raw)
        except ValueError:
            raise InputError("an agreement act's target is its id", code="invalid_target") from None
        index, status = ctx.ledger.agreement_owner(agreement_id)
        if status == AgreementStatus.NONE:
            raise NotFoundError(f"no agreement {agreement_id}", code="unknown_agreement")
        if status not in act.allowed_from:
            raise ConflictError(
                f"agreement {agreement_id} is {status.name.lower()}",
                code=f"agreement_{status.name.lower()}",
            )
        profile = ctx.strict_state.institution_at(index)  # the chain's, not a lagging replica
        return agreement_id, profile.name if profile else ""
    if not Web3.is_address(str(raw)):
        raise InputError("an institution act's target is its address", code="invalid_target")
    address = Web3.to_checksum_address(str(raw))
    registered = ctx.ledger.institution_profile(address)
    if registered is None:
        raise NotFoundError(f"no institution {address}", code="unknown_institution")
    return address, registered[0]


def _act(name: str) -> Act:
    act = ACTS.get(name)
    if act is None:
        raise NotFoundError(f"unknown act {name!r}; one of {', '.join(ACTS)}", code="unknown_act")
    return act


@router.get(
    "/acts/{act}/transaction",
    response_model=UnsignedTransaction,
    summary="Prepare a regulator's act as a transaction for the regulator's key to sign",
)
def prepare_act(
    act: Annotated[str, Path(max_length=32)],
    ctx: ContextDep,
    actor: RegulatorDep,
    target: Annotated[str, Query(max_length=66, description="institution address or agreement id")],
) -> UnsignedTransaction:
    chosen = _act(act)
    argument, name = _target(ctx, chosen, target)
    w3 = ctx.ledger.w3
    call = ctx.ledger.contract.get_function_by_name(chosen.function)(argument)
    tx = call.build_transaction(
        {
            "from": actor.address,
            "nonce": w3.eth.get_transaction_count(
                Web3.to_checksum_address(actor.address), "pending"
            ),
            "gas": GAS_LIMITS[chosen.function],
            "gasPrice": w3.eth.gas_price,
            "chainId": w3.eth.chain_id,
            # EIP-2930 (type 1): a typed transaction the platform decodes with eth-account's
            # public API, priced like the platform's own (legacy gasPrice).
            "type": 1,
            "accessList": [],
        }
    )
    transaction = {
        k: tx[k]
        for k in ("type", "to", "data", "gas", "gasPrice", "nonce", "chainId", "accessList")
    }
    return UnsignedTransaction(
        act=act, target=str(argument), target_name=name, transaction=transaction
    )


def _decoded(raw: bytes) -> tuple[str, bytes]:
    """The ``to`` and ``data`` of a signed typed transaction (as ``prepare_act`` makes them)."""
    try:
        fields = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
        return Web3.to_checksum_address(fields["to"]), bytes(fields["data"])
    except Exception:  # any malformed encoding: the caller's input, not our failure
        raise InputError("not a signed transaction", code="bad_transaction") from None


def _submit(
    ctx: AppContext, actor: Actor, act_name: str, target: str | int, body: RegulatorActIn
) -> RegulatorActOut:
    act = ACTS[act_name]
    argument, name = _target(ctx, act, target)
    raw = bytes.fromhex(body.signed_transaction[2:])
    to, data = _decoded(raw)
    try:
        sender = Account.recover_transaction(raw)
    except Exception:
        raise InputError("the transaction's signature is invalid", code="bad_transaction") from None
    if sender != actor.address:
        raise ForbiddenError(
            "the transaction is not signed by the requesting regulator",
            code="transaction_signer_mismatch",
        )
    expected = ctx.ledger.contract.encode_abi(act.function, [argument])
    if to != ctx.ledger.address or data != bytes.fromhex(expected[2:]):
        raise InputError(
            f"the transaction is not {act.function}({argument}) on the ledger",
            code="transaction_mismatch",
        )
    w3 = ctx.ledger.w3
    try:
        tx_hash = w3.eth.send_raw_transaction(raw)
    except Exception as exc:  # eth-tester executes on send and raises on revert
        raise as_chain_error(exc) from None
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
    if receipt["status"] != 1:
        raise ChainError(f"{act.function} reverted", code="act_reverted")
    return RegulatorActOut(
        act=act_name,
        tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
        block_number=int(receipt["blockNumber"]),
        target=str(argument),
        target_name=name,
        regulator=actor.address,
    )


@router.post(
    "/institutions/{address}/suspension",
    response_model=RegulatorActOut,
    status_code=201,
    summary="Suspend an institution: every read it makes is refused from the next block on",
)
def suspend_institution(
    address: AddressPath, body: RegulatorActIn, ctx: ContextDep, actor: RegulatorDep
) -> RegulatorActOut:
    return _submit(ctx, actor, "suspend_institution", address, body)


@router.delete(
    "/institutions/{address}/suspension",
    response_model=RegulatorActOut,
    summary="Reinstate a suspended institution",
)
def reinstate_institution(
    address: AddressPath, body: RegulatorActIn, ctx: ContextDep, actor: RegulatorDep
) -> RegulatorActOut:
    return _submit(ctx, actor, "reinstate_institution", address, body)


@router.post(
    "/agreements/{agreement_id}/suspension",
    response_model=RegulatorActOut,
    status_code=201,
    summary="Suspend an active agreement",
)
def suspend_agreement(
    agreement_id: AgreementPath, body: RegulatorActIn, ctx: ContextDep, actor: RegulatorDep
) -> RegulatorActOut:
    return _submit(ctx, actor, "suspend_agreement", agreement_id, body)


@router.delete(
    "/agreements/{agreement_id}/suspension",
    response_model=RegulatorActOut,
    summary="Lift an agreement's suspension",
)
def reinstate_agreement(
    agreement_id: AgreementPath, body: RegulatorActIn, ctx: ContextDep, actor: RegulatorDep
) -> RegulatorActOut:
    return _submit(ctx, actor, "reinstate_agreement", agreement_id, body)


@router.post(
    "/agreements/{agreement_id}/termination",
    response_model=RegulatorActOut,
    status_code=201,
    summary="Terminate an agreement for good",
)
def terminate_agreement(
    agreement_id: AgreementPath, body: RegulatorActIn, ctx: ContextDep, actor: RegulatorDep
) -> RegulatorActOut:
    return _submit(ctx, actor, "terminate_agreement", agreement_id, body)
