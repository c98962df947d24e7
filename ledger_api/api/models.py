"""The API's tables, kept in ``ledger_api.store.subject_tables`` (the anchor journal and the
access log use them without importing the API layer)."""

from __future__ import annotations

from ledger_api.store.subject_tables import (
    REGISTRATIONS,
    REQUEST_NONCES,
    STATEMENTS,
    RequestNonce,
    SubjectRegistration,
    SubjectStatement,
)

__all__ = [
    "REGISTRATIONS",
    "REQUEST_NONCES",
    "STATEMENTS",
    "RequestNonce",
    "SubjectRegistration",
    "SubjectStatement",
]
