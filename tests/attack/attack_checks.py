"""What every attack asserts: the refusal's status and code, no leak, and its audit record."""

from __future__ import annotations

import time

from attack_client import Signed
from attack_server import Cast, LiveServer, Response

PROBLEM_JSON = "application/problem+json"


def assert_refused(response: Response, status: int, code: str | None, cast: Cast) -> None:
    """``status`` with a problem+json body carrying ``code``, and nothing of subject B's."""
    assert response.status == status, (response.status, response.body[:300])
    assert response.headers.get("content-type", "").startswith(PROBLEM_JSON), response.headers
    if code is not None:
        assert response.code == code, response.body[:300]
    assert_no_leak(response, cast)


def assert_no_leak(response: Response, cast: Cast) -> None:
    text = response.body.decode("utf-8", "replace")
    leaked = [value for value in cast.secrets_of_b if value in text]
    assert not leaked, f"the response leaks {leaked}: {text[:300]}"


def assert_audited(server: LiveServer, signed: Signed, before: int, code: str) -> None:
    """The refused, authenticated request left a denied access-log entry with its code, and
    its nonce is spent (the same request again is a replay)."""
    address = signed.headers["X-CCL-Address"]
    deadline = time.monotonic() + 2  # the writer commits in groups; bound the wait
    rows = server.log_rows(address)[before:]
    while not any(r["reason"] == code for r in rows) and time.monotonic() < deadline:
        time.sleep(0.05)
        rows = server.log_rows(address)[before:]
    assert any(r["decision"] == "denied" and r["reason"] == code for r in rows), rows
    again = server.send(signed)
    assert again.status == 401 and again.code == "nonce_replayed", again.body[:300]


def log_position(server: LiveServer, address: str) -> int:
    return len(server.log_rows(address))
