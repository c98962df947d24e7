"""Signed requests: replay, tampering, clock skew, unknown keys; problem+json everywhere."""

from __future__ import annotations

import pytest
from api_support import Api
from eth_account import Account
from test_gate import assert_denied, read, sid

from ledger_api.errors import LedgerError


def _path(api: Api) -> str:
    return f"/v1/institution/subjects/{sid(api)}/records"


def _params(grant: int) -> dict:
    return {"category": "tax", "purpose": "loan_application", "grant_id": grant, "level": "query"}


def test_replayed_nonce_is_refused(api: Api) -> None:
    grant = api.grant()
    client = api.client(api.world.bank.account)
    first = client.send("GET", _path(api), params=_params(grant), nonce="fixed-nonce-1")
    assert first.status_code == 200
    before = api.entry_count()
    again = client.send("GET", _path(api), params=_params(grant), nonce="fixed-nonce-1")
    assert again.status_code == 401 and again.json()["code"] == "nonce_replayed"
    assert again.headers["content-type"] == "application/problem+json"
    assert api.entry_count() == before + 1 and api.last_entry()["reason"] == "nonce_replayed"


def test_body_changed_after_signing_is_refused(api: Api) -> None:
    grant = api.grant()
    client = api.client(api.world.bank.account)
    headers = client.signed_headers("GET", _path(api), _params(grant), b"")
    before = api.entry_count()
    response = api.http.request(
        "GET", _path(api), params=_params(grant), content=b"tampered", headers=headers
    )
    assert response.status_code == 401 and response.json()["code"] == "bad_signature"
    assert api.entry_count() == before + 1
    assert api.last_entry()["actor"] == api.world.bank.address


def test_timestamp_61_seconds_off_is_refused(api: Api) -> None:
    grant = api.grant()
    client = api.client(api.world.bank.account)
    for skew in (-61, 61):
        before = api.entry_count()
        response = client.send(
            "GET", _path(api), params=_params(grant), timestamp=int(api.clock()) + skew
        )
        assert response.status_code == 401 and response.json()["code"] == "stale_timestamp"
        assert api.entry_count() == before + 1
    ok = client.send("GET", _path(api), params=_params(grant), timestamp=int(api.clock()) - 59)
    assert ok.status_code == 200


def test_key_not_on_chain_is_refused(api: Api) -> None:
    grant = api.grant()
    stranger = Account.create()
    assert_denied(api, lambda: read(api, grant, who=stranger), 403, "role_required")


def test_subject_cannot_read_another_subjects_data(api: Api) -> None:
    w = api.world
    other = api.client(w.subject_keys[1]).my_records("tax").records[0].record_uid
    mine = api.client(w.subject_keys[0])
    assert_denied(api, lambda: mine.record_proof(other), 404, "not_your_record")
    grant = api.grant(subject=1)
    assert_denied(
        api, lambda: read(api, grant, who=w.subject_keys[0], subject=1), 403, "role_required"
    )


def test_unsigned_request_gets_problem_json(api: Api) -> None:
    response = api.http.get(f"{_path(api)}?category=tax&purpose=loan_application&grant_id=1")
    assert response.status_code == 401
    problem = response.json()
    assert problem["code"] == "missing_signature"
    assert set(problem) >= {"type", "title", "status", "detail", "code", "instance"}


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/nowhere", 404, "not_found"),
        ("DELETE", "/healthz", 405, "method_not_allowed"),
    ],
)
def test_http_errors_are_problems(api: Api, method: str, path: str, status: int, code: str) -> None:
    response = api.http.request(method, path)
    assert response.status_code == status and response.json()["code"] == code
    assert response.headers["content-type"] == "application/problem+json"


def test_validation_errors_are_problems(api: Api) -> None:
    client = api.client(api.world.subject_keys[0])
    response = client.send("POST", "/v1/subject/revocations", json_body={"grant_id": "x"})
    assert response.status_code == 422 and response.json()["code"] == "validation_error"


def test_oversized_body_is_refused_with_413(api: Api) -> None:
    assert api.ctx.settings.max_body_bytes == 16 * 1024 * 1024  # the limit under test
    response = api.http.post("/v1/subject/commitments", content=b"x" * (16 * 1024 * 1024 + 1))
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"


def test_rate_limit_refuses_with_429(api: Api) -> None:
    from ledger_api.api.context import RateLimiter

    api.ctx.rate_limiter = RateLimiter(per_minute=1, burst=2, clock=api.clock)
    client = api.client(api.world.subject_keys[0])
    client.me()
    client.me()
    with pytest.raises(LedgerError) as caught:
        client.me()
    assert caught.value.status == 429 and caught.value.code == "rate_limited"


def test_query_parsing_matches_starlette_and_the_signed_form() -> None:
    from starlette.datastructures import QueryParams

    from ledger_api.api.auth import parse_query
    from ledger_api.api.signing import canonical_query_string

    for raw in (b"b=2&a=1&a=3&empty=&sp=x%20y+z", b"", b"k=%E4%BA%AC", b"k=%FF"):
        parsed = parse_query(raw)
        assert dict(parsed.params) == dict(QueryParams(raw))
        assert parsed.canonical == canonical_query_string(raw.decode())


def test_a_query_string_that_is_not_utf8_has_no_signed_form() -> None:
    from ledger_api.api.auth import parse_query

    assert parse_query(b"k=\xff").canonical is None


def test_rate_limiter_memory_is_bounded_however_many_addresses_sign() -> None:
    from ledger_api.api.context import RateLimiter

    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=3, clock=lambda: now[0], max_keys=1_000)
    for n in range(5_000):  # fresh addresses, all within one refill period: the cap holds
        now[0] += 0.0001
        assert limiter.allow(f"0x{n:040x}")
    assert len(limiter) == 1_000
    now[0] += 3.0  # every bucket has refilled (3 tokens at 1/s): one request keeps just its own
    assert limiter.allow("0x" + "ab" * 20)
    assert len(limiter) == 1


def test_rate_limiter_still_limits_a_busy_address_among_many() -> None:
    from ledger_api.api.context import RateLimiter

    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0], max_keys=100)
    busy = "0x" + "cd" * 20
    assert limiter.allow(busy) and limiter.allow(busy)
    for n in range(50):  # others come and go; the busy address keeps its spent bucket
        limiter.allow(f"0x{n:040x}")
    assert not limiter.allow(busy)
    now[0] += 1.0  # one token back after a second
    assert limiter.allow(busy) and not limiter.allow(busy)
