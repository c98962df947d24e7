"""In headless Chromium, /docs (Swagger UI) and /redoc (ReDoc) served by a real uvicorn server
render the API's operations, and neither page fetches anything from outside this machine."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_support import Api
from browser_support import assert_only_local_requests, browser  # noqa: F401
from live_server import served
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

# Operations every reader of the documentation should find, by their summary.
EXPECTED = ("Standard credit report (PUBLIC fields)", "My grants and their live status")


@pytest.fixture
def api_url(api: Api) -> Iterator[str]:
    with served(api.http.app) as url:
        yield url


def _page_text_with(driver: webdriver.Chrome, text: str) -> str:
    """The page's visible text once it shows ``text`` (a bound on rendering, not a timing
    assertion)."""

    def rendered(d: webdriver.Chrome) -> str | bool:
        shown = str(d.find_element(By.TAG_NAME, "body").text)
        return shown if text in shown else False

    return str(WebDriverWait(driver, 60).until(rendered))


def test_swagger_ui_lists_the_operations_from_local_assets(
    browser: webdriver.Chrome,  # noqa: F811
    api_url: str,
) -> None:
    browser.get(f"{api_url}/docs")
    text = _page_text_with(browser, EXPECTED[0])
    for summary in EXPECTED:
        assert summary in text
    assert "/v1/institution/subjects/{subject}/report" in text
    browser.find_element(By.CSS_SELECTOR, ".authorize")  # the security scheme is declared
    urls = assert_only_local_requests(browser)
    assert any(url.endswith("/assets/swagger-ui/swagger-ui-bundle.js") for url in urls), urls


def test_redoc_lists_the_operations_from_local_assets(
    browser: webdriver.Chrome,  # noqa: F811
    api_url: str,
) -> None:
    browser.get(f"{api_url}/redoc")
    text = _page_text_with(browser, EXPECTED[0])
    for summary in EXPECTED:
        assert summary in text
    urls = assert_only_local_requests(browser)
    assert any(url.endswith("/assets/redoc/redoc.standalone.js") for url in urls), urls
