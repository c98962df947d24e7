"""Supply-chain finance routes: receivables confirmed by a core enterprise, split and passed down
the chain, financed with a bank without double financing (docs/supply-chain.md).

Every act is signed by its party (EIP-712, the Receivables contract's domain) and relayed by
the platform through its durable transaction queue. ``GET /typed-data/{act}`` returns what to
sign; the act's ``POST`` takes the same terms with the deadline and signature. A contract
refusal is a 409 problem+json with the contract error's code (``part_locked``, ``not_holder``,
...), logged in the access log like every refusal and kept with the part it named.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.concurrency import run_in_threadpool

from ledger_api.api.auth import ContextDep, InstitutionDep, SubjectDep
from ledger_api.api.problems import PROBLEMS
from ledger_api.api.supply_chain_acts import (
    ActRequest,
    ResolvedAct,
    act_fields,
    check_signed_by,
    recording_refusals,
    resolve_enterprise,
    typed_data,
)
from ledger_api.api.supply_chain_lists import parts_financed_by, receivables_of
from ledger_api.api.supply_chain_overdue import chain_now
from ledger_api.api.supply_chain_records import keep_document, record_state
from ledger_api.api.supply_chain_schemas import (
    ActDone,
    ActToSign,
    ConfirmationTerms,
    FinancingTerms,
    MyReceivables,
    PartOut,
    PartTerms,
    PayableTerms,
    ReceivableTerms,
    Signed,
    SignedConfirmation,
    SignedFinancing,
    SignedPayable,
    SignedReceivable,
    SignedTransfer,
    SignedValue,
    TransferTerms,
    ValueTerms,
)
from ledger_api.chain.receivables import (
    DEFAULT_SIGNATURE_TTL_S,
    ReceivablesContract,
    ReceivableStatus,
    SignedAct,
)
from ledger_api.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from ledger_api.identity.uscc import subject_id as make_subject_id
from ledger_api.identity.uscc import validate_uscc

# One tag per role (the role-confusion suite classifies every operation by its tag).
router = APIRouter(prefix="/v1/supply-chain", tags=["subject"], responses=PROBLEMS)
institution_router = APIRouter(prefix="/v1/supply-chain", tags=["institution"], responses=PROBLEMS)
PartPath = Annotated[int, Path(ge=1, lt=2**64)]
ReceivablePath = Annotated[int, Path(ge=1, lt=2**32)]


def _contract(ctx: Any) -> ReceivablesContract:
    if ctx.receivables is None:
        raise ConflictError(
            "this deployment has no Receivables contract", code="supply_chain_not_deployed"
        )
    contract: ReceivablesContract = ctx.receivables
    return contract


def _resolve(ctx: Any, request: ActRequest, signer: str) -> ResolvedAct:
    return act_fields(ctx.state(), request, signer, ctx.settings.pseudonym_key_bytes)


def _to_sign(ctx: Any, request: ActRequest, signer: str) -> ActToSign:
    contract = _contract(ctx)
    resolved = _resolve(ctx, request, signer)
    deadline = int(ctx.clock()) + DEFAULT_SIGNATURE_TTL_S
    return ActToSign(
        act=request.act,
        primary_type=resolved.primary,
        summary=resolved.words,
        deadline=deadline,
        typed_data=typed_data(contract, resolved, signer, deadline),
    )


def _done(act: str, receipt: Any, **ids: Any) -> ActDone:
    return ActDone(
        act=act,
        tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
        block_number=int(receipt["blockNumber"]),
        **ids,
    )


# -- what to sign --------------------------------------------------------------------------


@router.get(
    "/typed-data/registration",
    response_model=ActToSign,
    summary="The EIP-712 ReceivableRegistration a supplier signs (amount in yuan)",
)
def registration_to_sign(
    terms: Annotated[ReceivableTerms, Query()], ctx: ContextDep, actor: SubjectDep
) -> ActToSign:
    return _to_sign(ctx, ActRequest("registration", **terms.model_dump()), actor.address)


@router.get(
    "/typed-data/payable",
    response_model=ActToSign,
    summary="The EIP-712 PayableRegistration a core enterprise signs for what it owes a supplier",
)
def payable_to_sign(
    terms: Annotated[PayableTerms, Query()], ctx: ContextDep, actor: SubjectDep
) -> ActToSign:
    return _to_sign(ctx, ActRequest("payable", **terms.model_dump()), actor.address)


@router.get(
    "/typed-data/confirmation",
    response_model=ActToSign,
    summary="The EIP-712 ReceivableConfirmation the debtor signs",
)
def confirmation_to_sign(
    terms: Annotated[ConfirmationTerms, Query()], ctx: ContextDep, actor: SubjectDep
) -> ActToSign:
    return _to_sign(ctx, ActRequest("confirmation", **terms.model_dump()), actor.address)


@router.get("/typed-data/split", response_model=ActToSign, summary="PartSplit (holder)")
def split_to_sign(
    terms: Annotated[ValueTerms, Query()], ctx: ContextDep, actor: SubjectDep
) -> ActToSign:
    return _to_sign(ctx, ActRequest("split", **terms.model_dump()), actor.address)


@router.get("/typed-data/transfer", response_model=ActToSign, summary="PartTransfer (holder)")
def transfer_to_sign(
    terms: Annotated[TransferTerms, Query()], ctx: ContextDep, actor: SubjectDep
) -> ActToSign:
    return _to_sign(ctx, ActRequest("transfer", **terms.model_dump()), actor.address)


@router.get("/typed-data/financing", response_model=ActToSign, summary="PartFinancing (holder)")
def financing_to_sign(
    terms: Annotated[FinancingTerms, Query()], ctx: ContextDep, actor: SubjectDep
) -> ActToSign:
    return _to_sign(ctx, ActRequest("financing", **terms.model_dump()), actor.address)


@router.get("/typed-data/settlement", response_model=ActToSign, summary="PartSettlement (debtor)")
def settlement_to_sign(
    terms: Annotated[ValueTerms, Query()], ctx: ContextDep, actor: SubjectDep
) -> ActToSign:
    return _to_sign(ctx, ActRequest("settlement", **terms.model_dump()), actor.address)


@institution_router.get(
    "/typed-data/release", response_model=ActToSign, summary="PartRelease (the financier)"
)
def release_to_sign(
    terms: Annotated[PartTerms, Query()], ctx: ContextDep, actor: InstitutionDep
) -> ActToSign:
    return _to_sign(ctx, ActRequest("release", **terms.model_dump()), actor.address)


# -- the acts ------------------------------------------------------------------------------


def _relay(ctx: Any, request: ActRequest, signer: str, body: Signed) -> tuple[ResolvedAct, Any]:
    """Check the signature is ``signer``'s over the request's terms, then relay it."""
    contract = _contract(ctx)
    if request.act == "confirmation":
        _require_debtor(contract, int(request.receivable_id or 0), signer)
    resolved = _resolve(ctx, request, signer)
    message, signature = check_signed_by(contract, resolved, signer, body.deadline, body.signature)
    institution = resolved.institution.address if resolved.institution else None
    with recording_refusals(
        ctx.engine, ctx.state(), signer, request.act,
        part_id=request.part_id, receivable_id=request.receivable_id, institution=institution,
    ):  # fmt: skip
        if request.act == "confirmation":
            rid = int(message["receivableId"])
            call = contract.confirmation_function(rid, body.deadline, signature)
        else:
            call = contract.relay_function(SignedAct(resolved.primary, signer, message, signature))
        contract.preflight(call, ctx.relayer.address)
        receipt = ctx.relayer.transact(call)
    return resolved, receipt


def _require_debtor(contract: ReceivablesContract, receivable_id: int, signer: str) -> None:
    """Only the debtor confirms (the contract would refuse too, as a bad signature)."""
    owed = contract.receivable(receivable_id)
    if owed.status is ReceivableStatus.NONE:
        raise NotFoundError(f"no receivable {receivable_id}", code="unknown_receivable")
    if owed.debtor != signer:
        raise ForbiddenError(
            f"only the debtor confirms receivable {receivable_id}", code="not_debtor"
        )


def _own_uscc(ctx: Any, actor: Any, supplied: str | None, field: str = "supplier_uscc") -> str:
    """The requester's own USCC, checked against the subject its key is bound to."""
    if supplied is None:
        raise InputError(
            f"{field} (your own USCC) is needed for the supply_chain record",
            code=f"{field}_required",
        )
    uscc = validate_uscc(supplied.strip().upper())
    if make_subject_id(uscc, ctx.settings.pseudonym_key_bytes) != actor.subject.subject_id:
        raise InputError(f"{field} is not the enterprise of this key", code="uscc_mismatch")
    return uscc


