"""How ``ccl admin`` names and shows what the operator acts on: registration statuses by the
names the documentation uses, dates instead of epoch seconds, and plain aligned tables."""

from __future__ import annotations

from typing import Any

from ledger_api.errors import InputError
from ledger_api.operator.listings import iso_date

# The stored status, by every name an operator may use for it (the README says "signed").
REGISTRATION_STATUSES = {
    "awaiting_signature": "awaiting_signature",
    "unsigned": "awaiting_signature",
    "awaiting": "awaiting_signature",
    "pending_approval": "pending_approval",
    "signed": "pending_approval",
    "pending": "pending_approval",
    "bound": "bound",
    "approved": "bound",
}


def registration_status(name: str) -> str:
    """The stored status ``name`` means; InputError listing the names otherwise."""
    stored = REGISTRATION_STATUSES.get(name.strip().lower())
    if stored is None:
        known = "unsigned, signed, bound (or awaiting_signature, pending_approval)"
        raise InputError(f"unknown registration status {name!r}; known: {known}")
    return stored


def registration_rows(registrations: list[Any]) -> list[dict[str, Any]]:
    """Registrations as the operator reads them before a real-name check and approval."""
    rows = []
    for r in registrations:
        data = r.model_dump() if hasattr(r, "model_dump") else dict(r)
        rows.append(
            {
                "id": data["id"],
                "status": data["status"],
                "account": data["account"],
                "uscc": data["uscc_masked"],
                "subject_id": data["subject_id"],
                "requested": iso_date(data.get("requested_at")),
                "approve_before": iso_date(data["deadline"]),
                "tx_hash": data.get("tx_hash"),
            }
        )
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def render_table(rows: list[dict[str, Any]]) -> str:
    """Left-aligned columns under a header (the union of the rows' keys, in order)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in cells
    ]
    return "\n".join(lines)
