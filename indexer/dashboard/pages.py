"""One builder per dashboard page: audit views and SQL aggregates -> a ``Page``.

Every number comes from the same functions the audit API serves (``indexer.audit_views``) or
from a GROUP BY in ``indexer.dashboard.queries``; names replace addresses and category bits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from indexer import audit_views
from indexer.audit_filters import FilterError
from indexer.dashboard import queries
from indexer.dashboard.access_counts import AccessCounts, Group
from indexer.dashboard.filters import Filters
from indexer.dashboard.i18n import text, value
from indexer.dashboard.names import Names
from indexer.dashboard.page import Chart, Kpi, Page, Table
from indexer.dashboard.violation_cache import ViolationCache
from ledger_api.chain.types import InstitutionType, Purpose
from ledger_api.financing.kpis import GROUP_BYS, UNKNOWN, GroupBy
from ledger_api.financing.kpis import kpis as financing_kpis
from ledger_api.identity.uscc import subject_id, uscc_problem

# Rows a list table shows (and exports); the audit API pages the same views by 500 at most.
ROW_LIMIT = 500


@dataclass(frozen=True)
class PageContext:
    session: Session
    filters: Filters
    names: Names
    lang: str
    params: dict[str, str]
    pseudonym_key: bytes | None = None
    indexer_lag: Callable[[], int | None] | None = None
    access_counts: AccessCounts | None = None
    violation_cache: ViolationCache | None = None

    def t(self, key: str) -> str:
        return text(key, self.lang)

    def v(self, code: object) -> str:
        return value(code, self.lang)

    def groups(self) -> list[tuple[Group, int]]:
        """Institutions' accesses per group under the page's filters."""
        conn = self.session.connection()
        return queries.counted_groups(conn, self.filters, self.access_counts)

    def columns(self, *keys: str) -> list[tuple[str, str]]:
        return [(key, self.t(key)) for key in keys]


def _purpose(code: int | None) -> str | None:
    return None if code is None else Purpose(code).name.lower()


def overview(ctx: PageContext) -> Page:
    conn = ctx.session.connection()
    usage = queries.usage_by_institution(ctx.groups())
    totals = {
        "allowed": sum(u["queries"] + u["verifications"] for u in usage),
        "denied": sum(u["denied"] for u in usage),
    }
    stats: dict[str, Any] = {
        "records_by_category_provider": queries.records_by_category_provider(conn, ctx.filters),
        "enterprises_bound": queries.enterprises_registered(conn),
        "enterprises_covered": queries.enterprises_covered(conn, ctx.filters),
        "usage_by_institution": usage,
    }
    position = queries.replica_position(conn)
    lag = ctx.indexer_lag() if ctx.indexer_lag is not None else None
    anchor = _last_verified_anchor(ctx)
    records = stats["records_by_category_provider"]
    page = Page("overview", ctx.t("overview"))
    page.kpis = [
        Kpi("records", ctx.t("records"), sum(r["records"] for r in records)),
        Kpi("enterprises_bound", ctx.t("enterprises_bound"), stats["enterprises_bound"]),
        Kpi("enterprises_covered", ctx.t("enterprises_covered"), stats["enterprises_covered"]),
        Kpi("grants_active", ctx.t("grants_active"), queries.active_grants(conn)),
        Kpi("institutions", ctx.t("institutions"), queries.institution_count(conn)),
        Kpi("accesses_allowed", ctx.t("accesses_allowed"), totals["allowed"]),
        Kpi("accesses_denied", ctx.t("accesses_denied"), totals["denied"]),
        Kpi(
            "indexer_lag",
            ctx.t("indexer_lag"),
            "—" if lag is None else lag,
            note=f"{ctx.t('indexed_block')} {position.indexed_block}",
        ),
        Kpi(
            "last_verified_anchor",
            ctx.t("last_verified_anchor"),
            "—" if anchor is None else f"#{anchor['sequence']}",
            note="" if anchor is None else f"{ctx.v(anchor['kind'])} · {anchor['at']}",
        ),
    ]
    loans = financing_kpis(conn, "month", ctx.names.institution)
    page.kpis += _loan_kpis(ctx, loans["totals"])
    page.tables = [
        Table(
            "records",
            ctx.t("records_by_category_provider"),
            ctx.columns("category", "provider", "records"),
            [{**r, "category": ctx.names.category(r["category"])} for r in records],
        ),
        Table(
            "usage",
            ctx.t("usage_by_institution"),
            ctx.columns("name", "queries", "verifications", "denied", "address"),
            [
                {**u, "name": ctx.names.institution(u["institution"]), "address": u["institution"]}
                for u in stats["usage_by_institution"]
            ],
        ),
        _loans_table(ctx, loans),
    ]
    return page


# The plan's loan figures, as GET /v1/audit/kpis computes them (ledger_api.financing.kpis).
LOAN_FIGURES = (
    "credit_loans",
    "credit_loan_amount",
    "pure_credit_share",
    "first_loans",
    "renewals_without_repayment",
)


def _share(share: float | None) -> str:
    return "—" if share is None else f"{share:.2%}"


def _loan_kpis(ctx: PageContext, totals: dict[str, Any]) -> list[Kpi]:
    return [
        Kpi(key, ctx.t(key), _share(totals[key]) if key == "pure_credit_share" else totals[key])
        for key in LOAN_FIGURES
    ]


def _loans_table(ctx: PageContext, loans: dict[str, Any]) -> Table:
    """Loan figures by month of grant, then the total row (the KPI cards' numbers)."""
    rows = [{"month": r["key"], **{k: r[k] for k in LOAN_FIGURES}} for r in loans["rows"]]
    rows.append({"month": ctx.t("total"), **{k: loans["totals"][k] for k in LOAN_FIGURES}})
    return Table("loans", ctx.t("loans_by_month"), ctx.columns("month", *LOAN_FIGURES), rows)


def _last_verified_anchor(ctx: PageContext) -> dict[str, Any] | None:
    """The newest anchor the database backs up. The anchors view verifies every anchor of its
    window, so look in the last day of anchoring first, then the last month, then all."""
    latest = queries.latest_anchor_time(ctx.session.connection())
    if latest is None:
        return None
    for window_s in (86_400, 30 * 86_400, None):
        since = None if window_s is None else datetime.fromtimestamp(latest - window_s, UTC)
        rows = audit_views.anchors(ctx.session, limit=2**40, since=since)
        verified = [r for r in rows if r["status"] == "verified" and r["sequence"] is not None]
        if verified:
            return max(verified, key=lambda r: r["sequence"])
    return None


def violations(ctx: PageContext) -> Page:
    """The count of every violation inside the filters, and the first ROW_LIMIT of them."""
    if ctx.violation_cache is not None:
        count, rows = ctx.violation_cache.page(ctx.session, ctx.filters, ROW_LIMIT)
        table = _access_table(ctx, "violations", ctx.t("violations"), rows, violation=True)
    else:
        rows = audit_views.violations(ctx.session, limit=2**40, **ctx.filters.view_filters())
        # Counted after the category and purpose filters, which only the table applies.
        table = _access_table(ctx, "violations", ctx.t("violations"), rows, violation=True)
        count = len(table.rows)
        table.rows[ROW_LIMIT:] = []
    page = Page("violations", ctx.t("violations"))
    page.kpis = [Kpi("violations", ctx.t("violation_count"), count,
                     note=ctx.t("violations_healthy"), large=True)]  # fmt: skip
    page.tables = [table]
    return page


def _access_table(
    ctx: PageContext, key: str, title: str, rows: list[dict[str, Any]], *, violation: bool = False
) -> Table:
    keys = ["at", "name", "action", "category", "purpose", "decision", "reason", "grant_id"]
    if violation:
        keys.append("violation")
    shown = [
        {
            **r,
            "name": ctx.names.institution(r["actor"]),
            "action": ctx.v(r["action"]),
            "category": ctx.names.category_list(r["categories"])
            if r["categories"] is not None
            else ctx.names.category(r["category"]),
            "purpose": ctx.v(r["purpose"]),
            "decision": ctx.v(r["decision"]),
            "reason": ctx.v(r["reason"]),
            "violation": ctx.v(r.get("violation")),
        }
        for r in rows
        if _matches(ctx.filters, r)
    ]
    return Table(key, title, ctx.columns(*keys), shown)


def _matches(filters: Filters, row: dict[str, Any]) -> bool:
    """The category and purpose filters on audit rows (the views filter the rest)."""
    if filters.purpose is not None and row["purpose"] != _purpose(filters.purpose):
        return False
    if filters.category is not None:
        used = row["categories"] if row["categories"] is not None else [row["category"]]
        return filters.category in used
    return True


def access(ctx: PageContext) -> Page:
    counted = ctx.groups()
    groups = queries.access_groups(counted)
    days = sorted({g["day"] for g in groups})
    page = Page("access", ctx.t("access"))
    page.charts = [
        _series_chart(ctx, "by_institution", ctx.t("access_by_day"), groups, days,
                      lambda g: ctx.names.institution(g["institution"])),
        _series_chart(ctx, "by_purpose", ctx.t("access_by_purpose"), groups, days,
                      lambda g: ctx.v(_purpose(g["purpose"]))),
        _series_chart(ctx, "by_category", ctx.t("access_by_category"), groups, days,
                      lambda g: ctx.names.category(g["category"])),
    ]  # fmt: skip
    reasons = queries.denials_by_reason(counted)
    page.tables = [
        Table(
            "volumes",
            ctx.t("access"),
            ctx.columns("day", "name", "purpose", "category", "allowed", "denied", "total"),
            [
                {
                    **g,
                    "name": ctx.names.institution(g["institution"]),
                    "purpose": ctx.v(_purpose(g["purpose"])),
                    "category": ctx.names.category(g["category"]),
                }
                for g in sorted(groups, key=lambda g: (g["day"], g["institution"]), reverse=True)
            ],
        ),
        Table(
            "denials",
            ctx.t("denials_by_reason"),
            ctx.columns("reason", "count"),
            [{"reason": ctx.v(r["reason"]), "count": r["count"]} for r in reasons],
        ),
    ]
    return page


def _series_chart(
    ctx: PageContext, key: str, title: str, groups: list[dict[str, Any]], days: list[str],
    label: Callable[[dict[str, Any]], str],
) -> Chart:  # fmt: skip
    series: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(days, 0))
    for group in groups:
        series[label(group)][group["day"]] += group["total"]
    datasets = [{"label": name, "data": list(per_day.values())} for name, per_day in series.items()]
    return Chart(key, title, "bar", days, datasets, stacked=True)


