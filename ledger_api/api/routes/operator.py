"""Operator (platform) and provider endpoints: approvals, members, agreements, disputes,
access-log anchoring/verification, and data ingestion."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import select, update
from web3 import Web3

from indexer.audit_filters import parse_time
from ledger_api.accesslog import verify_access_log
from ledger_api.api.auth import ContextDep, OperatorDep, ProviderDep
from ledger_api.api.models import REGISTRATIONS
from ledger_api.api.problems import PROBLEMS
from ledger_api.api.routes.subject import RegistrationPath, load_registration, registration_out
from ledger_api.api.schemas import (
    AgreementIn,
    AgreementOut,
    AnchorOut,
    DisputeResolveIn,
    IngestOut,
    InstitutionIn,
    LogFindingOut,
    LogVerification,
    Registration,
    RoleIn,
    TxResult,
)
from ledger_api.chain.types import DisputeOutcome, InstitutionType, Purpose, mask_of
from ledger_api.errors import ConflictError, ForbiddenError, InputError
from ledger_api.ingest.pipeline import ingest_batch

router = APIRouter(prefix="/v1/operator", tags=["operator"], responses=PROBLEMS)
provider_router = APIRouter(prefix="/v1/provider", tags=["provider"], responses=PROBLEMS)


def _tx(receipt: Any) -> TxResult:
    return TxResult(
        tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
        block_number=int(receipt["blockNumber"]),
    )


@router.get(
    "/registrations",
    response_model=list[Registration],
    summary="Registrations, optionally by status",
)
def list_registrations(
    ctx: ContextDep,
    actor: OperatorDep,
    status: Annotated[str | None, Query(max_length=24)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[Registration]:
    from ledger_api.operator.admin_views import registration_status

    query = select(REGISTRATIONS).order_by(REGISTRATIONS.c.id).limit(limit)
    if status is not None:  # the documented names too ("signed" is pending_approval)
        query = query.where(REGISTRATIONS.c.status == registration_status(status))
    with ctx.engine.connect() as conn:
        return [registration_out(r) for r in conn.execute(query).all()]


@router.post(
    "/registrations/{registration_id}/approve",
    response_model=Registration,
    summary="Approve a signed registration: bind the subject on chain",
)
def approve_registration(
    registration_id: RegistrationPath, ctx: ContextDep, actor: OperatorDep
) -> Registration:
    row = load_registration(ctx, registration_id)
    if row.status != "pending_approval" or row.signature is None:
        raise ConflictError(f"registration is {row.status}", code="registration_not_signed")
    receipt = ctx.ledger.bind_subject(
        ctx.relayer, row.subject_id, row.account, row.deadline, row.signature
    )
    with ctx.engine.begin() as conn:
        conn.execute(
            update(REGISTRATIONS)
            .where(REGISTRATIONS.c.id == row.id)
            .values(status="bound", tx_hash=bytes(receipt["transactionHash"]))
        )
        row = conn.execute(select(REGISTRATIONS).where(REGISTRATIONS.c.id == row.id)).one()
    return registration_out(row)


@router.post(
    "/institutions", response_model=TxResult, status_code=201, summary="Register an institution"
)
def register_institution(body: InstitutionIn, ctx: ContextDep, actor: OperatorDep) -> TxResult:
    return _tx(
        ctx.ledger.register_institution(
            ctx.relayer, body.address, InstitutionType(body.kind), body.name
        )
    )


@router.post(
    "/roles",
    response_model=TxResult,
    status_code=201,
    summary="Grant PROVIDER_ROLE (OPERATOR/REGULATOR: only the governance key, on chain)",
)
def grant_role(body: RoleIn, ctx: ContextDep, actor: OperatorDep) -> TxResult:
    if body.role != "PROVIDER_ROLE":
        # Operators and regulators are appointed by the separate governance key (contract 2.0.0).
        raise ForbiddenError(
            f"{body.role} is granted by the governance key {ctx.ledger.deployment.governance}, "
            "not by the operator",
            code="governance_only",
        )
    return _tx(ctx.ledger.grant_role(ctx.relayer, body.role, body.address))


@router.post(
    "/agreements",
    response_model=AgreementOut,
    status_code=201,
    summary="Propose a data-sharing agreement (the institution accepts it on chain)",
)
def propose_agreement(body: AgreementIn, ctx: ContextDep, actor: OperatorDep) -> AgreementOut:
    if body.not_before >= body.not_after:
        raise InputError("not_before must be before not_after")
    purposes = mask_of([Purpose[p.value.upper()] for p in body.purposes])
    agreement_id = ctx.ledger.propose_agreement(
        ctx.relayer,
        Web3.to_checksum_address(body.institution),
        ctx.catalog.bitmask(body.categories),
        purposes,
        body.not_before,
        body.not_after,
        bytes.fromhex(body.document_hash[2:]),
    )
    return AgreementOut(agreement_id=agreement_id)


@router.post(
    "/disputes/{dispute_id}/resolve",
    response_model=TxResult,
    summary="Resolve an objection or credit-repair request",
)
def resolve_dispute(
    dispute_id: Annotated[int, Path(ge=1, lt=2**63)],
    body: DisputeResolveIn,
    ctx: ContextDep,
    actor: OperatorDep,
) -> TxResult:
    outcome = DisputeOutcome(body.outcome)
    result = _tx(
        ctx.ledger.resolve_dispute(
            ctx.relayer, dispute_id, outcome, bytes.fromhex(body.resolution_hash[2:])
        )
    )
    _dispute_resolved_event(ctx, dispute_id, outcome)
    return result


def _dispute_resolved_event(ctx: Any, dispute_id: int, outcome: DisputeOutcome) -> None:
    """A risk event for institutions monitoring the subject (e.g. a record repaired)."""
    from ledger_api.monitoring.chain_events import disputed_record, record_chain_event
    from ledger_api.monitoring.rules import default_rules

    rules = default_rules()
    event, name = "DisputeResolved", outcome.name.lower()
    if rules.chain_kind(event, name) is None:
        return
    root, leaf = ctx.ledger._call("dispute", dispute_id)[6:8]
    record = disputed_record(ctx.engine, bytes(root), bytes(leaf))
    if record is not None:
        record_chain_event(ctx.engine, rules, event, *record, outcome=name)


@router.post(
    "/access-log/anchor",
    response_model=AnchorOut,
    summary="Anchor the unanchored tail of the access log now",
)
def anchor_access_log(ctx: ContextDep, actor: OperatorDep) -> AnchorOut:
    return AnchorOut(anchor_id=ctx.anchoring.anchor_once())


@router.get(
    "/access-log/verify",
    response_model=LogVerification,
    summary="Recompute the access log's hash chain and anchored roots",
)
def verify_log(
    ctx: ContextDep,
    actor: OperatorDep,
    since: Annotated[
        str | None,
        Query(
            max_length=64,
            description="Verify only the entries written from then on (ISO 8601; a date "
            "alone is 00:00 UTC) and the anchored ranges reaching them.",
        ),
    ] = None,
) -> LogVerification:
    start = None if since is None else parse_time(since, "since")
    with ctx.engine.connect() as conn:
        report = verify_access_log(conn, since=start)
    return LogVerification(
        clean=report.clean,
        entries_checked=report.entries_checked,
        findings=[
            LogFindingOut(kind=f.kind, entry_id=f.entry_id, detail=f.detail)
            for f in report.findings
        ],
    )


# A batch is posted as its raw text (JSON lines or CSV), not as a JSON document.
BATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


async def read_batch(request: Request) -> bytes:
    """The posted batch; an empty one is refused."""
    data = await request.body()
    if not data:
        raise InputError("the batch is empty", code="empty_batch")
    return data


async def store_batch(
    request: Request,
    ctx: Any,
    data: bytes,
    provider: str,
    category: str,
    fmt: str | None,
) -> IngestOut:
    """Ingest ``data`` for ``provider`` (format from ``fmt`` or the content type), anchored."""
    from starlette.concurrency import run_in_threadpool

    chosen = fmt or ("csv" if "csv" in request.headers.get("content-type", "") else "jsonl")
    result = await run_in_threadpool(
        ingest_batch,
        ctx.engine,
        ctx.data_anchorer,
        ctx.settings,
        provider=provider,
        category=category,
        data=data,
        fmt=chosen,  # type: ignore[arg-type]
        catalog=ctx.catalog,
    )
    return IngestOut(**result.as_dict())


@provider_router.post(
    "/batches",
    response_model=IngestOut,
    status_code=201,
    summary="Ingest a batch (JSON lines or CSV body) of one category; anchored on chain",
    openapi_extra=BATCH_BODY,
)
async def ingest(
    request: Request,
    ctx: ContextDep,
    actor: ProviderDep,
    category: Annotated[str, Query(max_length=64)],
    fmt: Annotated[str | None, Query(alias="format", pattern="^(jsonl|csv)$")] = None,
) -> IngestOut:
    data = await read_batch(request)
    return await store_batch(request, ctx, data, actor.address, category, fmt)
