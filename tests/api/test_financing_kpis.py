"""The plan's KPIs through GET /v1/audit/kpis on a generated data set equal an independent
computation over the generated values (written here without the KPI module)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from api_support import Api
from sqlalchemy import event, func, insert, select

from ledger_api.crypto.keys import insert_subjects
from ledger_api.financing.kpis import GroupBy, kpis
from ledger_api.financing.tables import WHITELIST
from ledger_api.identity.uscc import subject_id
from ledger_api.monitoring.rules import default_rules, region_of
from ledger_api.store.models import RECORDS, SUBJECTS
from ledger_api.store.monitoring_tables import SUBJECT_PROFILES
from ledger_api.synth import financing as synth
from ledger_api.synth.generator import Enterprise, iter_enterprises

DAY = 86_400


def _median(values: list[float]) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _key(group_by: str, app: synth.SynthApplication, at: int) -> str:
    if group_by == "month":
        return datetime.fromtimestamp(at, UTC).strftime("%Y-%m")
    if group_by == "region":
        return app.region[:4] + "00" if not app.region.startswith("4190") else app.region
    if group_by == "industry":
        return app.industry
    return app.institution


def _expected(group_by: str, apps: list[synth.SynthApplication]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"credit_loans": 0, "credit_loan_amount": 0, "pure": 0, "first_loans": 0,
                 "renewals_without_repayment": 0, "applications": 0, "days": [], "who": set()}
    )  # fmt: skip
    for app in apps:
        out[_key(group_by, app, app.submitted_at)]["applications"] += 1
        if app.decided_at is not None:
            days = (app.decided_at - app.submitted_at) / DAY
            out[_key(group_by, app, app.decided_at)]["days"].append(days)
        if app.loan is not None:
            row = out[_key(group_by, app, app.loan.granted_at)]
            row["credit_loans"] += 1
            row["credit_loan_amount"] += app.loan.amount
            row["pure"] += app.loan.pure_credit
            row["first_loans"] += app.loan.first_loan
            row["renewals_without_repayment"] += app.loan.renewal_without_repayment
            row["who"].add(app.subject_id)
    return out


@dataclass(frozen=True)
class Generated:
    apps: list[synth.SynthApplication]
    enterprises: list[tuple[bytes, Enterprise]]
    whitelisted: list[tuple[bytes, Enterprise]]  # recommended or pushed entries


def store_generated(api: Api) -> Generated:
    """A generated set of applications and loans over 40 enterprises, each with the region and
    industry its registration record would give (``subject_profiles``), and six white-list
    entries, four of them on the list."""
    settings = api.settings
    enterprises = [
        (subject_id(e.uscc, settings.pseudonym_key_bytes), e) for e in iter_enterprises(40, seed=3)
    ]
    now = int(api.clock())
    apps = synth.generate(
        enterprises,
        [api.world.bank.address, api.world.bank_b.address],
        start=now - 120 * DAY,
        days=110,
        count=300,
        seed=5,
    )
    keyring = api.ctx.keyrings.current()
    rules = default_rules()
    states = ("recommended", "pushed", "rejected")
    with api.engine.begin() as conn:
        keys = keyring.keys_for(conn, {sid: e.uscc for sid, e in enterprises})
        insert_subjects(conn, keys.new_subjects)
        synth.store(conn, keyring, apps, now)
        conn.execute(
            insert(SUBJECT_PROFILES),
            [
                {"subject_id": sid, "region": rules.region_code(region_of(e.division)),
                 "industry": rules.industry_code(e.section)}
                for sid, e in enterprises
            ],
        )  # fmt: skip
        for i, (sid, e) in enumerate(enterprises[:6]):
            conn.execute(
                insert(WHITELIST).values(
                    subject_id=sid, account="0x" + "00" * 20, region=e.division,
                    industry=e.section, state=states[i % 3],
                    criteria="{}", submitted_at=now - DAY, updated_at=now,
                )
            )  # fmt: skip
    listed = [pair for i, pair in enumerate(enterprises[:6]) if states[i % 3] != "rejected"]
    return Generated(apps, enterprises, listed)


@pytest.fixture
def generated(api: Api) -> list[synth.SynthApplication]:
    return store_generated(api).apps


def test_generated_data_has_realistic_proportions(generated: list[synth.SynthApplication]) -> None:
    decided = [a for a in generated if a.decided_at is not None]
    declined = sum(a.status == "declined" for a in generated) / len(generated)
    loans = [a.loan for a in generated if a.loan is not None]
    within_week = sum((a.decided_at or 0) - a.submitted_at <= 7 * DAY for a in decided)
    assert within_week / len(decided) > 0.7
    assert 0.15 < declined < 0.35
    assert sum(loan.first_loan for loan in loans) / len(loans) < 0.5


@pytest.mark.parametrize("group_by", ["month", "region", "industry", "institution"])
def test_kpis_equal_an_independent_computation(
    api: Api, generated: list[synth.SynthApplication], group_by: str
) -> None:
    got = assert_kpis_equal_an_independent_computation(api, generated, group_by)
    assert got["totals"]["enterprises_covered"] == 42  # 40 generated + the 2 ingested
    assert {r["category"] for r in got["records_collected"]} >= {"tax", "social_insurance"}


def assert_kpis_equal_an_independent_computation(
    api: Api, generated: list[synth.SynthApplication], group_by: str
) -> dict[str, Any]:
    regulator = api.client(api.world.regulator.account)
    got = regulator.call("GET", "/v1/audit/kpis", params={"group_by": group_by})
    expected = _expected(group_by, generated)
    rows = {r["key"]: r for r in got["rows"]}
    assert set(rows) >= set(expected)
    for key, want in expected.items():
        row = rows[key]
        assert row["credit_loans"] == want["credit_loans"], key
        assert row["credit_loan_amount"] == want["credit_loan_amount"], key
        assert row["first_loans"] == want["first_loans"], key
        assert row["renewals_without_repayment"] == want["renewals_without_repayment"], key
        assert row["applications"] == want["applications"], key
        assert row["enterprises_with_loan"] == len(want["who"]), key
        share = round(want["pure"] / want["credit_loans"], 4) if want["credit_loans"] else None
        assert row["pure_credit_share"] == share, key
        median = _median(want["days"])
        assert row["median_days_to_decision"] == (None if median is None else round(median, 4))
    if group_by == "institution":
        assert {r["name"] for r in got["rows"]} == {"中原银行郑州分行", "Bank B"}
    totals = got["totals"]
    borrowers = {a.subject_id for a in generated if a.loan is not None}
    with api.engine.connect() as conn:
        covered = conn.execute(select(func.count()).select_from(SUBJECTS)).scalar_one()
    assert totals["credit_loans"] == sum(a.loan is not None for a in generated)
    assert totals["enterprises_covered"] == covered
    assert totals["enterprises_with_loan"] == len(borrowers)
    assert totals["share_with_loan"] == round(len(borrowers) / covered, 4)
    assert totals["enterprises_whitelisted"] == 4  # recommended or pushed, not rejected
    median = _median([(a.decided_at - a.submitted_at) / DAY for a in generated if a.decided_at])
    assert totals["median_days_to_decision"] == (None if median is None else round(median, 4))
    return got


def _place(group_by: str, region: str | None, industry: str | None) -> str:
    """An enterprise's group: its prefecture's six-digit code or its industry section."""
    value = region if group_by == "region" else industry
    if value is None:
        return "unknown"
    if group_by == "region" and len(value) == 4:
        return value + "00"
    return value


def _profiles(api: Api) -> dict[bytes, tuple[str | None, str | None]]:
    """Each subject's (region, industry) as its registration record gave them (the input)."""
    rules = default_rules()
    with api.engine.connect() as conn:
        rows = conn.execute(select(SUBJECT_PROFILES)).all()
    return {
        bytes(r.subject_id): (
            None if r.region is None else rules.region_names[r.region - 1],
            None if r.industry is None else rules.industry_names[r.industry - 1],
        )
        for r in rows
    }