def grants(ctx: PageContext) -> Page:
    conn = ctx.session.connection()
    history = audit_views.grant_history(ctx.session, limit=ROW_LIMIT, **ctx.filters.view_filters())
    # The chart counts every event of the period in SQL; the table shows the first page.
    per_day: dict[str, dict[str, int]] = defaultdict(
        lambda: {"issued": 0, "revoked": 0, "expired": 0}
    )
    for day, counts in queries.grant_events_by_day(conn, ctx.filters).items():
        per_day[day].update(counts)
    for day, n in queries.expiries_by_day(conn, ctx.filters).items():
        per_day[day]["expired"] += n
    days = sorted(per_day)
    agreements = audit_views.agreements(ctx.session, limit=ROW_LIMIT, **ctx.filters.view_filters())
    page = Page("grants", ctx.t("grants"))
    page.kpis = [Kpi("grants_active", ctx.t("grants_active"), queries.active_grants(conn))]
    page.charts = [
        Chart("grants_by_day", ctx.t("grants_by_day"), "bar", days, [
            {"label": ctx.t(kind), "data": [per_day[d][kind] for d in days]}
            for kind in ("issued", "revoked", "expired")
        ])
    ]  # fmt: skip
    page.tables = [
        _grant_table(ctx, history),
        Table(
            "agreements",
            ctx.t("agreement_history"),
            ctx.columns("agreement_id", "name", "status", "at", "categories", "purpose"),
            [
                {
                    **a,
                    "name": ctx.names.institution(a["institution"]),
                    "status": ctx.v(a["status"]),
                    "categories": ctx.names.category_list(a["categories"]),
                    "purpose": "、".join(ctx.v(p) for p in a["purposes"]),
                }
                for a in agreements
            ],
        ),
    ]
    return page


