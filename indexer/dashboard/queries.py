"""The dashboard's own aggregates, counted by the database (GROUP BY), never row by row.

The audit views (``indexer.audit_views``) give violations, grant and agreement history and
anchors; what they do not give is here: access counts cut by every filter the dashboard has
(category and purpose too), denials by reason, grant expiries, current counts of institutions
and active grants, where the replica stands, an enterprise's disputes. The Overview's KPIs are
the statistics view's, counted here the same way so that access counts can come from
``access_counts`` instead of a scan of the whole log (the browser tests compare the two).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, and_, func, or_, select

from indexer.audit_views import ACCESS_LOG
from indexer.dashboard.access_counts import AccessCounts, Group, day_of
from indexer.dashboard.filters import Filters
from indexer.tables import (
    ANCHORS,
    BLOCKS,
    CHECKPOINT,
    DISPUTES,
    GRANTS,
    INSTITUTIONS,
    SUBJECT_BINDINGS,
)
from ledger_api.chain.types import DisputeKind, DisputeOutcome, DisputeStatus
from ledger_api.store.models import BATCHES, RECORDS


def _institution_accesses(filters: Filters, *columns: Any) -> Select[Any]:
    log = ACCESS_LOG.c
    query = select(*columns).where(log.actor_role == "institution")
    if filters.institution is not None:
        query = query.where(log.actor == filters.institution)
    if filters.since is not None:
        query = query.where(log.at >= filters.since)
    if filters.until is not None:
        query = query.where(log.at < filters.until)
    if filters.category is not None:
        query = query.where(log.category == filters.category)
    if filters.purpose is not None:
        query = query.where(log.purpose == filters.purpose)
    return query


def _sql_groups(conn: Connection, filters: Filters) -> list[tuple[Group, int]]:
    log = ACCESS_LOG.c
    columns = (day_of(conn, log.at).label("day"), log.actor, log.action, log.purpose,
               log.category, log.decision, log.reason)  # fmt: skip
    query = _institution_accesses(filters, *columns, func.count().label("n")).group_by(*columns)
    return [(Group(*row[:7]), int(row.n)) for row in conn.execute(query)]


def counted_groups(
    conn: Connection, filters: Filters, counts: AccessCounts | None
) -> list[tuple[Group, int]]:
    """Institutions' accesses per group inside ``filters``: from the in-memory counts when
    they answer the period, else from the database (the same groups either way)."""
    if counts is not None and counts.serves(filters):
        return counts.groups(conn, filters)
    return _sql_groups(conn, filters)


def access_groups(groups: list[tuple[Group, int]]) -> list[dict[str, Any]]:
    """Accesses per (UTC day, institution, purpose, category): allowed, denied, total."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for group, n in groups:
        key = (group.day, group.actor, group.purpose, group.category)
        row = merged.setdefault(key, {"day": group.day, "institution": group.actor,
                                      "purpose": group.purpose, "category": group.category,
                                      "allowed": 0, "denied": 0, "total": 0})  # fmt: skip
        row["allowed" if group.decision == "allowed" else "denied"] += n
        row["total"] += n
    return list(merged.values())


def usage_by_institution(groups: list[tuple[Group, int]]) -> list[dict[str, Any]]:
    """Queries, verifications and denials per institution, as the statistics view counts
    them (refused: denied; allowed verify: verification; other allowed: query)."""
    usage: dict[str, dict[str, int]] = defaultdict(
        lambda: {"queries": 0, "verifications": 0, "denied": 0}
    )
    for group, n in groups:
        if group.decision != "allowed":
            usage[group.actor]["denied"] += n
        elif group.action == "verify":
            usage[group.actor]["verifications"] += n
        else:
            usage[group.actor]["queries"] += n
    return [{"institution": k, **v} for k, v in sorted(usage.items())]


