"""Bulk inserts and ``IN`` look-ups without an ORM object (or even a dict) per row.

On SQLite the statements go to the driver with plain tuples: inserts are compiled once from the
Core ``insert()`` and handed to ``executemany`` (~3x faster than SQLAlchemy's per-row parameter
processing), and look-ups by a list of keys use one ``IN (?, ?, ...)`` statement per chunk
instead of SQLAlchemy's per-call expansion of the bound list. Other backends use Core
``insert()`` executemany (insertmanyvalues) and ``column.in_()``.

Only columns whose values the driver takes as they are (bytes, int, str) may go through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Connection, Table, insert, select

# Keys per look-up statement: well under SQLite's 32766 variables and PostgreSQL's 65535.
IN_CHUNK = 2000


def bulk_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql(insert_sql(conn, table, columns), list(rows))
        return
    conn.execute(insert(table), [dict(zip(columns, r, strict=True)) for r in rows])


def insert_sql(conn: Connection, table: Table, columns: Sequence[str]) -> str:
    """``INSERT INTO table (columns...) VALUES (?, ...)`` for the SQLite driver."""
    quote = conn.dialect.identifier_preparer
    names = ", ".join(quote.quote(c) for c in columns)
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {quote.format_table(table)} ({names}) VALUES ({marks})"


def select_in(
    conn: Connection,
    table: Table,
    columns: Sequence[Column[Any]],
    key: Column[Any],
    values: Sequence[Any],
    *,
    chunk: int = IN_CHUNK,
) -> list[tuple[Any, ...]]:
    """Rows (as tuples of ``columns``) of ``table`` whose ``key`` is one of ``values``."""
    found: list[tuple[Any, ...]] = []
    if not values:
        return found
    if conn.dialect.name == "sqlite":
        quote = conn.dialect.identifier_preparer
        head = (
            f"SELECT {', '.join(quote.format_column(c) for c in columns)} "
            f"FROM {quote.format_table(table)} WHERE {quote.format_column(key)} IN "
        )
        for i in range(0, len(values), chunk):
            part = values[i : i + chunk]
            sql = head + "(" + ",".join("?" * len(part)) + ")"
            found.extend(conn.exec_driver_sql(sql, tuple(part)).fetchall())
        return found
    for i in range(0, len(values), chunk):
        part = list(values[i : i + chunk])
        found.extend(tuple(r) for r in conn.execute(select(*columns).where(key.in_(part))))
    return found
