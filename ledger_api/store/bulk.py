"""Bulk inserts and ``IN`` look-ups without an ORM object (or even a dict) per row.

On SQLite the statements go to the driver directly: inserts are multi-row ``INSERT .. VALUES
(?, ..), (?, ..)`` statements of up to ``INSERT_ROWS`` rows each, and look-ups by a list of
keys use one ``IN (?, ?, ...)`` statement per chunk instead of SQLAlchemy's per-call
expansion of the bound list. Two properties of Python's ``sqlite3`` module make this pay:

* ``executemany`` releases the GIL around every row's step: while another thread of the
  process runs Python, each row then waits for the GIL. One multi-row statement releases it
  once, for the whole chunk, so other threads run meanwhile.
* a ``bytes`` parameter goes through the adapter registry; ``bytearray`` is bound directly.
  Both bind as the same BLOB, so values are handed over as ``bytearray``.

What each saves is in docs/benchmarks.md.

Other backends use Core ``insert()`` executemany (insertmanyvalues) and ``column.in_()``.

Only columns whose values the driver takes as they are (bytes, int, str, None) may go through
here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain, repeat
from typing import Any

import orjson
from sqlalchemy import Column, Connection, Integer, LargeBinary, String, Table, insert, select

from ledger_api.store.types import Bytes

# Keys per look-up statement: well under SQLite's 32766 variables and PostgreSQL's 65535.
IN_CHUNK = 2000
# Rows per multi-row INSERT on SQLite (fewer when the columns would pass the variable limit).
INSERT_ROWS = 500
# SQLITE_MAX_VARIABLE_NUMBER of SQLite before 3.32; newer libraries report their own limit.
_OLD_VARIABLE_LIMIT = 999


def bulk_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        _sqlite_insert(conn, table, columns, rows)
        return
    conn.execute(insert(table), [dict(zip(columns, r, strict=True)) for r in rows])


def _sqlite_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    width = len(columns)
    per = max(1, min(INSERT_ROWS, variable_limit(conn) // width))
    first = insert_sql(conn, table, columns)  # INSERT .. VALUES (?, ..): the first row
    more = ", (" + ", ".join("?" * width) + ")"  # each further row
    for start in range(0, len(rows), per):
        part = rows[start : start + per]
        sql = first + more * (len(part) - 1)
        conn.exec_driver_sql(sql, as_blobs(chain.from_iterable(part)))


def insert_columns(
    conn: Connection,
    table: Table,
    columns: Mapping[str, Sequence[Any]],
    constants: Mapping[str, Any] | None = None,
) -> None:
    """Insert rows given column by column, without a tuple per row: each of ``columns``
    holds one value per row (equal lengths), each of ``constants`` one value for all rows.

    A constant may be of any type its column takes (on SQLite it goes through the column's
    bind processing once); per-row values must be ones the driver takes as they are."""
    constants = constants or {}
    count = len(next(iter(columns.values()))) if columns else 0
    if not count:
        return
    if conn.dialect.name != "sqlite":
        rows = zip(*columns.values(), *(repeat(v, count) for v in constants.values()), strict=True)
        names = [*columns, *constants]
        conn.execute(insert(table), [dict(zip(names, row, strict=True)) for row in rows])
        return
    names = [*columns, *constants]
    width = len(names)
    per = max(1, min(INSERT_ROWS, variable_limit(conn) // width))
    first = insert_sql(conn, table, names)
    more = ", (" + ", ".join("?" * width) + ")"
    shared = as_blobs(_bound(conn, table.c[name], value) for name, value in constants.items())
    for start in range(0, count, per):
        size = min(per, count - start)
        flat: list[Any] = [None] * (size * width)
        for position, values in enumerate(columns.values()):
            flat[position::width] = _column_blobs(values[start : start + size])
        for position, value in enumerate(shared, start=len(columns)):
            flat[position::width] = [value] * size
        conn.exec_driver_sql(first + more * (size - 1), tuple(flat))


def _bound(conn: Connection, column: Column[Any], value: Any) -> Any:
    """``value`` as SQLAlchemy would hand it to the driver for ``column``."""
    dialect = conn.dialect
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return value if process is None else process(value)


def _column_blobs(values: Sequence[Any]) -> Sequence[Any]:
    """``as_blobs`` for one column: ``map`` when every value is ``bytes``."""
    kinds = set(map(type, values))
    if kinds == {bytes}:
        return list(map(bytearray, values))
    return as_blobs(values) if bytes in kinds else values


def as_blobs(values: Iterable[Any]) -> tuple[Any, ...]:
    """The values as the SQLite driver binds them fastest (``bytes`` as ``bytearray``)."""
    return tuple([bytearray(v) if type(v) is bytes else v for v in values])


def variable_limit(conn: Connection) -> int:
    """How many ``?`` parameters one statement may hold (SQLite's limit; 999 elsewhere)."""
    driver = conn.connection.driver_connection
    if isinstance(driver, sqlite3.Connection):
        return int(driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    return _OLD_VARIABLE_LIMIT


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
        return _sqlite_select_in(conn, table, columns, key, values, chunk)
    for i in range(0, len(values), chunk):
        part = list(values[i : i + chunk])
        found.extend(tuple(r) for r in conn.execute(select(*columns).where(key.in_(part))))
    return found


def _sqlite_select_in(
    conn: Connection,
    table: Table,
    columns: Sequence[Column[Any]],
    key: Column[Any],
    values: Sequence[Any],
    chunk: int,
) -> list[tuple[Any, ...]]:
    """``select_in`` on SQLite: each chunk's rows come back as ONE row (a JSON array).

    Fetching a row releases the GIL around its step; with another thread of the process busy
    in Python, each row then waits up to the switch interval for it. One aggregated row per
    statement cannot stall that way. Columns other than blobs, strings and integers are
    fetched row by row.
    """
    quote = conn.dialect.identifier_preparer
    where = f" FROM {quote.format_table(table)} WHERE {quote.format_column(key)} IN "
    kinds = _json_kinds(columns)
    found: list[tuple[Any, ...]] = []
    if kinds is None:
        head = f"SELECT {', '.join(quote.format_column(c) for c in columns)}" + where
        for i in range(0, len(values), chunk):
            part = values[i : i + chunk]
            sql = head + "(" + ",".join("?" * len(part)) + ")"
            found.extend(conn.exec_driver_sql(sql, as_blobs(part)).fetchall())
        return found
    items = ", ".join(
        f"CASE WHEN {name} IS NULL THEN NULL ELSE hex({name}) END" if kind == "blob" else name
        for name, kind in zip((quote.format_column(c) for c in columns), kinds, strict=True)
    )
    head = f"SELECT json_group_array(json_array({items}))" + where
    for i in range(0, len(values), chunk):
        part = values[i : i + chunk]
        sql = head + "(" + ",".join("?" * len(part)) + ")"
        packed = conn.exec_driver_sql(sql, as_blobs(part)).scalar_one()
        found.extend(_unpack_rows(orjson.loads(packed), kinds))
    return found


def _json_kinds(columns: Sequence[Column[Any]]) -> list[str] | None:
    """How each column's values travel through SQLite's JSON functions (None: not all can)."""
    kinds = []
    for column in columns:
        if isinstance(column.type, LargeBinary | Bytes):
            kinds.append("blob")  # as hex
        elif isinstance(column.type, String | Integer):
            kinds.append("plain")  # JSON strings; JSON integers, exact in SQLite's 64 bits
        else:
            return None
    return kinds


def _unpack_rows(rows: list[list[Any]], kinds: Sequence[str]) -> list[tuple[Any, ...]]:
    if not rows:
        return []
    fromhex = bytes.fromhex
    columns: list[Iterable[Any]] = []
    for values, kind in zip(zip(*rows, strict=True), kinds, strict=True):
        if kind == "blob":
            columns.append([None if v is None else fromhex(v) for v in values])
        else:
            columns.append(values)
    return list(zip(*columns, strict=True))