def _grant_table(ctx: PageContext, history: list[dict[str, Any]]) -> Table:
    return Table(
        "grant_events",
        ctx.t("grant_events"),
        ctx.columns(
            "at", "event", "grant_id", "name", "categories", "purpose", "level", "not_after"
        ),
        [
            {
                **g,
                "event": ctx.v(g["event"]),
                "name": ctx.names.institution(g["institution"]),
                "categories": ctx.names.category_list(g["categories"]),
                "purpose": ctx.v(g["purpose"]),
                "level": ctx.v(g["level"]),
            }
            for g in history
            if ctx.filters.purpose is None or g["purpose"] == _purpose(ctx.filters.purpose)
            if ctx.filters.category is None or ctx.filters.category in g["categories"]
        ],
    )


def anchors(ctx: PageContext) -> Page:
    since_until = {k: v for k, v in ctx.filters.view_filters().items() if k != "institution"}
    rows = audit_views.anchors(ctx.session, limit=ROW_LIMIT, **since_until)
    page = Page("anchors", ctx.t("anchors"))
    verified = sum(1 for r in rows if r["status"] == "verified")
    page.kpis = [Kpi("anchors_verified", ctx.t("verified"), f"{verified} / {len(rows)}")]
    page.tables = [
        Table(
            "anchors",
            ctx.t("anchor_list"),
            ctx.columns("sequence", "kind", "leaf_count", "status", "block", "at"),
            [{**r, "kind": ctx.v(r["kind"]), "status": ctx.v(r["status"])} for r in rows],
        )
    ]
    return page


