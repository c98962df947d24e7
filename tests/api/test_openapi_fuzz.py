"""The OpenAPI document is complete, and fuzzing every operation in-process finds no 5xx,
unsigned and signed with a registered institution's key (so generated inputs get past the
signature check into the gate and the handlers)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import schemathesis
from api_support import Api
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis.core import NOT_SET
from schemathesis.core.result import Ok


def test_every_route_documents_its_response_model_and_problems(api: Api) -> None:
    document = api.http.get("/openapi.json").json()
    assert "Problem" in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            success = [c for c in responses if c.startswith("2")]
            assert success, f"{method} {path} documents no success response"
            assert "schema" in responses[success[0]]["content"]["application/json"], path
            assert "422" in responses, f"{method} {path} documents no problem"


def _bounded_fuzzing(max_examples: int) -> settings:
    """Deterministic, bounded example generation for one operation."""
    return settings(
        max_examples=max_examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


def test_fuzzing_the_api_finds_no_server_errors(api: Api) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.http.app)
    failures: list[str] = []
    for operation in schema.get_all_operations():
        assert isinstance(operation, Ok), operation
        op = operation.ok()

        @given(op.as_strategy())
        @_bounded_fuzzing(max_examples=8)
        def check(case: schemathesis.Case) -> None:
            response = case.call()
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.path}: {response.status_code} {response.text[:200]}"
                )

        check()
    assert not failures, failures


def _body_bytes(case: schemathesis.Case) -> tuple[bytes, dict[str, str]]:
    body = case.body
    if body is NOT_SET or body is None:
        return b"", {}
    media = case.media_type or "application/json"
    if isinstance(body, bytes):
        return body, {"content-type": media}
    if isinstance(body, str) and "json" not in media:
        return body.encode(), {"content-type": media}
    return json.dumps(body, separators=(",", ":")).encode(), {"content-type": "application/json"}


def _query(case: schemathesis.Case) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in (case.query or {}).items():
        if isinstance(value, list):  # one value per key: what the signed client sends
            if not value:
                continue
            value = value[0]
        if value is None:
            continue
        params[str(key)] = json.dumps(value) if isinstance(value, dict) else _scalar(value)
    return params


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def test_fuzzing_signed_requests_finds_no_server_errors(api: Api) -> None:
    """Every generated request signed by the bank (a registered institution)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.http.app)
    signer = api.client(api.world.bank.account)
    failures: list[str] = []
    statuses: list[int] = []
    for operation in schema.get_all_operations():
        assert isinstance(operation, Ok), operation
        op = operation.ok()

        @given(op.as_strategy())
        @seed(20240611)
        @_bounded_fuzzing(max_examples=6)
        def check(case: schemathesis.Case) -> None:
            path = case.formatted_path
            params = _query(case)
            body, headers = _body_bytes(case)
            headers.update(signer.signed_headers(case.method, unquote(path), params, body))
            response = api.http.request(
                case.method, path, params=params, content=body or None, headers=headers
            )
            statuses.append(response.status_code)
            if response.status_code >= 500:
                failures.append(
                    f"signed {case.method} {path}: {response.status_code} {response.text[:200]}"
                )

        check()
    assert not failures, failures
    # The signatures are accepted: most requests get past authentication.
    assert sum(s != 401 for s in statuses) > len(statuses) // 2, sorted(statuses)
