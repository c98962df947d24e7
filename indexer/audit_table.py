"""Audit views as terminal tables a person can read (``ccl-indexer audit VIEW``).

Each view shows its essential columns so that the table fits 120 columns; ``--wide`` shows
every field. Cells hold names, not addresses (``indexer.audit_names`` put them on the rows),
times as UTC minutes, lists joined, nested rows flattened: never JSON. JSON and CSV output
keep every id and address beside the names (``flat_rows`` for CSV).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

__all__ = ["ESSENTIAL", "cell", "flat_rows", "print_view"]

Column = tuple[str, Callable[[dict[str, Any]], Any]]
_Titled = tuple[str, list[str], list[list[str]]]  # a table: title, headers, rows of text
_DEFAULT_WIDTH = 120
_WIDE_WIDTH = 1000  # --wide: each row on one line, as wide as it needs (for `less -S`)
_SHORT_HEX = 20
# Short columns kept on one line: when a table is too wide, names and codes wrap instead.
_ONE_LINE = frozenset({
    "#", "at (UTC)", "until (UTC)", "subject", "grant", "decision", "period", "event", "root",
    "block", "leaves", "allowed", "denied", "total",
})  # fmt: skip


def _short(value: Any) -> str:
    """A long 0x value as 0x1234…abcd (full in --wide, JSON and CSV)."""
    text = cell(value)
    if text.startswith("0x") and len(text) > _SHORT_HEX:
        return f"{text[:6]}…{text[-4:]}"
    return text


def _minute(value: Any) -> str:
    """ISO 8601 UTC as "2026-12-07 23:30" (the header says UTC)."""
    text = cell(value)
    return text[:16].replace("T", " ") if len(text) >= 16 and text[10:11] == "T" else text


def _who(address_key: str) -> Callable[[dict[str, Any]], str]:
    return lambda row: row.get("institution_name") or _short(row.get(address_key))


def _enterprise(key: str) -> Callable[[dict[str, Any]], str]:
    """An enterprise by its (masked) USCC, else its shortened address."""
    return lambda row: row.get(f"{key}_uscc") or _short(row.get(key))


def _category(row: dict[str, Any]) -> Any:
    name = row.get("category_name")
    return name if name else row.get("category")


def _categories(row: dict[str, Any]) -> Any:
    names = row.get("category_names")
    return names if names else row.get("categories")


def _purpose(row: dict[str, Any]) -> Any:
    return row.get("purpose_name") or row.get("purpose")


def _field(key: str, show: Callable[[Any], Any] = lambda v: v) -> Callable[[dict[str, Any]], Any]:
    return lambda row: show(row.get(key))


_AT: Column = ("at (UTC)", _field("at", _minute))
# The essential columns of each list view; everything else is in --wide.
ESSENTIAL: dict[str, list[Column]] = {
    "access_audit": [
        ("#", _field("entry_id")), _AT, ("institution", _who("actor")),
        ("subject", _field("subject_id", _short)), ("action", _field("action")),
        ("category", _category), ("purpose", _purpose),
        ("grant", _field("grant_id")), ("decision", _field("decision")),
        ("recheck", _field("recomputed")),
    ],
    "violations": [
        ("#", _field("entry_id")), _AT, ("institution", _who("actor")),
        ("subject", _field("subject_id", _short)), ("action", _field("action")),
        ("category", _category), ("grant", _field("grant_id")),
        ("violation", _field("violation")),
    ],
    "refusals": [
        ("#", _field("entry_id")), _AT, ("who", _who("actor")), ("role", _field("actor_role")),
        ("action", _field("action")), ("category", _category), ("reason", _field("reason")),
    ],
    "volumes": [
        ("period", _field("bucket")), ("institution", _who("institution")),
        ("purpose", _purpose), ("category", _category), ("allowed", _field("allowed")),
        ("denied", _field("denied")), ("verifications", _field("verifications")),
        ("total", _field("total")),
    ],
    "grant_history": [
        ("event", _field("event")), ("grant", _field("grant_id")), _AT,
        ("subject", _field("subject_index")), ("institution", _who("institution")),
        ("categories", _categories), ("purpose", _purpose), ("level", _field("level")),
        ("until (UTC)", _field("not_after", _minute)),
    ],
    "agreements": [
        ("agreement", _field("agreement_id")), ("institution", _who("institution")),
        ("status", _field("status")), _AT, ("categories", _categories),
        ("purposes", lambda r: r.get("purpose_names") or r.get("purposes")),
        ("until (UTC)", _field("not_after", _minute)),
    ],
    "anchors": [
        ("#", _field("sequence")), ("kind", _field("kind")), ("root", _field("root", _short)),
        ("leaves", _field("leaf_count")), ("block", _field("block")), _AT,
        ("status", _field("status")),
    ],
    "supply_chain": [
        ("core enterprise", _enterprise("core_enterprise")),
        ("confirmed", _field("confirmed_count")), ("amount", _field("confirmed_amount")),
        ("outstanding", _field("outstanding_amount")), ("financed", _field("financed_amount")),
        ("overdue", _field("overdue_amount")), ("settled", _field("settled_amount")),
    ],
    "double_financing_refusals": [
        ("#", _field("refusal_id")), _AT, ("enterprise", _field("enterprise", _short)),
        ("part", _field("part_id")), ("asked", _who("institution")),
        ("locked by", lambda r: r.get("locked_by_name") or _short(r.get("locked_by"))),
        ("reason", _field("reason")),
    ],
    "subscriptions": [
        ("#", _field("subscription_id")), ("institution", _who("institution")),
        ("kind", _field("kind")), ("status", _field("status")),
        ("webhook", _field("webhook_host")), ("events", _field("events")),
        ("delivered", _field("delivered_up_to")), ("failures", _field("failures")),
        ("last error", _field("last_error")),
    ],
    "deliveries": [
        ("institution", _who("institution")), ("active", _field("subscriptions_active")),
        ("paused", _field("subscriptions_paused")), ("disabled", _field("subscriptions_disabled")),
        ("events", _field("events")), ("pushed", _field("pushed")),
        ("caught up", _field("read_by_catch_up")), ("refused", _field("refused")),
        ("failing", _field("failing_endpoints")),
    ],
    "regulator_acts": [
        ("act", _field("act")), _AT, ("institution", _who("institution")),
        ("agreement", _field("agreement_id")), ("regulator", _field("regulator", _short)),
        ("roles", _field("regulator_roles")), ("block", _field("block")),
    ],
}  # fmt: skip


def cell(value: Any) -> str:
    """One value as table or CSV text: lists joined, booleans as yes/no, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, dict):  # flat_rows flattens rows first; a stray one stays readable
        return "; ".join(f"{k}={cell(v)}" for k, v in value.items())
    return str(value)


