"""Violations found so far, kept in memory: each render re-checks only recent entries.

The violations view re-checks every allowed entry of its window against the grant state at
its block, so a page over the whole log grows with the log. Both sides of that check are
fixed once written (the log is append-only; the replica's state at a past block does not
change), so a violation found stays one and an entry found clean stays clean. The first
render checks the whole log; later ones ask the view only for entries logged since the
newest entry seen, less OVERLAP (an entry's time is taken when its request arrives and it is
committed milliseconds later, so one logged just before the last look may appear after it).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from indexer import audit_views
from indexer.audit_views import ACCESS_LOG
from indexer.dashboard.filters import Filters

OVERLAP = timedelta(minutes=10)
_EVERY_ROW = 2**40  # the view's limit when all rows are wanted


class ViolationCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[int, dict[str, Any]] = {}
        self._newest_seen: datetime | None = None

    def refresh(self, session: Session) -> None:
        with self._lock:
            newest = session.execute(select(func.max(ACCESS_LOG.c.at))).scalar()
            if newest is None:
                return
            since = None if self._newest_seen is None else self._newest_seen - OVERLAP
            for row in audit_views.violations(session, limit=_EVERY_ROW, since=since):
                self._rows[row["entry_id"]] = row
            self._newest_seen = newest

    def rows(self, session: Session, filters: Filters) -> list[dict[str, Any]]:
        """Every violation inside the period and institution of ``filters``, oldest first."""
        self.refresh(session)
        with self._lock:
            found = sorted(self._rows.items())
        return [
            row
            for _, row in found
            if (filters.institution is None or row["actor"] == filters.institution)
            and (filters.since is None or datetime.fromisoformat(row["at"]) >= filters.since)
            and (filters.until is None or datetime.fromisoformat(row["at"]) < filters.until)
        ]
