"""Against a real uvicorn server in a process of its own (a crash only shows there): no body,
however deep or long, takes the server down, and each is refused with 4xx problem+json."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from nodes import free_port

_SERVER = Path(__file__).with_name("body_guard_server.py")
_REGISTRATIONS = "/v1/subject/registrations"
_MILLION_DEEP = b"[" * 1_000_000 + b"]" * 1_000_000
# Well-formed signing headers: the signature is never checked, the body is refused first.
_SIGNED = {
    "X-CCL-Address": "0x" + "11" * 20,
    "X-CCL-Timestamp": "1",
    "X-CCL-Nonce": "nonce-0001",
    "X-CCL-Signature": "0x" + "00" * 65,
}


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(_SERVER), str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60  # a bound on start-up, not a timing assertion
        while True:
            assert process.poll() is None, "the server did not start"
            try:
                httpx.get(url + "/healthz")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def _assert_refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


def _assert_alive(url: str, process: subprocess.Popen[bytes]) -> None:
    assert process.poll() is None, f"the server died (exit code {process.returncode})"
    assert httpx.get(url + "/healthz").status_code == 200


def test_a_million_levels_deep_unsigned_body_gets_401_and_the_server_survives(
    server: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, process = server
    response = httpx.post(
        url + _REGISTRATIONS,
        content=_MILLION_DEEP,
        headers={"content-type": "application/json"},
        timeout=120,
    )
    _assert_refused(response, 401, "missing_signature")
    _assert_alive(url, process)


def test_a_million_levels_deep_signed_body_gets_400_and_the_server_survives(
    server: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, process = server
    for body in (_MILLION_DEEP, b'{"uscc": ' + b"[" * 200_000):
        response = httpx.post(
            url + _REGISTRATIONS,
            content=body,
            headers={"content-type": "application/json", **_SIGNED},
            timeout=120,
        )
        _assert_refused(response, 400, "nesting_too_deep")
    _assert_alive(url, process)


def _chunks(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_a_17_mib_body_gets_413_chunked_or_not(
    server: tuple[str, subprocess.Popen[bytes]], chunked: bool
) -> None:
    url, process = server
    body = _chunks(17 << 20) if chunked else b"x" * (17 << 20)
    response = httpx.post(url + _REGISTRATIONS, content=body, headers=_SIGNED, timeout=120)
    assert ("content-length" in response.request.headers) is not chunked
    _assert_refused(response, 413, "payload_too_large")
    _assert_alive(url, process)
