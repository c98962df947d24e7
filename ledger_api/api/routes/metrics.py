"""Metrics: the regulator's daily report (``GET /v1/audit/metrics``, signed, regulator role)
and the operators' Prometheus exposition (``GET /metrics``, loopback clients only unless
``CCL_METRICS_REMOTE`` is set: it names routes, refusal reasons and lags, nothing a stranger
needs).
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from ledger_api.api.audit_metrics import metrics_report
from ledger_api.api.auth import ContextDep, RegulatorDep
from ledger_api.api.problems import PROBLEMS
from ledger_api.api.prometheus import CONTENT_TYPE_LATEST
from ledger_api.errors import ForbiddenError

audit_router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=PROBLEMS)
prometheus_router = APIRouter(tags=["meta"], responses=PROBLEMS)
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@audit_router.get(
    "/metrics",
    summary="Invocations, response times, errors, authorisations and denials, per day "
    "(Australian CDR Get Metrics shape): the current UTC day and the 7 before",
)
def audit_metrics(request: Request, ctx: ContextDep, actor: RegulatorDep) -> dict[str, Any]:
    request.app.state.request_counts.flush()  # this worker's requests up to now
    with Session(ctx.engine) as session:
        return metrics_report(session.connection(), ctx.clock())


# Not in the OpenAPI document: Prometheus text for scrapers, not part of the signed API.
@prometheus_router.get(
    "/metrics",
    summary="Prometheus metrics for operators",
    response_class=Response,
    include_in_schema=False,
)
async def prometheus_metrics(request: Request, ctx: ContextDep) -> Response:
    client = request.client.host if request.client is not None else ""
    if client not in _LOOPBACK and not ctx.settings.metrics_remote:
        raise ForbiddenError(
            "metrics are served to loopback clients only (CCL_METRICS_REMOTE opens them)",
            code="metrics_not_remote",
        )
    body = await asyncio.to_thread(request.app.state.operator_metrics.render)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
