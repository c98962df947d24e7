"""Month arithmetic shared by the predicates and the scorecard."""

from __future__ import annotations

from datetime import date


def months_ago(today: date, months: int) -> date:
    """The first day of the month ``months`` before ``today``'s month."""
    total = today.year * 12 + (today.month - 1) - months
    return date(total // 12, total % 12 + 1, 1)


def month_key(value: str) -> str:
    """'YYYY-MM' of a 'YYYY-MM' or 'YYYY-MM-DD' string."""
    return value[:7]


def within_months(value: str | None, today: date, months: int) -> bool:
    """True when the month of ``value`` is within the last ``months`` months (incl. this one)."""
    if not value:
        return False
    return month_key(value) >= months_ago(today, months - 1).isoformat()[:7]
