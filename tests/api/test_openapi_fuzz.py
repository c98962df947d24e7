"""The OpenAPI document is complete, and fuzzing every operation in-process finds no 5xx."""

from __future__ import annotations

import schemathesis
from conftest import Api
from hypothesis import HealthCheck, Phase, given, settings


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


def test_fuzzing_the_api_finds_no_server_errors(api: Api) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.http.app)
    failures: list[str] = []
    for operation in schema.get_all_operations():
        op = operation.ok()

        @given(op.as_strategy())
        @settings(
            max_examples=8,
            derandomize=True,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call()
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.path}: {response.status_code} {response.text[:200]}"
                )

        check()
    assert not failures, failures
