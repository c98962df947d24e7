"""The bulk insert and IN look-up helpers return exactly what plain SQLAlchemy statements do."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    select,
)

from ledger_api.store.bulk import INSERT_ROWS, bulk_insert, insert_columns, select_in
from ledger_api.store.types import Bytes, UTCDateTime

_METADATA = MetaData()
_ITEMS = Table(
    "bulk_items",
    _METADATA,
    Column("id", Integer, primary_key=True),
    Column("key", Bytes, nullable=False, unique=True),
    Column("blob", Bytes),
    Column("text", String(64)),
    Column("number", BigInteger),
)
_COLUMNS = ("key", "blob", "text", "number")


_STAMPED_METADATA = MetaData()
_STAMPED = Table(  # columns of a type with bind processing (timestamps)
    "bulk_stamped",
    _STAMPED_METADATA,
    Column("key", Bytes, primary_key=True),
    Column("at", UTCDateTime),
    Column("gone", UTCDateTime),
)


@pytest.fixture
def table(engine: Engine) -> Iterator[Table]:
    _METADATA.create_all(engine)
    yield _ITEMS
    _METADATA.drop_all(engine)


@pytest.fixture
def stamped(engine: Engine) -> Iterator[Table]:
    _STAMPED_METADATA.create_all(engine)
    yield _STAMPED
    _STAMPED_METADATA.drop_all(engine)


def _rows(count: int) -> list[tuple[Any, ...]]:
    odd: list[tuple[Any, ...]] = [
        (b"k-none", None, None, None),
        (b"k-empty", b"", "", 0),
        (b"k-\x00", b"\x00\xff\x00", 'quote " backslash \\ tab \t nul-free', 2**63 - 1),
        (b"k-unicode", bytes(range(256)), "中原银行 \u2028 é", -(2**63)),
    ]
    return odd + [(f"k-{i}".encode(), i.to_bytes(4, "big"), f"t{i}", i) for i in range(count)]


def test_bulk_insert_and_select_in_round_trip_every_value(engine: Engine, table: Table) -> None:
    rows = _rows(2 * INSERT_ROWS + 7)  # full statements and a short last one
    with engine.begin() as conn:
        bulk_insert(conn, table, _COLUMNS, rows)
        bulk_insert(conn, table, _COLUMNS, [])
    with engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(select(*[table.c[c] for c in _COLUMNS]))]
        assert sorted(stored) == sorted(rows)
        wanted = [r[0] for r in rows[::3]] + [b"absent"]
        found = select_in(
            conn, table, [table.c[c] for c in _COLUMNS], table.c.key, wanted, chunk=50
        )
    assert sorted(found) == sorted(r for r in rows if r[0] in wanted)
    assert all(type(v) is bytes for r in found for v in r[:2] if v is not None)


def test_select_in_falls_back_to_plain_rows_for_other_column_types(
    engine: Engine, stamped: Table
) -> None:
    at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(stamped.insert(), [{"key": b"a", "at": at}, {"key": b"b", "at": at}])
    with engine.connect() as conn:
        found = select_in(conn, stamped, [stamped.c.key], stamped.c.key, [b"a", b"c"])
        assert found == [(b"a",)]
        found = select_in(conn, stamped, [stamped.c.at], stamped.c.key, [b"b"])
        assert len(found) == 1


def test_insert_columns_stores_what_bulk_insert_stores(engine: Engine, table: Table) -> None:
    rows = _rows(INSERT_ROWS + 3)
    with engine.begin() as conn:
        insert_columns(
            conn,
            table,
            {
                "key": [r[0] for r in rows],
                "blob": [r[1] for r in rows],
                "number": [r[3] for r in rows],
            },
            {"text": "same \u00e9"},
        )
        insert_columns(conn, table, {"key": []}, {"text": "none"})
    with engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(select(*[table.c[c] for c in _COLUMNS]))]
    assert sorted(stored) == sorted((r[0], r[1], "same \u00e9", r[3]) for r in rows)


def test_insert_columns_binds_a_constant_as_its_column_type_does(
    engine: Engine, stamped: Table
) -> None:
    at = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    with engine.begin() as conn:
        insert_columns(conn, stamped, {"key": [b"a", b"b"]}, {"at": at, "gone": None})
        conn.execute(stamped.insert(), [{"key": b"core", "at": at, "gone": None}])
    with engine.connect() as conn:
        stored = conn.execute(select(stamped).order_by(stamped.c.key)).all()
        raw: dict[bytes, str] = dict(
            conn.exec_driver_sql("SELECT key, CAST(at AS TEXT) FROM bulk_stamped").all()
        )
    assert [tuple(r) for r in stored] == [(b"a", at, None), (b"b", at, None), (b"core", at, None)]
    assert raw[b"a"] == raw[b"b"] == raw[b"core"]  # the same stored form as Core's insert
