"""``BodyGuardMiddleware``: no request body reaches a route before it is known to be harmless.

Pure ASGI, in front of every route. A request that announces no body (no Content-Length nor
Transfer-Encoding: a GET) passes untouched, at the cost of one look at its headers. A body is

1. refused 413 if its Content-Length is over the limit, before a byte of it is read;
2. refused 401 if the request lacks the X-CCL-* signing headers (every route that takes a
   body is signed), before it is read (a chunked body, whose size is not announced, is
   counted without being kept, so that an oversized one is 413 signed or not);
3. read, counting, and refused 413 as soon as it passes the limit (chunked bodies announce no
   size): never more than the limit is held. A 413 whose request carries well-formed, fresh
   signing headers is recorded for the regulator although its signature, which covers the
   body, cannot be checked: claimed address, role ``unverified``, nonce not spent
   (``ledger_api.api.refusals.log_unverified_refusal``);
4. refused 400 if it nests deeper than ``max_depth`` (``ledger_api.json_depth``): the JSON parser
   recurses per level, and py-evm / py_ecc raise Python's recursion limit, so a deep enough
   body overflows the C stack and kills the process. The refusal is audited when the request
   is signed correctly (its nonce spent; ``ledger_api.api.refusals.log_body_refusal``): the
   signature covers the body's hash, which is checked on the raw bytes, never parsed;
5. handed to the app as one message.

Refusals are problem+json. The server (uvicorn) drops the unread rest of a refused body and
closes the connection after the answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ledger_api.api.problems import problem_response
from ledger_api.api.refusals import log_body_refusal, log_unverified_refusal
from ledger_api.api.signing import (
    HEADER_ADDRESS,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
)
from ledger_api.json_depth import MAX_JSON_DEPTH, nesting_exceeds

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_SIGNING_HEADERS = frozenset(
    name.lower().encode()
    for name in (HEADER_ADDRESS, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)
)


TOO_LARGE = "payload_too_large"


class _Refusal(Exception):
    def __init__(
        self, status: int, code: str, title: str, detail: str, body: bytes | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.title, self.detail = status, code, title, detail
        self.body = body  # the whole body, when it was read: its signature can be checked


class _Disconnected(Exception):
    """The client went away while sending its body: there is nobody to answer."""


class BodyGuardMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length: bytes | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = True
        if not chunked and (length is None or length == b"0"):
            await self.app(scope, receive, send)  # no body: nothing to guard
            return
        try:
            body = await self._checked_body(scope, receive, length)
        except _Refusal as refusal:
            await self._refuse(scope, receive, send, refusal)
            return
        except _Disconnected:
            return
        await self.app(scope, _replay(body, receive), send)

    async def _checked_body(self, scope: Scope, receive: Receive, length: bytes | None) -> bytes:
        if length is not None and _over(length, self.max_bytes):
            raise self._too_large()
        if not _signed(scope):
            if length is None:  # chunked: an oversized body is 413 whoever sends it
                await self._discard(receive)
            raise _Refusal(
                401,
                "missing_signature",
                "Authentication failed",
                "the request is not signed: X-CCL-Address, X-CCL-Timestamp, X-CCL-Nonce and "
                "X-CCL-Signature are required",
            )
        body = await self._read(receive)
        if nesting_exceeds(body, self.max_depth):
            raise _Refusal(
                400,
                "nesting_too_deep",
                "Bad request",
                f"the body nests deeper than {self.max_depth} levels",
                body,
            )
        return body

    async def _read(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _discard(self, receive: Receive) -> None:
        """Count an unsigned chunked body without keeping it: 413 once it passes the limit."""
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                raise self._too_large()
            if not message.get("more_body", False):
                return

    def _too_large(self) -> _Refusal:
        return _Refusal(
            413,
            TOO_LARGE,
            "Payload too large",
            f"request bodies are limited to {self.max_bytes} bytes",
        )

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, refusal: _Refusal) -> None:
        path = scope.get("path", "")
        if refusal.code == TOO_LARGE and _signed(scope):
            await log_unverified_refusal(scope, TOO_LARGE)
        elif refusal.body is not None and not await log_body_refusal(
            scope, refusal.body, refusal.code
        ):
            refusal = _Refusal(
                401,
                "nonce_replayed",
                "Authentication failed",
                "this request nonce was already used",
            )
        response = problem_response(
            refusal.status, refusal.code, refusal.title, refusal.detail, path
        )
        await response(scope, receive, send)


def _signed(scope: Scope) -> bool:
    """All four signing headers are present (not yet whether they are well-formed)."""
    present = {name for name, value in scope["headers"] if name in _SIGNING_HEADERS and value}
    return len(present) == len(_SIGNING_HEADERS)


def _over(length: bytes, limit: int) -> bool:
    try:
        return int(length) > limit
    except ValueError:  # the server's HTTP parser refuses a malformed Content-Length first
        return False


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the app: the body read already, then the connection's own messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
