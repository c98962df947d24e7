"""Risk events derived at ingest, written to the outbox in the records' own transaction.

``record_risk_events`` is called by the ingest pipeline inside the transaction that stores a
batch's new records: either both are committed or neither is, so no event is lost and none
exists for a record that was not stored. Registration records also keep the subject's PUBLIC
region and industry (``subject_profiles``), which public push subscriptions match on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, delete, select

from ledger_api.ingest.rows import PreparedRow
from ledger_api.monitoring.rules import MonitoringRules, region_of
from ledger_api.store.bulk import insert_columns
from ledger_api.store.monitoring_tables import OUTBOX, SUBJECT_PROFILES

REGISTRATION = "registration"
_LOOKUP_CHUNK = 500


def record_risk_events(
    conn: Connection,
    rules: MonitoringRules,
    category: int,
    registration_bit: int,
    fresh: Sequence[PreparedRow],
    occurred_at: int,
) -> int:
    """Write the outbox events of a batch's new records; returns how many."""
    is_registration = category == registration_bit
    if not fresh or (category not in rules.by_category and not is_registration):
        return 0
    rows = [(p, orjson.loads(p.payload)) for p in fresh]
    if is_registration:
        _keep_profiles(conn, rules, rows)
    events: list[tuple[PreparedRow, str, bool]] = []
    for prepared, fields in rows:
        for kind, public in rules.events_of(category, fields):
            events.append((prepared, kind, public))
    if not events:
        return 0
    profiles = _profiles(conn, {p.subject_id for p, _, _ in events})
    insert_columns(
        conn,
        OUTBOX,
        {
            "subject_id": [p.subject_id for p, _, _ in events],
            "kind": [rules.kind_code(kind) for _, kind, _ in events],
            "record_uid": [p.uid for p, _, _ in events],
            "public": [bool(public) for _, _, public in events],
            "region": [profiles.get(p.subject_id, (None, None))[0] for p, _, _ in events],
            "industry": [profiles.get(p.subject_id, (None, None))[1] for p, _, _ in events],
        },
        {"category": category, "occurred_at": occurred_at},
    )
    return len(events)


def _keep_profiles(
    conn: Connection, rules: MonitoringRules, rows: list[tuple[PreparedRow, dict[str, Any]]]
) -> None:
    latest: dict[bytes, tuple[int | None, int | None]] = {}
    for prepared, fields in rows:
        latest[prepared.subject_id] = (
            rules.region_code(region_of(fields.get("division_code"))),
            rules.industry_code(fields.get("industry_section")),
        )
    ids = list(latest)
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        conn.execute(delete(SUBJECT_PROFILES).where(SUBJECT_PROFILES.c.subject_id.in_(chunk)))
    insert_columns(
        conn,
        SUBJECT_PROFILES,
        {
            "subject_id": ids,
            "region": [latest[s][0] for s in ids],
            "industry": [latest[s][1] for s in ids],
        },
    )


def _profiles(conn: Connection, subjects: set[bytes]) -> dict[bytes, tuple[int | None, int | None]]:
    ids = list(subjects)
    found: dict[bytes, tuple[int | None, int | None]] = {}
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        query = select(
            SUBJECT_PROFILES.c.subject_id, SUBJECT_PROFILES.c.region, SUBJECT_PROFILES.c.industry
        ).where(SUBJECT_PROFILES.c.subject_id.in_(chunk))
        for sid, region, industry in conn.execute(query):
            found[bytes(sid)] = (region, industry)
    return found