@router.post(
    "/receivables",
    response_model=ActDone,
    status_code=201,
    summary="Relay a supplier's signed registration of a receivable (pending until confirmed)",
)
def register_receivable(body: SignedReceivable, ctx: ContextDep, actor: SubjectDep) -> ActDone:
    supplier_uscc = _own_uscc(ctx, actor, body.supplier_uscc)
    # Both USCCs are known before relaying: a registration on chain always gets its document.
    debtor = resolve_enterprise(ctx.state(), body.debtor, ctx.settings.pseudonym_key_bytes)
    debtor_uscc = debtor.uscc or _uscc_of(ctx, debtor.address, "debtor")
    terms = body.model_dump(exclude={"deadline", "signature", "supplier_uscc"})
    request = ActRequest("registration", **terms)
    _, receipt = _relay(ctx, request, actor.address, body)
    event = _contract(ctx).events(receipt, "ReceivableRegistered")[0]["args"]
    rid = int(event["receivableId"])
    keep_document(
        ctx, rid, actor.address, debtor.address,
        supplier_uscc=supplier_uscc, debtor_uscc=debtor_uscc, invoice_no=body.invoice_no,
    )  # fmt: skip
    return _done("registration", receipt, receivable_id=rid)


def _uscc_of(ctx: Any, address: str, role: str) -> str:
    binding = ctx.state().subject_by_account(address)
    try:
        with ctx.engine.connect() as conn:
            return str(ctx.keyrings.current().uscc_of(conn, binding.subject_id))
    except Exception:
        raise InputError(
            f"name the {role} by its USCC: the platform does not know this address's USCC",
            code=f"{role}_uscc_required",
        ) from None


