"""The regulators' monitoring views: subscriptions, and deliveries and failures per
institution (registered in ``indexer.audit_views.VIEWS``; same filters as every view).

    subscriptions(session, **filters) -> list[dict]   every subscription: its institution,
        kind, status, filters, webhook host (never the path or query: they may hold tokens),
        events numbered, delivered, acknowledged, consecutive failures and the last error
    deliveries(session, **filters) -> list[dict]      per registered institution: its
        subscriptions (active, paused, disabled), events, pushes delivered and refused and
        catch-up reads (from the access log, in the since/until window), failing endpoints
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from indexer.audit_filters import check_filters
from indexer.replica import checksum_address
from indexer.tables import INSTITUTIONS
from ledger_api.chain.types import bits_of
from ledger_api.store.access_log import AccessLogEntry
from ledger_api.store.monitoring_tables import SUBSCRIPTIONS

ACCESS_LOG = cast(Table, AccessLogEntry.__table__)
PUSHED = "alert_delivered"
READ = ("alert_polled", "alert_streamed")
_View = TypeVar("_View", bound=Callable[..., Any])


def _checked(view: _View) -> _View:
    @functools.wraps(view)
    def run(session: Session, **filters: Any) -> Any:
        return view(session, **check_filters(session.connection(), filters))

    return cast(_View, run)


def _host(url: str | None) -> str | None:
    return None if url is None else urlsplit(url).hostname


@_checked
def subscriptions(
    session: Session, *, institution: str | None = None, limit: int = 100, offset: int = 0,
    **_ignored: Any,
) -> list[dict[str, Any]]:  # fmt: skip
    query = select(SUBSCRIPTIONS).order_by(SUBSCRIPTIONS.c.id).limit(limit).offset(offset)
    if institution is not None:
        query = query.where(SUBSCRIPTIONS.c.institution == checksum_address(institution))
    return [
        {
            "subscription_id": r.id,
            "institution": r.institution,
            "kind": r.kind,
            "status": r.status,
            "categories": bits_of(r.categories),
            "regions": json.loads(r.regions),
            "industries": json.loads(r.industries),
            "webhook_host": _host(r.webhook_url),
            "events": r.last_number,
            "delivered_up_to": r.delivered_number,
            "acknowledged_up_to": r.acked_number,
            "failures": r.failures,
            "last_error": r.last_error,
        }
        for r in session.connection().execute(query)
    ]


@_checked
def deliveries(
    session: Session, *, institution: str | None = None, since: datetime | None = None,
    until: datetime | None = None, limit: int = 100, offset: int = 0, **_ignored: Any,
) -> list[dict[str, Any]]:  # fmt: skip
    conn = session.connection()
    wanted = None if institution is None else checksum_address(institution)
    rows: dict[str, dict[str, Any]] = {}

    def row(address: str) -> dict[str, Any]:
        return rows.setdefault(address, {"institution": address})

    live = select(INSTITUTIONS.c.address).where(INSTITUTIONS.c.valid_to_block.is_(None))
    for (address,) in conn.execute(live.order_by(INSTITUTIONS.c.institution_index)):
        if wanted in (None, address):
            row(address)
    subs = select(
        SUBSCRIPTIONS.c.institution, SUBSCRIPTIONS.c.status, SUBSCRIPTIONS.c.last_number,
        SUBSCRIPTIONS.c.failures,
    ).where(SUBSCRIPTIONS.c.status != "deleted")  # fmt: skip
    for sub in conn.execute(subs):
        if wanted not in (None, sub.institution):
            continue
        found = row(sub.institution)
        found[f"subscriptions_{sub.status}"] = found.get(f"subscriptions_{sub.status}", 0) + 1
        found["events"] = found.get("events", 0) + sub.last_number
        found["failing_endpoints"] = found.get("failing_endpoints", 0) + (sub.failures > 0)
    log = ACCESS_LOG.c
    counts = (
        select(log.actor, log.action, log.decision, func.count().label("n"))
        .where(log.action.in_((PUSHED, *READ)))
        .group_by(log.actor, log.action, log.decision)
    )
    if since is not None:
        counts = counts.where(log.at >= since)
    if until is not None:
        counts = counts.where(log.at < until)
    for entry in conn.execute(counts):
        if wanted not in (None, entry.actor):
            continue
        found = row(entry.actor)
        key = "refused" if entry.decision != "allowed" else (
            "pushed" if entry.action == PUSHED else "read_by_catch_up"
        )  # fmt: skip
        found[key] = found.get(key, 0) + entry.n
    fields = (
        "subscriptions_active", "subscriptions_paused", "subscriptions_disabled", "events",
        "pushed", "read_by_catch_up", "refused", "failing_endpoints",
    )  # fmt: skip
    ordered = [
        {"institution": r["institution"], **{f: r.get(f, 0) for f in fields}} for r in rows.values()
    ]
    return ordered[offset : offset + limit]