def enterprise(ctx: PageContext) -> Page:
    page = Page("enterprise", ctx.t("enterprise"))
    uscc = ctx.params.get("uscc", "").strip().upper()
    if not uscc:
        return page
    conn = ctx.session.connection()
    index = None
    if uscc_problem(uscc) is None and ctx.pseudonym_key is not None:
        sid = subject_id(uscc, ctx.pseudonym_key)
        index = queries.subject_index(conn, sid)
    if index is None:
        page.message = f"{uscc}: {ctx.t('unknown_enterprise')}"
        return page
    page.title = f"{ctx.t('enterprise')} {uscc}"
    filters = {**ctx.filters.view_filters(), "subject_id": sid}
    accesses = audit_views.access_audit(ctx.session, limit=ROW_LIMIT, **filters)
    history = audit_views.grant_history(ctx.session, limit=ROW_LIMIT, **filters)
    page.tables = [
        _access_table(ctx, "enterprise_accesses", ctx.t("enterprise_accesses"), accesses),
        _grant_table(ctx, history),
        Table(
            "disputes",
            ctx.t("enterprise_disputes"),
            ctx.columns("dispute_id", "kind", "status", "outcome", "at"),
            [
                {
                    **d,
                    "kind": ctx.v(d["kind"]),
                    "status": ctx.v(d["status"]),
                    "outcome": ctx.v(d["outcome"]),
                }
                for d in queries.disputes(conn, index)
            ],
        ),
    ]
    page.kpis = [
        Kpi("enterprise_accesses", ctx.t("enterprise_accesses"), len(page.tables[0].rows)),
        Kpi("enterprise_grants", ctx.t("enterprise_grants"), len(page.tables[1].rows)),
        Kpi("enterprise_disputes", ctx.t("enterprise_disputes"), len(page.tables[2].rows)),
    ]
    return page