def records_by_category_provider(conn: Connection, filters: Filters) -> list[dict[str, Any]]:
    """Records stored per (category, provider), by the creation time of their batch: the
    statistics view's first KPI."""
    query = (
        select(RECORDS.c.category, RECORDS.c.provider, func.count().label("n"))
        .join(BATCHES, BATCHES.c.batch_id == RECORDS.c.batch_id)
        .group_by(RECORDS.c.category, RECORDS.c.provider)
        .order_by(RECORDS.c.category, RECORDS.c.provider)
    )
    return [
        {"category": r.category, "provider": r.provider, "records": int(r.n)}
        for r in conn.execute(_batch_window(query, filters))
    ]


def enterprises_covered(conn: Connection, filters: Filters) -> int:
    """Distinct enterprises with any stored record (in batches of the period)."""
    query = select(func.count(func.distinct(RECORDS.c.subject_id))).join(
        BATCHES, BATCHES.c.batch_id == RECORDS.c.batch_id
    )
    return int(conn.execute(_batch_window(query, filters)).scalar_one())


def enterprises_registered(conn: Connection) -> int:
    """Enterprises bound to an account on chain now."""
    s = SUBJECT_BINDINGS.c
    return int(conn.execute(select(func.count()).where(s.valid_to_block.is_(None))).scalar_one())


