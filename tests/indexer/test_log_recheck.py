"""The access log re-checked once by the indexer (``indexer.log_recheck``): the violations view
gives the same answer whatever part of the log has recorded verdicts, verdicts are recorded
only once final, passes are idempotent and atomic, and the follower and the CLI drive them."""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from activity import issue_grants
from forged_log import BANKS, DAY, T0, load_log, load_replica
from indexer_support import make_indexer
from sqlalchemy import Engine, event, insert, select, update
from sqlalchemy.orm import Session
from test_indexer_audit_views import log_access
from typer.testing import CliRunner
from violations_oracle import python_violations
from world import build_world

from indexer import audit_views
from indexer.cli import app
from indexer.log_recheck import checked_through, recheck_pass
from indexer.tables import CHECKPOINT, LOG_VIOLATIONS, RECHECK_MARK
from ledger_api.chain.embedded import open_embedded
from ledger_api.store.access_log import AccessLogEntry

ENTRIES = 3000
CHAIN_ID = 4242
WINDOW = 20  # the reorg window the tests' passes use
ONE_DAY: dict[str, Any] = {
    "since": datetime.fromtimestamp(T0 + 3 * DAY, UTC),
    "until": datetime.fromtimestamp(T0 + 4 * DAY, UTC),
}


def _indexed_up_to(engine: Engine, block: int) -> None:
    """The follower's checkpoint at ``block`` (the forged replica has no follower)."""
    with engine.begin() as conn:
        if conn.execute(update(CHECKPOINT).values(block_number=block)).rowcount:
            return
        conn.execute(insert(CHECKPOINT).values(
            chain_id=CHAIN_ID, contract="0x" + "22" * 20, deployment_block=1, block_number=block,
            block_hash=b"\x01" * 32, block_timestamp=T0, event_count=0,
            updated_at=datetime.now(UTC),
        ))  # fmt: skip


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def forged(request: pytest.FixtureRequest) -> Engine:
    """The forged log of test_violations_sql (blocks 100..199, some entries without a block),
    its replica indexed up to block 300."""
    engine: Engine = request.getfixturevalue("engine" if request.param == "sqlite" else "pg_engine")
    return _forge(engine)


def _forge(engine: Engine) -> Engine:
    rng = random.Random(32)
    load_log(engine, rng, load_replica(engine, rng), ENTRIES)
    _indexed_up_to(engine, 300)
    return engine


def _pass(engine: Engine, limit: int = 20_000) -> int:
    return recheck_pass(engine, chain_id=CHAIN_ID, reorg_window=WINDOW, limit=limit)


def _mark(engine: Engine) -> int:
    with engine.connect() as conn:
        return checked_through(conn)


