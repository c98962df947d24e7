"""The path and query parameters the gate reads, as OpenAPI parameter objects.

The gate parses a gated request's parameters itself, once, with its own stable error codes
and an access-log entry for every refusal. Routes therefore do not declare them as FastAPI
parameters as well: FastAPI would validate each of them a second time on every request, which
measured as about a sixth of the server's time per authorised read. They are documented here
instead and attached to the route with ``openapi_extra=gate_parameters(...)``.
"""

from __future__ import annotations

from typing import Any

from ledger_api.chain.types import AccessLevel, Purpose
from ledger_api.saferoom.predicates import PREDICATES

Parameter = dict[str, Any]


def _parameter(name: str, where: str, schema: dict[str, Any], description: str,
               *, required: bool = True) -> Parameter:  # fmt: skip
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": description,
        "schema": schema,
    }


SUBJECT = _parameter(
    "subject",
    "path",
    {"type": "string", "minLength": 18, "maxLength": 66},
    "0x subject id (32 bytes) or the USCC",
)
PURPOSE = _parameter(
    "purpose",
    "query",
    {"type": "string", "enum": [p.name.lower() for p in Purpose]},
    "why the data is read",
)
GRANT_ID = _parameter(
    "grant_id",
    "query",
    {"type": "integer", "minimum": 1, "exclusiveMaximum": 2**63},
    "the subject's grant",
)
CATEGORY = _parameter(
    "category", "query", {"type": "string", "maxLength": 64}, "catalog category name"
)
READ_LEVEL = _parameter(
    "level",
    "query",
    {
        "type": "string",
        "enum": [AccessLevel.QUERY.name.lower(), AccessLevel.DETAIL.name.lower()],
        "default": AccessLevel.QUERY.name.lower(),
    },
    "query masks SENSITIVE fields; detail needs a DETAIL grant",
    required=False,
)
PREDICATE = _parameter(
    "predicate",
    "query",
    {"type": "string", "enum": sorted(PREDICATES)},
    "the verification predicate",
)
ARGUMENT = _parameter(
    "arg",
    "query",
    {"type": "string", "maxLength": 16},
    "the predicate's argument: months, a count or a tax grade",
)


def gate_parameters(*parameters: Parameter) -> dict[str, Any]:
    """``openapi_extra`` for a gated route: the parameters its gate reads."""
    return {"parameters": [dict(p) for p in parameters]}
