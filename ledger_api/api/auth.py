"""Signed-request authentication and role resolution from chain state.

Every request is signed (``ledger_api.api.signing``); the role comes from the chain: a
registered institution, an operator/provider/regulator role, or a bound subject. The only
role-less requests allowed are a not-yet-registered key creating and signing its own
registration (``SignerDep``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import Depends, Request
from web3 import Web3

from ledger_api.api.context import AppContext
from ledger_api.api.problems import RateLimitedError, RepeatedParameterError
from ledger_api.api.refusals import mark_role, mark_signed
from ledger_api.api.signing import (
    HEADER_ADDRESS,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    canonical_query_string,
    canonical_request,
    recover_address_bytes,
)
from ledger_api.chain.state import ChainState, InstitutionProfile, SubjectBinding
from ledger_api.errors import AuthError, ForbiddenError

_NONCE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


async def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[AppContext, Depends(get_context)]


@lru_cache(maxsize=65536)
def _checksum(raw: str) -> str | None:
    try:
        return str(Web3.to_checksum_address(raw))
    except ValueError:
        return None


def claimed_address(request: Request) -> str | None:
    """The address a request claims to come from (for logging refusals), if well-formed."""
    raw = request.headers.get(HEADER_ADDRESS)
    if raw is None or len(raw) > 64:
        return None
    return _checksum(raw)


_URL_ESCAPED = ("?", "#", "\\")


@dataclass(frozen=True)
class ParsedQuery:
    """A raw query string as the signature covers it and as the handlers read it."""

    canonical: str | None  # None: not UTF-8, so no signature can cover it
    params: Mapping[str, str]  # Starlette's reading: latin-1, the last of repeated keys
    repeated: str | None = None  # the first name given more than once (refused: see below)

    def single_valued(self) -> Mapping[str, str]:
        """The parameters, or 400 ``repeated_parameter`` if a name is given more than once.

        The signed form sorts repeated parameters while the handlers read only one of them, so
        ``category=a&category=b`` re-ordered after signing would still verify and serve the
        other; no operation takes a multi-valued parameter, so every repetition is refused.
        """
        if self.repeated is not None:
            name = self.repeated.encode("latin-1").decode("utf-8", "replace")[:64]
            raise RepeatedParameterError(
                f"query parameter {name!r} is given more than once; each parameter takes one value"
            )
        return self.params


@lru_cache(maxsize=4096)
def parse_query(raw: bytes) -> ParsedQuery:
    """Parse once per distinct query string: clients repeat their queries, and the parsing
    (twice per request, for the signature and for the parameters) was a measurable share of
    a gated read."""
    try:
        canonical: str | None = canonical_query_string(raw.decode())
    except UnicodeDecodeError:
        canonical = None
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    params = dict(pairs)
    return ParsedQuery(canonical, MappingProxyType(params), _first_repeated(pairs, len(params)))


def _first_repeated(pairs: list[tuple[str, str]], distinct: int) -> str | None:
    if len(pairs) == distinct:
        return None
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            return name
        seen.add(name)
    return None  # unreachable: fewer distinct names than pairs


def request_query(request: Request) -> ParsedQuery:
    return parse_query(request.scope.get("query_string", b""))


def _signed_path(request: Request) -> str:
    """``request.url.path`` without building the URL (the path is what the client signed)."""
    path: str = request.scope["path"]
    if any(char in path for char in _URL_ESCAPED):  # the URL escapes these: same answer
        return request.url.path
    return path


async def _body(request: Request) -> bytes:
    """The request body; an HTTP/1.x request that announces none (no Content-Length nor
    Transfer-Encoding: then it has no body) is not read from the server."""
    headers = request.headers
    if (
        request.scope.get("http_version") in ("1.0", "1.1")
        and "content-length" not in headers
        and "transfer-encoding" not in headers
    ):
        return b""
    return await request.body()


async def authenticate(request: Request, ctx: AppContext) -> tuple[str, str]:
    """``(checksum address, nonce)`` of a correctly signed, fresh request.

    The nonce is NOT reserved here: the caller reserves it (``verify_signature`` at once; the
    gate in the same transaction as the request's access-log entry, before any data leaves).
    """
    address, timestamp, nonce, signature = _signing_headers(request, ctx)
    body = await _body(request)
    query = request_query(request).canonical
    try:
        if query is None:
            raise ValueError("the query string is not UTF-8")
        canonical = canonical_request(
            request.method, _signed_path(request), query, body, timestamp, nonce
        )
        signer = recover_address_bytes(canonical, signature)
    except Exception:
        raise AuthError("X-CCL-Signature is not a valid signature", code="bad_signature") from None
    if signer != bytes.fromhex(address[2:]):
        raise AuthError(
            "the signature does not match the request and X-CCL-Address", code="bad_signature"
        )
    return address, nonce


def claimed_headers(request: Request, ctx: AppContext) -> str | None:
    """The checksum address of a request whose four signing headers are present, well-formed
    and fresh (everything authentication checks short of the signature), or None."""
    try:
        return _signing_headers(request, ctx)[0]
    except AuthError:
        return None


def _signing_headers(request: Request, ctx: AppContext) -> tuple[str, int, str, str]:
    """``(address, timestamp, nonce, signature)``: the headers checked, the signature not."""
    headers = request.headers
    raw_address = headers.get(HEADER_ADDRESS)
    raw_timestamp = headers.get(HEADER_TIMESTAMP)
    nonce = headers.get(HEADER_NONCE)
    signature = headers.get(HEADER_SIGNATURE)
    if not (raw_address and raw_timestamp and nonce and signature):
        raise AuthError(
            "the request is not signed: X-CCL-Address, X-CCL-Timestamp, X-CCL-Nonce and "
            "X-CCL-Signature are required",
            code="missing_signature",
        )
    address = claimed_address(request)
    if address is None:
        raise AuthError("X-CCL-Address is not an address", code="bad_address")
    try:
        # Bounded: a timestamp of hundreds of digits would overflow the float comparison below.
        if len(raw_timestamp) > 20:
            raise ValueError("too long")
        timestamp = int(raw_timestamp)
    except ValueError:
        raise AuthError("X-CCL-Timestamp must be UTC seconds", code="bad_timestamp") from None
    skew = ctx.settings.clock_skew_s
    if abs(ctx.clock() - timestamp) > skew:
        raise AuthError(
            f"the request timestamp is more than {skew} s from the server's clock",
            code="stale_timestamp",
        )
    if not _NONCE.match(nonce):
        raise AuthError("X-CCL-Nonce must be 8..64 characters [A-Za-z0-9_-]", code="bad_nonce")
    return address, timestamp, nonce, signature


def check_rate(ctx: AppContext, address: str) -> None:
    if not ctx.rate_limiter.allow(address):
        raise RateLimitedError(f"rate limit of {ctx.settings.rate_limit_per_minute}/min exceeded")


async def verify_signature(request: Request, ctx: AppContext) -> str:
    """The checksum address that signed this request; its nonce is now spent."""
    address, nonce = await authenticate(request, ctx)
    if not await ctx.writer.reserve_nonce_async(address, nonce):
        raise AuthError("this request nonce was already used", code="nonce_replayed")
    mark_signed(request, ctx.writer, address)  # from here on every refusal is audited
    check_rate(ctx, address)
    request_query(request).single_valued()
    return address


@dataclass(frozen=True)
class Actor:
    address: str
    role: str  # the role this request acts in
    institution: InstitutionProfile | None = None
    subject: SubjectBinding | None = None


async def signature_dependency(request: Request, ctx: ContextDep) -> str:
    """The signer of a correctly signed request (the OpenAPI document marks every operation
    depending on it as signed: ``ledger_api.api.openapi_signing``)."""
    return await verify_signature(request, ctx)


SignerDep = Annotated[str, Depends(signature_dependency)]


def resolve_role(
    ctx: AppContext, address: str, role: str, state: ChainState | None = None
) -> Actor:
    """``address`` acting as ``role`` (in ``state``, by default the app's), or ForbiddenError
    ``role_required``."""
    if state is None:
        state = ctx.state()
    if role == "institution":
        profile = state.institution(address)
        if profile is not None:
            return Actor(address, role, institution=profile)
    elif role == "subject":
        binding = state.subject_by_account(address)
        if binding is not None:
            return Actor(address, role, subject=binding)
    elif role in state.roles_of(address):
        return Actor(address, role)
    raise ForbiddenError(f"this endpoint needs the {role} role", code="role_required")


def require_role(role: str) -> object:
    async def dependency(request: Request, ctx: ContextDep, address: SignerDep) -> Actor:
        actor = resolve_role(ctx, address, role)
        mark_role(request, role)
        return actor

    dependency.__name__ = f"require_{role}"
    return Depends(dependency)


InstitutionDep = Annotated[Actor, require_role("institution")]
SubjectDep = Annotated[Actor, require_role("subject")]
OperatorDep = Annotated[Actor, require_role("operator")]
ProviderDep = Annotated[Actor, require_role("provider")]
RegulatorDep = Annotated[Actor, require_role("regulator")]