@router.post(
    "/payables",
    response_model=ActDone,
    status_code=201,
    summary="Relay a core enterprise's signed registration of its own payable (confirmed at "
    "once); the supplier's supply_chain record follows",
)
def register_payable(body: SignedPayable, ctx: ContextDep, actor: SubjectDep) -> ActDone:
    debtor_uscc = _own_uscc(ctx, actor, body.debtor_uscc, "debtor_uscc")
    # Both USCCs are known before relaying: a payable on chain always gets its record.
    supplier = resolve_enterprise(ctx.state(), body.supplier, ctx.settings.pseudonym_key_bytes)
    supplier_uscc = supplier.uscc or _uscc_of(ctx, supplier.address, "supplier")
    terms = body.model_dump(exclude={"deadline", "signature", "debtor_uscc"})
    _, receipt = _relay(ctx, ActRequest("payable", **terms), actor.address, body)
    contract = _contract(ctx)
    confirmed = contract.events(receipt, "ReceivableConfirmed")[0]["args"]
    rid, part_id = int(confirmed["receivableId"]), int(confirmed["partId"])
    keep_document(
        ctx, rid, supplier.address, actor.address,
        supplier_uscc=supplier_uscc, debtor_uscc=debtor_uscc, invoice_no=body.invoice_no,
    )  # fmt: skip
    record_state(ctx, contract.receivable(rid), "confirmed")
    return _done("payable", receipt, receivable_id=rid, part_id=part_id, record_status="confirmed")


@router.post(
    "/receivables/{receivable_id}/confirmation",
    response_model=ActDone,
    summary="Relay the debtor's signed confirmation; the supplier's supply_chain record follows",
)
def confirm_receivable(
    receivable_id: ReceivablePath, body: SignedConfirmation, ctx: ContextDep, actor: SubjectDep
) -> ActDone:
    request = ActRequest("confirmation", receivable_id=receivable_id)
    _, receipt = _relay(ctx, request, actor.address, body)
    contract = _contract(ctx)
    part_id = int(contract.events(receipt, "ReceivableConfirmed")[0]["args"]["partId"])
    owed = contract.receivable(receivable_id)
    record_state(ctx, owed, "confirmed")
    return _done(
        "confirmation", receipt, receivable_id=receivable_id, part_id=part_id,
        record_status="confirmed",
    )  # fmt: skip


