"""Regulator audit views: a thin shell over ``indexer.audit_views`` (DESIGN.md section 10)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from sqlalchemy.orm import Session

from indexer import audit_views
from ledger_api.api.auth import ContextDep, RegulatorDep
from ledger_api.api.problems import PROBLEMS
from ledger_api.api.schemas import AuditRows
from ledger_api.errors import NotFoundError

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=PROBLEMS)

# Every view takes the same filters: (session, *, institution, subject_id, since, until,
# limit, offset).
VIEWS: dict[str, Callable[..., Any]] = {
    "access_audit": audit_views.access_audit,
    "violations": audit_views.violations,
    "refusals": audit_views.refusals,
    "volumes": audit_views.volumes,
    "grant_history": audit_views.grant_history,
    "agreements": audit_views.agreements,
    "anchors": audit_views.anchors,
    "statistics": audit_views.statistics,
}


@router.get("/{view}", response_model=AuditRows, summary="One audit view: " + ", ".join(VIEWS))
def audit_view(
    view: Annotated[str, Path(max_length=32)],
    ctx: ContextDep,
    actor: RegulatorDep,
    institution: Annotated[str | None, Query(max_length=42)] = None,
    subject_id: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{64}$")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, lt=2**62)] = 0,
) -> AuditRows:
    function = VIEWS.get(view)
    if function is None:
        raise NotFoundError(f"unknown audit view {view!r}; known: {', '.join(VIEWS)}")
    filters: dict[str, Any] = {
        "institution": institution,
        "since": since,
        "until": until,
        "limit": min(limit, ctx.settings.max_page_size),
        "offset": offset,
    }
    if subject_id is not None:
        filters["subject_id"] = bytes.fromhex(subject_id[2:])
    with Session(ctx.engine) as session:
        result = function(session, **{k: v for k, v in filters.items() if v is not None})
    return AuditRows(view=view, result=result)
