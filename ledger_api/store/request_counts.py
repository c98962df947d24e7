"""How many requests the API answered, per UTC day, endpoint class and status, and how long
they took: what ``GET /v1/audit/metrics`` reports (docs/audit.md, "Metrics").

Each API process adds up its requests in memory (``ledger_api.api.request_metrics``) and adds
them to these rows every few seconds in one upsert, so a request costs no database write and
several workers share one table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from sqlalchemy import BigInteger, Connection, Float, SmallInteger, String, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from ledger_api.store.base import Base

# (UTC day "2026-12-07", endpoint class, HTTP status) -> (requests, total milliseconds)
CountKey = tuple[str, str, int]


class RequestCount(Base):
    __tablename__ = "api_request_counts"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # UTC, "2026-12-07"
    endpoint_class: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    requests: Mapped[int] = mapped_column(BigInteger)
    total_ms: Mapped[float] = mapped_column(Float)


REQUEST_COUNTS = cast(Table, RequestCount.__table__)


def add_counts(conn: Connection, counts: Mapping[CountKey, tuple[int, float]]) -> None:
    """Add ``counts`` to the stored rows (one statement; the caller commits)."""
    if not counts:
        return
    rows = [
        {"day": day, "endpoint_class": cls, "status": status, "requests": n, "total_ms": ms}
        for (day, cls, status), (n, ms) in sorted(counts.items())
    ]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(REQUEST_COUNTS)
    conn.execute(
        insert.on_conflict_do_update(
            index_elements=["day", "endpoint_class", "status"],
            set_={
                "requests": REQUEST_COUNTS.c.requests + insert.excluded.requests,
                "total_ms": REQUEST_COUNTS.c.total_ms + insert.excluded.total_ms,
            },
        ),
        rows,
    )
