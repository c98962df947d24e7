"""A hostile or broken platform cannot crash the client or the wallet: answers nested deeper
than any API answer are refused before they are parsed, as one-line errors."""

from __future__ import annotations

import httpx
import pytest
from eth_account import Account

from ledger_api.client import LedgerClient
from ledger_api.errors import BadResponseError, LedgerError
from wallet_cli.platform import PlatformError, translated_errors

_URL = "http://platform.invalid"
# A million levels: parsed, this overflows the C stack (py-evm raises the recursion limit).
_DEEP = b"[" * 1_000_000 + b"]" * 1_000_000


def _client_answering(status: int, body: bytes, content_type: str) -> LedgerClient:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers={"content-type": content_type})

    return LedgerClient(_URL, Account.create(), transport=httpx.MockTransport(answer))


def test_a_deeply_nested_answer_is_a_bad_response_not_a_crash() -> None:
    client = _client_answering(200, _DEEP, "application/json")
    with pytest.raises(BadResponseError) as raised:
        client.health()
    assert raised.value.code == "bad_response"
    assert "nests deeper than 64" in raised.value.detail


def test_a_deeply_nested_problem_is_an_error_of_its_status_without_its_body() -> None:
    client = _client_answering(403, _DEEP, "application/problem+json")
    with pytest.raises(LedgerError) as raised:
        client.health()
    assert raised.value.status == 403
    assert raised.value.code == "http_error"  # nothing of the body was read


def test_an_answer_that_is_not_json_is_a_bad_response() -> None:
    client = _client_answering(200, b"<html>hello</html>", "text/html")
    with pytest.raises(BadResponseError, match="not JSON"):
        client.health()


def test_an_answer_nested_within_the_bound_is_parsed() -> None:
    body = b'{"status": "ok", "deep": ' + b"[" * 60 + b"]" * 60 + b"}"
    client = _client_answering(200, body, "application/json")
    assert client.call("GET", "/healthz")["status"] == "ok"


def test_the_wallet_reports_a_deeply_nested_answer_as_an_unexpected_response() -> None:
    client = _client_answering(200, _DEEP, "application/json")
    with pytest.raises(PlatformError) as raised, translated_errors(_URL):
        client.health()
    assert raised.value.code == "platform_bad_response"
    assert "unexpected response from the platform" in raised.value.detail
