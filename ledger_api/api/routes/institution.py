"""Institution queries: standard report, records, verification (核验), safe-room score.

Every handler takes an ``Access`` from the gate and answers through ``access.respond``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from ledger_api.api.gate import Access, SubjectAccessGate
from ledger_api.api.problems import PROBLEMS
from ledger_api.api.reading import ReadRecord, read_records
from ledger_api.api.schemas import (
    CreditReport,
    LevelName,
    PurposeName,
    RecordsPage,
    Score,
    Verification,
)
from ledger_api.catalog.masking import mask_record
from ledger_api.chain.types import AccessLevel
from ledger_api.saferoom import scorecard
from ledger_api.saferoom.predicates import PREDICATES

router = APIRouter(
    prefix="/v1/institution/subjects/{subject}", tags=["institution"], responses=PROBLEMS
)

SubjectPath = Annotated[
    str, Path(description="0x subject id (32 bytes) or the USCC", min_length=18, max_length=66)
]
PurposeQuery = Annotated[PurposeName, Query(description="why the data is read")]
GrantQuery = Annotated[int, Query(ge=1, lt=2**63, description="the subject's grant")]


def _today(access: Access) -> date:
    return datetime.fromtimestamp(access.today_ts, UTC).date()


def _records(access: Access, bits: list[int] | None) -> list[ReadRecord]:
    ctx = access.ctx
    state = ctx.state()
    index = access.subject_index
    open_leaves = state.open_dispute_leaves(index) if index else set()
    hidden = state.hidden_leaves(index) if index else set()
    with ctx.engine.connect() as conn:
        return read_records(
            conn,
            ctx.keyrings.current(),
            ctx.catalog,
            access.subject_id,
            bits,
            open_leaves=open_leaves,
            hidden_leaves=hidden,
        )


@router.get(
    "/report", response_model=CreditReport, summary="Standard credit report (PUBLIC fields)"
)
async def credit_report(
    subject: SubjectPath,
    purpose: PurposeQuery,
    access: Annotated[Access, Depends(SubjectAccessGate("report"))],
) -> Response:
    by_category: dict[str, list[dict[str, Any]]] = {}
    for record in _records(access, None):
        category = access.ctx.catalog.category(record.category_bit)
        public = {f.name for f in category.fields if f.classification == "PUBLIC"}
        fields = {k: v for k, v in record.fields.items() if k in public or k == "record_key"}
        by_category.setdefault(record.category, []).append(
            {
                "record_uid": "0x" + record.record_uid.hex(),
                "category": record.category,
                "fields": fields,
                "disputed": record.disputed,
            }
        )
    return await access.respond(
        {"subject_id": "0x" + access.subject_id.hex(), "categories": by_category}
    )


@router.get(
    "/records",
    response_model=RecordsPage,
    summary="Records of one category (grant at QUERY or DETAIL)",
)
async def category_records(
    subject: SubjectPath,
    purpose: PurposeQuery,
    grant_id: GrantQuery,
    category: Annotated[str, Query(max_length=64, description="catalog category name")],
    access: Annotated[Access, Depends(SubjectAccessGate("records"))],
    level: Annotated[LevelName, Query()] = LevelName("query"),
) -> Response:
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
)
async def verify(
    subject: SubjectPath,
    purpose: PurposeQuery,
    grant_id: GrantQuery,
    predicate: Annotated[
        str, Query(description="one of: " + ", ".join(sorted(PREDICATES)), max_length=64)
    ],
    arg: Annotated[str, Query(max_length=16, description="months, a count or a tax grade")],
    access: Annotated[Access, Depends(SubjectAccessGate("verify"))],
) -> Response:
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
)
async def credit_score(
    subject: SubjectPath,
    purpose: PurposeQuery,
    grant_id: GrantQuery,
    access: Annotated[Access, Depends(SubjectAccessGate("score"))],
) -> Response:
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
