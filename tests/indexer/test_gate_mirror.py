"""The gate mirror answers a decision exactly as the replica does at the mirror's position: after
every kind of change the indexer replicates and after a reorg, with the uses counted from the
access log without ever running ahead, on SQLite and PostgreSQL; a revocation reaches the gate
at the next sync."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from activity import STEPS, agreement_changes, issue_grants, revoke_one
from indexer_support import make_indexer
from nodes import PG_URL, postgres_schema
from sqlalchemy import Engine, insert, update
from starlette.requests import Request
from test_decision_inputs import BANK, CAPPED, CHAIN_ID, SUBJECT, UNCAPPED, _grant, _seed
from world import World

from indexer import gate_rows
from indexer.gate_mirror import GateMirror
from indexer.gate_rows import refresh_gate_rows
from indexer.replica import ReplicaState
from indexer.tables import AGREEMENTS, CHECKPOINT, GRANTS
from ledger_api.accesslog import ALLOWED, DENIED, EntryDraft
from ledger_api.accesslog.entries import ACCESS_LOG
from ledger_api.accesslog.writer import AccessLogWriter
from ledger_api.api.context import AppContext
from ledger_api.api.gate import Access, SubjectAccessGate
from ledger_api.api.mirrored_state import MirroredState
from ledger_api.api.read_connections import ReadConnections
from ledger_api.catalog.loader import default_catalog
from ledger_api.chain.state import DecisionInputs
from ledger_api.chain.types import AgreementStatus
from ledger_api.errors import GrantError
from ledger_api.settings import Settings
from ledger_api.stack import gate_state
from ledger_api.store.db import make_engine


def _fresh(inputs: DecisionInputs) -> DecisionInputs:
    return replace(inputs, log_horizon=None)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- against the indexer, change by change ----------------------------------------------------
Decision = tuple[str, bytes, int]  # institution, subject id, grant id


def _agrees(mirror: GateMirror, replica: ReplicaState, decisions: list[Decision]) -> int:
    """Sync, check every held answer against the replica, then hold every answer; the number of
    answers that were held."""
    mirror.sync()
    held_count = 0
    for address, subject_id, grant_id in decisions:
        fresh = replica.decision_inputs(address, subject_id, grant_id)
        held = mirror.lookup(address, subject_id, grant_id)
        if held is not None:
            held_count += 1
            assert held == _fresh(fresh), (address, grant_id)
        MirroredState(replica, mirror, replica).decision_inputs(address, subject_id, grant_id)
    return held_count


def _decisions(world: World, grants: list[int]) -> list[Decision]:
    institutions = (world.bank.address, world.bank_b.address, world.insurer.address)
    return [
        (address, subject_id, grant_id)
        for address in institutions
        for subject_id in world.subject_ids[:3]
        for grant_id in [*grants, 999]
    ]


def _follow_every_change(world: World, engine: Engine) -> None:
    tester = world.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    indexer = make_indexer(world.w3, world.ledger.deployment, engine, chunk_blocks=2)
    replica = ReplicaState(engine, chain_id=world.w3.eth.chain_id)
    mirror = GateMirror(engine, chain_id=world.w3.eth.chain_id)
    grants: list[int] = []
    held_total = 0
    for step in STEPS:  # grants, suspensions, agreements, supersession, a rebinding, disputes
        result = step(world)
        if step is issue_grants:
            grants = list(result)
        indexer.run_once()
        held_total += _agrees(mirror, replica, _decisions(world, grants))
    assert held_total > 0  # the comparison was not empty
    revoke_one(world, grants[0])
    indexer.run_once()
    _agrees(mirror, replica, _decisions(world, grants))
    held = mirror.lookup(world.bank.address, world.subject_ids[0], grants[0])
    assert held is not None and held.grant is not None and held.grant.revoked
    # A reorg: the abandoned branch's suspension and revocation leave the mirror with it.
    fork = tester.take_snapshot()
    for bank in (world.bank.address, world.bank_b.address):
        world.ledger.transact(world.regulator, "suspendInstitution", bank)
    indexer.run_once()
    _agrees(mirror, replica, _decisions(world, grants))
    held = mirror.lookup(world.bank.address, world.subject_ids[1], grants[1])
    assert held is not None and held.institution is not None and held.institution.suspended
    tester.revert_to_snapshot(fork)
    world.forget_nonces()
    agreement_changes(world)
    agreement_changes(world)  # a longer branch than the abandoned one
    indexer.run_once()
    assert _agrees(mirror, replica, _decisions(world, grants)) > 0
    held = mirror.lookup(world.bank.address, world.subject_ids[1], grants[1])
    assert held is not None and held.institution is not None
    assert not held.institution.suspended  # the abandoned branch's suspension is gone


def test_the_mirror_answers_as_the_replica_after_every_change_and_a_reorg_on_sqlite(
    world: World, new_engine: Callable[[], Engine]
) -> None:
    _follow_every_change(world, new_engine())


@pytest.mark.postgres
def test_the_mirror_answers_as_the_replica_after_every_change_and_a_reorg_on_postgres(
    world: World, pg_engine: Engine
) -> None:
    _follow_every_change(world, pg_engine)


# -- against rows written directly ------------------------------------------------------------
@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'replica.db'}")
    _seed(engine)  # checkpoint at 50; log ids 1-4: CAPPED used twice (1, 2), 3 denied
    yield engine
    engine.dispose()


def _allowed(engine: Engine, *entry_ids: int, grant_id: int = CAPPED) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(ACCESS_LOG),
            [{"id": i, "at": datetime.now(UTC), "actor": BANK, "actor_role": "institution",
              "action": "records", "grant_id": grant_id, "decision": "allowed", "reason": "ok",
              "prev_hash": b"\x00" * 32, "entry_hash": i.to_bytes(32, "big")}
             for i in entry_ids],
        )  # fmt: skip


def _revoke(engine: Engine, grant_id: int, block: int) -> None:
    """What the indexer writes for a revocation at ``block``: the versions, the gate's rows
    and their change, and the checkpoint, in one transaction."""
    with engine.begin() as conn:
        conn.execute(
            update(GRANTS)
            .where(GRANTS.c.grant_id == grant_id, GRANTS.c.valid_to_block.is_(None))
            .values(valid_to_block=block)
        )
        conn.execute(
            insert(GRANTS),
            [_grant(grant_id, max_uses=3, revoked=True, since=block, until=None)],
        )
        refresh_gate_rows(conn, grant_ids=[grant_id])
        conn.execute(update(CHECKPOINT).values(block_number=block))


def _uses_follow_the_log(engine: Engine) -> None:
    replica = ReplicaState(engine, chain_id=CHAIN_ID)
    mirror = GateMirror(engine, chain_id=CHAIN_ID)
    state = MirroredState(replica, mirror, replica)
    mirror.sync()  # the log's last id is 4
    _allowed(engine, 5, 6)  # after the sync, before the read: counted by the read, once
    assert state.decision_inputs(BANK, SUBJECT, CAPPED).uses == 4
    mirror.sync()
    held = mirror.lookup(BANK, SUBJECT, CAPPED)
    assert held is not None and held.uses == 4  # 5 and 6 not counted twice
    _allowed(engine, 7)
    _allowed(engine, 8, grant_id=UNCAPPED)
    assert mirror.sync().uses == 2
    held = mirror.lookup(BANK, SUBJECT, CAPPED)
    assert held is not None and held.uses == 5
    assert held.uses == replica.decision_inputs(BANK, SUBJECT, CAPPED).uses


def test_uses_are_counted_from_the_log_once_each_on_sqlite(seeded: Engine) -> None:
    _uses_follow_the_log(seeded)


@pytest.mark.postgres
def test_uses_are_counted_from_the_log_once_each_on_postgres() -> None:
    with postgres_schema("ccl_test_mirror") as schema:
        engine = make_engine(PG_URL, schema=schema)
        try:
            _seed(engine)
            _uses_follow_the_log(engine)
            _revoke(engine, CAPPED, 60)
            mirror = GateMirror(engine, chain_id=CHAIN_ID)
            assert mirror.sync().block_number == 60
        finally:
            engine.dispose()


def test_a_read_that_spans_a_sync_is_not_held(seeded: Engine) -> None:
    """Read at the old position while the mirror moved on: used once, never held (it could be
    older than the changes the sync dropped)."""
    replica = ReplicaState(seeded, chain_id=CHAIN_ID)
    mirror = GateMirror(seeded, chain_id=CHAIN_ID)
    mirror.sync()
    epoch = mirror.epoch()
    inputs = replica.decision_inputs(BANK, SUBJECT, UNCAPPED)
    _revoke(seeded, CAPPED, 60)
    mirror.sync()
    assert not mirror.remember(BANK, inputs, epoch)
    assert mirror.lookup(BANK, SUBJECT, UNCAPPED) is None
    fresh = replica.decision_inputs(BANK, SUBJECT, UNCAPPED)
    assert mirror.remember(BANK, fresh, mirror.epoch())
    assert mirror.lookup(BANK, SUBJECT, UNCAPPED) == _fresh(fresh)


def test_the_mirror_is_not_trusted_once_it_stops_syncing(seeded: Engine) -> None:
    clock = Clock()
    replica = ReplicaState(seeded, chain_id=CHAIN_ID)
    mirror = GateMirror(seeded, chain_id=CHAIN_ID, max_age_s=5.0, clock=clock)
    mirror.sync()
    MirroredState(replica, mirror, replica).decision_inputs(BANK, SUBJECT, UNCAPPED)
    assert mirror.lookup(BANK, SUBJECT, UNCAPPED) is not None
    clock.now += 5.5
    assert mirror.lookup(BANK, SUBJECT, UNCAPPED) is None
    mirror.sync()
    assert mirror.lookup(BANK, SUBJECT, UNCAPPED) is not None


def test_a_full_mirror_drops_its_oldest_grant(seeded: Engine) -> None:
    replica = ReplicaState(seeded, chain_id=CHAIN_ID)
    mirror = GateMirror(seeded, chain_id=CHAIN_ID, capacity=1)
    state = MirroredState(replica, mirror, replica)
    mirror.sync()
    state.decision_inputs(BANK, SUBJECT, UNCAPPED)
    state.decision_inputs(BANK, SUBJECT, CAPPED)
    assert mirror.lookup(BANK, SUBJECT, UNCAPPED) is None
    assert mirror.lookup(BANK, SUBJECT, CAPPED) is not None


def test_a_mirror_that_fell_behind_the_kept_changes_starts_afresh(
    seeded: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    replica = ReplicaState(seeded, chain_id=CHAIN_ID)
    mirror = GateMirror(seeded, chain_id=CHAIN_ID)
    state = MirroredState(replica, mirror, replica)
    mirror.sync()
    state.decision_inputs(BANK, SUBJECT, UNCAPPED)
    monkeypatch.setattr(gate_rows, "_KEPT", 1)
    with seeded.begin() as conn:
        for grant_id in (101, 102, 103):  # none held; the oldest two pruned
            refresh_gate_rows(conn, grant_ids=[grant_id])
    result = mirror.sync()
    assert result.started_afresh and mirror.lookup(BANK, SUBJECT, UNCAPPED) is None


# -- the gate on it ---------------------------------------------------------------------------
def _records_request(grant_id: int) -> Request:
    subject = "0x" + SUBJECT.hex()
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": f"/v1/subjects/{subject}/records",
            "query_string": f"purpose=loan_application&grant_id={grant_id}&category=tax".encode(),
            "path_params": {"subject": subject},
            "headers": [],
        }
    )


def _gate_on_a_mirror(engine: Engine) -> tuple[AppContext, GateMirror]:
    """The gate's context over a synced mirror, the seeded agreement accepted."""
    with engine.begin() as conn:
        conn.execute(update(AGREEMENTS).values(status=int(AgreementStatus.ACTIVE)))
        refresh_gate_rows(conn, agreement_ids=[1])
    replica = ReplicaState(engine, chain_id=CHAIN_ID)
    mirror = GateMirror(engine, chain_id=CHAIN_ID)
    state = MirroredState(replica, mirror, replica)
    mirror.sync()
    settings = SimpleNamespace(
        strict_gate=False, max_replica_lag_blocks=100, pseudonym_key_bytes=b"\x00" * 32
    )
    ctx = SimpleNamespace(
        settings=settings,
        state=lambda: state,
        chain_head=lambda: 60,
        clock=time.time,
        catalog=default_catalog(),
    )
    return cast(AppContext, ctx), mirror


