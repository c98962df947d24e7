"""``GatedRoute``: a route whose only dependency is the gate, called without FastAPI's solver.

A gated institution route declares one parameter, ``access: Annotated[Access,
Depends(SubjectAccessGate(...))]``, and documents what the gate parses with ``gate_params``.
FastAPI would still run its general dependency solver for it on every request (sub-dependency
bookkeeping, four parameter groups, a scratch response, exit stacks): a measurable share of a
gated read. This route class resolves that one dependency directly. FastAPI's documented
extension point for it is a custom ``APIRoute.get_route_handler``; the OpenAPI document is built
from the same declaration as before, and the gate's exceptions reach the same handlers.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from ledger_api.api.gate import SubjectAccessGate

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class GatedRoute(APIRoute):
    """For ``async def route(access: <gate dependency>) -> Response`` and nothing else."""

    def get_route_handler(self) -> Handler:
        dependant = self.dependant
        gates = dependant.dependencies
        other_parameters = (
            dependant.path_params
            or dependant.query_params
            or dependant.header_params
            or dependant.cookie_params
            or dependant.body_params
            or dependant.request_param_name
        )
        if (
            len(gates) != 1
            or not isinstance(gates[0].call, SubjectAccessGate)
            or gates[0].name is None
            or other_parameters
        ):
            raise TypeError(
                f"{self.path}: a GatedRoute takes exactly one parameter, its SubjectAccessGate "
                "(document the gate's parameters with gate_params)"
            )
        gate, name = gates[0].call, gates[0].name
        endpoint: Callable[..., Coroutine[Any, Any, Response]] = self.endpoint

        async def handler(request: Request) -> Response:
            return await endpoint(**{name: await gate(request)})

        return handler
