"""Catch-up after downtime: a page of a subscription's events after a number, and the
acknowledgment that moves its ``acked_number``.

What a page returns passed ``messages.recheck`` at read time and is in the access log (as
``alert_polled`` or ``alert_streamed``); an event whose grant is no longer usable is
logged as refused and left out, its number skipped, so numbers stay in order.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from ledger_api.accesslog import AccessLogWriter
from ledger_api.catalog.loader import Catalog
from ledger_api.chain.state import ChainState
from ledger_api.errors import InputError, NotFoundError
from ledger_api.monitoring.messages import cloud_event, log_draft, recheck
from ledger_api.monitoring.subscriptions import DELETED
from ledger_api.store.monitoring_tables import SUBSCRIPTION_EVENTS, SUBSCRIPTIONS
from ledger_api.store.types import utcnow

MAX_NUMBER = 2**62


def parse_position(raw: str | None, name: str = "after") -> int:
    if raw is None or raw == "":
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise InputError(f"{name} must be an integer", code=f"invalid_{name}") from None
    if not 0 <= value < MAX_NUMBER:
        raise InputError(f"{name} must be between 0 and 2^62", code=f"invalid_{name}")
    return value


def parse_limit(raw: str | None, maximum: int) -> int:
    if raw is None or raw == "":
        return min(100, maximum)
    try:
        value = int(raw)
    except ValueError:
        raise InputError("limit must be an integer", code="invalid_limit") from None
    if not 1 <= value <= maximum:
        raise InputError(f"limit must be between 1 and {maximum}", code="invalid_limit")
    return value


def subscription_of(conn: Connection, sub_id: int, institution: str) -> Any:
    row = conn.execute(select(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == sub_id)).one_or_none()
    if row is None or row.status == DELETED or row.institution != institution:
        raise NotFoundError(
            f"no subscription {sub_id} of this institution", code="unknown_subscription"
        )
    return row


def events_after(conn: Connection, sub_id: int, after: int, limit: int) -> list[Any]:
    return list(
        conn.execute(
            select(SUBSCRIPTION_EVENTS)
            .where(
                SUBSCRIPTION_EVENTS.c.subscription_id == sub_id,
                SUBSCRIPTION_EVENTS.c.number > after,
            )
            .order_by(SUBSCRIPTION_EVENTS.c.number)
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class Page:
    events: list[dict[str, Any]]
    next_after: int  # the number to ask after next time (refused events included)


async def released(
    rows: list[Any],
    institution: str,
    state: ChainState,
    writer: AccessLogWriter,
    catalog: Catalog,
    now: int,
    operation: str,
    after: int,
) -> Page:
    """The rows that may leave now, as CloudEvents; every row is logged either way."""
    block = state.position().block_number
    shown: list[dict[str, Any]] = []
    futures = []
    for row in rows:
        verdict = recheck(state, institution, row, now)
        futures.append(writer.submit(log_draft(institution, row, verdict, operation, block)))
        if verdict.allowed:
            shown.append(cloud_event(row, catalog))
    for future in futures:
        await asyncio.wrap_future(future)  # logged before it leaves
    return Page(shown, rows[-1].number if rows else after)


def acknowledge(conn: Connection, sub: Any, up_to: int) -> int:
    if up_to > sub.last_number:
        raise InputError(
            f"up_to {up_to} is beyond the last event ({sub.last_number})", code="invalid_up_to"
        )
    acked = max(sub.acked_number, up_to)
    conn.execute(
        update(SUBSCRIPTIONS)
        .where(SUBSCRIPTIONS.c.id == sub.id)
        .values(acked_number=acked, updated_at=utcnow())
    )
    return acked
