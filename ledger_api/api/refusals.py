"""Every refusal after authentication leaves one access-log entry and spends its nonce.

Where a request stands is kept in its ASGI scope under ``AUDIT_STATE``:

- absent: not authenticated (unsigned, badly signed, stale): not attributable, not logged;
- a ``SignedRequest``: the signature verified and the nonce is spent (``verify_signature``); a
  refusal is logged as its operation (method and route template) by this signer, in the role
  it resolved (``signer`` until it resolves one);
- the gate's ``Access``: a data request the gate allowed, its nonce still waiting for the entry
  ``respond()`` writes; a refusal before that is written through the access, nonce and all,
  so the refused request cannot be replayed either;
- ``LOGGED``: the request's entry is written (the gate's own refusals).

The problem handlers (``ledger_api.api.problems``) call ``log_refusal`` for every error
response, so no route logs its own refusals, and a gated read that succeeds pays one dict
write here. The body guard refuses some bodies before any route runs; ``log_body_refusal``
audits those (the signature covers the body's hash, checked on the raw bytes, unparsed).

An oversized body is refused before it is read (or as soon as it passes the limit), so its
signature, which covers the body's hash, can never be checked. ``log_unverified_refusal``
still records such a request when it carries well-formed, fresh signing headers, so that the
regulator sees oversized attempts: its claimed address as the actor, in the role
``unverified`` (anyone can claim any address), and its nonce is NOT spent (an unverified
request could otherwise burn another signer's nonce). These entries are bounded by one
token bucket for all of them together, so forged headers cannot flood the log.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.requests import Request
from starlette.routing import compile_path
from starlette.types import Message, Receive, Scope

from ledger_api.accesslog import DENIED, NONCE_REPLAYED, AccessLogWriter, EntryDraft
from ledger_api.errors import LedgerError

log = logging.getLogger(__name__)

AUDIT_STATE = "ccl.audit"
LOGGED = "logged"
SIGNER_ROLE = "signer"  # authenticated, no role resolved (yet)
UNVERIFIED_ROLE = "unverified"  # the signature could not be checked: the address is a claim
_UNVERIFIED_BUCKET = "unverified-refusals"  # one rate-limiter key shared by all such entries
_ACTION_LENGTH = 96  # access_log.action


class Refusable(Protocol):
    async def log_refusal(self, code: str) -> bool:
        """Write the request's denied entry; False when its nonce turned out already spent."""


@dataclass
class SignedRequest:
    """A request whose signature verified and whose nonce ``verify_signature`` spent."""

    writer: AccessLogWriter
    address: str
    operation: str
    role: str = SIGNER_ROLE

    async def log_refusal(self, code: str) -> bool:
        await self.writer.append_async(
            EntryDraft(
                actor=self.address,
                actor_role=self.role,
                action=self.operation,
                decision=DENIED,
                reason=code,
            )
        )
        return True


@dataclass
class LateSignedRequest(SignedRequest):
    """Authenticated only once its body had been refused (FastAPI parses JSON before any
    dependency runs): its nonce is spent with its entry."""

    nonce: str = ""

    async def log_refusal(self, code: str) -> bool:
        result = await self.writer.append_async(
            EntryDraft(
                actor=self.address,
                actor_role=self.role,
                action=self.operation,
                decision=DENIED,
                reason=code,
                nonce=(self.address, self.nonce),
            )
        )
        return result.reason != NONCE_REPLAYED


def operation_of(request: Request) -> str:
    """``METHOD /route/{template}`` (the matched route's template, not the concrete path, so
    refusals of one operation group together and no caller-chosen text reaches the log)."""
    route = request.scope.get("route")
    template = getattr(route, "path", None) or "?"
    return f"{request.method} {template}"[:_ACTION_LENGTH]


def mark_signed(request: Request, writer: AccessLogWriter, address: str) -> None:
    request.scope[AUDIT_STATE] = SignedRequest(writer, address, operation_of(request))


def mark_role(request: Request, role: str) -> None:
    state = request.scope.get(AUDIT_STATE)
    if isinstance(state, SignedRequest):
        state.role = role


def mark_pending(request: Request, access: Refusable) -> None:
    """The gate allowed ``access``; its entry (and nonce) is still to be written."""
    request.scope[AUDIT_STATE] = access


def mark_logged(request: Request) -> None:
    request.scope[AUDIT_STATE] = LOGGED


