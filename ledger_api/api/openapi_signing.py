"""The request-signing scheme in the OpenAPI document.

Every signed operation declares the security requirement (the four ``X-CCL-*`` headers of
``docs/request-signing.md``, all required together) and the headers themselves as header
parameters, so that a client generated from the document, or a reader of ``/docs``, sees them.
Which operations are signed is read from the routes' dependencies, not listed by hand: an
operation is signed when it depends on the signature check (``SignerDep`` and every role
dependency built on it) or on the gate, which verifies signatures itself.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from ledger_api.api.auth import signature_dependency
from ledger_api.api.gate import SubjectAccessGate
from ledger_api.api.signing import (
    HEADER_ADDRESS,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    SCHEME,
)

SPEC = "docs/request-signing.md"
HEADERS: dict[str, tuple[str, dict[str, Any]]] = {
    HEADER_ADDRESS: (
        "the signer's address",
        {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"},
    ),
    HEADER_TIMESTAMP: (
        "UTC seconds, within the server's clock skew (CCL_CLOCK_SKEW_S)",
        {"type": "string", "pattern": "^[0-9]{1,20}$"},
    ),
    HEADER_NONCE: (
        "single use per signer",
        {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"},
    ),
    HEADER_SIGNATURE: (
        f"EIP-191 personal_sign of the {SCHEME} canonical form, 65 bytes r||s||v, low s",
        {"type": "string", "pattern": "^0x[0-9a-fA-F]{130}$"},
    ),
}


def scheme_name(header: str) -> str:
    """``X-CCL-Signature`` -> ``CCL-Signature``."""
    return header.removeprefix("X-")


SECURITY_REQUIREMENT: dict[str, list[str]] = {scheme_name(h): [] for h in HEADERS}


def security_schemes() -> dict[str, Any]:
    return {
        scheme_name(header): {
            "type": "apiKey",
            "in": "header",
            "name": header,
            "description": f"{description}; see {SPEC}",
        }
        for header, (description, _) in HEADERS.items()
    }


def header_parameters() -> list[dict[str, Any]]:
    return [
        {
            "name": header,
            "in": "header",
            "required": True,
            "description": description,
            "schema": schema,
        }
        for header, (description, schema) in HEADERS.items()
    ]


def _depends_on_signature(dependant: Dependant) -> bool:
    for dependency in dependant.dependencies:
        if dependency.call is signature_dependency or isinstance(
            dependency.call, SubjectAccessGate
        ):
            return True
        if _depends_on_signature(dependency):
            return True
    return False


def signed_operations(app: FastAPI) -> set[tuple[str, str]]:
    """``(METHOD lower-case, path)`` of every operation that takes a signed request (the routes
    of included routers as the OpenAPI document names them, prefix included)."""
    operations: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        if context.path_format is None or not _depends_on_signature(route.dependant):
            continue
        operations.update((method.lower(), context.path_format) for method in route.methods or ())
    return operations


def declare_signing(app: FastAPI, document: dict[str, Any]) -> None:
    """Add the scheme to ``document`` and declare it on every signed operation of ``app``."""
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(security_schemes())
    for method, path in signed_operations(app):
        operation = document["paths"][path][method]
        operation["security"] = [SECURITY_REQUIREMENT]
        declared = {(p["name"], p["in"]) for p in operation.get("parameters", [])}
        operation.setdefault("parameters", []).extend(
            p for p in header_parameters() if (p["name"], p["in"]) not in declared
        )
