"""The plan's KPIs (信用信息归集量, 信用贷款规模, 覆盖率, 获贷率), by month, region (prefecture),
industry section or institution, over plain aggregate columns only (loan terms stay sealed).

Definitions (docs/financing.md): an enterprise is *covered* when the platform holds its data
(a data key, created with its first ingested record, not shredded); *registered* when its
wallet is bound; *on the white list* while an entry of it is recommended or pushed; the share
with a loan is enterprises with a loan over covered enterprises; time to decision is from
submission to the bank's decision, in days.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, distinct, func, select

from ledger_api.financing.tables import APPLICATIONS, LOANS, WHITELIST
from ledger_api.store.models import BATCHES, SUBJECTS
from ledger_api.store.subject_tables import REGISTRATIONS
from ledger_api.synth.generator import PREFECTURES

GroupBy = Literal["month", "region", "industry", "institution"]
ON_LIST = ("recommended", "pushed")
PREFECTURE_NAMES = {code: name for code, name, _en, _w in PREFECTURES}


def month_of(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m")


def prefecture_of(region: str) -> str:
    """The prefecture a division code belongs to (济源 419001 is its own)."""
    return region if region.startswith("4190") else region[:4] + "00"


@dataclass
class Bucket:
    credit_loans: int = 0
    credit_loan_amount: int = 0
    pure_credit_loans: int = 0
    first_loans: int = 0
    renewals_without_repayment: int = 0
    applications: int = 0
    days_to_decision: list[float] = field(default_factory=list)
    borrowers: set[bytes] = field(default_factory=set)
    whitelisted: set[bytes] = field(default_factory=set)

    def out(self) -> dict[str, Any]:
        return {
            "credit_loans": self.credit_loans,
            "credit_loan_amount": self.credit_loan_amount,
            "pure_credit_loans": self.pure_credit_loans,
            "pure_credit_share": (
                round(self.pure_credit_loans / self.credit_loans, 4) if self.credit_loans else None
            ),
            "first_loans": self.first_loans,
            "renewals_without_repayment": self.renewals_without_repayment,
            "applications": self.applications,
            "decisions": len(self.days_to_decision),
            "median_days_to_decision": (
                round(statistics.median(self.days_to_decision), 4)
                if self.days_to_decision
                else None
            ),
            "enterprises_with_loan": len(self.borrowers),
            "enterprises_whitelisted": len(self.whitelisted),
        }


def _key(group_by: GroupBy, row: Any, at: int) -> str:
    if group_by == "month":
        return month_of(at)
    if group_by == "region":
        return prefecture_of(str(row.region))
    if group_by == "industry":
        return str(row.industry)
    return str(row.institution)


def _buckets(conn: Connection, group_by: GroupBy) -> dict[str, Bucket]:
    buckets: dict[str, Bucket] = defaultdict(Bucket)
    for loan in conn.execute(select(LOANS)):
        b = buckets[_key(group_by, loan, int(loan.granted_at))]
        b.credit_loans += 1
        b.credit_loan_amount += int(loan.amount)
        b.pure_credit_loans += bool(loan.pure_credit)
        b.first_loans += bool(loan.first_loan)
        b.renewals_without_repayment += bool(loan.renewal_without_repayment)
        b.borrowers.add(bytes(loan.subject_id))
    for app in conn.execute(select(APPLICATIONS)):
        buckets[_key(group_by, app, int(app.submitted_at))].applications += 1
        if app.status in ("approved", "declined") and app.decided_at is not None:
            decided = buckets[_key(group_by, app, int(app.decided_at))]
            decided.days_to_decision.append((int(app.decided_at) - int(app.submitted_at)) / 86_400)
    if group_by != "institution":  # a white-list entry is no institution's
        for entry in conn.execute(select(WHITELIST).where(WHITELIST.c.state.in_(ON_LIST))):
            buckets[_key(group_by, entry, int(entry.submitted_at))].whitelisted.add(
                bytes(entry.subject_id)
            )
    return buckets


def records_collected(conn: Connection) -> list[dict[str, Any]]:
    """Records stored, by month of ingestion, category and provider."""
    counts: dict[tuple[str, int, str], int] = defaultdict(int)
    for batch in conn.execute(
        select(
            BATCHES.c.created_at, BATCHES.c.category, BATCHES.c.provider, BATCHES.c.rows_accepted
        )
    ):
        counts[(batch.created_at.strftime("%Y-%m"), int(batch.category), batch.provider)] += int(
            batch.rows_accepted
        )
    return [
        {"month": m, "category_bit": c, "provider": p, "records": n}
        for (m, c, p), n in sorted(counts.items())
        if n
    ]


def _count_distinct(conn: Connection, column: Any, *where: Any) -> int:
    return int(conn.execute(select(func.count(distinct(column))).where(*where)).scalar_one())


# The loan KPIs the audit's statistics view shows (all time, from ``totals``).
LOAN_KPIS = (
    "credit_loans", "credit_loan_amount", "pure_credit_share", "first_loans",
    "renewals_without_repayment", "share_with_loan", "median_days_to_decision",
)  # fmt: skip


def _totals(conn: Connection, buckets: dict[str, Bucket]) -> dict[str, Any]:
    total = _merge(buckets.values())
    covered = _count_distinct(conn, SUBJECTS.c.subject_id, SUBJECTS.c.wrapped_key.is_not(None))
    with_loan = _count_distinct(conn, LOANS.c.subject_id)
    return total.out() | {
        "enterprises_registered": _count_distinct(
            conn, REGISTRATIONS.c.subject_id, REGISTRATIONS.c.status == "bound"
        ),
        "enterprises_covered": covered,
        "enterprises_whitelisted": _count_distinct(
            conn, WHITELIST.c.subject_id, WHITELIST.c.state.in_(ON_LIST)
        ),
        "enterprises_with_loan": with_loan,
        "share_with_loan": round(with_loan / covered, 4) if covered else None,
    }


def loan_totals(conn: Connection) -> dict[str, Any]:
    """The loan KPIs over all time: the same figures as ``kpis(...)["totals"]``."""
    totals = _totals(conn, _buckets(conn, "month"))
    return {key: totals[key] for key in LOAN_KPIS}


def kpis(conn: Connection, group_by: GroupBy, name_of: Callable[[str], str]) -> dict[str, Any]:
    buckets = _buckets(conn, group_by)
    totals = _totals(conn, buckets)
    rows = [
        {"key": key, "name": _name(group_by, key, name_of)} | bucket.out()
        for key, bucket in sorted(buckets.items())
    ]
    return {
        "group_by": group_by,
        "rows": rows,
        "totals": totals,
        "records_collected": records_collected(conn),
    }


def _name(group_by: GroupBy, key: str, name_of: Callable[[str], str]) -> str:
    if group_by == "region":
        return PREFECTURE_NAMES.get(key, key)
    if group_by == "institution":
        return name_of(key)
    return key


def _merge(buckets: Iterable[Bucket]) -> Bucket:
    total = Bucket()
    for b in buckets:
        total.credit_loans += b.credit_loans
        total.credit_loan_amount += b.credit_loan_amount
        total.pure_credit_loans += b.pure_credit_loans
        total.first_loans += b.first_loans
        total.renewals_without_repayment += b.renewals_without_repayment
        total.applications += b.applications
        total.days_to_decision.extend(b.days_to_decision)
        total.borrowers |= b.borrowers
        total.whitelisted |= b.whitelisted
    return total
