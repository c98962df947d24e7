"""The ``regulator_acts`` audit view: every suspension, reinstatement and termination a
regulator made, with who made it and whom it hit, by name and address, from the chain's events.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from indexer.audit_filters import check_filters
from indexer.replica import ReplicaState
from indexer.tables import BLOCKS, EVENTS

# Event -> the act's name (the same names as the API's and the CLI's regulator verbs).
ACTS = {
    "InstitutionSuspended": "suspend_institution",
    "InstitutionReinstated": "reinstate_institution",
    "AgreementSuspended": "suspend_agreement",
    "AgreementReinstated": "reinstate_agreement",
    "AgreementTerminated": "terminate_agreement",
}


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def regulator_acts(
    session: Session,
    *,
    institution: str | None = None,
    subject_id: bytes | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Every regulator's act (oldest first); ``institution`` keeps the acts that hit it. No act
    concerns a subject: with ``subject_id`` the view is empty."""
    conn = session.connection()
    filters = check_filters(
        conn,
        {"institution": institution, "subject_id": subject_id, "since": since, "until": until,
         "limit": limit, "offset": offset},
    )  # fmt: skip
    if subject_id is not None:
        return []
    query = (
        select(EVENTS, BLOCKS.c.timestamp)
        .join(
            BLOCKS,
            and_(BLOCKS.c.chain_id == EVENTS.c.chain_id, BLOCKS.c.number == EVENTS.c.block_number),
        )
        .where(EVENTS.c.name.in_(ACTS))
        .order_by(EVENTS.c.block_number, EVENTS.c.log_index)
    )
    if filters.get("since") is not None:
        query = query.where(BLOCKS.c.timestamp >= int(filters["since"].timestamp()))
    if filters.get("until") is not None:
        query = query.where(BLOCKS.c.timestamp < int(filters["until"].timestamp()))
    state = ReplicaState(conn)
    rows = []
    for event in conn.execute(query).all():
        args = json.loads(event.args)
        target = str(args.get("institution") or args.get("account") or "")
        if filters.get("institution") is not None and target != filters["institution"]:
            continue
        profile = state.institution(target) if target else None
        rows.append(
            {
                "act": ACTS[event.name],
                "at": _iso(event.timestamp),
                "block": event.block_number,
                "tx_hash": "0x" + bytes(event.tx_hash).hex(),
                "institution": target,
                "institution_name": profile.name if profile else None,
                "agreement_id": args.get("agreementId"),
                "regulator": args.get("regulator"),
                "regulator_roles": sorted(state.roles_of(args["regulator"]))
                if args.get("regulator")
                else [],
            }
        )
    start = filters["offset"]
    return rows[start : start + filters["limit"]]
