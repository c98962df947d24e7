"""The regulator's metrics (``GET /v1/audit/metrics``), shaped like the Australian CDR's
"Get Metrics": every figure for the current UTC day and each of the 7 days before it.

Where each figure comes from (docs/audit.md, "Metrics"):

- ``invocations``, ``averageResponse``, ``errors``: the API's own request counts
  (``api_request_counts``: every worker adds its tallies every few seconds), by endpoint
  class (``request_metrics.ENDPOINT_CLASSES``) and HTTP status;
- ``authorisations``: grants in the indexer's replica (issued, revoked, expired, active now);
- ``denials``: the access log's denied entries by reason;
- ``institutions``: the access log's entries per institution, allowed and denied.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, select

from indexer.audit_names import Names
from indexer.tables import BLOCKS, GRANTS
from ledger_api.api.request_metrics import ENDPOINT_CLASSES, UNAUTHENTICATED
from ledger_api.store.access_log import AccessLogEntry
from ledger_api.store.request_counts import REQUEST_COUNTS

__all__ = ["PREVIOUS_DAYS", "metrics_report"]

PREVIOUS_DAYS = 7
ACCESS_LOG = AccessLogEntry.__table__.c
CLASSES = (UNAUTHENTICATED, *(name for _, name in ENDPOINT_CLASSES))


def _day_of(conn: Connection, at: Any) -> Any:
    """SQL for the UTC day ("2026-12-07") of the timestamp column ``at``."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", at), "YYYY-MM-DD")
    return func.substr(at, 1, 10)  # SQLite keeps UTC timestamps as "2026-12-07 10:00:00..."


class _Days:
    """The report's days: today (UTC) first, then the 7 before it."""

    def __init__(self, now: float) -> None:
        today = datetime.fromtimestamp(now, UTC).date()
        self.days = [today - timedelta(days=n) for n in range(PREVIOUS_DAYS + 1)]
        self.keys = [d.isoformat() for d in self.days]
        self.start = datetime.combine(self.days[-1], time(0), UTC)
        self.now = now

    def series(self, by_day: dict[str, Any], empty: Any = 0) -> dict[str, Any]:
        values = [by_day.get(key, empty) for key in self.keys]
        return {"currentDay": values[0], "previousDays": values[1:]}

    def of_epoch(self, seconds: int) -> str:
        return datetime.fromtimestamp(seconds, UTC).date().isoformat() if seconds >= 0 else ""


def _requests(conn: Connection, days: _Days) -> dict[str, Any]:
    table = REQUEST_COUNTS.c
    rows = conn.execute(
        select(table.day, table.endpoint_class, table.status, table.requests, table.total_ms)
        .where(table.day.in_(days.keys))
    ).all()  # fmt: skip
    calls: dict[str, dict[str, int]] = defaultdict(dict)
    total_ms: dict[str, dict[str, float]] = defaultdict(dict)
    errors: dict[str, dict[str, int]] = defaultdict(dict)
    for day, cls, status, n, ms in rows:
        calls[cls][day] = calls[cls].get(day, 0) + int(n)
        total_ms[cls][day] = total_ms[cls].get(day, 0.0) + float(ms)
        if status >= 400:
            errors[day][str(status)] = errors[day].get(str(status), 0) + int(n)
    average = {
        cls: {day: round(total_ms[cls][day] / n, 3) for day, n in calls[cls].items() if n}
        for cls in calls
    }
    return {
        "invocations": {cls: days.series(calls.get(cls, {})) for cls in CLASSES},
        "averageResponse": {cls: days.series(average.get(cls, {}), None) for cls in CLASSES},
        "errors": {"aggregate": days.series(dict(errors), {})},
    }


def _authorisations(conn: Connection, days: _Days) -> dict[str, Any]:
    grants = GRANTS.c
    since, now = int(days.start.timestamp()), int(days.now)
    changes = conn.execute(
        select(grants.revoked, grants.valid_from_block, grants.issued_block, BLOCKS.c.timestamp)
        .join(BLOCKS, BLOCKS.c.number == grants.valid_from_block)
        .where(BLOCKS.c.timestamp >= since)
    ).all()  # fmt: skip
    issued: dict[str, int] = defaultdict(int)
    revoked: dict[str, int] = defaultdict(int)
    for was_revoked, from_block, issued_block, at in changes:
        if was_revoked:
            revoked[days.of_epoch(at)] += 1
        elif from_block == issued_block:
            issued[days.of_epoch(at)] += 1
    current = and_(grants.valid_to_block.is_(None), ~grants.revoked)
    expired: dict[str, int] = defaultdict(int)
    for (not_after,) in conn.execute(
        select(grants.not_after).where(current, grants.not_after >= since, grants.not_after < now)
    ):
        expired[days.of_epoch(not_after)] += 1
    active = conn.execute(
        select(func.count()).where(current, grants.not_before <= now, grants.not_after > now)
    ).scalar_one()
    return {
        "activeAuthorisationCount": int(active),
        "newAuthorisationCount": days.series(issued),
        "revokedAuthorisationCount": days.series(revoked),
        "expiredAuthorisationCount": days.series(expired),
        # A grant's terms cannot change on chain: a new scope is a new grant (and usually a
        # revocation of the old one), so nothing is ever amended.
        "amendedAuthorisationCount": days.series({}),
    }


def _access_log(conn: Connection, days: _Days) -> dict[str, Any]:
    day = _day_of(conn, ACCESS_LOG.at).label("day")
    rows = conn.execute(
        select(day, ACCESS_LOG.actor, ACCESS_LOG.actor_role, ACCESS_LOG.decision,
               ACCESS_LOG.reason, func.count())
        .where(ACCESS_LOG.at >= days.start)
        .group_by(day, ACCESS_LOG.actor, ACCESS_LOG.actor_role, ACCESS_LOG.decision,
                  ACCESS_LOG.reason)
    ).all()  # fmt: skip
    denials: dict[str, dict[str, int]] = defaultdict(dict)
    per_institution: dict[str, dict[str, dict[str, int]]] = defaultdict(
        lambda: {"allowed": defaultdict(int), "denied": defaultdict(int)}
    )
    for on, actor, role, decision, reason, n in rows:
        if decision != "allowed":
            denials[on][reason] = denials[on].get(reason, 0) + int(n)
        if role == "institution":
            per_institution[actor]["allowed" if decision == "allowed" else "denied"][on] += int(n)
    names = Names(conn, per_institution)
    institutions = []
    for address, tally in sorted(per_institution.items()):
        total = {k: tally["allowed"].get(k, 0) + tally["denied"].get(k, 0) for k in days.keys}
        institutions.append({
            "institution": address,
            "institution_name": names.institution(address),
            "invocations": days.series(total),
            "allowed": days.series(tally["allowed"]),
            "denied": days.series(tally["denied"]),
        })  # fmt: skip
    return {"denials": days.series(dict(denials), {}), "institutions": institutions}


def metrics_report(conn: Connection, now: float) -> dict[str, Any]:
    """The report for the UTC day of ``now`` and the 7 days before it."""
    days = _Days(now)
    data: dict[str, Any] = {
        "requestTime": datetime.fromtimestamp(now, UTC).isoformat(),
        "days": days.keys,
    }
    data.update(_requests(conn, days))
    data["authorisations"] = _authorisations(conn, days)
    data.update(_access_log(conn, days))
    meta = {
        "endpointClasses": {name: prefix for prefix, name in ENDPOINT_CLASSES},
        "averageResponseUnit": "ms",
        "timeZone": "UTC",
    }
    return {"data": data, "meta": meta}
