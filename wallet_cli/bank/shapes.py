"""Reading the institution endpoints' answers for people: names first, times in UTC words."""

from __future__ import annotations

from typing import Any

from wallet_cli.terms import iso_time, utc_time


def named(item: Any) -> str:
    """``{"id": 2, "name": "tax"}`` -> ``tax``; a bare value as it is."""
    if isinstance(item, dict):
        return str(item.get("name") or item.get("id"))
    return "-" if item is None else str(item)


def names(items: Any) -> list[str]:
    return [named(i) for i in items or []]


def moment(value: Any) -> str:
    """A time the platform sent (UTC seconds or ISO 8601) in words."""
    if value is None:
        return "-"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return utc_time(int(value))
    return iso_time(str(value))
