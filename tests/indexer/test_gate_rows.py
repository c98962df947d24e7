"""The gate's rows (one per grant, one per institution) stay exactly what the live versions say:
after every kind of change the indexer replicates, and after a reorg on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from activity import STEPS, agreement_changes, issue_grants, membership_changes, revoke_one
from indexer_support import make_indexer
from sqlalchemy import Connection, Engine, insert, select
from world import World

from indexer.gate_rows import rebuild_gate_rows, refresh_gate_rows
from indexer.replica import ReplicaState
from indexer.tables import (
    AGREEMENTS,
    GATE_GRANTS,
    GATE_INSTITUTIONS,
    GATE_TABLES,
    GRANTS,
    INSTITUTIONS,
    SUBJECT_BINDINGS,
)
from ledger_api.chain.types import AgreementStatus
from ledger_api.store.db import make_engine, migrate


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


def test_the_migration_fills_the_gate_rows_of_a_replica_indexed_before_it(tmp_path: Path) -> None:
    """A replica whose versions were written before revision 0026 gets the rows the indexer
    would have kept: live versions only, the agreement of the institution's current one."""
    engine = make_engine(f"sqlite:///{tmp_path / 'before.sqlite'}")
    try:
        migrate(engine, "0002_indexer")
        bank, other = "0x" + "11" * 20, "0x" + "22" * 20
        live = {"valid_from_block": 10, "valid_from_log": 0, "valid_to_block": None}
        closed = {**live, "valid_to_block": 30}
        with engine.begin() as conn:
            conn.execute(insert(INSTITUTIONS), [
                {**closed, "address": bank, "institution_index": 1, "kind": 0, "name": "Old",
                 "suspended": False, "agreement_id": 0, "registered_block": 10},
                {**live, "valid_from_block": 30, "address": bank, "institution_index": 1,
                 "kind": 0, "name": "Bank", "suspended": True, "agreement_id": 1,
                 "registered_block": 10},
                {**live, "address": other, "institution_index": 2, "kind": 1, "name": "Other",
                 "suspended": False, "agreement_id": 0, "registered_block": 10},
            ])  # fmt: skip
            conn.execute(insert(AGREEMENTS), [
                {**live, "agreement_id": 1, "institution": bank, "categories": 7,
                 "purposes": 3, "not_before": 0, "not_after": 99, "document_hash": b"\x02" * 32,
                 "status": int(AgreementStatus.ACTIVE), "proposed_block": 10},
            ])  # fmt: skip
            conn.execute(insert(SUBJECT_BINDINGS), [
                {**live, "subject_index": 1, "subject_id": b"\x05" * 32, "account": other},
            ])  # fmt: skip
            conn.execute(insert(GRANTS), [
                {**version, "grant_id": 7, "subject_index": 1, "institution_index": 1,
                 "institution": bank, "categories": 4, "purpose": 0, "level": 1,
                 "not_before": 0, "not_after": 99, "max_uses": 3, "revoked": revoked,
                 "issued_block": 10, "issued_tx": b"\x07" * 32}
                for version, revoked in ((closed, False), ({**live, "valid_from_block": 30}, True))
            ])  # fmt: skip
        migrate(engine)
        rows = assert_gate_rows_are_the_live_versions(engine)
        assert rows[GATE_GRANTS.name] == [(7, 1, 1, 4, 0, 1, 0, 99, 3, True, b"\x05" * 32, other)]
        assert sorted(rows[GATE_INSTITUTIONS.name]) == [
            (bank, 1, 0, "Bank", True, 1, int(AgreementStatus.ACTIVE), 7, 3, 0, 99),
            (other, 2, 1, "Other", False, 0, None, None, None, None, None),
        ]
    finally:
        engine.dispose()


def test_a_refresh_of_runs_of_consecutive_and_scattered_grants_equals_a_rebuild(
    tmp_path: Path,
) -> None:
    """A chunk of new grants is refreshed as ranges, scattered changes as lists of keys: both
    leave exactly the rows a rebuild reads (revoked versions live, closed ones not)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'runs.sqlite'}")
    try:
        migrate(engine)
        live = {"valid_from_block": 10, "valid_from_log": 0, "valid_to_block": None}
        grant = {"subject_index": 1, "institution_index": 1, "institution": "0x" + "11" * 20,
                 "categories": 4, "purpose": 0, "level": 1, "not_before": 0, "not_after": 99,
                 "max_uses": 0, "issued_block": 10}  # fmt: skip
        ids = [*range(1, 301), 500, 502, 1000]  # a run of 300, then three apart
        with engine.begin() as conn:
            conn.execute(insert(SUBJECT_BINDINGS), [
                {**live, "subject_index": 1, "subject_id": b"\x05" * 32,
                 "account": "0x" + "44" * 20},
            ])  # fmt: skip
            rows = [{**live, **grant, "grant_id": n, "revoked": False,
                     "issued_tx": n.to_bytes(32, "big")} for n in ids]  # fmt: skip
            for n in (7, 500):  # revoked at block 30: the first version closed
                rows[ids.index(n)]["valid_to_block"] = 30
                rows.append({**rows[ids.index(n)], "valid_from_block": 30,
                             "valid_to_block": None, "revoked": True})  # fmt: skip
            conn.execute(insert(GRANTS), rows)
            refresh_gate_rows(conn, grant_ids=iter(ids))
        kept = assert_gate_rows_are_the_live_versions(engine)
        assert len(kept[GATE_GRANTS.name]) == len(ids)
        assert {r[0] for r in kept[GATE_GRANTS.name] if r[9]} == {7, 500}
    finally:
        engine.dispose()