@pytest.mark.parametrize("group_by", ["region", "industry"])
def test_enterprises_covered_and_whitelisted_by_place_equal_an_independent_computation(
    api: Api, group_by: str
) -> None:
    data = store_generated(api)
    profiles = _profiles(api)
    covered = Counter(_place(group_by, *profiles[sid]) for sid in profiles)
    listed = Counter(
        _place(group_by, e.prefecture, e.section) for _sid, e in data.whitelisted
    )  # the entries' own region and industry, as applied
    borrowers: dict[str, set[bytes]] = defaultdict(set)
    for app in data.apps:
        if app.loan is not None:
            region = app.region if app.region.startswith("4190") else app.region[:4]
            borrowers[_place(group_by, region, app.industry)].add(app.subject_id)
    regulator = api.client(api.world.regulator.account)
    got = regulator.call("GET", "/v1/audit/kpis", params={"group_by": group_by})
    rows = {r["key"]: r for r in got["rows"]}
    assert sum(covered.values()) == 42 and len(covered) > 3  # places differ, so a mix-up shows
    for key, n in covered.items():
        assert rows[key]["enterprises_covered"] == n, key
        with_loan = len(borrowers.get(key, ()))
        assert rows[key]["share_with_loan"] == round(with_loan / n, 4), key
    for key, row in rows.items():
        assert row["enterprises_whitelisted"] == listed.get(key, 0), key
        assert row["enterprises_registered"] == 0, key  # no wallet is bound in this world
    if group_by == "region":
        assert rows["410100"]["name"] == "郑州市"
    else:
        assert rows["C"]["name"] == "制造业"


