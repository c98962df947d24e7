"""Violations found so far, kept in memory as ids: each render re-checks only recent entries
and shows one page of rows with the count of all.

Re-checking every allowed entry of the log against the grant state at its block grows with
the log. Both sides of that check are
fixed once written (the log is append-only; the replica's state at a past block does not
change), so a violation found stays one and an entry found clean stays clean. The first
render takes the violations the indexer has recorded (``indexer.log_recheck``: the verdicts
of every entry up to its mark) and checks in SQL only the entries after the mark; later ones
ask the database only for entries logged since the newest entry seen, less OVERLAP (an
entry's time is taken when its request arrives and it is committed milliseconds later, so one
logged just before the last look may appear after it). Only what the filters need is kept
per violation; a page's rows, with the failing rule named by the Python re-check, are built
for the rows shown only, however many there are.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from indexer import audit_views
from indexer.audit_views import ACCESS_LOG
from indexer.dashboard.filters import Filters
from indexer.log_recheck import checked_through
from indexer.tables import LOG_VIOLATIONS
from indexer.violations_sql import violation_ids_query

OVERLAP = timedelta(minutes=10)


class Found(NamedTuple):
    entry_id: int
    at: datetime
    actor: str
    purpose: int | None
    category: int | None
    categories: int | None  # bitmask

    def matches(self, filters: Filters) -> bool:
        """Inside the dashboard's filters (category and purpose as the pages apply them)."""
        if filters.institution is not None and self.actor != filters.institution:
            return False
        if filters.since is not None and self.at < filters.since:
            return False
        if filters.until is not None and self.at >= filters.until:
            return False
        if filters.purpose is not None and self.purpose != filters.purpose:
            return False
        if filters.category is None:
            return True
        if self.categories is not None:
            return bool(self.categories >> filters.category & 1)
        return self.category == filters.category


class ViolationCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._found: dict[int, Found] = {}
        self._newest_seen: datetime | None = None

    def refresh(self, session: Session) -> None:
        with self._lock:
            conn = session.connection()
            newest = conn.execute(select(func.max(ACCESS_LOG.c.at))).scalar()
            if newest is None:
                return
            if conn.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL jit = off"))  # as the violations view does
            log = ACCESS_LOG.c
            shown = (log.id, log.at, log.actor, log.purpose, log.category, log.categories)
            since = after_id = None
            if self._newest_seen is not None:
                since = self._newest_seen - OVERLAP
            else:
                after_id = checked_through(conn)
                recorded = (
                    select(*shown)
                    .join(LOG_VIOLATIONS, LOG_VIOLATIONS.c.entry_id == log.id)
                    .where(log.id <= after_id)
                )
                for row in conn.execute(recorded):
                    self._found[row.id] = Found(*row)
            query = violation_ids_query(
                conn, institution=None, subject_id=None, since=since, until=None,
                after_id=after_id,
            ).with_only_columns(*shown)  # fmt: skip
            for row in conn.execute(query):
                self._found[row.id] = Found(*row)
            self._newest_seen = newest

    def page(
        self, session: Session, filters: Filters, limit: int
    ) -> tuple[int, list[dict[str, Any]]]:
        """How many violations are inside ``filters``, and the oldest ``limit`` of them as
        the violations view's rows."""
        self.refresh(session)
        with self._lock:
            matching = sorted(f.entry_id for f in self._found.values() if f.matches(filters))
        return len(matching), audit_views.violation_rows(session, matching[:limit])
