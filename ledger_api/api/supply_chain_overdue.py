"""Overdue is a matter of time, not of an act: a confirmed receivable past its due date with
value outstanding is overdue the moment the due date passes, whether or not anyone acted on it.

The stored ``supply_chain`` record keeps the status its last act wrote (``confirmed``,
``financed``, ``paid``); every read shows it as of now. "Now" is the later of the platform's
clock and the chain's head block time, the same moment the gate checks grants at, so a chain
whose clock runs ahead (a test chain moved forward) is believed.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ledger_api.api.supply_chain_acts import due_timestamp

CATEGORY = "supply_chain"
# The statuses whose value is still owed (``paid`` is not; ``overdue`` already is).
_OWED = frozenset({"confirmed", "financed"})


def chain_now(ctx: Any) -> int:
    """The later of the platform's clock and the head block's time (UTC seconds)."""
    return max(int(ctx.state().position().block_timestamp), int(ctx.clock()))


def record_as_of(fields: dict[str, Any], now: int) -> dict[str, Any]:
    """A ``supply_chain`` record's fields with its status as of ``now``: ``overdue`` once the
    end of its due day (China time, as the contract's due date) has passed and it is unpaid."""
    if fields.get("status") not in _OWED:
        return fields
    try:
        due = date.fromisoformat(str(fields.get("due_date")))
    except ValueError:
        return fields  # not a date the catalog admits: shown as stored
    if now <= due_timestamp(due):
        return fields
    return {**fields, "status": "overdue"}
