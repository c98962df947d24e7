"""SQLite WAL checkpoints off the request path.

By default SQLite checkpoints inside the commit that pushes the write-ahead log over 1,000
pages: that commit copies the log back into the database and syncs both files before it
returns. On the access-log writer, whose commits every gated request waits for, that showed as
commits of 30 to 150 ms every few hundred requests: the whole tail of the read latency.

``WalCheckpointer`` runs PASSIVE checkpoints from its own thread and connection instead, often
enough that each one copies only the last few commits (so it usually completes and the log
starts over). A connection that hands its checkpoints to it turns its own off with
``disable_autocheckpoint``. PASSIVE never blocks readers or the writer.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from typing import cast

from sqlalchemy import Connection, Engine

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 0.05
WAL_SIZE_LIMIT = 64 * 1024 * 1024


def disable_autocheckpoint(conn: Connection) -> None:
    """This connection's commits no longer checkpoint (a ``WalCheckpointer`` does).

    When it restarts the log after a completed checkpoint, it also cuts the file back to
    ``WAL_SIZE_LIMIT`` bytes: a burst must not leave a huge log file behind for good.
    """
    conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
    conn.exec_driver_sql(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    conn.commit()


class WalCheckpointer:
    """A daemon thread checkpointing the SQLite database behind ``engine`` every interval."""

    def __init__(self, engine: Engine, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.engine = engine
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the thread after one last checkpoint."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join(timeout=30)

    def _run(self) -> None:
        conn = self.engine.connect()
        conn.detach()  # its own connection for life: never handed back to the pool
        # The driver's connection directly: through SQLAlchemy, building each round's result
        # metadata held the GIL longer than anything else this thread does (about 0.15 s per
        # 100k-record ingestion, sampled), next to bulk writers that need the GIL.
        driver = cast(sqlite3.Connection, conn.connection.dbapi_connection)
        try:
            while not self._stop.wait(self.interval_s):
                self._checkpoint(driver)
            self._checkpoint(driver)
        finally:
            with contextlib.suppress(Exception):  # shutting down
                conn.close()

    @staticmethod
    def _checkpoint(driver: sqlite3.Connection) -> None:
        try:
            driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except Exception:  # a busy or broken moment: the next round tries again
            log.warning("WAL checkpoint failed; retrying", exc_info=True)
