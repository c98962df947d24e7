"""Regulator audit views: a thin shell over ``indexer.audit_views`` (501 until it exists)."""

from __future__ import annotations

import importlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from sqlalchemy.orm import Session

from ledger_api.api.auth import ContextDep, RegulatorDep
from ledger_api.api.problems import PROBLEMS, UnavailableFeatureError, _problem_doc
from ledger_api.api.schemas import AuditRows
from ledger_api.errors import NotFoundError

router = APIRouter(
    prefix="/v1/audit",
    tags=["audit"],
    responses={**PROBLEMS, 501: _problem_doc("Audit views not installed")},
)

VIEWS = (
    "access_audit",
    "violations",
    "volumes",
    "grant_history",
    "agreements",
    "anchors",
    "statistics",
)


def _views() -> Any:
    try:
        return importlib.import_module("indexer.audit_views")
    except ImportError:
        raise UnavailableFeatureError(
            "audit views are not available: the indexer's audit_views module is not installed",
            code="audit_views_unavailable",
        ) from None


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
    if view not in VIEWS:
        raise NotFoundError(f"unknown audit view {view!r}; known: {', '.join(VIEWS)}")
    function = getattr(_views(), view, None)
    if function is None:
        raise UnavailableFeatureError(
            f"audit view {view} is not implemented yet", code="audit_views_unavailable"
        )
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
        try:
            result = function(session, **{k: v for k, v in filters.items() if v is not None})
        except TypeError:  # a view that takes fewer filters
            result = function(session)
    return AuditRows(view=view, result=result)
