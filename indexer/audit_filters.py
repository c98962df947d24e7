"""The audit views' filters, checked once for every caller (API, CLI, Python).

A bad filter is a ``FilterError`` naming the filter, never a database error: the views used to
hand a non-address or a naive datetime straight to the database layer, which failed with a
500 (API) or a traceback (CLI).

Time filters:

- a date-only value (``2026-12-07``) is a UTC day: as ``since`` it starts at that day's
  00:00 UTC; as ``until`` it covers that whole day (the window ends at the next day's 00:00
  UTC, exclusive), so ``since=2026-12-07&until=2026-12-07`` is that one day;
- a date and time must carry its zone (``Z`` or ``+08:00``): a naive time is refused rather
  than guessed (a regulator in UTC+8 and a server in UTC would read it 8 hours apart); a
  space before a trailing ``08:00`` is read as ``+`` (an unencoded ``+`` in a URL query);
- the window is half-open, ``since <= at < until``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, select

from indexer.tables import INSTITUTIONS
from ledger_api.errors import InputError

__all__ = ["FilterError", "check_filters", "parse_time", "subject_of_uscc"]

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
# "...T09:00:00 08:00": an offset's "+" left unencoded in a URL query decodes to a space.
_SPACED_OFFSET = re.compile(r"^(.+[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:?\d\d)$")
_MAX_TIME_TEXT = 64
# Paging beyond a signed 64-bit integer cannot be bound on any backend.
_MAX_PAGE_VALUE = 2**62
_BUCKETS = ("day", "month")
_GROUP_BYS = ("month", "region", "industry", "institution")  # the KPIs' dimensions


class FilterError(InputError):
    """One audit filter is malformed; ``field`` names it (``since``, ``institution``, ...)."""

    code = "invalid_filter"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", field=field)
        self.field = field
        self.problem = problem


def parse_time(raw: str, field: str) -> datetime:
    """A ``since``/``until`` text as a UTC datetime (see the module docstring)."""
    text = raw.strip()
    if not text or len(text) > _MAX_TIME_TEXT:
        raise FilterError(field, "give an ISO 8601 date (2026-12-07) or date and time with zone")
    text = _SPACED_OFFSET.sub(r"\1+\2", text)
    try:
        if "T" not in text.upper() and " " not in text:
            day = date.fromisoformat(text)
            if field == "until":
                day += timedelta(days=1)  # the whole day, up to the next day's 00:00
            return datetime.combine(day, time(0), UTC)
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise FilterError(field, f"not an ISO 8601 date or date and time: {raw!r}") from None
    return check_time(parsed, field)


def check_time(value: datetime, field: str) -> datetime:
    """``value`` in UTC; a naive datetime is refused (its zone would be a guess)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise FilterError(
            field, "give a time zone, e.g. 2026-12-07T09:00:00+08:00 or 2026-12-07T01:00:00Z"
        )
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise FilterError(field, "out of range") from None


def subject_of_uscc(raw: str, pseudonym_key: bytes, field: str = "uscc") -> bytes:
    """The pseudonymous subject id of an enterprise given by its USCC (any letter case)."""
    from ledger_api.identity.uscc import subject_id, uscc_problem

    code = raw.strip().upper()
    problem = uscc_problem(code)
    if problem is not None:
        raise FilterError(field, f"not a USCC: {problem}")
    return subject_id(code, pseudonym_key)


def resolve_institution(conn: Connection, raw: str) -> str:
    """The checksum address of an institution given by address or by its registered name."""
    from indexer.replica import checksum_address

    text = raw.strip()
    if _ADDRESS.match(text):
        return checksum_address(text)
    if text.lower().startswith("0x"):
        raise FilterError("institution", f"not a 20-byte 0x address: {raw!r}")
    if not text or not text.isprintable():  # PostgreSQL text cannot even hold a NUL
        raise FilterError("institution", "give an address or a registered name")
    table = INSTITUTIONS.c
    addresses = sorted(
        conn.execute(select(table.address).where(table.name == text).distinct()).scalars()
    )
    if not addresses:
        raise FilterError(
            "institution", f"neither an address nor the registered name of an institution: {raw!r}"
        )
    if len(addresses) > 1:
        raise FilterError(
            "institution", f"{raw!r} names {len(addresses)} institutions; give the address"
        )
    return str(addresses[0])


def check_filters(conn: Connection, filters: dict[str, Any]) -> dict[str, Any]:
    """``filters`` with each one checked and normalised; a bad one raises ``FilterError``."""
    out = dict(filters)
    if out.get("institution") is not None:
        out["institution"] = resolve_institution(conn, str(out["institution"]))
    subject_id = out.get("subject_id")
    if subject_id is not None and (not isinstance(subject_id, bytes) or len(subject_id) != 32):
        raise FilterError("subject_id", "must be 32 bytes (0x + 64 hex digits)")
    for field in ("since", "until"):
        value = out.get(field)
        if value is not None:
            if not isinstance(value, datetime):
                raise FilterError(field, "must be a datetime")
            out[field] = check_time(value, field)
    since, until = out.get("since"), out.get("until")
    if since is not None and until is not None and since > until:
        raise FilterError("until", "must not be earlier than since")
    for field, least in (("limit", 1), ("offset", 0), ("after_id", 0)):
        value = out.get(field)
        if value is not None and not (isinstance(value, int) and least <= value < _MAX_PAGE_VALUE):
            raise FilterError(field, f"must be an integer from {least} to {_MAX_PAGE_VALUE - 1}")
    if out.get("bucket") is not None and out["bucket"] not in _BUCKETS:
        raise FilterError("bucket", "must be 'day' or 'month'")
    if out.get("group_by") is not None and out["group_by"] not in _GROUP_BYS:
        raise FilterError("group_by", "must be one of " + ", ".join(_GROUP_BYS))
    return out