def institution(ctx: PageContext) -> Page:
    page = Page("institution", ctx.t("institution"))
    address = ctx.filters.institution
    if address is None:
        page.tables = [
            Table(
                "institutions",
                ctx.t("institutions"),
                ctx.columns("name", "address"),
                [{"name": n, "address": a} for a, n in sorted(ctx.names.institutions.items())],
            )
        ]
        return page
    conn = ctx.session.connection()
    profile = queries.institution_profile(conn, address) or {"name": address, "address": address}
    page.title = f"{ctx.t('institution')} {profile['name']}"
    totals = queries.decision_totals(ctx.groups())
    page.kpis = [
        Kpi("accesses_allowed", ctx.t("accesses_allowed"), totals["allowed"]),
        Kpi("accesses_denied", ctx.t("accesses_denied"), totals["denied"]),
    ]
    kind = profile.get("type")
    page.tables = [
        Table(
            "profile",
            ctx.t("institution_profile"),
            ctx.columns("name", "type", "suspended", "agreement_id", "address"),
            [{**profile, "type": "" if kind is None else InstitutionType(kind).name.lower()}],
        ),
        *access(ctx).tables,
        _grant_table(
            ctx,
            audit_views.grant_history(ctx.session, limit=ROW_LIMIT, **ctx.filters.view_filters()),
        ),
    ]
    return page


# The per-group columns of the KPI page, after the group's code and name.
GROUP_FIGURES = (
    *LOAN_FIGURES, "applications", "median_days_to_decision", "enterprises_registered",
    "enterprises_covered", "enterprises_whitelisted", "enterprises_with_loan", "share_with_loan",
)  # fmt: skip
_SHARES = ("pure_credit_share", "share_with_loan")


def kpi_page(ctx: PageContext) -> Page:
    """The plan's financing KPIs per month, region, industry or institution (``group_by``):
    the figures of GET /v1/audit/kpis, each group named beside its code. All time: the page's
    period, category and purpose filters do not apply (the page says so)."""
    group_by = ctx.params.get("group_by", "month").strip() or "month"
    if group_by not in GROUP_BYS:
        raise FilterError("group_by", "must be one of " + ", ".join(GROUP_BYS))
    chosen: GroupBy = group_by  # checked against GROUP_BYS above
    found = financing_kpis(ctx.session.connection(), chosen, ctx.names.institution)
    totals = found["totals"]
    median = totals["median_days_to_decision"]

    def shown(row: dict[str, Any]) -> dict[str, Any]:
        name = ctx.t(UNKNOWN) if row["key"] == UNKNOWN else row["name"]
        figures = {k: _share(row[k]) if k in _SHARES else row[k] for k in GROUP_FIGURES}
        return {"group": row["key"], "name": name, **figures}

    rows = [shown(r) for r in found["rows"]]
    page = Page("kpis", ctx.t("kpis"), message=ctx.t("kpis_all_time"))
    page.kpis = [
        *_loan_kpis(ctx, totals),
        Kpi("median_days_to_decision", ctx.t("median_days_to_decision"),
            "—" if median is None else median),
        Kpi("enterprises_covered", ctx.t("enterprises_covered"), totals["enterprises_covered"]),
        Kpi("enterprises_whitelisted", ctx.t("enterprises_whitelisted"),
            totals["enterprises_whitelisted"]),
        Kpi("share_with_loan", ctx.t("share_with_loan"), _share(totals["share_with_loan"])),
    ]  # fmt: skip
    page.charts = [
        Chart("loans_by_group", ctx.t("loans_by_group"), "bar", [r["name"] for r in rows],
              [{"label": ctx.t("credit_loans"), "data": [r["credit_loans"] for r in rows]}]),
    ]  # fmt: skip
    page.tables = [
        Table("kpis_by_group", ctx.t("kpis_by_group"),
              ctx.columns("group", "name", *GROUP_FIGURES), rows),
        Table("records_by_group", ctx.t("records_by_group"),
              ctx.columns("group", "name", "category", "provider", "records"),
              [{**r, "group": r["key"],
                "name": ctx.t(UNKNOWN) if r["key"] == UNKNOWN else r["name"],
                "category": ctx.names.category(r["category_bit"])}
               for r in found["records_collected"]]),
    ]  # fmt: skip
    return page


PAGES: dict[str, Callable[[PageContext], Page]] = {
    "overview": overview,
    "violations": violations,
    "access": access,
    "grants": grants,
    "anchors": anchors,
    "enterprise": enterprise,
    "institution": institution,
    "kpis": kpi_page,
}
