"""The plan's KPIs (信用信息归集量, 信用贷款规模, 覆盖率, 获贷率), by month, region (prefecture),
industry section or institution, over plain aggregate columns only (loan terms stay sealed).

Definitions (docs/financing.md): an enterprise is *covered* when the platform holds its data
(a data key, created with its first ingested record, not shredded); *registered* when its
wallet is bound; *on the white list* while an entry of it is recommended or pushed; the share
with a loan is enterprises with a loan over covered enterprises; time to decision is from
submission to the bank's decision, in days.

Every figure is a GROUP BY in the database (the median with window functions), so a call
holds one row per group in memory, however many loans, applications or records there are.
An enterprise's region and industry come from its registration record (``subject_profiles``,
the PUBLIC codes kept for monitoring); loans, applications and white-list entries carry
their own. Which dimension applies to which figure: docs/financing.md, "KPIs".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import (
    Connection,
    Select,
    String,
    and_,
    case,
    distinct,
    func,
    literal,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from ledger_api.financing.tables import APPLICATIONS, LOANS, WHITELIST
from ledger_api.monitoring.rules import MonitoringRules, default_rules
from ledger_api.store.models import BATCHES, RECORDS, SUBJECTS
from ledger_api.store.monitoring_tables import SUBJECT_PROFILES
from ledger_api.store.subject_tables import REGISTRATIONS
from ledger_api.synth.generator import PREFECTURES

GroupBy = Literal["month", "region", "industry", "institution"]
GROUP_BYS: tuple[GroupBy, ...] = ("month", "region", "industry", "institution")
ON_LIST = ("recommended", "pushed")
DECIDED = ("approved", "declined")
PREFECTURE_NAMES = {code: name for code, name, _en, _w in PREFECTURES}
# The group of enterprises whose registration record gave no region or industry.
UNKNOWN = "unknown"

# Per-group figures and the dimensions each is offered by (None in the other rows' groups):
# an enterprise count has no institution; everything else has all four.
ENTERPRISE_FIGURES = ("enterprises_registered", "enterprises_covered", "enterprises_whitelisted")


def month_of(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m")


def prefecture_of(region: str) -> str:
    """The prefecture a division code belongs to (济源 419001 is its own)."""
    return region if region.startswith("4190") else region[:4] + "00"


# -- group keys as SQL expressions ---------------------------------------------------------------


def _month_of_seconds(conn: Connection, seconds: Any) -> ColumnElement[Any]:
    if conn.dialect.name == "sqlite":
        return func.strftime("%Y-%m", seconds, "unixepoch")
    return func.to_char(func.timezone("UTC", func.to_timestamp(seconds)), "YYYY-MM")


def _month_of_datetime(conn: Connection, at: Any) -> ColumnElement[Any]:
    if conn.dialect.name == "sqlite":  # stored as UTC text, "2026-12-07 09:00:00.000000"
        return func.substr(at, 1, 7)
    return func.to_char(func.timezone("UTC", at), "YYYY-MM")


def _prefecture(region: Any) -> ColumnElement[Any]:
    return case(
        (region.like("4190%"), region),
        else_=func.substr(region, 1, 4, type_=String).concat("00"),
    )


def _key(conn: Connection, group_by: GroupBy, table: Any, at: Any) -> ColumnElement[Any] | None:
    """The group key of a financing table's rows (None: the dimension does not apply)."""
    if group_by == "month":
        return _month_of_seconds(conn, at)
    if group_by == "region":
        return _prefecture(table.c.region)
    if group_by == "industry":
        return table.c.industry
    return table.c.institution if "institution" in table.c else None


def _grouped(inner: Select[Any], *aggregates: Any) -> Select[Any]:
    """``inner`` (a column ``k`` and the aggregated ones) grouped by ``k``: through a subquery,
    so that PostgreSQL sees one grouping column, not two copies of a parameterised key."""
    sub = inner.subquery()
    return select(sub.c.k, *(aggregate(sub) for aggregate in aggregates)).group_by(sub.c.k)


