"""Institutions' accesses counted per (UTC day, institution, action, purpose, category,
decision, reason), kept in memory.

The dashboard counts every access of a period; with a million entries a GROUP BY over the log
costs seconds. The log only grows (entries are hash-chained and never change) and its writer
appends under a transaction-scoped advisory lock taken before it reads the last entry, so
entries become visible in id order: once id N is seen, every smaller id is. So the counts are
taken once, then each read adds only the entries after the last id counted (a primary-key
range). The first read after start pays the full scan.

Periods of whole UTC days (the dashboard's date filters) are answered from the counts, with
the institution, category and purpose filters applied to the groups; a time of day goes to
the database (``indexer.dashboard.queries``), whose answers are the same.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import datetime, time
from typing import Any, NamedTuple

from sqlalchemy import Connection, func, select

from indexer.audit_views import ACCESS_LOG
from indexer.dashboard.filters import Filters


class Group(NamedTuple):
    day: str
    actor: str
    action: str
    purpose: int | None
    category: int | None
    decision: str
    reason: str


def day_of(conn: Connection, column: Any) -> Any:
    """SQL for the UTC day ("2026-12-07") of an access-log timestamp (the volumes view's rule)."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)  # SQLite stores UTC timestamps as ISO text


def _whole_day(value: datetime | None) -> bool:
    return value is None or value.timetz().replace(tzinfo=None) == time(0)


class AccessCounts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_id = 0
        self._counts: dict[Group, int] = defaultdict(int)

    @property
    def counted_through(self) -> int:
        """The id of the last access-log entry counted (0 before the first pass)."""
        return self._last_id

    @staticmethod
    def serves(filters: Filters) -> bool:
        """Whether the counts answer ``filters``: a period of whole UTC days."""
        return _whole_day(filters.since) and _whole_day(filters.until)

    def refresh(self, conn: Connection) -> None:
        log = ACCESS_LOG.c
        with self._lock:
            top = conn.execute(select(func.max(log.id)).where(log.id > self._last_id)).scalar()
            if top is None:
                return
            day = day_of(conn, log.at).label("day")
            columns = (day, log.actor, log.action, log.purpose, log.category, log.decision,
                       log.reason)  # fmt: skip
            query = (
                select(*columns, func.count().label("n"))
                .where(log.id > self._last_id, log.id <= top, log.actor_role == "institution")
                .group_by(*columns)
            )
            for row in conn.execute(query):
                self._counts[Group(*row[:7])] += int(row.n)
            self._last_id = int(top)

    def groups(self, conn: Connection, filters: Filters) -> list[tuple[Group, int]]:
        """Every counted group inside ``filters`` (see ``serves``), brought up to date."""
        self.refresh(conn)
        first = None if filters.since is None else filters.since.date().isoformat()
        end = None if filters.until is None else filters.until.date().isoformat()
        with self._lock:
            counted = list(self._counts.items())
        return [
            (group, n)
            for group, n in counted
            if (first is None or group.day >= first)
            and (end is None or group.day < end)
            and (filters.institution is None or group.actor == filters.institution)
            and (filters.category is None or group.category == filters.category)
            and (filters.purpose is None or group.purpose == filters.purpose)
        ]
