"""The follower: incremental == rebuild, reorgs, crashes at any point, depth, lag, threads."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from activity import (
    STEPS,
    agreement_changes,
    everything,
    issue_grants,
    membership_changes,
    revoke_one,
    terms,
)
from indexer_support import make_indexer
from sqlalchemy import Engine, func, select
from world import World, build_world

from indexer.decode import EventRecord
from indexer.errors import ReorgTooDeepError, ReplicaMismatchError
from indexer.replica import ReplicaState
from indexer.store import BlockInfo, Chunk, SqlIndexStore, dump_state
from indexer.tables import BLOCKS, EVENTS
from ledger_api.chain.deployment import Deployment
from ledger_api.chain.embedded import open_embedded
from ledger_api.store.db import make_engine


def clean_dump(
    world: World, new_engine: Callable[[], Engine]
) -> dict[str, list[tuple[object, ...]]]:
    engine = new_engine()
    make_indexer(world.w3, world.ledger.deployment, engine).catch_up()
    return dump_state(engine)


def event_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(EVENTS)).scalar_one())


def ledger_log_count(world: World) -> int:
    logs = world.w3.eth.get_logs(
        {"fromBlock": 0, "toBlock": "latest", "address": world.ledger.address}
    )
    return len(logs)


def test_incremental_indexing_equals_a_rebuild_from_scratch(
    world: World, new_engine: Callable[[], Engine]
) -> None:
    engine = new_engine()
    indexer = make_indexer(world.w3, world.ledger.deployment, engine, chunk_blocks=2)
    indexer.run_once()
    grants: list[int] = []
    for step in STEPS:
        result = step(world)
        if step is issue_grants:
            grants = list(result)
        indexer.run_once()
    revoke_one(world, grants[0])
    assert indexer.run_once() == 1
    incremental = dump_state(engine)
    assert incremental == clean_dump(world, new_engine)
    indexer.rebuild()
    assert dump_state(engine) == incremental
    assert event_count(engine) == ledger_log_count(world)


def test_reorg_on_eth_tester_leaves_the_replica_equal_to_a_clean_reindex(
    world: World, new_engine: Callable[[], Engine]
) -> None:
    tester = world.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    engine = new_engine()
    indexer = make_indexer(world.w3, world.ledger.deployment, engine)
    issue_grants(world)
    indexer.run_once()
    fork = tester.take_snapshot()
    membership_changes(world)  # the branch that will be abandoned
    indexer.run_once()
    suspended = ReplicaState(engine).institution(world.insurer.address)
    assert suspended is not None and suspended.suspended
    tester.revert_to_snapshot(fork)
    world.forget_nonces()
    agreement_changes(world)  # a different, longer branch
    indexer.run_once()
    assert dump_state(engine) == clean_dump(world, new_engine)
    reinstated = ReplicaState(engine).institution(world.insurer.address)
    assert reinstated is not None and not reinstated.suspended
    assert event_count(engine) == ledger_log_count(world)


def test_reorg_onto_a_shorter_branch_is_undone_too(
    world: World, new_engine: Callable[[], Engine]
) -> None:
    tester = world.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    engine = new_engine()
    indexer = make_indexer(world.w3, world.ledger.deployment, engine)
    indexer.run_once()
    fork = tester.take_snapshot()
    issue_grants(world)
    membership_changes(world)
    indexer.run_once()
    tester.revert_to_snapshot(fork)
    world.forget_nonces()
    revoke_target = world.ledger.issue_grant(world.subject_tx[0], terms(world))
    indexer.run_once()
    assert dump_state(engine) == clean_dump(world, new_engine)
    grant = ReplicaState(engine).grant(revoke_target)
    assert grant is not None and grant.institution_index == 1


def test_reorg_deeper_than_the_window_stops_with_a_clear_error(
    world: World, new_engine: Callable[[], Engine]
) -> None:
    tester = world.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    engine = new_engine()
    indexer = make_indexer(world.w3, world.ledger.deployment, engine, reorg_window=2)
    indexer.run_once()
    fork = tester.take_snapshot()
    membership_changes(world)  # six blocks
    indexer.run_once()
    before = dump_state(engine)
    tester.revert_to_snapshot(fork)
    world.forget_nonces()
    agreement_changes(world)
    with pytest.raises(ReorgTooDeepError) as raised:
        indexer.run_once()
    assert raised.value.code == "reorg_too_deep"
    assert "reorg window is 2 blocks" in str(raised.value)
    assert dump_state(engine) == before  # nothing half-undone
    stop = threading.Event()
    with pytest.raises(ReorgTooDeepError):  # the long-running loop stops too
        indexer.run_forever(stop, poll_interval_s=0)
    indexer.rebuild()
    assert dump_state(engine) == clean_dump(world, new_engine)


class Crash(Exception):
    pass


def test_crashing_at_50_points_during_catch_up_then_restarting_equals_a_clean_run(
    world: World, new_engine: Callable[[], Engine], tmp_path: Path
) -> None:
    everything(world)
    expected = clean_dump(world, new_engine)
    template = new_engine()  # migrated and empty: copied for each trial
    template_path = Path(str(template.url.database))
    template.dispose()

    points: list[str] = []
    counting = make_engine(f"sqlite:///{tmp_path / 'count.sqlite'}")
    shutil.copy(template_path, tmp_path / "count.sqlite")
    make_indexer(world.w3, world.ledger.deployment, counting, chunk_blocks=4,
                 fault_hook=points.append).catch_up()  # fmt: skip
    counting.dispose()
    assert len(points) >= 50 and {"write:apply", "write:state", "read:logs"} <= set(points)

    step = len(points) // 50
    for trial, crash_at in enumerate(range(1, 50 * step + 1, step)):
        path = tmp_path / f"trial-{trial}.sqlite"
        shutil.copy(template_path, path)
        engine = make_engine(f"sqlite:///{path}")
        calls = 0

        def crash(point: str, crash_at: int = crash_at) -> None:
            nonlocal calls
            calls += 1
            if calls == crash_at:
                raise Crash(point)

        with pytest.raises(Crash):
            make_indexer(world.w3, world.ledger.deployment, engine, chunk_blocks=4,
                         fault_hook=crash).catch_up()  # fmt: skip
        make_indexer(world.w3, world.ledger.deployment, engine, chunk_blocks=4).catch_up()
        assert dump_state(engine) == expected, f"crash at {points[crash_at - 1]} (#{crash_at})"
        engine.dispose()


def test_confirmation_depth_keeps_the_replica_that_many_blocks_behind(
    world: World, engine: Engine
) -> None:
    issue_grants(world)
    indexer = make_indexer(world.w3, world.ledger.deployment, engine, confirmation_depth=3)
    assert indexer.lag() > 0
    indexer.run_once()
    status = indexer.status()
    assert status.indexed_block == status.head - 3 and status.lag == 0 and indexer.lag() == 0
    assert ReplicaState(engine).position().block_number == status.head - 3


def test_empty_blocks_below_the_reorg_window_are_not_kept(world: World, engine: Engine) -> None:
    tester = world.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    indexer = make_indexer(world.w3, world.ledger.deployment, engine, reorg_window=4)
    for _ in range(3):  # empty blocks, then events, indexed step by step
        tester.mine_blocks(10)
        issue_grants(world)
        indexer.run_once()
    checkpoint = indexer.status().indexed_block
    assert checkpoint is not None
    with engine.connect() as conn:
        stored = conn.execute(select(BLOCKS.c.number, BLOCKS.c.event_count)).all()
        event_blocks = {n for (n,) in conn.execute(select(EVENTS.c.block_number).distinct())}
    assert {n for n, count in stored if count} == event_blocks  # audit views join these
    empty = sorted(n for n, count in stored if not count)
    assert empty and min(empty) >= checkpoint - 4  # the window a reorg walks back through
    assert len(stored) < checkpoint - world.ledger.deployment.deployment_block


def test_lag_counts_blocks_until_caught_up(world: World, engine: Engine) -> None:
    indexer = make_indexer(world.w3, world.ledger.deployment, engine)
    head = world.w3.eth.block_number
    assert indexer.lag() == head - world.ledger.deployment.deployment_block + 1
    indexer.run_once()
    assert indexer.lag() == 0
    issue_grants(world)
    assert indexer.lag() == world.w3.eth.block_number - head
    assert indexer.status().as_dict()["indexed_events"] == event_count(engine)


def test_a_database_mirroring_another_deployment_is_refused(world: World, engine: Engine) -> None:
    make_indexer(world.w3, world.ledger.deployment, engine).run_once()
    other = Deployment(**{**world.ledger.deployment.__dict__,
                          "address": "0x000000000000000000000000000000000000dEaD"})  # fmt: skip
    with pytest.raises(ReplicaMismatchError):
        make_indexer(world.w3, other, engine).run_once()


def test_the_store_is_driven_without_a_chain(engine: Engine) -> None:
    from indexer.decode import EventRecord as E

    inst = "0x1efF47bc3a10a45D4B230B5d10E37751FE6AA718"
    word = 7 | 1 << 32 | 0b1100 << 64 | 0 << 96 | 2 << 104 | 100 << 112 | 10**10 << 152 | 5 << 192

    def block(n: int) -> BlockInfo:
        return BlockInfo(n, n.to_bytes(32, "big"), (n - 1).to_bytes(32, "big"), 1000 + n)

    def ev(event: str, n: int, i: int, **args: object) -> EventRecord:
        return E(event, n, block(n).hash, i, b"\x00" * 32, 0, args)

    store = SqlIndexStore(engine)
    store.write_chunk(1, "0x" + "00" * 20, 1, Chunk(
        events=[
            ev("InstitutionRegistered", 2, 0, institution=inst, index=1, kind=0, name="B"),
            ev("SubjectBound", 3, 0, subjectId=b"\x05" * 32, account=inst, subjectIndex=7),
            ev("GrantIssued", 3, 1, grantId=1, subjectIndex=7, institution=inst, terms=word),
        ],
        blocks=[block(2), block(3)], last=block(4),
    ))  # fmt: skip
    store.write_chunk(1, "0x" + "00" * 20, 1, Chunk(
        events=[ev("GrantRevoked", 6, 0, grantId=1, subjectIndex=7, institutionIndex=1)],
        blocks=[block(6)], last=block(6),
    ))  # fmt: skip
    replica = ReplicaState(engine)
    grant = replica.grant(1)
    assert (
        grant is not None and grant.revoked and grant.categories == 0b1100 and grant.max_uses == 5
    )
    past = replica.at(5).grant(1)
    assert past is not None and not past.revoked
    assert replica.at(2).grant(1) is None
    assert replica.position().block_number == 6
    store.rollback_to(1, block(3))
    assert replica.grant(1) == past and replica.position().block_number == 3


def test_run_forever_follows_the_embedded_chain_from_a_thread(
    engine: Engine, tmp_path: Path
) -> None:
    with open_embedded(tmp_path / "chain") as chain:
        world = build_world(chain.w3)
        indexer = make_indexer(chain.w3, world.ledger.deployment, engine)
        stop = threading.Event()
        thread = threading.Thread(target=indexer.run_forever, args=(stop, 0.01), daemon=True)
        thread.start()
        try:
            grant_ids = issue_grants(world)
            replica = ReplicaState(engine)
            deadline = time.monotonic() + 60  # a bound on waiting, not a timing assertion
            while replica.grant(grant_ids[-1]) is None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert replica.grant(grant_ids[-1]) is not None
        finally:
            stop.set()
            thread.join(timeout=30)
        assert not thread.is_alive()
        assert indexer.lag() == 0
        assert event_count(engine) == ledger_log_count(world)


@pytest.mark.postgres
def test_postgres_replica_through_a_reorg_equals_a_clean_sqlite_replica(
    world: World, pg_engine: Engine, new_engine: Callable[[], Engine]
) -> None:
    tester = world.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    indexer = make_indexer(world.w3, world.ledger.deployment, pg_engine, chunk_blocks=3)
    grants = issue_grants(world)
    indexer.run_once()
    fork = tester.take_snapshot()
    membership_changes(world)
    indexer.run_once()
    tester.revert_to_snapshot(fork)
    world.forget_nonces()
    agreement_changes(world)
    revoke_one(world, grants[0])
    indexer.run_once()
    assert dump_state(pg_engine) == clean_dump(world, new_engine)
    grant = ReplicaState(pg_engine).grant(grants[0])
    assert grant is not None and grant.revoked
