"""Bodies are checked before any route parses them: signing headers first, then size (also
of chunked bodies), then nesting depth; every refusal is problem+json."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
from api_support import Api
from eth_account import Account
from test_subject_and_log import _free_uscc

_REGISTRATIONS = "/v1/subject/registrations"


def _problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_an_unsigned_body_is_refused_401_before_it_is_parsed(api: Api) -> None:
    # Not JSON at all: parsed first, it would be a 422.
    response = api.http.post(
        _REGISTRATIONS, content=b'{"uscc": [', headers={"content-type": "application/json"}
    )
    _problem(response, 401, "missing_signature")


def test_a_signed_body_nested_past_the_limit_is_refused_400(api: Api) -> None:
    client = api.client(api.world.subject_keys[0])
    body = b'{"uscc": ' + b"[" * 65 + b"]" * 65 + b"}"
    response = client.send("POST", _REGISTRATIONS, content=body, content_type="application/json")
    _problem(response, 400, "nesting_too_deep")


def test_a_signed_body_within_the_limit_reaches_the_route(api: Api) -> None:
    client = api.client(api.world.subject_keys[0])
    body = b'{"uscc": ' + b"[" * 63 + b"]" * 63 + b"}"
    response = client.send("POST", _REGISTRATIONS, content=body, content_type="application/json")
    _problem(response, 422, "validation_error")  # the route's own validation answers


def _chunks(total: int, size: int = 1 << 20) -> Iterator[bytes]:
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


def test_an_oversized_chunked_body_is_refused_413(api: Api) -> None:
    client = api.client(api.world.subject_keys[0])
    headers = client.signed_headers("POST", "/v1/subject/commitments", None, b"")
    response = api.http.post("/v1/subject/commitments", content=_chunks(17 << 20), headers=headers)
    assert "content-length" not in response.request.headers  # sent chunked
    _problem(response, 413, "payload_too_large")


def test_an_oversized_unsigned_body_is_refused_413_by_its_length(api: Api) -> None:
    response = api.http.post(_REGISTRATIONS, content=b"x" * ((16 << 20) + 1))
    _problem(response, 413, "payload_too_large")


def test_a_signed_body_sent_in_chunks_reaches_the_route_whole(api: Api) -> None:
    client = api.client(Account.create())
    body = b'{"uscc": "' + _free_uscc().encode() + b'"}'
    headers = client.signed_headers("POST", _REGISTRATIONS, None, body)
    pieces = iter([body[:5], body[5:11], body[11:]])
    headers["content-type"] = "application/json"
    response = api.http.post(_REGISTRATIONS, content=pieces, headers=headers)
    assert "content-length" not in response.request.headers  # sent chunked
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "awaiting_signature"
