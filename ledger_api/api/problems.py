"""RFC 9457 problem+json: the one mapping from errors to HTTP responses.

Every ``LedgerError`` becomes ``{type, title, status, detail, code, instance}`` with its stable
``code``; FastAPI's validation errors, unknown routes and methods get codes too; anything else
is a 500 ``internal_error`` whose detail never echoes the exception (it may hold secrets).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger_api.api.refusals import log_refusal
from ledger_api.errors import InputError, LedgerError

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://ccl.example/problems/"

_HTTP_CODES = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Authentication failed"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    406: ("not_acceptable", "Not acceptable"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    429: ("rate_limited", "Too many requests"),
}


class PayloadTooLargeError(InputError):
    code = "payload_too_large"
    status = 413
    title = "Payload too large"


class RepeatedParameterError(InputError):
    """A query parameter given more than once: no operation takes a multi-valued one, and the
    signed form (sorted) and the handlers (one value) would read the repetition differently."""

    code = "repeated_parameter"
    status = 400
    title = "Repeated parameter"


class RateLimitedError(LedgerError):
    code = "rate_limited"
    status = 429
    title = "Too many requests"


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str
    errors: list[dict[str, Any]] | None = None


def _problem_doc(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "model": Problem,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: _problem_doc("Malformed request: a body nested too deeply, a repeated parameter"),
    401: _problem_doc("Unsigned, badly signed, stale or replayed request"),
    403: _problem_doc("The signer's role or grant does not allow this"),
    404: _problem_doc("Unknown resource"),
    409: _problem_doc("Conflict, or refused by the ledger contract"),
    413: _problem_doc("Request body too large"),
    422: _problem_doc("Invalid input"),
    429: _problem_doc("Rate limit exceeded"),
    502: _problem_doc("The chain could not be reached"),
    503: _problem_doc("Chain-state replica lagging"),
}


def problem_response(
    status: int,
    code: str,
    title: str,
    detail: str,
    instance: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": instance,
    }
    if errors is not None:
        body["errors"] = errors
    return Response(
        json.dumps(body, ensure_ascii=False, default=str).encode(),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


async def _replayed_instead(
    request: Request, code: str, *, parsed_late: bool = False
) -> Response | None:
    """Audit the refusal of an authenticated request (``ledger_api.api.refusals``); the
    ``nonce_replayed`` answer instead when writing it showed the nonce was already spent."""
    if await log_refusal(request, code, parsed_late=parsed_late):
        return None
    return problem_response(
        401,
        "nonce_replayed",
        "Authentication failed",
        "this request nonce was already used",
        request.url.path,
    )


async def _ledger_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LedgerError)
    if exc.status >= 500:
        log.warning("request failed: %s (%s)", exc.code, type(exc).__name__)
    if replayed := await _replayed_instead(request, exc.code):
        return replayed
    return problem_response(exc.status, exc.code, exc.title, exc.detail, request.url.path)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    if replayed := await _replayed_instead(request, "validation_error", parsed_late=True):
        return replayed
    return problem_response(
        422,
        "validation_error",
        "Invalid input",
        f"{where}: {first['msg']}",
        request.url.path,
        errors=errors,
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "HTTP error"))
    detail = exc.detail if isinstance(exc.detail, str) else title
    if replayed := await _replayed_instead(request, code, parsed_late=True):
        return replayed
    return problem_response(
        exc.status_code,
        code,
        title,
        detail,
        request.url.path,
        headers=dict(exc.headers) if exc.headers else None,
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected %s on %s %s", type(exc).__name__, request.method, request.url.path)
    await log_refusal(request, "internal_error")
    return problem_response(
        500, "internal_error", "Internal error", "the server failed; see its log", request.url.path
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LedgerError, _ledger_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