def _flatten(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def flat_rows(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Every field of every row as text columns (nested rows as ``grant_at_block.level``)."""
    flat = [_flatten(row) for row in rows]
    columns = list(dict.fromkeys(k for row in flat for k in row))
    return columns, [[cell(row.get(c)) for c in columns] for row in flat]


def _statistics_tables(stats: dict[str, Any], wide: bool) -> list[_Titled]:
    """The KPIs as three small tables: the counts, records by category, usage by institution
    (``wide``: every field of the last two, addresses too)."""
    counts = [[k, cell(v)] for k, v in stats.items()
              if not isinstance(v, list | dict) and k != "group_by"]  # fmt: skip
    tables: list[_Titled] = [("KPIs", ["kpi", "value"], counts)]
    if "kpis_by_group" in stats and not wide:
        tables += _group_tables(stats)
    if wide:
        for key, value in stats.items():
            if isinstance(value, list):
                tables.append((key.replace("_", " "), *flat_rows(value)))
        return tables
    records = stats.get("records_by_category_provider") or []
    tables.append((
        "records by category and provider", ["category", "provider", "records"],
        [[cell(_category(r)), cell(r.get("provider")), cell(r.get("records"))] for r in records],
    ))  # fmt: skip
    usage = stats.get("usage_by_institution") or []
    tables.append((
        "usage by institution", ["institution", "queries", "verifications", "denied"],
        [[cell(_who("institution")(u)), cell(u.get("queries")), cell(u.get("verifications")),
          cell(u.get("denied"))] for u in usage],
    ))  # fmt: skip
    return tables


# The per-group KPI columns a terminal shows (--wide, JSON and CSV have every figure).
_GROUP_FIGURES = (
    ("loans", "credit_loans"), ("amount", "credit_loan_amount"),
    ("pure credit", "pure_credit_share"), ("first", "first_loans"),
    ("renewals", "renewals_without_repayment"), ("median days", "median_days_to_decision"),
    ("covered", "enterprises_covered"), ("white list", "enterprises_whitelisted"),
    ("with loan", "share_with_loan"),
)  # fmt: skip


def _group_tables(stats: dict[str, Any]) -> list[_Titled]:
    """The KPIs per group (name beside the code) and the records collected per group."""
    by = str(stats["group_by"])
    kpis = (
        f"KPIs by {by}", [by, "name", *(header for header, _ in _GROUP_FIGURES)],
        [[cell(_short(r["group"])), cell(r["name"]), *(cell(r[k]) for _, k in _GROUP_FIGURES)]
         for r in stats["kpis_by_group"]],
    )  # fmt: skip
    records = (
        f"records by {by}, category and provider", [by, "name", "category", "provider", "records"],
        [[cell(_short(r["group"])), cell(r["name"]), cell(_category(r)), cell(r["provider"]),
          cell(r["records"])] for r in stats["records_by_group"]],
    )  # fmt: skip
    return [kpis, records]


def _tables(view: str, result: Any, wide: bool) -> list[_Titled]:
    if isinstance(result, dict):
        return _statistics_tables(result, wide)
    essential = ESSENTIAL.get(view)
    if wide or essential is None:
        columns, rows = flat_rows(result)
        return [(view, columns, rows)]
    headers = [header for header, _ in essential]
    return [(view, headers, [[cell(show(row)) for _, show in essential] for row in result])]


def print_view(view: str, result: Any, *, wide: bool = False) -> None:
    """Print ``result`` (rows with names, see ``with_names``) as rich tables on stdout."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    width = _WIDE_WIDTH if wide else shutil.get_terminal_size((_DEFAULT_WIDTH, 24)).columns
    console = Console(width=width, soft_wrap=False)
    for title, headers, rows in _tables(view, result, wide):
        table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
        for header in headers:
            table.add_column(header, overflow="fold", no_wrap=header in _ONE_LINE)
        for row in rows:
            table.add_row(*row)
        if not rows:
            table.caption = "(no rows)"
        console.print(table)