def _median_days(conn: Connection, key: ColumnElement[Any] | None) -> dict[Any, float]:
    """Median days from submission to decision per group of the decision's key (``None``:
    one group), by row numbers over the ordered durations: only the middle one or two rows
    of each group leave the database."""
    apps = APPLICATIONS.c
    decided = (
        select(
            (literal(0) if key is None else key).label("k"),
            (apps.decided_at - apps.submitted_at).label("s"),
        )
        .where(apps.status.in_(DECIDED), apps.decided_at.is_not(None))
        .subquery()
    )
    ranked = select(
        decided.c.k,
        decided.c.s,
        func.row_number().over(partition_by=decided.c.k, order_by=decided.c.s).label("rn"),
        func.count().over(partition_by=decided.c.k).label("n"),
    ).subquery()
    middle = (
        select(ranked.c.k, func.avg(ranked.c.s))
        .where(ranked.c.rn.in_([(ranked.c.n + 1) // 2, (ranked.c.n + 2) // 2]))
        .group_by(ranked.c.k)
    )
    return {k: round(float(s) / 86_400, 4) for k, s in conn.execute(middle)}


def _flag(column: Any) -> Any:
    return lambda sub: func.sum(case((sub.c[column], 1), else_=0))


def _loan_figures(conn: Connection, group_by: GroupBy) -> dict[Any, dict[str, Any]]:
    out: dict[Any, dict[str, Any]] = defaultdict(dict)
    key = _key(conn, group_by, LOANS, LOANS.c.granted_at)
    assert key is not None
    loans = select(
        key.label("k"),
        LOANS.c.amount,
        LOANS.c.subject_id,
        LOANS.c.pure_credit,
        LOANS.c.first_loan,
        LOANS.c.renewal_without_repayment,
    )
    query = _grouped(
        loans,
        lambda sub: func.count(),
        lambda sub: func.sum(sub.c.amount),
        _flag("pure_credit"),
        _flag("first_loan"),
        _flag("renewal_without_repayment"),
        lambda sub: func.count(distinct(sub.c.subject_id)),
    )
    for k, n, amount, pure, first, renewals, borrowers in conn.execute(query):
        out[k] |= {
            "credit_loans": int(n),
            "credit_loan_amount": int(amount or 0),
            "pure_credit_loans": int(pure or 0),
            "first_loans": int(first or 0),
            "renewals_without_repayment": int(renewals or 0),
            "enterprises_with_loan": int(borrowers),
        }
    submitted = _key(conn, group_by, APPLICATIONS, APPLICATIONS.c.submitted_at)
    assert submitted is not None
    applications = _grouped(select(submitted.label("k")), lambda sub: func.count())
    for k, n in conn.execute(applications):
        out[k]["applications"] = int(n)
    decided_key = _key(conn, group_by, APPLICATIONS, APPLICATIONS.c.decided_at)
    decided = _grouped(
        select(decided_key.label("k") if decided_key is not None else literal(0).label("k"))
        .where(APPLICATIONS.c.status.in_(DECIDED), APPLICATIONS.c.decided_at.is_not(None)),
        lambda sub: func.count(),
    )  # fmt: skip
    for k, n in conn.execute(decided):
        out[k]["decisions"] = int(n)
    for k, days in _median_days(conn, decided_key).items():
        out[k]["median_days_to_decision"] = days
    return out


def _enterprise_figures(
    conn: Connection, group_by: GroupBy, rules: MonitoringRules
) -> dict[Any, dict[str, Any]]:
    """Enterprises registered, covered and on the white list per group; none by institution
    (an enterprise is no institution's)."""
    out: dict[Any, dict[str, Any]] = defaultdict(dict)
    if group_by == "institution":
        return out
    on_list = WHITELIST.c.state.in_(ON_LIST)
    listed_key = _key(conn, group_by, WHITELIST, WHITELIST.c.submitted_at)
    assert listed_key is not None
    listed = _grouped(
        select(listed_key.label("k"), WHITELIST.c.subject_id).where(on_list),
        lambda sub: func.count(distinct(sub.c.subject_id)),
    )
    for k, n in conn.execute(listed):
        out[k]["enterprises_whitelisted"] = int(n)
    live_key = SUBJECTS.c.wrapped_key.is_not(None)
    bound = REGISTRATIONS.c.status == "bound"
    sources = (
        ("enterprises_covered", SUBJECTS, SUBJECTS.c.created_at, live_key),
        ("enterprises_registered", REGISTRATIONS, REGISTRATIONS.c.created_at, bound),
    )
    for figure, table, created_at, where in sources:
        if group_by == "month":
            key: ColumnElement[Any] = _month_of_datetime(conn, created_at)
        else:
            key = SUBJECT_PROFILES.c.region if group_by == "region" else SUBJECT_PROFILES.c.industry
        inner = (
            select(key.label("k"), table.c.subject_id)
            .select_from(
                table.outerjoin(
                    SUBJECT_PROFILES, SUBJECT_PROFILES.c.subject_id == table.c.subject_id
                )
            )
            .where(where)
        )
        query = _grouped(inner, lambda sub: func.count(distinct(sub.c.subject_id)))
        for k, n in conn.execute(query):
            out[_place_key(group_by, k, rules)][figure] = int(n)
    return out


def _place_key(group_by: GroupBy, code: Any, rules: MonitoringRules) -> Any:
    """A profile's stored place code as the financing tables' key (a prefecture's six-digit
    division code, an industry section letter); months pass through."""
    if group_by == "month":
        return code
    if code is None:
        return UNKNOWN
    if group_by == "region":
        region = rules.region_names[int(code) - 1]
        return region if len(region) == 6 else region + "00"
    return rules.industry_names[int(code) - 1]


def records_collected(
    conn: Connection, group_by: GroupBy = "month", rules: MonitoringRules | None = None
) -> list[dict[str, Any]]:
    """Records stored, by category and provider and the group: the month their batch was
    ingested, their enterprise's region or industry (its registration record), or their
    provider (``institution``: who supplied them, a provider id such as ``henan-tax``)."""
    rules = rules or default_rules()
    columns = [RECORDS.c.category, RECORDS.c.provider]
    if group_by == "month":
        key: ColumnElement[Any] = _month_of_datetime(conn, BATCHES.c.created_at)
        source: Any = RECORDS.join(BATCHES, BATCHES.c.batch_id == RECORDS.c.batch_id)
    elif group_by == "institution":
        key, source = RECORDS.c.provider, RECORDS
    else:
        key = SUBJECT_PROFILES.c.region if group_by == "region" else SUBJECT_PROFILES.c.industry
        source = RECORDS.outerjoin(
            SUBJECT_PROFILES, SUBJECT_PROFILES.c.subject_id == RECORDS.c.subject_id
        )
    sub = select(key.label("k"), *columns).select_from(source).subquery()
    query = select(sub.c.k, sub.c.category, sub.c.provider, func.count()).group_by(
        sub.c.k, sub.c.category, sub.c.provider
    )
    counts: dict[tuple[str, int, str], int] = defaultdict(int)
    for k, category, provider, n in conn.execute(query):
        place = k if group_by == "institution" else _place_key(group_by, k, rules)
        counts[(str(place), int(category), str(provider))] += int(n)
    return [
        {"key": k, group_by: k, "category_bit": c, "provider": p, "records": n}
        for (k, c, p), n in sorted(counts.items())
    ]


def _count_distinct(conn: Connection, column: Any, *where: Any) -> int:
    return int(conn.execute(select(func.count(distinct(column))).where(*where)).scalar_one())


# The loan KPIs the audit's statistics view shows (all time, from ``totals``).
LOAN_KPIS = (
    "credit_loans", "credit_loan_amount", "pure_credit_share", "first_loans",
    "renewals_without_repayment", "share_with_loan", "median_days_to_decision",
)  # fmt: skip


def _share(part: int | None, whole: int | None) -> float | None:
    return round(part / whole, 4) if part is not None and whole else None


def _row(figures: dict[str, Any], group_by: GroupBy) -> dict[str, Any]:
    loans = int(figures.get("credit_loans", 0))
    enterprise = group_by != "institution"
    row: dict[str, Any] = {
        "credit_loans": loans,
        "credit_loan_amount": int(figures.get("credit_loan_amount", 0)),
        "pure_credit_loans": int(figures.get("pure_credit_loans", 0)),
        "pure_credit_share": _share(figures.get("pure_credit_loans", 0), loans),
        "first_loans": int(figures.get("first_loans", 0)),
        "renewals_without_repayment": int(figures.get("renewals_without_repayment", 0)),
        "applications": int(figures.get("applications", 0)),
        "decisions": int(figures.get("decisions", 0)),
        "median_days_to_decision": figures.get("median_days_to_decision"),
        "enterprises_with_loan": int(figures.get("enterprises_with_loan", 0)),
    }
    for figure in ENTERPRISE_FIGURES:
        row[figure] = int(figures.get(figure, 0)) if enterprise else None
    # By place, loans and coverage count the same enterprises' place; by month they count
    # different events (a grant date, a first record), so no share.
    row["share_with_loan"] = (
        _share(row["enterprises_with_loan"], row["enterprises_covered"])
        if group_by in ("region", "industry")
        else None
    )
    return row


def _totals(conn: Connection) -> dict[str, Any]:
    loans = _loan_figures_total(conn)
    covered = _count_distinct(conn, SUBJECTS.c.subject_id, SUBJECTS.c.wrapped_key.is_not(None))
    with_loan = loans["enterprises_with_loan"]
    return _row(loans, "month") | {
        "enterprises_registered": _count_distinct(
            conn, REGISTRATIONS.c.subject_id, REGISTRATIONS.c.status == "bound"
        ),
        "enterprises_covered": covered,
        "enterprises_whitelisted": _count_distinct(
            conn, WHITELIST.c.subject_id, WHITELIST.c.state.in_(ON_LIST)
        ),
        "enterprises_with_loan": with_loan,
        "share_with_loan": _share(with_loan, covered),
    }


def _loan_figures_total(conn: Connection) -> dict[str, Any]:
    """The loan figures over all rows (one group), as ``_loan_figures`` counts them."""
    loans = LOANS.c
    n, amount, pure, first, renewals, borrowers = conn.execute(
        select(
            func.count(),
            func.sum(loans.amount),
            func.sum(case((loans.pure_credit, 1), else_=0)),
            func.sum(case((loans.first_loan, 1), else_=0)),
            func.sum(case((loans.renewal_without_repayment, 1), else_=0)),
            func.count(distinct(loans.subject_id)),
        )
    ).one()
    apps = APPLICATIONS.c
    applications, decisions = conn.execute(
        select(
            func.count(),
            func.sum(
                case((and_(apps.status.in_(DECIDED), apps.decided_at.is_not(None)), 1), else_=0)
            ),
        )
    ).one()
    return {
        "credit_loans": int(n),
        "credit_loan_amount": int(amount or 0),
        "pure_credit_loans": int(pure or 0),
        "first_loans": int(first or 0),
        "renewals_without_repayment": int(renewals or 0),
        "enterprises_with_loan": int(borrowers),
        "applications": int(applications),
        "decisions": int(decisions or 0),
        "median_days_to_decision": _median_days(conn, None).get(0),
    }


def loan_totals(conn: Connection) -> dict[str, Any]:
    """The loan KPIs over all time: the same figures as ``kpis(...)["totals"]``."""
    totals = _totals(conn)
    return {key: totals[key] for key in LOAN_KPIS}


def kpis(
    conn: Connection,
    group_by: GroupBy,
    name_of: Callable[[str], str],
    rules: MonitoringRules | None = None,
) -> dict[str, Any]:
    """The KPIs per group of ``group_by`` (rows, with the group's name beside its key), the
    totals, and records collected by category, provider and the same group."""
    rules = rules or default_rules()
    groups: dict[Any, dict[str, Any]] = defaultdict(dict)
    for part in (_loan_figures(conn, group_by), _enterprise_figures(conn, group_by, rules)):
        for k, figures in part.items():
            groups[UNKNOWN if k is None else str(k)] |= figures
    rows = [
        {"key": key, "name": _name(group_by, key, name_of, rules)} | _row(figures, group_by)
        for key, figures in sorted(groups.items())
    ]
    records = records_collected(conn, group_by, rules)
    for record in records:  # a provider is named by its own id (it is no chain institution)
        by_provider = group_by == "institution"
        record["name"] = (
            record["key"] if by_provider else _name(group_by, record["key"], name_of, rules)
        )
    return {
        "group_by": group_by,
        "rows": rows,
        "totals": _totals(conn),
        "records_collected": records,
    }


def _name(
    group_by: GroupBy, key: str, name_of: Callable[[str], str], rules: MonitoringRules
) -> str:
    """A group's name: the catalog's region or industry name, an institution's registered
    name, the month itself."""
    if group_by == "region":
        place = rules.regions.get(key if key.startswith("4190") else key[:4])
        return place.name if place is not None else PREFECTURE_NAMES.get(key, key)
    if group_by == "industry":
        section = rules.industries.get(key)
        return section.name if section is not None else key
    if group_by == "institution":
        return name_of(key)
    return key