def _decide(ctx: AppContext, grant_id: int, entry: dict[str, Any] | None = None) -> Access:
    async def decide() -> Access:
        return SubjectAccessGate("records")._decide(
            _records_request(grant_id), ctx, BANK, {} if entry is None else entry
        )

    return asyncio.run(decide())  # on an event loop, as uvicorn runs it


def test_a_revocation_reaches_the_gate_at_the_mirrors_next_sync(seeded: Engine) -> None:
    """Allowed from the mirror at block 50 (the receipt names 50, where the grant was live);
    after the revocation at 60 and one sync, refused as revoked, naming 60."""
    ctx, mirror = _gate_on_a_mirror(seeded)
    tax_grant = CAPPED  # categories 4: tax; QUERY; loan application
    assert _decide(ctx, tax_grant).checked_block == 50
    _revoke(seeded, tax_grant, 60)
    assert _decide(ctx, tax_grant).checked_block == 50  # the mirror still stands at 50
    mirror.sync()
    entry: dict[str, Any] = {}
    with pytest.raises(GrantError) as refused:
        _decide(ctx, tax_grant, entry)
    assert refused.value.code == "revoked" and entry["checked_block"] == 60


def test_a_cap_run_out_by_another_worker_is_refused_at_the_append(seeded: Engine) -> None:
    """The mirror counts 2 of 3 uses while another worker logs the third: the gate lets the
    read through and the log's append refuses it, with the gate's own code; after the next
    sync the gate refuses it itself."""
    ctx, mirror = _gate_on_a_mirror(seeded)
    assert _decide(ctx, CAPPED).grant is not None  # read once: the mirror holds 2 uses
    _allowed(seeded, 5)  # another worker's read, the third of 3
    access = _decide(ctx, CAPPED)
    assert access.grant is not None and access.grant.max_uses == 3
    writer = AccessLogWriter(seeded)
    try:
        draft = EntryDraft(
            actor=BANK, actor_role="institution", action="records", decision=ALLOWED,
            reason="ok", subject_id=SUBJECT, grant_id=CAPPED, checked_block=50,
            response_hash=b"\x01" * 32, max_uses=access.grant.max_uses,
        )  # fmt: skip
        result = writer.append(draft)
    finally:
        writer.close()
    assert (result.decision, result.reason) == (DENIED, "usage_cap_reached")
    mirror.sync()
    with pytest.raises(GrantError) as refused:
        _decide(ctx, CAPPED)
    assert refused.value.code == "usage_cap_reached"


def test_the_api_wiring_decides_from_a_mirror_unless_it_is_turned_off(seeded: Engine) -> None:
    reads = ReadConnections(seeded)
    try:
        for ttl, entries, mirrored in (
            (0.25, 20_000, True),
            (0.0, 20_000, False),
            (0.25, 0, False),
        ):
            settings = cast(
                Settings, SimpleNamespace(state_cache_ttl_s=ttl, gate_mirror_entries=entries)
            )
            state, mirror = gate_state(seeded, CHAIN_ID, reads, settings)
            assert isinstance(state, MirroredState) is mirrored
            assert (mirror is not None) is mirrored
    finally:
        reads.close()
