"""Real headless Chromium for the browser tests: the `browser` fixture and a local-only check.

Debian's `chromium` and `chromium-driver` (installed by scripts/ensure_chromium.py from
`make test`) are driven through selenium. Use it in a test module with
`from browser_support import browser, assert_only_local_requests  # noqa: F401`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1400, 1000)
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
# Schemes that never leave the machine (inline images, blobs, the browser's own pages).
LOCAL_SCHEMES = {"data", "blob", "about", "chrome", "chrome-error", "devtools"}


def chinese_font_family() -> str | None:
    """A font family fontconfig has for Chinese (scripts/ensure_chromium.py installs one), so
    screenshots show the characters; None when there is none."""
    if not shutil.which("fc-list"):
        return None
    listing = subprocess.run(
        ["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False
    )
    families = sorted(line.split(",")[0].strip() for line in listing.stdout.splitlines() if line)
    return families[0] if families else None


def chrome_options() -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--lang=zh-CN",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
    ):
        options.add_argument(argument)
    family = chinese_font_family()
    if family is not None:
        fonts = {
            "webkit.webprefs.fonts.standard.Hans": family,
            "webkit.webprefs.fonts.sansserif.Hans": family,
        }
        options.add_experimental_option("prefs", fonts)
    # The performance log lists every network request the page made (see requested_urls).
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return options


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    """One headless Chromium per test module (starting it costs about a second)."""
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.fail("Chromium is missing: run `python scripts/ensure_chromium.py` (make test does)")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=chrome_options())
    driver.set_window_size(*WINDOW)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def requested_urls(driver: webdriver.Chrome) -> list[str]:
    """Every URL requested since the last call: the performance log plus Resource Timing.

    Reading the performance log drains it, so call this (or assert_only_local_requests) after
    each page you want checked.
    """
    urls: list[str] = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    timing = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    urls.extend(str(name) for name in timing or [])
    return urls


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return parts.scheme in {"http", "https", "ws", "wss"} and (parts.hostname or "") in LOCAL_HOSTS


def assert_only_local_requests(driver: webdriver.Chrome) -> list[str]:
    """Fail the test when the page asked for anything beyond this machine; return the URLs."""
    urls = requested_urls(driver)
    external = sorted({url for url in urls if not is_local(url)})
    assert not external, f"{driver.current_url} requested external URLs: {external}"
    return urls
