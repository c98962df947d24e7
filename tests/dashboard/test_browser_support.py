"""The browser fixture drives real headless Chromium and catches pages that leave the machine."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from browser_support import assert_only_local_requests, browser, is_local  # noqa: F401
from selenium import webdriver

PAGES = {
    "/local": b"<html><body><h1>\xe5\x8f\xaa\xe8\xaf\xbb</h1><img src='/pixel'></body></html>",
    "/external": b"<html><body><img src='http://cdn.example.invalid/x.png'></body></html>",
}


class PageHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = PAGES.get(self.path, b"")
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def local_site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), PageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_local_page_passes_the_local_only_check(
    browser: webdriver.Chrome,  # noqa: F811
    local_site: str,
) -> None:
    browser.get(f"{local_site}/local")
    urls = assert_only_local_requests(browser)
    assert browser.find_element("tag name", "h1").text == "只读"
    assert f"{local_site}/pixel" in urls
    assert browser.get_window_size()["width"] == 1400


def test_page_requesting_a_cdn_fails_the_local_only_check(
    browser: webdriver.Chrome,  # noqa: F811
    local_site: str,
) -> None:
    browser.get(f"{local_site}/external")
    with pytest.raises(AssertionError, match=r"cdn\.example\.invalid"):
        assert_only_local_requests(browser)


def test_only_loopback_hosts_and_inline_schemes_count_as_local() -> None:
    assert is_local("http://127.0.0.1:8700/dashboard/")
    assert is_local("data:image/png;base64,AAAA")
    assert not is_local("https://cdn.jsdelivr.net/npm/chart.js")
    assert not is_local("http://10.0.0.5/x.js")
