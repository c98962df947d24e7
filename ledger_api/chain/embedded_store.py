"""The embedded chain's on-disk store: py-evm's key/value database and the log index, in SQLite.

Both live in one SQLite file and one connection so that a mined block, the new canonical head
and the block's rows in the log index become durable in a single transaction: a process killed
at any point leaves either the previous head with its index or the new head with its index,
never a mix. The connection always has an open transaction while py-evm writes; the chain
commits it after each mining step or head change (``commit``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB

SCHEMA_VERSION = 1
MAX_TOPICS = 4  # LOG0..LOG4

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blocks (number INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS txs (
    hash BLOB PRIMARY KEY,
    block_number INTEGER NOT NULL,
    tx_index INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS txs_by_block ON txs (block_number);
CREATE TABLE IF NOT EXISTS logs (
    block_number INTEGER NOT NULL,
    log_index INTEGER NOT NULL,
    block_hash BLOB NOT NULL,
    tx_index INTEGER NOT NULL,
    tx_hash BLOB NOT NULL,
    address BLOB NOT NULL,
    topic_count INTEGER NOT NULL,
    topic0 BLOB,
    topic1 BLOB,
    topic2 BLOB,
    topic3 BLOB,
    data BLOB NOT NULL,
    PRIMARY KEY (block_number, log_index)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS logs_by_address ON logs (address, block_number);
CREATE INDEX IF NOT EXISTS logs_by_topic0 ON logs (topic0, block_number);
CREATE INDEX IF NOT EXISTS logs_by_topic1 ON logs (topic1, block_number);
CREATE INDEX IF NOT EXISTS logs_by_topic2 ON logs (topic2, block_number);
CREATE INDEX IF NOT EXISTS logs_by_topic3 ON logs (topic3, block_number);
"""

_LOG_COLUMNS = (
    "block_number, log_index, block_hash, tx_index, tx_hash, address, topic_count, "
    "topic0, topic1, topic2, topic3, data"
)


class SQLiteKV(BaseDB):
    """py-evm's key/value interface over the ``kv`` table.

    Writes join the connection's open transaction and only become durable on ``commit``;
    reads see them at once because they go through the same connection.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection

    def __getitem__(self, key: bytes) -> bytes:
        row = self._conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return bytes(row[0])

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._conn.execute("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", (key, value))

    def __delitem__(self, key: bytes) -> None:
        if self._conn.execute("DELETE FROM kv WHERE k = ?", (key,)).rowcount == 0:
            raise KeyError(key)

    def _exists(self, key: bytes) -> bool:
        return self._conn.execute("SELECT 1 FROM kv WHERE k = ?", (key,)).fetchone() is not None


@dataclass(frozen=True)
class IndexedLog:
    """One row of the log index, in the raw (bytes) form eth-tester's backend produces."""

    block_number: int
    log_index: int
    block_hash: bytes
    tx_index: int
    tx_hash: bytes
    address: bytes
    topics: tuple[bytes, ...]
    data: bytes

    def as_raw_entry(self) -> dict[str, Any]:
        """The dict eth-tester's normalizer turns into a JSON-RPC log object."""
        return {
            "type": "mined",
            "log_index": self.log_index,
            "transaction_index": self.tx_index,
            "transaction_hash": self.tx_hash,
            "block_hash": self.block_hash,
            "block_number": self.block_number,
            "address": self.address,
            "data": self.data,
            "topics": list(self.topics),
        }


@dataclass(frozen=True)
class LogQuery:
    """A resolved ``eth_getLogs`` filter: an inclusive block range, addresses, topic criteria.

    ``addresses`` None or empty means any address. ``topics[i]`` None or empty means any
    value at position i, otherwise one of the given values; as on geth, a log with fewer
    topics than the filter has positions never matches.
    """

    from_block: int
    to_block: int
    addresses: tuple[bytes, ...] | None = None
    topics: tuple[tuple[bytes, ...] | None, ...] = ()

    def to_sql(self) -> tuple[str, list[Any]]:
        if len(self.topics) > MAX_TOPICS:
            # No log has more than four topics, so a longer filter matches nothing.
            return f"SELECT {_LOG_COLUMNS} FROM logs WHERE 0", []
        clauses = ["block_number BETWEEN ? AND ?"]
        params: list[Any] = [self.from_block, self.to_block]
        if self.addresses:
            clauses.append(f"address IN ({', '.join('?' * len(self.addresses))})")
            params.extend(self.addresses)
        for position, options in enumerate(self.topics):
            if options:
                clauses.append(f"topic{position} IN ({', '.join('?' * len(options))})")
                params.extend(options)
        if self.topics:
            clauses.append("topic_count >= ?")
            params.append(len(self.topics))
        where = " AND ".join(clauses)
        return f"SELECT {_LOG_COLUMNS} FROM logs WHERE {where} ORDER BY block_number, log_index", (
            params
        )


