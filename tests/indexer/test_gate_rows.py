"""The gate's rows (one per grant, one per institution) stay exactly what the live versions say:
after every kind of change the indexer replicates, and after a reorg on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from activity import STEPS, agreement_changes, issue_grants, membership_changes, revoke_one
from indexer_support import make_indexer
from sqlalchemy import Connection, Engine, select
from world import World

from indexer.gate_rows import rebuild_gate_rows
from indexer.replica import ReplicaState
from indexer.tables import GATE_GRANTS, GATE_INSTITUTIONS, GATE_TABLES
from ledger_api.chain.types import AgreementStatus


def _rows(conn: Connection) -> dict[str, list[tuple[object, ...]]]:
    return {
        table.name: sorted((tuple(r) for r in conn.execute(select(table))), key=repr)
        for table in GATE_TABLES
    }


def assert_gate_rows_are_the_live_versions(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    """The rows kept equal the rows read afresh from the versions (the rebuild is undone)."""
    with engine.connect() as conn:
        kept = _rows(conn)
        rebuild_gate_rows(conn)
        rebuilt = _rows(conn)
        conn.rollback()
    assert kept == rebuilt
    return kept


def test_gate_rows_follow_every_kind_of_change_as_it_is_indexed(
    world: World, new_engine: Callable[[], Engine]
) -> None:
    engine = new_engine()
    indexer = make_indexer(world.w3, world.ledger.deployment, engine, chunk_blocks=2)
    grants: list[int] = []
    bank_b_agreement = 0
    for step in STEPS:  # grants, suspensions, agreements, supersession, a rebinding, disputes
        result = step(world)
        if step is issue_grants:
            grants = list(result)
        if step is agreement_changes:
            bank_b_agreement = int(result)
        indexer.run_once()
        assert_gate_rows_are_the_live_versions(engine)
    revoke_one(world, grants[0])
    # Only the agreement changes: the institution whose agreement it is must show it.
    world.ledger.transact(world.regulator, "suspendAgreement", bank_b_agreement)
    indexer.run_once()
    rows = assert_gate_rows_are_the_live_versions(engine)
    assert len(rows[GATE_GRANTS.name]) == len(grants)
    with engine.connect() as conn:
        revoked = conn.execute(
            select(GATE_GRANTS.c.revoked).where(GATE_GRANTS.c.grant_id == grants[0])
        ).scalar_one()
        agreement = conn.execute(
            select(GATE_INSTITUTIONS.c.agreement_id, GATE_INSTITUTIONS.c.agreement_status).where(
                GATE_INSTITUTIONS.c.address == world.insurer.address
            )
        ).one()
    assert revoked
    insurer = ReplicaState(engine).institution(world.insurer.address)
    assert insurer is not None and agreement.agreement_id == insurer.agreement_id
    assert agreement.agreement_status is not None  # the current agreement's, not NULLs
    with engine.connect() as conn:
        bank_b = conn.execute(
            select(GATE_INSTITUTIONS.c.agreement_id, GATE_INSTITUTIONS.c.agreement_status).where(
                GATE_INSTITUTIONS.c.address == world.bank_b.address
            )
        ).one()
    assert bank_b == (bank_b_agreement, int(AgreementStatus.SUSPENDED))


def _reorg_then_check(world: World, engine: Engine) -> None:
    tester = world.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    indexer = make_indexer(world.w3, world.ledger.deployment, engine, chunk_blocks=3)
    grants = issue_grants(world)
    indexer.run_once()
    fork = tester.take_snapshot()
    membership_changes(world)  # abandoned: the insurer ends suspended on this branch
    revoke_one(world, grants[0])
    indexer.run_once()
    with engine.connect() as conn:
        suspended = conn.execute(
            select(GATE_INSTITUTIONS.c.suspended).where(
                GATE_INSTITUTIONS.c.address == world.insurer.address
            )
        ).scalar_one()
    assert suspended
    tester.revert_to_snapshot(fork)
    world.forget_nonces()
    agreement_changes(world)  # a different, longer branch
    indexer.run_once()
    assert_gate_rows_are_the_live_versions(engine)
    with engine.connect() as conn:
        insurer = conn.execute(
            select(GATE_INSTITUTIONS.c.suspended).where(
                GATE_INSTITUTIONS.c.address == world.insurer.address
            )
        ).scalar_one()
        revoked = conn.execute(
            select(GATE_GRANTS.c.revoked).where(GATE_GRANTS.c.grant_id == grants[0])
        ).scalar_one()
    assert not insurer and not revoked  # the abandoned branch's changes are undone here too


def test_gate_rows_are_undone_with_a_reorg_on_sqlite(
    world: World, new_engine: Callable[[], Engine]
) -> None:
    _reorg_then_check(world, new_engine())


@pytest.mark.postgres
def test_gate_rows_are_undone_with_a_reorg_on_postgres(world: World, pg_engine: Engine) -> None:
    _reorg_then_check(world, pg_engine)
