"""Dashboard pages without a browser: filters the audit views lack, bad input, CSV."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from api_support import Api
from dashboard_support import dashboard_for, generate_loans, populate
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select
from test_gate import read
from world import PSEUDONYM_KEY

from indexer.dashboard import create_dashboard
from indexer.dashboard import pages as dashboard_pages
from indexer.follower import Indexer
from ledger_api.accesslog import ACCESS_LOG
from ledger_api.financing.kpis import kpis


def kpi(html: str, key: str) -> str:
    found = re.search(rf'data-kpi="{key}">([^<]*)<', html)
    assert found is not None, key
    return found.group(1)


def test_category_and_purpose_filters_narrow_the_access_counts(api: Api) -> None:
    populate(api)
    http = TestClient(dashboard_for(api))
    assert (
        kpi(http.get("/").text, "accesses_allowed"),
        kpi(http.get("/").text, "accesses_denied"),
    ) == ("3", "2")
    housing = http.get("/?category=housing_fund").text
    assert (kpi(housing, "accesses_allowed"), kpi(housing, "accesses_denied")) == ("0", "1")
    guarantee = http.get("/?purpose=guarantee").text
    assert (kpi(guarantee, "accesses_allowed"), kpi(guarantee, "accesses_denied")) == ("0", "0")
    csv_rows = http.get("/access?category=2&csv=volumes").text.lstrip("\ufeff").splitlines()
    assert csv_rows[0].startswith("日期,名称") and all(",纳税," in row for row in csv_rows[1:])
    assert len(csv_rows) == 3  # the bank's and the insurer's tax reads


def test_a_bad_filter_is_one_line_on_the_page_with_422(api: Api) -> None:
    http = TestClient(dashboard_for(api))
    for query, field in (("since=2026-13-01", "since"), ("institution=nobody", "institution"),
                         ("category=weather", "category"), ("purpose=fun", "purpose"),
                         ("since=2026-12-08&until=2026-12-01", "until")):  # fmt: skip
        response = http.get(f"/access?{query}")
        assert response.status_code == 422, query
        message = re.search(r'id="message">([^<]*)<', response.text)
        assert message is not None and message.group(1).startswith(f"{field}: "), query


def test_an_unknown_or_malformed_uscc_says_so_instead_of_showing_data(api: Api) -> None:
    http = TestClient(dashboard_for(api))
    for uscc in ("91410100MA0000002X", "not-a-uscc"):
        page = http.get("/enterprise", params={"uscc": uscc, "lang": "en"})
        assert page.status_code == 200
        assert "Not registered on chain, or not a valid USCC" in page.text
        assert 'data-table="enterprise_accesses"' not in page.text


def test_a_csv_name_the_page_lacks_is_404(api: Api) -> None:
    response = TestClient(dashboard_for(api)).get("/?csv=nothing")
    assert response.status_code == 404


def test_overview_counts_accesses_logged_after_its_first_render(api: Api) -> None:
    populate(api)
    http = TestClient(dashboard_for(api))
    assert kpi(http.get("/").text, "accesses_allowed") == "3"
    grant = api.grant(0)
    read(api, grant)
    today = datetime.now(UTC).date().isoformat()
    assert kpi(http.get("/").text, "accesses_allowed") == "4"  # the counts caught up
    whole_day = http.get("/", params={"since": today, "until": today}).text
    by_time = http.get("/", params={"since": f"{today}T00:00:00Z", "until": f"{today}T23:59:59Z"})
    assert kpi(whole_day, "accesses_allowed") == kpi(by_time.text, "accesses_allowed") == "4"
    tomorrow = http.get("/", params={"since": "2099-01-01"}).text
    assert kpi(tomorrow, "accesses_allowed") == "0"


def _forge_allowed_read_without_grant(api: Api) -> None:
    """An entry logged "allowed" for a grant that does not exist: a violation."""
    with api.engine.begin() as conn:
        last = conn.execute(select(func.max(ACCESS_LOG.c.id))).scalar() or 0
        conn.execute(insert(ACCESS_LOG).values(
            id=last + 1, at=datetime.now(UTC), actor=api.world.bank_b.address,
            actor_role="institution", action="records", subject_id=api.world.subject_ids[0],
            category=2, purpose=0, level=1, grant_id=999, checked_block=1, decision="allowed",
            reason="ok", prev_hash=b"\0" * 32, entry_hash=b"\1" * 32,
        ))  # fmt: skip


def test_violations_page_finds_a_violation_logged_after_its_first_render(api: Api) -> None:
    populate(api)
    http = TestClient(dashboard_for(api))
    assert kpi(http.get("/violations").text, "violations") == "0"
    _forge_allowed_read_without_grant(api)
    page = http.get("/violations").text
    assert kpi(page, "violations") == "1"
    api_rows = api.client(api.world.regulator.account).audit("violations").result
    assert isinstance(api_rows, list) and len(api_rows) == 1
    assert "Bank B" in page and 'data-col="violation">授权不存在<' in page
    others = http.get("/violations", params={"institution": api.world.bank.address}).text
    assert kpi(others, "violations") == "0"


def test_violations_count_follows_the_category_filter_like_its_rows(api: Api) -> None:
    populate(api)
    _forge_allowed_read_without_grant(api)  # category bit 2
    http = TestClient(dashboard_for(api))
    matching = http.get("/violations", params={"category": "2"}).text
    other = http.get("/violations", params={"category": "3"}).text
    assert kpi(matching, "violations") == "1"
    assert kpi(other, "violations") == "0" and 'data-col="violation">' not in other


def test_violations_page_counts_every_violation_and_shows_one_page_of_them(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(api)
    _forge_allowed_read_without_grant(api)
    _forge_allowed_read_without_grant(api)
    monkeypatch.setattr(dashboard_pages, "ROW_LIMIT", 1)
    http = TestClient(dashboard_for(api))
    page = http.get("/violations").text
    assert kpi(page, "violations") == "2"
    assert page.count('data-col="violation">授权不存在<') == 1
    api_rows = api.client(api.world.regulator.account).audit("violations").result
    assert isinstance(api_rows, list) and len(api_rows) == 2


def _chart(html: str, key: str) -> dict[str, list[int]]:
    found = re.search(rf'id="chart-data-{key}">(.*?)</script>', html, re.S)
    assert found is not None, key
    chart = json.loads(found.group(1))
    return {d["label"]: d["data"] for d in chart["datasets"]}


def test_grants_chart_counts_every_event_of_the_period_not_a_page_of_them(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    populate(api)
    monkeypatch.setattr(dashboard_pages, "ROW_LIMIT", 1)  # the table: one event of four
    http = TestClient(dashboard_for(api))
    history = api.client(api.world.regulator.account).audit("grant_history", limit=500).result
    assert isinstance(history, list)
    counted = _chart(http.get("/grants", params={"lang": "en"}).text, "grants_by_day")
    assert sum(counted["Issued"]) == sum(1 for e in history if e["event"] == "issued") == 3
    assert sum(counted["Revoked"]) == sum(1 for e in history if e["event"] == "revoked") == 1
    assert http.get("/grants").text.count('data-col="grant_id"') == 1
    other = {"lang": "en", "purpose": "credit_rating"}  # no grant was issued for it
    assert (
        sum(
            sum(v) for v in _chart(http.get("/grants", params=other).text, "grants_by_day").values()
        )
        == 0
    )


def test_warm_up_counts_the_whole_log_before_the_first_page(api: Api) -> None:
    populate(api)
    app = create_dashboard(api.engine, pseudonym_key=PSEUDONYM_KEY, warm_up=True)
    assert app.state.warm_up.wait(timeout=120)  # a bound on a hang, not a timing
    with api.engine.connect() as conn:
        newest = conn.execute(select(func.max(ACCESS_LOG.c.id))).scalar()
    assert app.state.warm_up.failed is None
    assert app.state.warm_up.counted_through == newest
    http = TestClient(app)
    cold = TestClient(dashboard_for(api))
    allowed = kpi(http.get("/").text, "accesses_allowed")
    assert allowed == kpi(cold.get("/").text, "accesses_allowed") == "3"
    assert kpi(http.get("/violations").text, "violations") == "0"


def test_overview_shows_the_loan_kpis_the_financing_kpis_compute(api: Api) -> None:
    generate_loans(api)
    with api.engine.connect() as conn:
        want = kpis(conn, "month", str)
    totals = want["totals"]
    assert totals["credit_loans"] > 0  # the set has loans, so a zero page would fail
    http = TestClient(dashboard_for(api))
    zh, en = http.get("/").text, http.get("/", params={"lang": "en"}).text
    for key in ("credit_loans", "credit_loan_amount", "first_loans", "renewals_without_repayment"):
        assert kpi(zh, key) == kpi(en, key) == str(totals[key]), key
    assert kpi(zh, "pure_credit_share") == f"{totals['pure_credit_share']:.2%}"
    assert "纯信用贷款占比" in zh and "Renewals without principal repayment" in en
    csv_rows = http.get("/?csv=loans").text.lstrip("\ufeff").splitlines()
    assert csv_rows[0].split(",")[:2] == ["月份", "信用贷款笔数"]
    shown = [row.split(",") for row in csv_rows[1:]]
    expected = [r["key"] for r in want["rows"]] + ["合计"]
    assert [row[0] for row in shown] == expected
    assert [int(row[1]) for row in shown] == [r["credit_loans"] for r in want["rows"]] + [
        totals["credit_loans"]
    ]
    figures = dashboard_pages.LOAN_FIGURES[1:]
    assert shown[-1][2:] == [str(totals[key]) for key in figures]


@pytest.mark.parametrize("group_by", ["month", "region", "industry", "institution"])
def test_kpi_page_shows_the_kpis_per_group_with_names_beside_codes(api: Api, group_by: str) -> None:
    generate_loans(api)
    Indexer.for_engine(api.world.w3, api.world.ledger.deployment, api.engine,
                       api.settings).run_once()  # the registry's names  # fmt: skip
    with api.engine.connect() as conn:
        want = kpis(conn, group_by, str)  # type: ignore[arg-type]
    assert want["rows"]
    http = TestClient(dashboard_for(api))
    page = http.get("/kpis", params={"group_by": group_by})
    assert page.status_code == 200
    assert f'<option value="{group_by}" selected>' in page.text
    assert kpi(page.text, "credit_loans") == str(want["totals"]["credit_loans"])
    body = http.get("/kpis", params={"group_by": group_by, "csv": "kpis_by_group"}).text
    header, *lines = body.lstrip("\ufeff").splitlines()
    assert header.split(",")[:3] == ["代码", "名称", "信用贷款笔数"]
    shown = [line.split(",") for line in lines]
    assert [row[0] for row in shown] == [r["key"] for r in want["rows"]]
    assert [int(row[2]) for row in shown] == [r["credit_loans"] for r in want["rows"]]
    names = {row[0]: row[1] for row in shown}
    if group_by == "region":
        assert names["410100"] == "郑州市"
    elif group_by == "industry":
        assert names["C"] == "制造业"
    elif group_by == "institution":
        assert names[api.world.bank.address] == "中原银行郑州分行"
    records = http.get("/kpis", params={"group_by": group_by, "csv": "records_by_group"}).text
    assert "纳税" in records  # categories by name


def test_kpi_page_refuses_an_unknown_group_in_one_line(api: Api) -> None:
    page = TestClient(dashboard_for(api)).get("/kpis", params={"group_by": "planet"})
    assert page.status_code == 422
    assert "group_by: must be one of month, region, industry, institution" in page.text


def test_violations_first_render_takes_the_recorded_verdicts_and_checks_only_the_rest(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from indexer.dashboard import violation_cache
    from indexer.log_recheck import checked_through, recheck_all
    from indexer.tables import CHECKPOINT

    populate(api)
    _forge_allowed_read_without_grant(api)
    with api.engine.connect() as conn:
        chain_id = conn.execute(select(CHECKPOINT.c.chain_id)).scalar_one()
    recheck_all(api.engine, chain_id=chain_id, reorg_window=0)
    with api.engine.connect() as conn:
        mark = checked_through(conn)
    assert mark >= api.entry_count()  # every entry judged, the forged one recorded
    asked: list[dict[str, object]] = []
    real = violation_cache.violation_ids_query

    def spy(conn: object, **filters: object) -> object:
        asked.append(filters)
        return real(conn, **filters)  # type: ignore[arg-type]

    monkeypatch.setattr(violation_cache, "violation_ids_query", spy)
    page = TestClient(dashboard_for(api)).get("/violations").text
    assert kpi(page, "violations") == "1" and 'data-col="violation">授权不存在<' in page
    assert [(a["since"], a["after_id"]) for a in asked] == [(None, mark)]
