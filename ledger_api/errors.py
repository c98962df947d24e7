"""The one exception hierarchy of the product.

Every error a user can cause carries a stable machine-readable ``code`` and an HTTP
``status``; the API maps them once to RFC 9457 problem+json, the CLIs print ``str(error)``
on one line and exit non-zero.
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Base of every error raised on purpose by this product."""

    code: str = "ledger_error"
    status: int = 500
    title: str = "Ledger error"

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra


class InputError(LedgerError):
    """The caller sent something malformed (bad USCC, bad row, bad parameter)."""

    code = "invalid_input"
    status = 422
    title = "Invalid input"


class NotFoundError(LedgerError):
    code = "not_found"
    status = 404
    title = "Not found"


class ConflictError(LedgerError):
    code = "conflict"
    status = 409
    title = "Conflict"


class AuthError(LedgerError):
    """The request is not from whom it claims, or that party may not do this."""

    code = "unauthorized"
    status = 401
    title = "Authentication failed"


class ForbiddenError(AuthError):
    code = "forbidden"
    status = 403
    title = "Forbidden"


class GrantError(ForbiddenError):
    """No usable grant covers the request."""

    code = "grant_not_usable"
    title = "No usable grant"


class ChainError(LedgerError):
    """The chain refused a transaction or could not be reached."""

    code = "chain_error"
    status = 502
    title = "Chain error"


class BadResponseError(LedgerError):
    """A server this product called answered something that is not its API's JSON."""

    code = "bad_response"
    status = 502
    title = "Bad response"


class ReplicaLagError(LedgerError):
    """The indexed replica of chain state is too far behind to decide safely."""

    code = "replica_lagging"
    status = 503
    title = "Replica lagging"


class IntegrityError(LedgerError):
    """Stored data does not match its anchors or its hash chain."""

    code = "integrity_violation"
    status = 500
    title = "Integrity violation"


class CryptoError(LedgerError):
    """A ciphertext failed to decrypt or a key is missing (e.g. crypto-shredded)."""

    code = "crypto_error"
    status = 410
    title = "Data not readable"


class SchemaError(LedgerError):
    """The database's schema is not the one this version of the platform needs."""

    code = "schema_not_current"
    status = 503
    title = "Database schema not current"