def test_enterprise_counts_have_no_institution_dimension(api: Api) -> None:
    store_generated(api)
    regulator = api.client(api.world.regulator.account)
    got = regulator.call("GET", "/v1/audit/kpis", params={"group_by": "institution"})
    assert got["rows"]
    for row in got["rows"]:
        assert row["enterprises_covered"] is None and row["enterprises_whitelisted"] is None
        assert row["enterprises_registered"] is None and row["share_with_loan"] is None


@pytest.mark.parametrize("group_by", ["month", "region", "industry", "institution"])
def test_records_collected_per_group_equal_an_independent_count(api: Api, group_by: str) -> None:
    profiles = _profiles(api)
    with api.engine.connect() as conn:
        records = conn.execute(
            select(RECORDS.c.subject_id, RECORDS.c.category, RECORDS.c.provider)
        ).all()
    month = datetime.fromtimestamp(api.clock(), UTC).strftime("%Y-%m")
    expected: Counter[tuple[str, int, str]] = Counter()
    for r in records:
        if group_by == "month":
            key = month  # every batch of this world is ingested today
        elif group_by == "institution":
            key = r.provider
        else:
            key = _place(group_by, *profiles.get(bytes(r.subject_id), (None, None)))
        expected[(key, r.category, r.provider)] += 1
    regulator = api.client(api.world.regulator.account)
    got = regulator.call("GET", "/v1/audit/kpis", params={"group_by": group_by})
    counted = {(r["key"], r["category_bit"], r["provider"]): r["records"]
               for r in got["records_collected"]}  # fmt: skip
    assert counted == dict(expected)
    assert sum(counted.values()) == len(records) > 0
    assert {r["category"] for r in got["records_collected"]} >= {"tax", "social_insurance"}
    if group_by == "region":
        assert {r["name"] for r in got["records_collected"]} == {"郑州市"}


def test_the_statistics_audit_view_shows_the_kpis_per_group(
    api: Api, generated: list[synth.SynthApplication]
) -> None:
    regulator = api.client(api.world.regulator.account)
    want = regulator.call("GET", "/v1/audit/kpis", params={"group_by": "region"})
    stats = regulator.audit("statistics", group_by="region").result
    assert isinstance(stats, dict)
    shown = [(r["group"], r["name"], r["credit_loans"]) for r in stats["kpis_by_group"]]
    assert shown == [(r["key"], r["name"], r["credit_loans"]) for r in want["rows"]]
    assert sum(r["credit_loans"] for r in stats["kpis_by_group"]) == stats["credit_loans"] > 0
    assert {r["category_name"] for r in stats["records_by_group"]} >= {"纳税"}
    refused = regulator.send("GET", "/v1/audit/statistics", params={"group_by": "planet"})
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("group_by", ["month", "region", "industry", "institution"])
def test_every_kpi_query_aggregates_in_the_database(
    api: Api, generated: list[synth.SynthApplication], group_by: GroupBy
) -> None:
    """No statement hands whole loan, application, white-list or record rows to Python: each
    one groups or counts, so what comes back is bounded by the groups, not the tables."""
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(api.engine, "before_cursor_execute", seen)
    try:
        with api.engine.connect() as conn:
            kpis(conn, group_by, str)
    finally:
        event.remove(api.engine, "before_cursor_execute", seen)
    selects = [s for s in statements if s.upper().startswith(("SELECT", "WITH"))]
    assert len(selects) > 5
    for statement in selects:
        assert "GROUP BY" in statement or statement.startswith("SELECT count("), statement
