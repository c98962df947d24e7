"""The regulators' dashboard in real headless Chromium, against an API world with a day of
activity: every page loads, its numbers equal the audit API's, filters and the USCC look-up
work, charts render from the locally served Chart.js and no page asks for anything external."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import Api
from browser_support import assert_only_local_requests, browser  # noqa: F401
from dashboard_support import dashboard_for, generate_loans, populate, served
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from world import USCCS

PAGES = ("", "violations", "access", "grants", "anchors", "institution", "kpis", "enterprise")


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Path:
    folder = tmp_path_factory.mktemp("dashboard-screenshots")
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\ndashboard screenshots: {folder}")
    return folder


@pytest.fixture
def site(api: Api) -> Iterator[str]:
    populate(api)
    with served(dashboard_for(api)) as url:
        yield url


def kpi(driver: webdriver.Chrome, key: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f'[data-kpi="{key}"]').text


def column(driver: webdriver.Chrome, table: str, key: str) -> list[str]:
    selector = f'[data-table="{table}"] td[data-col="{key}"]'
    return [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, selector)]


def test_every_page_loads_with_the_audit_apis_numbers_and_nothing_external(
    api: Api,
    site: str,
    browser: webdriver.Chrome,  # noqa: F811
    screenshots: Path,
) -> None:
    regulator = api.client(api.world.regulator.account)
    for page in PAGES:
        browser.get(f"{site}/{page}")
        assert browser.find_element(By.ID, "page-title").text
        assert_only_local_requests(browser)
        browser.save_screenshot(str(screenshots / f"{page or 'overview'}.png"))

    browser.get(f"{site}/")
    stats = regulator.audit("statistics").result
    assert isinstance(stats, dict)
    usage = stats["usage_by_institution"]
    assert kpi(browser, "records") == str(
        sum(r["records"] for r in stats["records_by_category_provider"])
    )
    assert kpi(browser, "enterprises_bound") == str(stats["enterprises_bound"])
    assert kpi(browser, "enterprises_covered") == str(stats["enterprises_covered"])
    assert kpi(browser, "accesses_allowed") == str(
        sum(u["queries"] + u["verifications"] for u in usage)
    )
    assert kpi(browser, "accesses_denied") == str(sum(u["denied"] for u in usage)) == "2"
    assert "中原银行郑州分行" in column(browser, "usage", "name")  # names, not addresses
    assert "纳税" in column(browser, "records", "category")
    assert kpi(browser, "indexer_lag") == "0"
    anchors = regulator.audit("anchors", limit=500).result
    assert isinstance(anchors, list)
    verified = [a["sequence"] for a in anchors if a["status"] == "verified" and a["sequence"]]
    last_verified = f"#{max(verified)}" if verified else "—"
    assert kpi(browser, "last_verified_anchor") == last_verified

    browser.get(f"{site}/violations")
    assert kpi(browser, "violations") == str(len(regulator.audit("violations").result)) == "0"

    browser.get(f"{site}/access")
    volumes = regulator.audit("volumes", limit=500).result
    assert isinstance(volumes, list)
    shown = [int(n) for n in column(browser, "volumes", "total")]
    assert sum(shown) == sum(v["total"] for v in volumes)
    charts = browser.execute_script(
        "return [...document.querySelectorAll('canvas[data-chart]')]"
        ".map(c => Chart.getChart(c) !== undefined)"
    )
    assert charts == [True, True, True]  # Chart.js loaded from the dashboard itself
    denials = sum(int(n) for n in column(browser, "denials", "count"))
    assert denials == sum(u["denied"] for u in usage) == 2

    browser.get(f"{site}/grants")
    history = regulator.audit("grant_history", limit=500).result
    assert len(column(browser, "grant_events", "grant_id")) == len(history)
    browser.get(f"{site}/anchors")
    assert len(column(browser, "anchors", "sequence")) == len(anchors)
    shown_verified = sum(1 for a in anchors if a["status"] == "verified")
    assert kpi(browser, "anchors_verified") == f"{shown_verified} / {len(anchors)}"

    bank = api.world.bank.address
    browser.get(f"{site}/institution?institution={bank}")
    (bank_usage,) = [u for u in usage if u["institution"] == bank]
    allowed = bank_usage["queries"] + bank_usage["verifications"]
    assert kpi(browser, "accesses_allowed") == str(allowed)
    assert kpi(browser, "accesses_denied") == str(bank_usage["denied"])


def test_filtering_by_institution_shows_that_institutions_numbers_only(
    api: Api,
    site: str,
    browser: webdriver.Chrome,  # noqa: F811
    screenshots: Path,
) -> None:
    browser.get(f"{site}/access")
    Select(browser.find_element(By.ID, "institution")).select_by_visible_text("Insurer C")
    browser.find_element(By.ID, "apply").click()
    # The click submits the form; the next page arrives after it returns (a bound, not a timing).
    WebDriverWait(browser, 60).until(lambda driver: "institution=0x" in driver.current_url)
    assert set(column(browser, "volumes", "name")) == {"Insurer C"}
    insurer = api.client(api.world.regulator.account).audit(
        "volumes", institution=api.world.insurer.address
    )
    assert isinstance(insurer.result, list)
    assert sum(int(n) for n in column(browser, "volumes", "denied")) == sum(
        v["denied"] for v in insurer.result
    )
    assert column(browser, "denials", "reason") == ["无共享协议"]
    assert_only_local_requests(browser)
    browser.save_screenshot(str(screenshots / "access-insurer.png"))


def test_the_kpi_page_regroups_by_the_selector_with_names_and_a_local_chart(
    api: Api,
    site: str,
    browser: webdriver.Chrome,  # noqa: F811
    screenshots: Path,
) -> None:
    generate_loans(api)
    regulator = api.client(api.world.regulator.account)
    browser.get(f"{site}/kpis")
    months = regulator.call("GET", "/v1/audit/kpis", params={"group_by": "month"})
    assert column(browser, "kpis_by_group", "group") == [r["key"] for r in months["rows"]]
    Select(browser.find_element(By.ID, "group_by")).select_by_value("institution")
    browser.find_element(By.ID, "apply").click()
    WebDriverWait(browser, 60).until(lambda driver: "group_by=institution" in driver.current_url)
    banks = regulator.call("GET", "/v1/audit/kpis", params={"group_by": "institution"})
    assert column(browser, "kpis_by_group", "name") == [r["name"] for r in banks["rows"]]
    assert set(column(browser, "kpis_by_group", "name")) == {"中原银行郑州分行", "Bank B"}
    shown = [int(n) for n in column(browser, "kpis_by_group", "credit_loans")]
    assert shown == [r["credit_loans"] for r in banks["rows"]] and sum(shown) > 0
    charts = browser.execute_script(
        "return [...document.querySelectorAll('canvas[data-chart]')]"
        ".map(c => Chart.getChart(c) !== undefined)"
    )
    assert charts == [True]
    assert_only_local_requests(browser)
    browser.save_screenshot(str(screenshots / "kpis-institution.png"))


def test_an_enterprise_is_looked_up_by_its_uscc(
    api: Api,
    site: str,
    browser: webdriver.Chrome,  # noqa: F811
    screenshots: Path,
) -> None:
    browser.get(f"{site}/enterprise")
    browser.find_element(By.ID, "uscc").send_keys(USCCS[0])
    browser.find_element(By.ID, "apply").click()
    WebDriverWait(browser, 60).until(lambda driver: "uscc=" in driver.current_url)
    assert USCCS[0] in browser.find_element(By.ID, "page-title").text
    subject = "0x" + api.world.subject_ids[0].hex()
    regulator = api.client(api.world.regulator.account)
    accesses = regulator.audit("access_audit", subject_id=subject).result
    grants = regulator.audit("grant_history", subject_id=subject).result
    assert kpi(browser, "enterprise_accesses") == str(len(accesses)) == "3"
    assert kpi(browser, "enterprise_grants") == str(len(grants))
    assert set(column(browser, "enterprise_accesses", "name")) == {"中原银行郑州分行"}
    assert_only_local_requests(browser)
    browser.save_screenshot(str(screenshots / "enterprise.png"))
    browser.find_element(By.CSS_SELECTOR, '[data-lang="en"]').click()
    assert "Enterprise" in browser.find_element(By.ID, "page-title").text
    assert "Loan application" in column(browser, "enterprise_accesses", "purpose")


def test_every_table_downloads_as_csv_with_the_shown_rows(
    site: str,
    browser: webdriver.Chrome,  # noqa: F811
) -> None:
    import urllib.request

    for page in PAGES[:-1]:
        browser.get(f"{site}/{page}")
        links = browser.find_elements(By.CSS_SELECTOR, "a[data-csv]")
        assert links, page
        for link in links:
            table = link.get_attribute("data-csv")
            rows = browser.find_elements(By.CSS_SELECTOR, f'[data-table="{table}"] tbody tr')
            with urllib.request.urlopen(str(link.get_attribute("href"))) as response:
                body = response.read().decode("utf-8-sig")
                assert response.headers["Content-Type"].startswith("text/csv")
            assert len(body.splitlines()) == len(rows) + 1, (page, table)
