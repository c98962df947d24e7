"""Institution queries: standard report, records, verification (核验), safe-room score.

Every handler takes an ``Access`` from the gate and answers through ``access.respond``. The
gate parses the subject, purpose, grant and action parameters (``Access`` carries them); the
routes only document them (``gate_params``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from ledger_api.api.gate import Access, SubjectAccessGate
from ledger_api.api.gate_params import (
    ARGUMENT,
    CATEGORY,
    GRANT_ID,
    PREDICATE,
    PURPOSE,
    READ_LEVEL,
    SUBJECT,
    gate_parameters,
)
from ledger_api.api.gate_route import GatedRoute
from ledger_api.api.problems import PROBLEMS
from ledger_api.api.reading import ReadRecord, read_records
from ledger_api.api.schemas import CreditReport, RecordsPage, Score, Verification
from ledger_api.api.supply_chain_overdue import chain_now
from ledger_api.catalog.masking import mask_record, public_fields
from ledger_api.chain.types import AccessLevel
from ledger_api.financing.self_reports import self_reported_mark
from ledger_api.saferoom import scorecard

router = APIRouter(
    prefix="/v1/institution/subjects/{subject}",
    tags=["institution"],
    responses=PROBLEMS,
    route_class=GatedRoute,  # every route here takes only its gate's Access
)

ReportAccess = Annotated[Access, Depends(SubjectAccessGate("report"))]
RecordsAccess = Annotated[Access, Depends(SubjectAccessGate("records"))]
VerifyAccess = Annotated[Access, Depends(SubjectAccessGate("verify"))]
ScoreAccess = Annotated[Access, Depends(SubjectAccessGate("score"))]


def _today(access: Access) -> date:
    return datetime.fromtimestamp(access.today_ts, UTC).date()


def _records(access: Access, bits: list[int] | None) -> list[ReadRecord]:
    ctx = access.ctx
    state = ctx.state()
    index = access.subject_index
    open_leaves = state.open_dispute_leaves(index) if index else set()
    hidden = state.hidden_leaves(index) if index else set()
    with ctx.reads.connect() as conn:
        return read_records(
            conn,
            ctx.keyrings.current(),
            ctx.catalog,
            access.subject_id,
            bits,
            open_leaves=open_leaves,
            hidden_leaves=hidden,
            now=chain_now(ctx),
        )


@router.get(
    "/report",
    response_model=CreditReport,
    summary="Standard credit report (PUBLIC fields)",
    description=(
        "Needs an active agreement covering the purpose, no grant. Holds only the fields the "
        "catalog classifies PUBLIC, of the categories the institution's agreement covers: no "
        "RESTRICTED or SENSITIVE field (not even the provider's `record_key`), and no record "
        "of a category without a PUBLIC field."
    ),
    openapi_extra=gate_parameters(SUBJECT, PURPOSE),
)
async def credit_report(access: ReportAccess) -> Response:
    catalog = access.ctx.catalog
    known = set(catalog.category_bits)
    shown = [b for b in access.categories if b in known and catalog.category(b).has_public_fields]
    by_category: dict[str, list[dict[str, Any]]] = {}
    for record in _records(access, shown):
        by_category.setdefault(record.category, []).append(
            {
                "record_uid": "0x" + record.record_uid.hex(),
                "category": record.category,
                "fields": public_fields(catalog.category(record.category_bit), record.fields),
                "disputed": record.disputed,
            }
            | self_reported_mark(record.provider)
        )
    return await access.respond(
        {"subject_id": "0x" + access.subject_id.hex(), "categories": by_category}
    )


@router.get(
    "/records",
    response_model=RecordsPage,
    summary="Records of one category (grant at QUERY or DETAIL)",
    openapi_extra=gate_parameters(SUBJECT, PURPOSE, GRANT_ID, CATEGORY, READ_LEVEL),
)
async def category_records(access: RecordsAccess) -> Response:
    detail = access.level == AccessLevel.DETAIL
    cat = access.ctx.catalog.category(access.categories[0])
    limit = access.ctx.settings.max_page_size
    records = [
        {
            "record_uid": "0x" + r.record_uid.hex(),
            "category": r.category,
            "fields": mask_record(cat, r.fields, detail=detail),
            "disputed": r.disputed,
        }
        | self_reported_mark(r.provider)
        for r in _records(access, access.categories)[-limit:]
    ]
    assert access.level is not None
    return await access.respond(
        {
            "subject_id": "0x" + access.subject_id.hex(),
            "category": cat.name,
            "level": access.level.name.lower(),
            "records": records,
        }
    )


@router.get(
    "/verify",
    response_model=Verification,
    summary="Verification (核验): a yes/no answer with a signed receipt, never the data",
    openapi_extra=gate_parameters(SUBJECT, PURPOSE, GRANT_ID, PREDICATE, ARGUMENT),
)
async def verify(access: VerifyAccess) -> Response:
    chosen = access.extra["predicate"]
    argument = access.extra["argument"]
    fields = [r.fields for r in _records(access, access.categories)]
    result = chosen.test(fields, argument, _today(access))
    payload = {"predicate": chosen.name, "argument": str(argument), "result": bool(result)}
    return await access.respond(payload, sign_claims=dict(payload))


@router.get(
    "/score",
    response_model=Score,
    summary="Credit score computed in the data safe room (score and reason codes only)",
    description=(
        "Needs a grant at level verify or above. The score uses exactly the scorecard "
        "categories the grant covers and no other; each must pass the grant check (purpose, "
        "level, agreement), else the request is refused with that category's code "
        "(`category_not_granted` when the grant covers none). A scorecard category the grant "
        "does not cover is not read: its reason code `NOT_ASSESSED_<CATEGORY>` says it was "
        "missing, and `categories_used` lists the ones read. The access-log entry records "
        "the categories used (`categories`), and the regulator's audit re-checks each one."
    ),
    openapi_extra=gate_parameters(SUBJECT, PURPOSE, GRANT_ID),
)
async def credit_score(access: ScoreAccess) -> Response:
    """Score the subject from the granted scorecard categories only (``access.categories``,
    chosen and checked by the gate; see ``scorecard.score_categories``)."""
    by_category: dict[str, list[dict[str, Any]]] = {
        access.ctx.catalog.category(bit).name: [] for bit in access.categories
    }
    for record in _records(access, access.categories):
        by_category[record.category].append(record.fields)
    result = scorecard.compute_score(by_category, _today(access))
    return await access.respond(
        {
            "score": result.score,
            "band": result.band,
            "reason_codes": result.reason_codes,
            "categories_used": result.categories_used,
            "scorecard": result.version,
        }
    )
