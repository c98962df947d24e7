"""The violations view as it was: every allowed entry re-checked in Python, one by one.

Kept as the oracle the SQL statement (``indexer.violations_sql``) is compared with: it runs
``grant_rules.check_grant`` itself over ``ReplicaState.at(block)``, with four look-ups an
entry, so it is slow on a long log but says exactly what the gate's rule says.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from indexer import audit_views
from indexer.replica import checksum_address

_BATCH = 1000


def python_violations(
    session: Session, *, institution: str | None = None, subject_id: bytes | None = None,
    since: datetime | None = None, until: datetime | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Every violation in the window, oldest first, as the view's rows."""
    conn = session.connection()
    checker = audit_views._Rechecker(conn)
    log = audit_views.ACCESS_LOG.c
    query = audit_views._entry_query(
        None if institution is None else checksum_address(institution), subject_id, since, until
    ).where(log.decision == "allowed")
    found: list[dict[str, Any]] = []
    last_id = 0
    while True:
        rows = conn.execute(query.where(log.id > last_id).limit(_BATCH)).all()
        for entry in rows:
            row = audit_views._audit_row(entry, *checker.check(entry))
            if not row["consistent"]:
                row["violation"] = row["recomputed"] or "no_grant"
                found.append(row)
        if len(rows) < _BATCH:
            return found
        last_id = rows[-1].id
