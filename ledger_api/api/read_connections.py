"""Long-lived read connections for the event loop's thread.

Gated reads run synchronously on the event loop (their queries are short indexed lookups), and
checking a connection out of the pool and back in (with its reset) cost about as much as the
queries themselves. Each thread that runs an event loop therefore keeps one connection in
AUTOCOMMIT mode: no transaction stays open between statements, so every read sees what was
committed before it (SQLite WAL and PostgreSQL alike), and nothing holds back checkpoints or
vacuum. Other threads (the thread pool of synchronous routes) use the pool as before, so a
long-lived connection never multiplies by the pool's thread count.

A connection whose use raised is closed and replaced on the next use: a failed statement may
leave a connection unusable, and replacing one is cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

from sqlalchemy import Connection, Engine


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class ReadConnections:
    """``with reads.connect() as conn:`` for read-only work inside a request."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._local = threading.local()
        self._open: list[Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextlib.contextmanager
    def connect(self) -> Iterator[Connection]:
        if self._closed or not _on_event_loop():
            with self.engine.connect() as pooled:
                yield pooled
            return
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.invalidated:
            conn = self._open_connection()
        try:
            yield conn
        except BaseException:
            self._discard(conn)
            raise
        if conn.in_transaction():  # SQLAlchemy's own bookkeeping; no transaction is open
            conn.commit()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections, self._open = self._open, []
        for conn in connections:
            with contextlib.suppress(Exception):  # shutting down: the process is leaving
                conn.close()

    def _open_connection(self) -> Connection:
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self._local.conn = conn
        with self._lock:
            self._open.append(conn)
        return conn

    def _discard(self, conn: Connection) -> None:
        self._local.conn = None
        with self._lock:
            if conn in self._open:
                self._open.remove(conn)
        with contextlib.suppress(Exception):  # already broken: closing is best effort
            conn.close()
