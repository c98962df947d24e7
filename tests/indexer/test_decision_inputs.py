"""One statement answers what a grant-checked read decides on, exactly as the look-ups one by
one do (on SQLite and PostgreSQL, now and at a past block, from the gate's rows or, where they
do not answer, from the versions), and the gate's cache keeps it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nodes import PG_URL, postgres_schema
from sqlalchemy import Engine, insert, text
from sqlalchemy.exc import DBAPIError

from indexer.gate_rows import rebuild_gate_rows
from indexer.replica import ReplicaState
from indexer.tables import AGREEMENTS, CHECKPOINT, GRANTS, INSTITUTIONS, SUBJECT_BINDINGS
from ledger_api.accesslog.entries import ACCESS_LOG, count_uses
from ledger_api.api.context import CachedChainState
from ledger_api.api.read_connections import ReadConnections
from ledger_api.chain.state import DecisionInputs
from ledger_api.stack import replica_state
from ledger_api.store.db import make_engine, migrate

CHAIN_ID = 31337
BANK = "0x" + "11" * 20
STRANGER = "0x" + "33" * 20
SUBJECT = b"\x05" * 32
OTHER_SUBJECT = b"\x06" * 32
CAPPED, REVOKED, UNCAPPED, MISSING = 7, 8, 9, 404


def _grant(grant_id: int, *, max_uses: int, revoked: bool, since: int, until: int | None):
    return {"valid_from_block": since, "valid_from_log": 0, "valid_to_block": until,
            "grant_id": grant_id, "subject_index": 1, "institution_index": 1,
            "institution": BANK, "categories": 4, "purpose": 0, "level": 1, "not_before": 0,
            "not_after": 2**40, "max_uses": max_uses, "revoked": revoked, "issued_block": 10,
            "issued_tx": grant_id.to_bytes(32, "big")}  # fmt: skip


def _entry(entry_id: int, grant_id: int, decision: str) -> dict[str, object]:
    return {"id": entry_id, "at": datetime.now(UTC), "actor": BANK, "actor_role": "institution",
            "action": "records", "grant_id": grant_id, "decision": decision, "reason": "ok",
            "prev_hash": b"\x00" * 32, "entry_hash": entry_id.to_bytes(32, "big")}  # fmt: skip


def _seed(engine: Engine) -> None:
    migrate(engine)
    live = {"valid_from_block": 10, "valid_from_log": 0, "valid_to_block": None}
    with engine.begin() as conn:
        conn.execute(
            insert(CHECKPOINT),
            [{"chain_id": CHAIN_ID, "contract": "0x" + "22" * 20, "deployment_block": 1,
              "block_number": 50, "block_hash": b"\x01" * 32, "block_timestamp": 1_700_000_000,
              "event_count": 1, "updated_at": datetime.now(UTC)}],
        )  # fmt: skip
        conn.execute(
            insert(INSTITUTIONS),
            [{**live, "address": BANK, "institution_index": 1, "kind": 0, "name": "Bench Bank",
              "suspended": False, "agreement_id": 1, "registered_block": 10}],
        )  # fmt: skip
        conn.execute(
            insert(AGREEMENTS),
            [{**live, "agreement_id": 1, "institution": BANK, "categories": 0xFF,
              "purposes": 0x3F, "not_before": 0, "not_after": 2**40,
              "document_hash": b"\x02" * 32, "status": 1, "proposed_block": 10}],
        )  # fmt: skip
        conn.execute(
            insert(SUBJECT_BINDINGS),
            [{**live, "subject_index": 1, "subject_id": SUBJECT, "account": "0x" + "44" * 20}],
        )
        conn.execute(
            insert(GRANTS),
            [
                _grant(CAPPED, max_uses=3, revoked=False, since=10, until=None),
                _grant(REVOKED, max_uses=3, revoked=False, since=10, until=30),
                _grant(REVOKED, max_uses=3, revoked=True, since=30, until=None),
                _grant(UNCAPPED, max_uses=0, revoked=False, since=10, until=None),
            ],
        )
        conn.execute(
            insert(ACCESS_LOG),
            [_entry(1, CAPPED, "allowed"), _entry(2, CAPPED, "allowed"),
             _entry(3, CAPPED, "denied"), _entry(4, UNCAPPED, "allowed")],
        )  # fmt: skip
        rebuild_gate_rows(conn)  # as the indexer keeps them for the versions loaded above


def _one_by_one(state: ReplicaState, address: str, sid: bytes, grant_id: int) -> DecisionInputs:
    institution = state.institution(address)
    agreement = None if institution is None else state.agreement(institution.agreement_id)
    grant = state.grant(grant_id)
    with state._connection() as conn:
        uses = count_uses(conn, grant_id) if grant is not None and grant.max_uses else 0
    return DecisionInputs(
        state.position(), institution, agreement, state.subject_by_id(sid), grant, uses
    )


def _unmarked(inputs: DecisionInputs) -> DecisionInputs:
    """``inputs`` without the log id a gate mirror counts from (the look-ups have none)."""
    return replace(inputs, log_horizon=None)


def _assert_same_as_one_by_one(engine: Engine) -> None:
    _seed(engine)
    now = ReplicaState(engine, chain_id=CHAIN_ID)
    for state in (now, now.at(20), ReplicaState(engine)):
        for address in (BANK, BANK.lower(), STRANGER):
            for sid in (SUBJECT, OTHER_SUBJECT):
                for grant_id in (CAPPED, REVOKED, UNCAPPED, MISSING):
                    expected = _one_by_one(state, address, sid, grant_id)
                    assert _unmarked(state.decision_inputs(address, sid, grant_id)) == expected
    inputs = now.decision_inputs(BANK, SUBJECT, CAPPED)
    assert inputs.uses == 2 and inputs.institution is not None
    assert inputs.log_horizon == 4  # the gate's rows answered: the log's last id read with them
    assert now.decision_inputs(BANK, OTHER_SUBJECT, CAPPED).log_horizon is None  # the versions
    assert inputs.institution.name == "Bench Bank" and inputs.agreement is not None
    assert now.decision_inputs(BANK, SUBJECT, REVOKED).grant.revoked  # type: ignore[union-attr]
    assert not now.at(20).decision_inputs(BANK, SUBJECT, REVOKED).grant.revoked  # type: ignore[union-attr]
    assert now.decision_inputs(BANK, SUBJECT, UNCAPPED).uses == 0  # not counted: no cap


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'replica.db'}")
    yield engine
    engine.dispose()


def test_one_statement_reads_what_the_look_ups_read_on_sqlite(sqlite_engine: Engine) -> None:
    _assert_same_as_one_by_one(sqlite_engine)


@pytest.mark.postgres
def test_one_statement_reads_what_the_look_ups_read_on_postgres() -> None:
    with postgres_schema("ccl_test_decision") as schema:
        engine = make_engine(PG_URL, schema=schema)
        try:
            _assert_same_as_one_by_one(engine)
        finally:
            engine.dispose()


def test_a_decision_about_a_known_grant_is_one_select_of_the_gate_rows(
    sqlite_engine: Engine,
) -> None:
    """The grant's and the institution's rows answer it, now or pinned at the checkpoint's
    block; a grant of another subject or an unknown grant reads the versions as well (a second
    statement)."""
    _seed(sqlite_engine)
    replica = ReplicaState(sqlite_engine, chain_id=CHAIN_ID)
    with sqlite_engine.connect() as conn:
        statements: list[str] = []
        conn.connection.dbapi_connection.set_trace_callback(statements.append)  # type: ignore[union-attr]
        state = ReplicaState(sqlite_engine, chain_id=CHAIN_ID, connect=lambda: nullcontext(conn))
        expected = _one_by_one(replica, BANK, SUBJECT, CAPPED)
        assert _unmarked(state.decision_inputs(BANK, SUBJECT, CAPPED)) == expected
        assert len(statements) == 1 and "chain_gate_grants" in statements[0]
        statements.clear()
        pinned = state.at(50).decision_inputs(BANK, SUBJECT, CAPPED)  # the checkpoint's block
        assert _unmarked(pinned) == expected
        assert len(statements) == 1
        statements.clear()
        assert state.decision_inputs(BANK, OTHER_SUBJECT, CAPPED).subject is None
        assert state.decision_inputs(BANK, SUBJECT, MISSING).grant is None
        assert len(statements) == 4 and "chain_grants " in statements[1]


def test_the_gate_cache_keeps_the_inputs_read_after_a_new_block(sqlite_engine: Engine) -> None:
    """After one read in one statement, the same decision is answered from the cache (None:
    only the uses are counted) and its look-ups are the ones read."""
    _seed(sqlite_engine)
    replica = ReplicaState(sqlite_engine, chain_id=CHAIN_ID)
    cached = CachedChainState(replica, ttl_s=3600)
    first = cached.decision_inputs(BANK, SUBJECT, CAPPED)
    assert first is not None and first.position.block_number == 50
    assert cached.decision_inputs(BANK, SUBJECT, CAPPED) is None
    assert cached.institution(BANK) == first.institution
    assert cached.grant(CAPPED) == first.grant
    assert cached.decision_inputs(BANK, SUBJECT, UNCAPPED) is not None  # not cached yet


@pytest.mark.postgres
def test_on_postgres_the_statement_is_prepared_once_per_connection_and_survives_a_lost_one() -> (
    None
):
    """Prepared by name on the held connection the first time, executed as prepared after; a
    connection lost under it raises SQLAlchemy's DBAPIError and its replacement prepares
    the statement again."""
    with postgres_schema("ccl_test_prepared") as schema:
        engine = make_engine(PG_URL, schema=schema)
        try:
            _seed(engine)
            reads = ReadConnections(engine)
            replica = replica_state(engine, CHAIN_ID, reads)

            async def decide() -> DecisionInputs:
                return replica.decision_inputs(BANK, SUBJECT, CAPPED)

            def prepared() -> list[tuple[object, ...]]:
                with reads.connect() as conn:
                    dbapi = conn.connection.dbapi_connection
                    assert dbapi is not None
                    return list(
                        dbapi.execute(
                            "SELECT statement, generic_plans + custom_plans"
                            " FROM pg_prepared_statements WHERE name LIKE 'ccl_prepared_%'"
                        )
                    )

            async def scenario() -> None:
                first = await decide()
                for _ in range(9):
                    assert await decide() == first
                (row,) = prepared()
                assert "chain_gate_grants" in str(row[0]) and row[1] == 10
                with reads.connect() as conn:
                    dbapi = conn.connection.dbapi_connection
                    assert dbapi is not None
                    pid = dbapi.info.backend_pid
                with engine.connect() as admin:
                    admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                    admin.commit()
                with pytest.raises(DBAPIError):
                    await decide()
                assert await decide() == first  # a new connection, prepared again
                assert [r[1] for r in prepared()] == [1]

            asyncio.run(scenario())
            reads.close()
        finally:
            engine.dispose()
