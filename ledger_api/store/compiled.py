"""Statements compiled once and run on the driver's cursor: the gate's hot look-ups.

Executing a Core ``select()`` builds the statement, computes its cache key, and wraps the
execution in an execution context and a ``Result``; on PostgreSQL that costs several times
the round trip of a prepared statement (about 400 µs against 120 µs per look-up). A
``CompiledQuery`` is built once, compiled once per dialect, and executed straight on the DBAPI
cursor of the connection it is given. psycopg prepares a statement server-side after a few
executions on one connection (``prepare_threshold``), so the API's held read connection keeps
reusing the plan. Values still go through the columns' result processors (``Bytes``, booleans
on SQLite), and driver errors are wrapped as SQLAlchemy's, as ``Connection.execute`` would.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positional: tuple[str, ...] | None  # parameter names in order, for qmark drivers (SQLite)
    defaults: dict[str, Any]  # values bound in the statement itself (literals in conditions)
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]


class CompiledQuery:
    """``query.first(conn, name=value)`` / ``query.all(...)``: rows as named tuples."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        names = [str(column.key) for column in statement.selected_columns]
        self._make: Callable[[Any], Any] = namedtuple("Row", names, rename=True)._make  # type: ignore[attr-defined]
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = self._by_dialect[dialect.name] = self._compile(dialect)
        return compiled

    def _compile(self, dialect: Dialect) -> _Compiled:
        sql = self.statement.compile(dialect=dialect)
        processors = []
        for index, column in enumerate(self.statement.selected_columns):
            processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if processor is not None:
                processors.append((index, processor))
        positional = tuple(sql.positiontup) if sql.positional and sql.positiontup else None
        defaults = {k: v for k, v in sql.params.items() if v is not None}
        return _Compiled(str(sql), positional, defaults, tuple(processors))

    def tuples(self, conn: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The rows as the driver returns them (no result processors): for callers that read
        only plain numbers and strings and want nothing between them and the driver."""
        compiled = self._compiled(conn.dialect)
        values = {**compiled.defaults, **params} if compiled.defaults else params
        bound: Any = (
            values if compiled.positional is None else [values[n] for n in compiled.positional]
        )
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        cursor = dbapi.cursor()
        try:
            cursor.execute(compiled.sql, bound)
            return list(cursor.fetchall())
        except conn.dialect.loaded_dbapi.Error as error:
            raise DBAPIError.instance(
                compiled.sql, bound, error, conn.dialect.loaded_dbapi.Error
            ) from error
        finally:
            cursor.close()

    def all(self, conn: Connection, **params: Any) -> list[Any]:
        rows = self.tuples(conn, params)
        processors = self._compiled(conn.dialect).processors
        if not processors:
            return [self._make(r) for r in rows]
        result = []
        for raw in rows:
            row = list(raw)
            for index, processor in processors:
                row[index] = processor(row[index])
            result.append(self._make(row))
        return result

    def first(self, conn: Connection, **params: Any) -> Any | None:
        rows = self.all(conn, **params)
        return rows[0] if rows else None


# -- PostgreSQL: one row through libpq ---------------------------------------------------------

_TUPLES_OK, _COMMAND_OK = 2, 1  # psycopg.pq.ExecStatus (libpq's PGRES_*), without the import


@dataclass
class _PgSession:
    """What one psycopg connection keeps: the statements prepared on it, and psycopg's row
    loader (``psycopg.adapt.Transformer``, C in psycopg-binary) configured for it."""

    prepared: set[bytes]
    loader: Any


class PgPrepared:
    """``query`` prepared by name on each psycopg connection and run through psycopg's libpq
    wrapper (``psycopg.pq``); the binary result is loaded by psycopg's own ``Transformer``.

    For the gate's decision, which runs once per request: psycopg's cursor (query conversion,
    its prepared-statement bookkeeping, per-row Python) cost 20-35 µs of the 60-100 µs a
    25-column row took through it, on a statement whose round trip is about 10 µs. Parameters
    are sent as text (cast by the statement, ``::BIGINT``), bytes as binary. Elsewhere (SQLite,
    another driver, a connection in a transaction) ``tuples`` is ``CompiledQuery.tuples``.
    """

    _count = 0

    def __init__(self, query: CompiledQuery) -> None:
        PgPrepared._count += 1
        self.query = query
        self.name = f"ccl_prepared_{PgPrepared._count}".encode()
        self._sql = b""  # compiled on first use: the PostgreSQL dialect is not imported before
        self._template: list[bytes | None] = []
        self._formats: list[int] = []
        self._slots: tuple[tuple[int, str], ...] = ()

    def _compile(self) -> None:
        from sqlalchemy.dialects.postgresql.psycopg import dialect

        compiled = self.query.statement.compile(dialect=dialect(paramstyle="numeric_dollar"))
        order = tuple(compiled.positiontup or ())  # $1, $2 ... as libpq numbers them
        defaults = {k: v for k, v in compiled.params.items() if v is not None}
        # Values bound in the statement itself are encoded once; the caller's fill the gaps.
        self._template = [None if n not in defaults else _encode(defaults[n])[0] for n in order]
        self._formats = [0 if n not in defaults else _encode(defaults[n])[1] for n in order]
        self._slots = tuple((i, n) for i, n in enumerate(order) if n not in defaults)
        self._sql = str(compiled).encode()

    def tuples(self, conn: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        dbapi = conn.connection.dbapi_connection
        if conn.dialect.driver != "psycopg" or not getattr(dbapi, "autocommit", False):
            # Prepared only on an AUTOCOMMIT connection (the API's held read connections): on
            # one that rolls back, psycopg deallocates every statement after a rollback once
            # it has prepared its own, and ours would be gone.
            return self.query.tuples(conn, params)
        if not self._sql:
            self._compile()
        bound = self._template.copy()
        formats = self._formats.copy()
        for index, name in self._slots:
            bound[index], formats[index] = _encode(params[name])
        assert dbapi is not None
        session: _PgSession | None = conn.info.get("ccl_pq")
        if session is None:  # info lives as long as this DBAPI connection
            from psycopg.adapt import Transformer

            session = conn.info["ccl_pq"] = _PgSession(set(), Transformer(cast(Any, dbapi)))
        pgconn = dbapi.pgconn
        try:
            if self.name not in session.prepared:
                self._check(pgconn.prepare(self.name, self._sql), dbapi)
                session.prepared.add(self.name)
            result = self._check(pgconn.exec_prepared(self.name, bound, formats, 1), dbapi)
        except conn.dialect.loaded_dbapi.Error as error:
            raise DBAPIError.instance(
                self._sql.decode(), bound, error, conn.dialect.loaded_dbapi.Error
            ) from error
        session.loader.set_pgresult(result)
        rows: list[tuple[Any, ...]] = session.loader.load_rows(0, result.ntuples, tuple)
        return rows

    @staticmethod
    def _check(result: Any, dbapi: Any) -> Any:
        if result.status not in (_TUPLES_OK, _COMMAND_OK):
            from psycopg.errors import error_from_result

            raise error_from_result(result, encoding=dbapi.info.encoding)
        return result


def _encode(value: Any) -> tuple[bytes | None, int]:
    """A parameter for libpq and its format: bytes as binary (bytea as is), others as text
    (cast by the statement, ``::BIGINT``)."""
    if isinstance(value, bytes):
        return value, 1
    if value is None:
        return None, 0
    if isinstance(value, bool):
        return (b"t" if value else b"f"), 0
    return str(value).encode(), 0
