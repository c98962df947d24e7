"""What a dashboard page is made of, independent of HTML: KPIs, charts and tables.

Pages are built as these plain objects (``indexer.dashboard.pages``), then rendered by one
template or, for a table, as CSV: so every table on every page can be exported the same way.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Kpi:
    key: str  # stable id (data-kpi attribute: what tests and scripts read)
    label: str
    value: Any
    note: str = ""
    large: bool = False


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    kind: str  # Chart.js type: "bar" or "line"
    labels: list[str]
    datasets: list[dict[str, Any]]  # {"label": str, "data": [numbers]}
    stacked: bool = False


@dataclass(frozen=True)
class Table:
    key: str  # the ?csv= name
    title: str
    columns: list[tuple[str, str]]  # (row key, header)
    rows: list[dict[str, Any]]

    def csv_text(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([header for _, header in self.columns])
        for row in self.rows:
            writer.writerow(["" if row.get(k) is None else row.get(k) for k, _ in self.columns])
        return out.getvalue()


@dataclass
class Page:
    key: str  # the navigation entry this page belongs to
    title: str
    kpis: list[Kpi] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    message: str = ""  # shown above the content (e.g. an unknown USCC)

    def table(self, key: str) -> Table | None:
        return next((t for t in self.tables if t.key == key), None)
