"""The dashboard's filters (period, institution, category, purpose), parsed from the query.

Dates follow the audit views' rules (``indexer.audit_filters``): a date alone is a UTC day,
``until`` includes its whole day. A bad filter raises ``FilterError`` naming it; the page
shows that one line instead of data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection

from indexer.audit_filters import FilterError, parse_time, resolve_institution
from ledger_api.catalog.loader import default_catalog
from ledger_api.chain.types import Purpose
from ledger_api.errors import NotFoundError

FILTER_KEYS = ("since", "until", "institution", "category", "purpose")


@dataclass(frozen=True)
class Filters:
    raw: dict[str, str]  # as given (non-empty ones), to fill the form and build links
    since: datetime | None = None
    until: datetime | None = None
    institution: str | None = None  # checksum address
    category: int | None = None  # catalog bit
    purpose: int | None = None  # Purpose value

    def view_filters(self) -> dict[str, Any]:
        """The keyword filters the audit views take (they have no category/purpose)."""
        given = {"institution": self.institution, "since": self.since, "until": self.until}
        return {k: v for k, v in given.items() if v is not None}

    def query(self, **extra: str) -> str:
        return urlencode({**self.raw, **extra})


def parse_filters(conn: Connection, params: Mapping[str, str]) -> Filters:
    raw = {k: params[k].strip() for k in FILTER_KEYS if params.get(k, "").strip()}
    since = parse_time(raw["since"], "since") if "since" in raw else None
    until = parse_time(raw["until"], "until") if "until" in raw else None
    if since is not None and until is not None and since > until:
        raise FilterError("until", "must not be earlier than since")
    institution = resolve_institution(conn, raw["institution"]) if "institution" in raw else None
    category = None
    if "category" in raw:
        try:
            key: str | int = int(raw["category"]) if raw["category"].isdigit() else raw["category"]
            category = default_catalog().category(key).bit
        except NotFoundError:
            raise FilterError("category", f"unknown category {raw['category']!r}") from None
    purpose = None
    if "purpose" in raw:
        try:
            purpose = int(Purpose[raw["purpose"].upper()])
        except KeyError:
            raise FilterError("purpose", f"unknown purpose {raw['purpose']!r}") from None
    return Filters(raw, since, until, institution, category, purpose)
