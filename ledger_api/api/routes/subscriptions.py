"""Institution subscriptions (risk alerts, public push) and catch-up of their events.

Signed institution requests. A refused request is a problem+json with a stable code, in the
refusal audit like every refusal, and creates nothing. Events are catch-up pages
(``GET /events?subscription=&after=&limit=``, then ``POST /events/ack``) or a server-sent
events stream resuming after ``Last-Event-ID``; either way each event is re-checked and
logged before it leaves (``ledger_api.monitoring.catchup``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from ledger_api.accesslog import ALLOWED, EntryDraft
from ledger_api.api.auth import ContextDep, InstitutionDep
from ledger_api.api.context import AppContext
from ledger_api.api.problems import PROBLEMS
from ledger_api.api.refusals import operation_of
from ledger_api.monitoring import catchup
from ledger_api.monitoring import subscriptions as subs
from ledger_api.monitoring.rules import default_rules

# Ids are BIGINT in the database: a larger number is a 422, not a driver overflow.
SubscriptionId = Annotated[int, Path(ge=1, lt=2**63)]

router = APIRouter(prefix="/v1/institution", tags=["institution"], responses=PROBLEMS)

_STREAM_POLL_S = 0.5


class SubscriptionIn(BaseModel):
    kind: str = Field(description="risk_alerts or public_push")
    categories: list[str] = Field(default_factory=list, max_length=32)
    regions: list[str] = Field(default_factory=list, max_length=32)
    industries: list[str] = Field(default_factory=list, max_length=32)
    webhook_url: str | None = Field(default=None, max_length=2048)


class AckIn(BaseModel):
    subscription: int = Field(ge=1, lt=2**63)
    up_to: int = Field(ge=0, lt=catchup.MAX_NUMBER)


async def _audit(ctx: AppContext, request: Request, actor: str) -> None:
    """A change to a subscription is in the access log like every other signed act."""
    await ctx.writer.append_async(
        EntryDraft(
            actor=actor,
            actor_role="institution",
            action=operation_of(request),
            decision=ALLOWED,
            reason="ok",
        )
    )


@router.post("/subscriptions", status_code=201, summary="Subscribe to risk alerts or public push")
async def create_subscription(
    body: SubscriptionIn, request: Request, ctx: ContextDep, actor: InstitutionDep
) -> dict[str, Any]:
    profile = actor.institution
    assert profile is not None
    wanted = subs.SubscriptionRequest(
        body.kind, body.categories, body.regions, body.industries, body.webhook_url
    )
    state = ctx.state()
    now = max(state.position().block_timestamp, int(ctx.clock()))

    def create() -> dict[str, Any]:
        mask, url = subs.validate(
            wanted,
            ctx.catalog,
            default_rules(),
            state,
            profile,
            now,
            production=ctx.settings.mode == "production",
        )
        with ctx.engine.begin() as conn:
            return subs.create(conn, actor.address, wanted, mask, url, ctx.clock())

    created = await run_in_threadpool(create)
    await _audit(ctx, request, actor.address)
    return created


@router.get("/subscriptions", summary="This institution's subscriptions")
def list_subscriptions(ctx: ContextDep, actor: InstitutionDep) -> list[dict[str, Any]]:
    with ctx.engine.connect() as conn:
        return subs.list_of(conn, actor.address)


async def _status(
    ctx: AppContext, request: Request, actor: str, sub_id: int, status: str
) -> dict[str, Any]:
    def change() -> dict[str, Any]:
        with ctx.engine.begin() as conn:
            return subs.set_status(conn, sub_id, actor, status, ctx.clock())

    changed = await run_in_threadpool(change)
    await _audit(ctx, request, actor)
    return changed


@router.post("/subscriptions/{sub_id}/pause", summary="Pause deliveries (events still collect)")
async def pause(
    sub_id: SubscriptionId, request: Request, ctx: ContextDep, actor: InstitutionDep
) -> Any:
    return await _status(ctx, request, actor.address, sub_id, subs.PAUSED)


@router.post("/subscriptions/{sub_id}/resume", summary="Resume deliveries from where they stopped")
async def resume(
    sub_id: SubscriptionId, request: Request, ctx: ContextDep, actor: InstitutionDep
) -> Any:
    return await _status(ctx, request, actor.address, sub_id, subs.ACTIVE)


@router.delete("/subscriptions/{sub_id}", summary="Delete a subscription")
async def delete(
    sub_id: SubscriptionId, request: Request, ctx: ContextDep, actor: InstitutionDep
) -> Any:
    return await _status(ctx, request, actor.address, sub_id, subs.DELETED)


@router.post(
    "/subscriptions/{sub_id}/rotate-secret",
    summary="A new webhook secret; the previous one still signs for a day",
)
async def rotate(
    sub_id: SubscriptionId, request: Request, ctx: ContextDep, actor: InstitutionDep
) -> Any:
    def change() -> dict[str, Any]:
        with ctx.engine.begin() as conn:
            return subs.rotate_secret(conn, sub_id, actor.address, ctx.clock())

    rotated = await run_in_threadpool(change)
    await _audit(ctx, request, actor.address)
    return rotated


def _now(ctx: AppContext) -> int:
    return max(ctx.state().position().block_timestamp, int(ctx.clock()))


@router.get("/events", summary="Catch up: a subscription's events after a number")
async def events(
    ctx: ContextDep,
    actor: InstitutionDep,
    subscription: Annotated[int, Query(ge=1, lt=2**63)],
    after: Annotated[str | None, Query(max_length=24)] = None,
    limit: Annotated[str | None, Query(max_length=12)] = None,
) -> dict[str, Any]:
    start = catchup.parse_position(after)
    size = catchup.parse_limit(limit, ctx.settings.max_page_size)
    with ctx.engine.connect() as conn:
        sub = catchup.subscription_of(conn, subscription, actor.address)
        rows = catchup.events_after(conn, sub.id, start, size)
    page = await catchup.released(
        rows, actor.address, ctx.state(), ctx.writer, ctx.catalog, _now(ctx), "alert_polled", start
    )
    return {
        "subscription_id": sub.id,
        "events": page.events,
        "next_after": page.next_after,
        "last_event": sub.last_number,
        "acknowledged_up_to": sub.acked_number,
    }


@router.post("/events/ack", summary="Acknowledge a subscription's events up to a number")
async def acknowledge(body: AckIn, ctx: ContextDep, actor: InstitutionDep) -> dict[str, Any]:
    def ack() -> int:
        with ctx.engine.begin() as conn:
            sub = catchup.subscription_of(conn, body.subscription, actor.address)
            return catchup.acknowledge(conn, sub, body.up_to)

    return {
        "subscription_id": body.subscription,
        "acknowledged_up_to": await run_in_threadpool(ack),
    }


@router.get("/events/stream", summary="Server-sent events, resuming after Last-Event-ID")
async def stream(
    request: Request,
    ctx: ContextDep,
    actor: InstitutionDep,
    subscription: Annotated[int, Query(ge=1, lt=2**63)],
    after: Annotated[str | None, Query(max_length=24)] = None,
    follow: bool = True,
) -> EventSourceResponse:
    start = catchup.parse_position(request.headers.get("last-event-id") or after, "after")
    with ctx.engine.connect() as conn:
        sub = catchup.subscription_of(conn, subscription, actor.address)
    institution = actor.address

    async def produce() -> AsyncIterator[dict[str, Any]]:
        position = start
        while True:
            with ctx.engine.connect() as conn:
                rows = catchup.events_after(conn, sub.id, position, 100)
            if rows:
                page = await catchup.released(
                    rows,
                    institution,
                    ctx.state(),
                    ctx.writer,
                    ctx.catalog,
                    _now(ctx),
                    "alert_streamed",
                    position,
                )
                for event in page.events:
                    yield {
                        "id": str(event["data"]["event_number"]),
                        "event": event["type"],
                        "data": orjson.dumps(event).decode(),
                    }
                position = page.next_after
                continue
            if not follow or await request.is_disconnected():
                return
            await asyncio.sleep(_STREAM_POLL_S)

    return EventSourceResponse(produce(), ping=15)
