"""Gated institution routes: the gate is their only parameter, and the OpenAPI document lists
what the gate parses."""

from __future__ import annotations

from typing import Annotated

import pytest
from api_support import Api
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from ledger_api.api.gate import Access, SubjectAccessGate
from ledger_api.api.gate_route import GatedRoute


def test_a_gated_route_with_a_parameter_besides_its_gate_is_refused() -> None:
    router = APIRouter(route_class=GatedRoute)
    with pytest.raises(TypeError, match="exactly one parameter"):

        @router.get("/v1/institution/subjects/{subject}/extra")
        async def extra(
            access: Annotated[Access, Depends(SubjectAccessGate("records"))],
            page: Annotated[int, Query()] = 1,
        ) -> Response:
            return Response()


def test_gated_routes_document_the_parameters_their_gate_parses(api: Api) -> None:
    paths = api.http.get("/openapi.json").json()["paths"]
    prefix = "/v1/institution/subjects/{subject}"
    expected = {
        "report": {"subject", "purpose"},
        "records": {"subject", "purpose", "grant_id", "category", "level"},
        "verify": {"subject", "purpose", "grant_id", "predicate", "arg"},
        "score": {"subject", "purpose", "grant_id"},
    }
    for action, names in expected.items():
        # The X-CCL-* signing headers are declared on every signed operation (test_openapi_signing).
        parameters = [
            p for p in paths[f"{prefix}/{action}"]["get"]["parameters"] if p["in"] != "header"
        ]
        assert {p["name"] for p in parameters} == names, action
        assert all("schema" in p and "description" in p for p in parameters), action
        required = {p["name"] for p in parameters if p["required"]}
        assert required == names - {"level"}, action


def test_serving_tunes_the_garbage_collector_and_restores_it() -> None:
    import gc

    from ledger_api.api.app import serving_gc

    before = gc.get_threshold()
    with serving_gc():
        assert gc.get_threshold() == (50_000, *before[1:])
        assert gc.get_freeze_count() > 0  # start-up objects left out of collections
    assert gc.get_threshold() == before