class EmbeddedStore:
    """The SQLite file of one embedded chain: py-evm's database plus the indexes we keep."""

    def __init__(self, path: Path, *, durable: bool = False) -> None:
        self.path = path
        # The chain is used from whichever thread holds the chain's lock (FastAPI runs sync
        # endpoints in a thread pool), hence check_same_thread=False; EmbeddedChain serialises.
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level="DEFERRED")
        self._conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode survives a killed process; FULL also survives power loss.
        self._conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
        self._conn.executescript(_SCHEMA)
        version = self.get_meta("schema_version")
        if version is None:
            self.set_meta("schema_version", str(SCHEMA_VERSION))
        elif int(version) != SCHEMA_VERSION:
            raise RuntimeError(f"unsupported embedded chain schema version {version}")
        self._conn.commit()
        self.kv = SQLiteKV(self._conn)
        self.atomic_db = AtomicDB(self.kv)

    @property
    def connection(self) -> sqlite3.Connection:
        """The one connection (tests attach a progress handler to count work)."""
        return self._conn

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()

    def close(self) -> None:
        self._conn.commit()
        self._conn.close()

    # -- meta -------------------------------------------------------------------------

    def get_meta(self, name: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, name: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

    # -- indexed canonical chain ------------------------------------------------------

    def indexed_head(self) -> int | None:
        """Number of the highest indexed canonical block, None before genesis is indexed."""
        row = self._conn.execute("SELECT MAX(number) FROM blocks").fetchone()
        return None if row[0] is None else int(row[0])

    def indexed_hash(self, number: int) -> bytes | None:
        row = self._conn.execute("SELECT hash FROM blocks WHERE number = ?", (number,)).fetchone()
        return None if row is None else bytes(row[0])

    def block_number_of(self, block_hash: bytes) -> int | None:
        row = self._conn.execute(
            "SELECT number FROM blocks WHERE hash = ?", (block_hash,)
        ).fetchone()
        return None if row is None else int(row[0])

    def truncate_after(self, number: int) -> None:
        """Forget every indexed block above ``number`` (a reorg or a revert)."""
        self._conn.execute("DELETE FROM logs WHERE block_number > ?", (number,))
        self._conn.execute("DELETE FROM txs WHERE block_number > ?", (number,))
        self._conn.execute("DELETE FROM blocks WHERE number > ?", (number,))

    def add_block(
        self,
        number: int,
        block_hash: bytes,
        tx_hashes: Sequence[bytes],
        logs: Iterable[IndexedLog],
    ) -> None:
        self._conn.execute("INSERT INTO blocks (number, hash) VALUES (?, ?)", (number, block_hash))
        self._conn.executemany(
            "INSERT OR REPLACE INTO txs (hash, block_number, tx_index) VALUES (?, ?, ?)",
            [(tx_hash, number, index) for index, tx_hash in enumerate(tx_hashes)],
        )
        self._conn.executemany(
            f"INSERT INTO logs ({_LOG_COLUMNS}) VALUES ({', '.join('?' * 12)})",
            [
                (
                    log.block_number,
                    log.log_index,
                    log.block_hash,
                    log.tx_index,
                    log.tx_hash,
                    log.address,
                    len(log.topics),
                    *(list(log.topics) + [None] * (MAX_TOPICS - len(log.topics))),
                    log.data,
                )
                for log in logs
            ],
        )

    def find_transaction(self, tx_hash: bytes) -> tuple[int, int] | None:
        """(block number, index in block) of a canonical transaction."""
        row = self._conn.execute(
            "SELECT block_number, tx_index FROM txs WHERE hash = ?", (tx_hash,)
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    # -- logs -------------------------------------------------------------------------

    def query_logs(self, query: LogQuery) -> list[IndexedLog]:
        sql, params = query.to_sql()
        return [_row_to_log(row) for row in self._conn.execute(sql, params)]

    def explain(self, query: LogQuery) -> list[str]:
        """SQLite's query plan for ``query`` (proves the range is searched, not scanned)."""
        sql, params = query.to_sql()
        return [str(row[3]) for row in self._conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]


def _row_to_log(row: Sequence[Any]) -> IndexedLog:
    topic_count = int(row[6])
    return IndexedLog(
        block_number=int(row[0]),
        log_index=int(row[1]),
        block_hash=bytes(row[2]),
        tx_index=int(row[3]),
        tx_hash=bytes(row[4]),
        address=bytes(row[5]),
        topics=tuple(bytes(t) for t in row[7 : 7 + topic_count]),
        data=bytes(row[11]),
    )
