"""The regulators' supply-chain views (docs/supply-chain.md), mounted with the audit views.

    supply_chain(session, **filters) -> list[dict]   per core enterprise (debtor): receivables
        confirmed, outstanding, financed (locked parts) and overdue, counts and amounts;
        ``subject_id`` (or the API's ``uscc``) keeps one core enterprise; overdue is computed
        at read time (the wall clock or the indexed head block's time, whichever is later)
    double_financing_refusals(session, **filters) -> list[dict]   every refused financing of
        a part already locked: who tried, which part, with whom, who holds the lock, when

Amounts are shown in yuan (``"1234.56"``) beside their fen (``*_fen``). Enterprises are shown
by their masked USCC (the platform keeps none in the clear) beside their address. The
replica's current versions are read; the refusals come from the API's refusal records.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from indexer.audit_filters import check_filters
from indexer.tables import (
    CHECKPOINT,
    INSTITUTIONS,
    RECEIVABLE_PARTS,
    RECEIVABLES,
    SUBJECT_BINDINGS,
)
from ledger_api.chain.receivables import ReceivableStatus
from ledger_api.store.supply_chain import RECEIVABLE_DOCUMENTS, SUPPLY_CHAIN_REFUSALS

_OWED = (int(ReceivableStatus.CONFIRMED), int(ReceivableStatus.SETTLED))
_MAX_PAGE = 500


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _masked_usccs(conn: Connection) -> dict[str, str]:
    query = select(RECEIVABLE_DOCUMENTS.c.debtor, RECEIVABLE_DOCUMENTS.c.debtor_uscc_masked)
    return {row.debtor: row.debtor_uscc_masked for row in conn.execute(query)}


def _now(conn: Connection) -> int:
    """The later of the wall clock and the indexed head block's time: overdue follows time
    itself, not the last act, and a chain whose clock runs ahead is believed."""
    head = conn.execute(select(func.max(CHECKPOINT.c.block_timestamp))).scalar()
    return max(int(time.time()), int(head or 0))


def _page(rows: list[dict[str, Any]], limit: int, offset: int) -> list[dict[str, Any]]:
    limit = max(1, min(int(limit), _MAX_PAGE))
    return rows[max(0, int(offset)) :][:limit]


def supply_chain(
    session: Session, *, limit: int = 100, offset: int = 0, now: int | None = None,
    **filters: Any,
) -> list[dict[str, Any]]:  # fmt: skip
    """Per core enterprise: confirmed, outstanding, financed and overdue (counts, amounts)."""
    checked = check_filters(session.connection(), {"limit": limit, "offset": offset, **filters})
    conn = session.connection()
    now = _now(conn) if now is None else now
    query = select(RECEIVABLES).where(
        RECEIVABLES.c.valid_to_block.is_(None), RECEIVABLES.c.status.in_(_OWED)
    )
    if checked.get("subject_id") is not None:  # one core enterprise (by USCC or subject id)
        accounts = select(SUBJECT_BINDINGS.c.account).where(
            SUBJECT_BINDINGS.c.subject_id == checked["subject_id"]
        )
        query = query.where(RECEIVABLES.c.debtor.in_(accounts))
    owed = conn.execute(query).all()
    debtor_of = {r.receivable_id: r.debtor for r in owed}
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in owed:
        t = totals[r.debtor]
        outstanding = r.amount - r.paid_total
        t["confirmed"] += 1
        t["confirmed_fen"] += r.amount
        t["outstanding_fen"] += outstanding
        t["settled_fen"] += r.paid_total
        if outstanding > 0 and r.due_date < now:
            t["overdue"] += 1
            t["overdue_fen"] += outstanding
    locked = conn.execute(
        select(RECEIVABLE_PARTS).where(
            RECEIVABLE_PARTS.c.valid_to_block.is_(None),
            RECEIVABLE_PARTS.c.financier.is_not(None),
            RECEIVABLE_PARTS.c.value > 0,
        )
    ).all()
    for p in locked:
        debtor = debtor_of.get(p.receivable_id)
        if debtor is not None:
            totals[debtor]["financed"] += 1
            totals[debtor]["financed_fen"] += p.value
    usccs = _masked_usccs(conn)
    rows = []
    for debtor in sorted(totals, key=lambda d: -totals[d]["confirmed_fen"]):
        t = totals[debtor]
        row: dict[str, Any] = {
            "core_enterprise": debtor,
            "core_enterprise_uscc": usccs.get(debtor),
        }
        for key in ("confirmed", "outstanding", "financed", "overdue", "settled"):
            if key in ("confirmed", "financed", "overdue"):
                row[f"{key}_count"] = t[key]
            row[f"{key}_amount"] = _yuan(t[f"{key}_fen"])
            row[f"{key}_fen"] = t[f"{key}_fen"]
        rows.append(row)
    return _page(rows, limit, offset)


def double_financing_refusals(
    session: Session, *, institution: str | None = None, since: datetime | None = None,
    until: datetime | None = None, limit: int = 100, offset: int = 0, **filters: Any,
) -> list[dict[str, Any]]:  # fmt: skip
    """Every refused financing of a locked part (oldest first)."""
    checked = check_filters(
        session.connection(),
        {"institution": institution, "since": since, "until": until, "limit": limit,
         "offset": offset, **filters},
    )  # fmt: skip
    conn = session.connection()
    table = SUPPLY_CHAIN_REFUSALS.c
    query = select(SUPPLY_CHAIN_REFUSALS).where(
        table.act == "financing", table.code == "part_locked"
    )
    if checked.get("institution") is not None:
        query = query.where(table.institution == checked["institution"])
    if checked.get("since") is not None:
        query = query.where(table.at >= checked["since"])
    if checked.get("until") is not None:
        query = query.where(table.at < checked["until"])
    refused = conn.execute(query.order_by(table.id)).all()
    parts = {
        p.part_id: p
        for p in conn.execute(
            select(RECEIVABLE_PARTS)
            .where(RECEIVABLE_PARTS.c.part_id.in_({r.part_id for r in refused}))
            .order_by(RECEIVABLE_PARTS.c.valid_from_block, RECEIVABLE_PARTS.c.valid_from_log)
        )
    }  # the latest version of each part wins
    names = _institution_names(conn)
    rows = []
    for r in refused:
        part = parts.get(r.part_id)
        rows.append(
            {
                "refusal_id": r.id,
                "at": r.at.astimezone(UTC).isoformat(),
                "enterprise": r.actor,
                "part_id": r.part_id,
                "receivable_id": part.receivable_id if part is not None else None,
                "value_fen": part.value if part is not None else None,
                "institution": r.institution,
                "locked_by": _financier_of(conn, r.part_id),
                "reason": r.code,
            }
        )
    for row in rows:
        row["locked_by_name"] = names.get(row["locked_by"] or "")
    return _page(rows, limit, offset)


def _institution_names(conn: Connection) -> dict[str, str]:
    query = select(INSTITUTIONS.c.address, INSTITUTIONS.c.name).order_by(
        INSTITUTIONS.c.valid_from_block, INSTITUTIONS.c.valid_from_log
    )
    return {row.address: row.name for row in conn.execute(query)}


def _financier_of(conn: Connection, part_id: int | None) -> str | None:
    """Who held the lock: the part's latest financier in the replica (the refusal happened
    while it was locked; a later financing after a release would show instead)."""
    if part_id is None:
        return None
    financiers = conn.execute(
        select(RECEIVABLE_PARTS.c.financier)
        .where(RECEIVABLE_PARTS.c.part_id == part_id, RECEIVABLE_PARTS.c.financier.is_not(None))
        .order_by(RECEIVABLE_PARTS.c.valid_from_block.desc())
        .limit(1)
    ).scalar()
    return str(financiers) if financiers else None


SUPPLY_CHAIN_VIEWS: dict[str, Callable[..., Any]] = {
    "supply_chain": supply_chain,
    "double_financing_refusals": double_financing_refusals,
}
