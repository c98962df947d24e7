"""Helpers of the monitoring tests: adverse records to ingest, a webhook receiver that can be
down, and the monitoring loop driven pass by pass (no thread, no sleeping)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from api_support import Api
from sqlalchemy import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from world import USCCS

from ledger_api.api.app import monitoring_service
from ledger_api.chain.types import AccessLevel, Purpose
from ledger_api.ingest.pipeline import Ingestor
from ledger_api.monitoring.posting import HttpxPoster
from ledger_api.monitoring.service import MonitoringService
from ledger_api.store.monitoring_tables import SUBSCRIPTION_EVENTS

JUDICIAL = 1 << 1
TAX = 1 << 2


def judgment(uscc: str, n: int) -> dict[str, Any]:
    return {
        "uscc": uscc,
        "record_key": f"judgment-{n}",
        "case_no": f"(2026)豫01民初{n}号",
        "case_type": "civil",
        "court": "郑州市中级人民法院",
        "role": "defendant",
        "judgment_date": "2026-11-01",
        "amount": "50000.00",
        "status": "judged",
    }


def ingest(api: Api, category: str, rows: list[dict[str, Any]]) -> None:
    data = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
    ingestor = Ingestor(api.engine, api.ctx.data_anchorer, api.settings, workers=1)
    result = ingestor.ingest("henan-court", category, data, fmt="jsonl")
    assert not result.rejected, result.rejected


def ingest_judgments(api: Api, subject: int, first: int, count: int) -> None:
    ingest(api, "judicial", [judgment(USCCS[subject], first + i) for i in range(count)])


def monitoring_grant(api: Api, subject: int, institution: str, **kwargs: Any) -> int:
    kwargs.setdefault("categories", JUDICIAL)
    kwargs.setdefault("level", AccessLevel.VERIFY)
    return api.grant(subject, institution, purpose=Purpose.POST_LOAN_MONITORING, **kwargs)


@dataclass
class Receiver:
    """A webhook endpoint: answers ``status`` (200 when up), keeps every request it saw."""

    status: int = 200
    seen: list[httpx.Request] = field(default_factory=list)
    accepted: list[tuple[str, int]] = field(default_factory=list)  # (webhook-id, number)
    secret: str | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if self.status != 200:
            return httpx.Response(self.status, headers={"retry-after": "120"})
        assert self.secret is not None
        try:
            body = Webhook(self.secret).verify(request.content, dict(request.headers))
        except WebhookVerificationError:
            return httpx.Response(400)
        self.accepted.append((request.headers["webhook-id"], body["data"]["event_number"]))
        return httpx.Response(204)


def service(api: Api, receiver: Receiver | None = None) -> MonitoringService:
    built = monitoring_service(api.ctx)
    if receiver is not None:
        built.delivery.poster = HttpxPoster(
            httpx.Client(transport=httpx.MockTransport(receiver.handle))
        )
    return built


def drain(built: MonitoringService, api: Api, *, passes: int = 20, step_s: float = 0) -> None:
    """Run passes until nothing is left to do (``step_s``: move the clock between passes)."""
    for _ in range(passes):
        if not built.run_once() and not step_s:
            return
        api.clock.advance(step_s)


def subscribe(api: Api, account: Any, **body: Any) -> httpx.Response:
    return api.client(account).send("POST", "/v1/institution/subscriptions", json_body=body)


def events_of(api: Api, sub_id: int) -> list[Any]:
    with api.engine.connect() as conn:
        return list(
            conn.execute(
                select(SUBSCRIPTION_EVENTS)
                .where(SUBSCRIPTION_EVENTS.c.subscription_id == sub_id)
                .order_by(SUBSCRIPTION_EVENTS.c.number)
            )
        )


def add_subscription(
    api: Api, institution: str, *, categories: int = 0, url: str | None = None
) -> int:
    """A risk-alert subscription written directly (no creation check): what fan-out and
    delivery decide must not depend on the check at creation."""
    from ledger_api.monitoring.subscriptions import RISK_ALERTS, SubscriptionRequest, create

    request = SubscriptionRequest(RISK_ALERTS, [], [], [], url)
    with api.engine.begin() as conn:
        return int(create(conn, institution, request, categories, url, api.clock())["id"])