async def log_refusal(request: Request, code: str, *, parsed_late: bool = False) -> bool:
    """Log the refusal of ``request`` with ``code`` if it is authenticated and not logged yet.

    ``parsed_late``: the refusal came before any dependency ran (a body FastAPI could not
    parse); the request is authenticated here, on the error path only. Returns False when
    the request's nonce was already spent: the caller answers ``nonce_replayed`` instead.
    """
    state: Any = request.scope.get(AUDIT_STATE)
    if state is None and parsed_late:
        state = await _authenticate_late(request)
    if state is None or state == LOGGED:
        return True
    request.scope[AUDIT_STATE] = LOGGED
    try:
        fresh: bool = await state.log_refusal(code)
    except Exception:  # the refusal still goes out; the failure is in the server's log
        log.exception("logging a refusal (%s) failed", code)
        return True
    return fresh


async def _authenticate_late(request: Request) -> LateSignedRequest | None:
    if "route" not in request.scope:  # no operation matched: nothing to attribute it to
        return None
    # Imported here: auth imports the problem handlers, which import this module.
    from ledger_api.api.auth import authenticate

    ctx = request.app.state.ctx
    try:
        address, nonce = await authenticate(request, ctx)
    except LedgerError:  # not authenticated after all: not attributable
        return None
    except Exception:  # e.g. a body that could not be read: never a 500 on this path
        log.warning("authenticating a refused request failed", exc_info=True)
        return None
    return LateSignedRequest(ctx.writer, address, operation_of(request), nonce=nonce)


async def log_body_refusal(scope: Scope, body: bytes, code: str) -> bool:
    """Audit a body refused before routing (e.g. nested too deep) if its signature verifies:
    one denied entry under the operation the path names, its nonce spent. False when the
    nonce was already spent (the caller answers ``nonce_replayed``); True otherwise, also
    when the request is not attributable (no operation matches, or it is not signed)."""
    app = scope.get("app")
    template = None if app is None else _template_of(app, scope["method"], scope["path"])
    if template is None:
        return True
    request = Request({**scope, "route": _Template(template)}, _body_once(body))
    signed = await _authenticate_late(request)
    if signed is None:
        return True
    try:
        return await signed.log_refusal(code)
    except Exception:  # the refusal still goes out; the failure is in the server's log
        log.exception("logging a refusal (%s) failed", code)
        return True


async def log_unverified_refusal(scope: Scope, code: str) -> bool:
    """Record a refusal whose signature cannot be checked (the body was never read): one
    denied entry, actor the claimed address in role ``unverified``, nonce not spent. True
    when an entry was written; nothing is written for a request whose path names no
    operation, whose signing headers are malformed or stale, or beyond the shared rate."""
    app = scope.get("app")
    if app is None:
        return False
    template = _template_of(app, scope["method"], scope["path"])
    if template is None:
        return False
    # Imported here: auth imports the problem handlers, which import this module.
    from ledger_api.api.auth import claimed_headers

    ctx = app.state.ctx
    request = Request({**scope, "route": _Template(template)})
    address = claimed_headers(request, ctx)
    if address is None or not ctx.rate_limiter.allow(_UNVERIFIED_BUCKET):
        return False
    try:
        await ctx.writer.append_async(
            EntryDraft(
                actor=address,
                actor_role=UNVERIFIED_ROLE,
                action=operation_of(request),
                decision=DENIED,
                reason=code,
            )
        )
    except Exception:  # the refusal still goes out; the failure is in the server's log
        log.exception("logging an unverified refusal (%s) failed", code)
        return False
    return True


@dataclass(frozen=True)
class _Template:
    """Stands in for the route a request would have reached (``operation_of`` reads it)."""

    path: str


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options"})


def _template_of(app: Any, method: str, path: str) -> str | None:
    """The route template ``method path`` reaches, from the app's published operations
    (matched as the router matches them), or None."""
    templates: list[tuple[re.Pattern[str], str, frozenset[str]]] | None = getattr(
        app.state, "ccl_route_templates", None
    )
    if templates is None:
        templates = [
            (compile_path(template)[0], template, frozenset(operations) & _HTTP_METHODS)
            for template, operations in app.openapi().get("paths", {}).items()
        ]
        app.state.ccl_route_templates = templates
    for regex, template, methods in templates:
        if method.lower() in methods and regex.match(path):
            return template
    return None


def _body_once(body: bytes) -> Receive:
    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
