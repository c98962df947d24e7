"""The API's replica reads through one held connection on the event loop's thread.

On PostgreSQL every pool checkout of the gate's look-ups cost a ping and a reset round trip, and
server-side prepared statements only pay off on the connection that prepared them; so the
replica the API wires (``ledger_api.stack.replica_state``) must not check a connection out per
look-up. Counted, not timed: pool checkouts across many look-ups, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nodes import PG_URL, postgres_schema
from sqlalchemy import Engine, event, insert

from indexer.replica import ReplicaState
from indexer.tables import CHECKPOINT, GRANTS
from ledger_api.api.read_connections import ReadConnections
from ledger_api.stack import replica_state
from ledger_api.store.db import make_engine, migrate

CHAIN_ID = 31337


def _seed(engine: Engine) -> None:
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(CHECKPOINT),
            [{"chain_id": CHAIN_ID, "contract": "0x" + "22" * 20, "deployment_block": 1,
              "block_number": 50, "block_hash": b"\x01" * 32, "block_timestamp": 1_700_000_000,
              "event_count": 1, "updated_at": datetime.now(UTC)}],
        )  # fmt: skip
        conn.execute(
            insert(GRANTS),
            [{"valid_from_block": 10, "valid_from_log": 0, "valid_to_block": None,
              "grant_id": 7, "subject_index": 1, "institution_index": 1,
              "institution": "0x" + "11" * 20, "categories": 4, "purpose": 0, "level": 1,
              "not_before": 0, "not_after": 2**40, "max_uses": 0, "revoked": False,
              "issued_block": 10, "issued_tx": b"\x03" * 32}],
        )  # fmt: skip


def _checkouts(engine: Engine) -> list[object]:
    seen: list[object] = []
    event.listen(engine, "checkout", lambda dbapi, record, proxy: seen.append(dbapi))
    return seen


def _look_up_many(state: ReplicaState) -> None:
    for _ in range(20):
        assert state.position().block_number == 50
        grant = state.grant(7)
        assert grant is not None and grant.categories == 4
        assert state.at(40).grant(7) is not None  # the pinned view CachedChainState reads
        assert state.institution("0x" + "11" * 20) is None


def _assert_one_held_connection(engine: Engine) -> None:
    _seed(engine)
    reads = ReadConnections(engine)
    state = replica_state(engine, CHAIN_ID, reads)
    checkouts = _checkouts(engine)

    async def on_the_event_loop() -> None:
        _look_up_many(state)

    try:
        asyncio.run(on_the_event_loop())
    finally:
        reads.close()
    assert len(checkouts) == 1


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'replica.db'}")
    yield engine
    engine.dispose()


def test_the_api_replica_reuses_one_held_connection_on_the_event_loop(
    sqlite_engine: Engine,
) -> None:
    _assert_one_held_connection(sqlite_engine)


@pytest.mark.postgres
def test_the_api_replica_reuses_one_held_postgres_connection_on_the_event_loop() -> None:
    with postgres_schema("ccl_test_replica") as schema:
        engine = make_engine(PG_URL, schema=schema)
        try:
            _assert_one_held_connection(engine)
        finally:
            engine.dispose()


def test_off_the_event_loop_the_replica_still_uses_the_pool(sqlite_engine: Engine) -> None:
    """Threads of synchronous routes keep short-lived pooled connections (one per look-up),
    so a held connection never multiplies by the thread pool's size."""
    _seed(sqlite_engine)
    reads = ReadConnections(sqlite_engine)
    state = replica_state(sqlite_engine, CHAIN_ID, reads)
    checkouts = _checkouts(sqlite_engine)
    assert state.grant(7) is not None and state.grant(7) is not None
    reads.close()
    assert len(checkouts) == 2
