"""Institutions' accesses per (UTC day, institution, action, decision), kept in memory.

The Overview counts every access ever logged; with a million entries a GROUP BY over the
whole log costs more than the page may take. The log only grows (entries are hash-chained and
never change) and its writer appends under a transaction-scoped advisory lock taken before it
reads the last entry, so entries become visible in id order: once id N is seen, every smaller
id is. So the counts are taken once, then each read adds only the entries after the last id
counted (a primary-key range). The first read after start pays the full scan.

Whole UTC days and an institution are answered from the counts; a time of day, a category or
a purpose filter goes to the database (``indexer.dashboard.queries.usage_by_institution``).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import datetime, time
from typing import Any

from sqlalchemy import Connection, func, select

from indexer.audit_views import ACCESS_LOG
from indexer.dashboard.filters import Filters
from indexer.dashboard.queries import day_of

_Key = tuple[str, str, str, str]  # (day, actor, action, decision)


def usage_row(
    actor: str, action: str, decision: str, n: int, into: dict[str, dict[str, int]]
) -> None:
    """Add ``n`` accesses to ``into[actor]`` as the statistics view counts them."""
    if decision != "allowed":
        into[actor]["denied"] += n
    elif action == "verify":
        into[actor]["verifications"] += n
    else:
        into[actor]["queries"] += n


def new_usage() -> dict[str, dict[str, int]]:
    return defaultdict(lambda: {"queries": 0, "verifications": 0, "denied": 0})


def _whole_day(value: datetime | None) -> bool:
    return value is None or value.timetz().replace(tzinfo=None) == time(0)


class UsageCounts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_id = 0
        self._counts: dict[_Key, int] = defaultdict(int)

    @staticmethod
    def serves(filters: Filters) -> bool:
        """Whether these counts answer ``filters`` (whole days, institution only)."""
        return (
            filters.category is None
            and filters.purpose is None
            and _whole_day(filters.since)
            and _whole_day(filters.until)
        )

    def refresh(self, conn: Connection) -> None:
        log = ACCESS_LOG.c
        with self._lock:
            top = conn.execute(select(func.max(log.id)).where(log.id > self._last_id)).scalar()
            if top is None:
                return
            day = day_of(conn, log.at).label("day")
            query = (
                select(day, log.actor, log.action, log.decision, func.count().label("n"))
                .where(log.id > self._last_id, log.id <= top, log.actor_role == "institution")
                .group_by(day, log.actor, log.action, log.decision)
            )
            for row in conn.execute(query):
                self._counts[(row.day, row.actor, row.action, row.decision)] += int(row.n)
            self._last_id = int(top)

    def usage(self, conn: Connection, filters: Filters) -> list[dict[str, Any]]:
        """The statistics view's ``usage_by_institution`` for ``filters`` (see ``serves``)."""
        self.refresh(conn)
        first = None if filters.since is None else filters.since.date().isoformat()
        end = None if filters.until is None else filters.until.date().isoformat()
        usage = new_usage()
        with self._lock:
            counted = list(self._counts.items())
        for (day, actor, action, decision), n in counted:
            if filters.institution is not None and actor != filters.institution:
                continue
            if (first is not None and day < first) or (end is not None and day >= end):
                continue
            usage_row(actor, action, decision, n, usage)
        return [{"institution": k, **v} for k, v in sorted(usage.items())]