def _recorded(engine: Engine) -> list[tuple[int, int | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(LOG_VIOLATIONS.c.entry_id, LOG_VIOLATIONS.c.checked_block).order_by(
                LOG_VIOLATIONS.c.entry_id
            )
        )
        return [(row.entry_id, row.checked_block) for row in rows]


def _view(engine: Engine, **filters: Any) -> list[dict[str, Any]]:
    with Session(engine) as session:
        return audit_views.violations(session, limit=ENTRIES, **filters)


def _oracle(engine: Engine, **filters: Any) -> list[dict[str, Any]]:
    with Session(engine) as session:
        return python_violations(session, **filters)


def _by_key(engine: Engine, page: int, **filters: Any) -> list[int]:
    found: list[int] = []
    after: int | None = None
    with Session(engine) as session:
        while rows := audit_views.violations(session, limit=page, after_id=after, **filters):
            found += [row["entry_id"] for row in rows]
            after = found[-1]
    return found


def test_the_view_answers_the_same_whether_none_part_or_all_of_the_log_is_rechecked(
    forged: Engine,
) -> None:
    windows: list[dict[str, Any]] = [{}, ONE_DAY, {"institution": BANKS[1], **ONE_DAY}]
    oracle = [_oracle(forged, **window) for window in windows]
    assert all(oracle) and len(oracle[0]) > len(oracle[1]) > len(oracle[2])
    marks = []
    for stage in ("none", "part", "all"):
        if stage == "part":
            assert _pass(forged, limit=ENTRIES // 2) == ENTRIES // 2
        if stage == "all":
            assert _pass(forged) == ENTRIES - ENTRIES // 2
        marks.append(_mark(forged))
        for window, expected in zip(windows, oracle, strict=True):
            assert _view(forged, **window) == expected, (stage, window)
        # Pages by key cross the mark: recorded ids first, then those re-checked on the fly.
        assert _by_key(forged, 7, **ONE_DAY) == [row["entry_id"] for row in oracle[1]]
        with Session(forged) as session:
            page = audit_views.violations(session, limit=5, offset=10, **ONE_DAY)
        assert [row["entry_id"] for row in page] == [r["entry_id"] for r in oracle[1][10:15]]
    assert marks == [0, ENTRIES // 2, ENTRIES]
    # Every violation of the log is recorded, with the block it was checked at.
    with forged.connect() as conn:
        blocks = dict(conn.execute(select(AccessLogEntry.id, AccessLogEntry.checked_block)).all())
    assert _recorded(forged) == [(r["entry_id"], blocks[r["entry_id"]]) for r in oracle[0]]


def test_entries_checked_inside_the_reorg_window_are_judged_only_once_it_has_passed_them(
    forged: Engine,
) -> None:
    log = AccessLogEntry.__table__.c
    allowed = log.decision == "allowed"
    with forged.begin() as conn:  # entry 400 is the first allowed one checked above block 190
        conn.execute(update(AccessLogEntry).where(log.id < 400, allowed, log.checked_block > 190)
                     .values(checked_block=120))  # fmt: skip
        conn.execute(update(AccessLogEntry).where(log.id == 400).values(
            decision="allowed", checked_block=199))  # fmt: skip
        # A refused entry above it, and an allowed one without a block, do not hold it back.
        conn.execute(update(AccessLogEntry).where(log.id == 10).values(
            decision="denied", checked_block=199))  # fmt: skip
        conn.execute(update(AccessLogEntry).where(log.id == 11).values(
            decision="allowed", checked_block=None))  # fmt: skip
    _indexed_up_to(forged, 210)  # final: blocks <= 190
    while _pass(forged, limit=150):
        pass
    assert _mark(forged) == 399
    assert _recorded(forged) and all(entry_id < 400 for entry_id, _ in _recorded(forged))
    assert _view(forged) == _oracle(forged)
    _indexed_up_to(forged, 300)
    while _pass(forged, limit=500):
        pass
    assert _mark(forged) == ENTRIES
    assert _view(forged) == _oracle(forged)


def test_passes_repeated_or_started_again_from_a_set_back_mark_record_the_same_verdicts(
    forged: Engine,
) -> None:
    while _pass(forged, limit=700):
        pass
    once = _recorded(forged)
    assert once and _pass(forged) == 0  # caught up: nothing left, nothing changed
    with forged.begin() as conn:
        conn.execute(update(RECHECK_MARK).values(checked_through_id=900))
    assert _pass(forged, limit=400) == 400
    assert _recorded(forged) == once  # the verdicts of 901..1300 judged again, no duplicates
    while _pass(forged, limit=1000):
        pass
    assert _mark(forged) == ENTRIES and _recorded(forged) == once


def test_a_pass_with_nothing_final_to_judge_only_reads(forged: Engine) -> None:
    """The follower runs a pass on every tick: when it is caught up, the pass must not take
    the write lock (on SQLite the API's log writer would wait for it)."""
    while _pass(forged, limit=1000):
        pass
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.lstrip().upper())

    event.listen(forged, "before_cursor_execute", record)
    try:
        assert _pass(forged) == 0
    finally:
        event.remove(forged, "before_cursor_execute", record)
    assert statements and all(s.startswith("SELECT") for s in statements), statements
    assert not any("FOR UPDATE" in s for s in statements)


def test_a_pass_that_fails_before_its_commit_leaves_the_mark_and_the_verdicts_unchanged(
    forged: Engine,
) -> None:
    _pass(forged, limit=1000)
    before = (_mark(forged), _recorded(forged))

    def crash(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.startswith("UPDATE access_log_recheck SET checked_through_id=") and (
            "updated_at" in statement
        ):
            raise RuntimeError("power cut")

    event.listen(forged, "before_cursor_execute", crash)
    try:
        with pytest.raises(RuntimeError, match="power cut"):
            _pass(forged, limit=1000)
    finally:
        event.remove(forged, "before_cursor_execute", crash)
    assert (_mark(forged), _recorded(forged)) == before
    while _pass(forged, limit=1000):
        pass
    assert _view(forged) == _oracle(forged)


def test_the_follower_records_verdicts_as_its_checkpoint_moves_past_their_blocks(
    engine: Engine, tmp_path: Path
) -> None:
    with open_embedded(tmp_path / "chain") as chain:
        world = build_world(chain.w3)
        grant = issue_grants(world)[0]
        indexer = make_indexer(chain.w3, world.ledger.deployment, engine, reorg_window=2)
        indexer.run_once()
        used = log_access(engine, world, actor=world.bank.address, grant_id=grant)
        forged = log_access(engine, world, actor=world.bank_b.address, grant_id=grant)
        stop = threading.Event()
        thread = threading.Thread(target=indexer.run_forever, args=(stop, 0.01), daemon=True)
        thread.start()
        try:
            # Checked at the head: not final until the follower is two blocks past it.
            assert _mark(engine) < used
            issue_grants(world)  # a few more blocks
            deadline = time.monotonic() + 60  # a bound on waiting, not a timing assertion
            while _mark(engine) < forged and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            stop.set()
            thread.join(timeout=30)
        assert not thread.is_alive()
        assert _mark(engine) == forged
        assert [entry_id for entry_id, _ in _recorded(engine)] == [forged]
        assert [row["entry_id"] for row in _view(engine)] == [forged]
        assert _view(engine) == _oracle(engine)
        indexer.rebuild()  # another replica: its verdicts are judged again
        assert (_mark(engine), _recorded(engine)) == (0, [])


def test_cli_recheck_catches_the_whole_log_up_and_prints_json_progress(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    forged = _forge(engine)
    monkeypatch.setenv("CCL_DATABASE_URL", forged.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CCL_REORG_WINDOW_BLOCKS", str(WINDOW))
    result = CliRunner().invoke(app, ["recheck", "--limit", "1000"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["checked_through_id"] for line in lines] == [1000, 2000, 3000, 3000]
    assert lines[-1]["done"] and lines[-1]["judged"] == ENTRIES
    assert lines[-1]["violations_recorded"] == len(_oracle(forged)) == len(_recorded(forged))


def test_cli_recheck_of_a_database_nothing_was_indexed_into_is_a_one_line_error(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCL_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    result = CliRunner().invoke(app, ["recheck"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: nothing is indexed yet: run `ccl-indexer catch-up` first [not_indexed]"
    ]