@router.post("/parts/{part_id}/split", response_model=ActDone, summary="Relay a signed split")
def split_part(part_id: PartPath, body: SignedValue, ctx: ContextDep, actor: SubjectDep) -> ActDone:
    request = ActRequest("split", part_id=part_id, value=body.value)
    _, receipt = _relay(ctx, request, actor.address, body)
    new_part = int(_contract(ctx).events(receipt, "PartSplit")[0]["args"]["newPartId"])
    return _done("split", receipt, part_id=part_id, new_part_id=new_part)


@router.post("/parts/{part_id}/transfer", response_model=ActDone, summary="Relay a signed transfer")
def transfer_part(
    part_id: PartPath, body: SignedTransfer, ctx: ContextDep, actor: SubjectDep
) -> ActDone:
    request = ActRequest("transfer", part_id=part_id, to=body.to)
    _, receipt = _relay(ctx, request, actor.address, body)
    return _done("transfer", receipt, part_id=part_id)


@router.post(
    "/parts/{part_id}/financing",
    response_model=ActDone,
    summary="Relay a signed financing with an institution; the part is locked",
)
def finance_part(
    part_id: PartPath, body: SignedFinancing, ctx: ContextDep, actor: SubjectDep
) -> ActDone:
    request = ActRequest(
        "financing", part_id=part_id, institution=body.institution, registry_no=body.registry_no
    )
    _, receipt = _relay(ctx, request, actor.address, body)
    status = _record_after(ctx, part_id, "financed")
    return _done("financing", receipt, part_id=part_id, record_status=status)


@router.post(
    "/parts/{part_id}/settlement",
    response_model=ActDone,
    summary="Relay the debtor's signed payment on a part (a fully paid financed part is released)",
)
def settle_part(
    part_id: PartPath, body: SignedValue, ctx: ContextDep, actor: SubjectDep
) -> ActDone:
    request = ActRequest("settlement", part_id=part_id, value=body.value)
    _, receipt = _relay(ctx, request, actor.address, body)
    status = _record_after(ctx, part_id, None)
    return _done("settlement", receipt, part_id=part_id, record_status=status)


@institution_router.post(
    "/parts/{part_id}/release",
    response_model=ActDone,
    summary="Relay the financing institution's signed release of a part's lock",
)
def release_part(
    part_id: PartPath, body: SignedConfirmation, ctx: ContextDep, actor: InstitutionDep
) -> ActDone:
    request = ActRequest("release", part_id=part_id)
    _, receipt = _relay(ctx, request, actor.address, body)
    return _done("release", receipt, part_id=part_id)


def _record_after(ctx: Any, part_id: int, status: str | None) -> str | None:
    """Bring the supplier's record to the receivable's new state: financed; paid once the
    debtor has settled it all; overdue when a payment leaves it unpaid past its due date.
    None when the platform holds no record of it (registered directly on chain) or nothing
    changed."""
    contract = _contract(ctx)
    owed = contract.receivable(contract.part(part_id).receivable_id)
    if owed.status is ReceivableStatus.SETTLED:
        status = "paid"
    elif status is None and owed.due_date < chain_now(ctx):
        status = "overdue"
    if status is None:
        return None
    try:
        changed = record_state(ctx, owed, status)
    except NotFoundError as exc:
        if exc.code == "receivable_unknown_to_platform":
            return None
        raise
    return status if changed else None


# -- lists -----------------------------------------------------------------------------------


@router.get(
    "/receivables",
    response_model=MyReceivables,
    summary="My receivables (as supplier and as debtor) and the parts I hold or owe",
)
async def my_receivables(ctx: ContextDep, actor: SubjectDep) -> MyReceivables:
    def read() -> dict[str, Any]:
        with ctx.engine.connect() as conn:
            return receivables_of(conn, actor.address, chain_now(ctx))

    return MyReceivables(**await run_in_threadpool(read))


@institution_router.get(
    "/institution/parts",
    response_model=list[PartOut],
    summary="Parts financed by me (financed=true: locked with me now; false: ever)",
)
async def financed_parts(
    ctx: ContextDep, actor: InstitutionDep, financed: bool = True
) -> list[PartOut]:
    def read() -> list[PartOut]:
        with ctx.engine.connect() as conn:
            return parts_financed_by(conn, actor.address, chain_now(ctx), current=financed)

    return await run_in_threadpool(read)
