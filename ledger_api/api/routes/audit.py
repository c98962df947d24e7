"""Regulator audit views: a thin shell over ``indexer.audit_views``.

Rows carry names next to ids and addresses (``indexer.audit_names``: institution_name,
category_name, purpose_name).

Filters are checked by ``indexer.audit_filters``; a bad one is a 422 problem+json
(``validation_error``) whose ``errors[0].loc`` and ``detail`` name the query parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.exceptions import RequestValidationError
from sqlalchemy.orm import Session

from indexer import audit_views
from indexer.audit_filters import FilterError, parse_time, subject_of_uscc
from indexer.audit_names import with_names
from ledger_api.api.auth import ContextDep, RegulatorDep
from ledger_api.api.problems import PROBLEMS
from ledger_api.api.schemas import AuditRows
from ledger_api.errors import NotFoundError

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=PROBLEMS)

# Every view takes the same filters: (session, *, institution, subject_id, since, until,
# limit, offset); volumes also takes bucket, statistics group_by. The same names as the
# indexer CLI's.
VIEWS: dict[str, Callable[..., Any]] = audit_views.VIEWS

_TIME_RULES = (
    "ISO 8601. A date alone (2026-12-07) is a UTC day; a date and time must carry its zone "
    "(2026-12-07T09:00:00+08:00 or ...Z): a naive time is refused with 422 naming this "
    "parameter. The window is half-open: since <= at < until."
)
_SINCE = "Start of the window, inclusive. " + _TIME_RULES
_UNTIL = (
    "End of the window, exclusive; a date alone includes that whole day (the window ends at "
    "the next day's 00:00 UTC). " + _TIME_RULES
)
_INSTITUTION = "An institution's address (any letter case) or its registered name."
_USCC = "An enterprise by its USCC (统一社会信用代码), instead of its subject_id."


@router.get("/{view}", response_model=AuditRows, summary="One audit view: " + ", ".join(VIEWS))
def audit_view(
    view: Annotated[str, Path(max_length=32)],
    ctx: ContextDep,
    actor: RegulatorDep,
    institution: Annotated[str | None, Query(max_length=200, description=_INSTITUTION)] = None,
    subject_id: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{64}$")] = None,
    uscc: Annotated[str | None, Query(max_length=32, description=_USCC)] = None,
    since: Annotated[str | None, Query(max_length=64, description=_SINCE)] = None,
    until: Annotated[str | None, Query(max_length=64, description=_UNTIL)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, lt=2**62)] = 0,
    bucket: Annotated[
        Literal["day", "month"] | None, Query(description="volumes only: UTC day or month")
    ] = None,
    group_by: Annotated[
        Literal["month", "region", "industry", "institution"] | None,
        Query(description="statistics only: the financing KPIs per group as well"),
    ] = None,
) -> AuditRows:
    function = VIEWS.get(view)
    if function is None:
        raise NotFoundError(f"unknown audit view {view!r}; known: {', '.join(VIEWS)}")
    try:
        filters: dict[str, Any] = {
            "institution": institution,
            "since": None if since is None else parse_time(since, "since"),
            "until": None if until is None else parse_time(until, "until"),
            "limit": min(limit, ctx.settings.max_page_size),
            "offset": offset,
        }
        if subject_id is not None:
            filters["subject_id"] = bytes.fromhex(subject_id[2:])
        if uscc is not None:
            by_uscc = subject_of_uscc(uscc, ctx.settings.pseudonym_key_bytes)
            if filters.setdefault("subject_id", by_uscc) != by_uscc:
                raise FilterError("uscc", "names another enterprise than subject_id")
        if view == "volumes":
            filters["bucket"] = bucket
        if view == "statistics":
            filters["group_by"] = group_by
        with Session(ctx.engine) as session:
            result = function(session, **{k: v for k, v in filters.items() if v is not None})
            result = with_names(session.connection(), result)
    except FilterError as error:
        raise _invalid(error) from None
    return AuditRows(view=view, result=result)


def _invalid(error: FilterError) -> RequestValidationError:
    """The same 422 FastAPI gives a malformed parameter: ``errors[0].loc`` names it."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", error.field), "msg": error.problem}]
    )