def _batch_window(query: Select[Any], filters: Filters) -> Select[Any]:
    if filters.since is not None:
        query = query.where(BATCHES.c.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(BATCHES.c.created_at < filters.until)
    return query


def denials_by_reason(groups: list[tuple[Group, int]]) -> list[dict[str, Any]]:
    reasons: dict[str, int] = defaultdict(int)
    for group, n in groups:
        if group.decision != "allowed":
            reasons[group.reason] += n
    rows = [{"reason": reason, "count": n} for reason, n in reasons.items()]
    return sorted(rows, key=lambda r: (-r["count"], r["reason"]))


def decision_totals(groups: list[tuple[Group, int]]) -> dict[str, int]:
    """Institutions' accesses allowed and denied."""
    totals = {"allowed": 0, "denied": 0}
    for group, n in groups:
        totals["allowed" if group.decision == "allowed" else "denied"] += n
    return totals


def institution_count(conn: Connection) -> int:
    table = INSTITUTIONS.c
    query = select(func.count()).where(table.valid_to_block.is_(None))
    return int(conn.execute(query).scalar_one())


def active_grants(conn: Connection, now: int | None = None) -> int:
    """Grants live on chain now: not revoked and inside their validity window."""
    now = int(time.time()) if now is None else now
    g = GRANTS.c
    query = select(func.count()).where(
        g.valid_to_block.is_(None), ~g.revoked, g.not_before <= now, g.not_after > now
    )
    return int(conn.execute(query).scalar_one())


_DAY_S = 86_400


def _utc_day(epoch_day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(int(epoch_day) * _DAY_S))


def _grant_filters(query: Select[Any], filters: Filters) -> Select[Any]:
    g = GRANTS.c
    if filters.institution is not None:
        query = query.where(g.institution == filters.institution)
    if filters.purpose is not None:
        query = query.where(g.purpose == filters.purpose)
    if filters.category is not None:
        query = query.where(g.categories.op("&")(1 << filters.category) != 0)
    return query


def grant_events_by_day(conn: Connection, filters: Filters) -> dict[str, dict[str, int]]:
    """Grants issued and revoked per UTC day, counted by the database: the grant-history
    view's events (a grant's first version is its issue, a revoked version its revocation),
    every one of the period, not only the page of them a table shows."""
    g = GRANTS.c
    # Whole UTC days since the epoch (floor division, the same on PostgreSQL and SQLite).
    day = (BLOCKS.c.timestamp // _DAY_S).label("day")
    first_version = and_(g.valid_from_block == g.issued_block, ~g.revoked)
    query = (
        select(day, g.revoked, func.count().label("n"))
        .join(BLOCKS, BLOCKS.c.number == g.valid_from_block)
        .where(or_(first_version, g.revoked))
        .group_by(day, g.revoked)
    )
    if filters.since is not None:
        query = query.where(BLOCKS.c.timestamp >= int(filters.since.timestamp()))
    if filters.until is not None:
        query = query.where(BLOCKS.c.timestamp < int(filters.until.timestamp()))
    days: dict[str, dict[str, int]] = {}
    for row in conn.execute(_grant_filters(query, filters)):
        counts = days.setdefault(_utc_day(row.day), {"issued": 0, "revoked": 0})
        counts["revoked" if row.revoked else "issued"] += int(row.n)
    return days


def expiries_by_day(conn: Connection, filters: Filters, now: int | None = None) -> dict[str, int]:
    """Unrevoked grants whose validity ended (before now), per UTC day of their end."""
    now = int(time.time()) if now is None else now
    g = GRANTS.c
    day = (g.not_after // _DAY_S).label("day")
    query = (
        select(day, func.count().label("n"))
        .where(g.valid_to_block.is_(None), ~g.revoked, g.not_after <= now)
        .group_by(day)
    )
    if filters.since is not None:
        query = query.where(g.not_after >= int(filters.since.timestamp()))
    if filters.until is not None:
        query = query.where(g.not_after < int(filters.until.timestamp()))
    return {_utc_day(row.day): int(row.n) for row in conn.execute(_grant_filters(query, filters))}


def latest_anchor_time(conn: Connection) -> int | None:
    """UTC seconds of the block holding the newest anchor, None before the first."""
    query = select(func.max(BLOCKS.c.timestamp)).join(
        ANCHORS, ANCHORS.c.block_number == BLOCKS.c.number
    )
    found = conn.execute(query).scalar()
    return None if found is None else int(found)


@dataclass(frozen=True)
class ReplicaPosition:
    indexed_block: int | None
    block_age_s: int | None  # seconds since the last indexed block was mined


def replica_position(conn: Connection) -> ReplicaPosition:
    row = conn.execute(
        select(CHECKPOINT.c.block_number, CHECKPOINT.c.block_timestamp).limit(1)
    ).first()
    if row is None:
        return ReplicaPosition(None, None)
    return ReplicaPosition(int(row.block_number), max(int(time.time()) - row.block_timestamp, 0))


def subject_index(conn: Connection, subject_id: bytes) -> int | None:
    s = SUBJECT_BINDINGS.c
    row = conn.execute(select(s.subject_index).where(s.subject_id == subject_id).limit(1)).first()
    return None if row is None else int(row.subject_index)


def disputes(conn: Connection, index: int) -> list[dict[str, Any]]:
    """The enterprise's disputes as they stand now, with the block each was opened in."""
    d = DISPUTES.c
    query = (
        select(DISPUTES, BLOCKS.c.timestamp)
        .join(BLOCKS, BLOCKS.c.number == d.opened_block, isouter=True)
        .where(d.subject_index == index, d.valid_to_block.is_(None))
        .order_by(d.dispute_id)
    )
    return [
        {
            "dispute_id": r.dispute_id,
            "kind": DisputeKind(r.kind).name.lower(),
            "status": DisputeStatus(r.status).name.lower(),
            "outcome": DisputeOutcome(r.outcome).name.lower(),
            "block": r.opened_block,
            "at": None
            if r.timestamp is None
            else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(r.timestamp)),
        }
        for r in conn.execute(query)
    ]


def institution_profile(conn: Connection, address: str) -> dict[str, Any] | None:
    i = INSTITUTIONS.c
    row = conn.execute(
        select(INSTITUTIONS).where(i.address == address, i.valid_to_block.is_(None))
    ).first()
    if row is None:
        return None
    return {
        "name": row.name,
        "address": row.address,
        "type": row.kind,
        "suspended": row.suspended,
        "agreement_id": row.agreement_id,
    }
