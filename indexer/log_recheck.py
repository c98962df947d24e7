"""The access log re-checked once, as the indexer goes, instead of at every question.

The violations view asks, of every entry logged "allowed", whether its grant was usable in
the replica's state right after its ``checked_block`` (``indexer.violations_sql``). That
state stops changing once the indexer's checkpoint is ``reorg_window`` blocks past it: the
follower undoes blocks only down to ``checkpoint - reorg_window`` (deeper reorgs stop it with
``ReorgTooDeepError``). The earlier allowed uses a capped grant counts are entries with
smaller ids, which never change. So the verdict of an entry with
``checked_block <= checkpoint - reorg_window`` is final and is recorded once:

* ``access_log_recheck`` (one row): every entry with ``id <= checked_through_id`` is judged;
* ``access_log_violations``: the entries among them the re-check found violating.

``recheck_pass`` moves the mark over the next entries, up to the first allowed entry whose
verdict is not final yet (the mark stays contiguous), in one transaction with the verdicts.
Refused entries and entries without a ``checked_block`` are judged as they come:
``violation_ids_query`` decides about them exactly as it does at question time (an allowed
entry with a grant but no block is judged against the state the replica holds then; the gate
never writes one: it stamps the block of every check it makes).

A watermark by id is sound because ids commit in order: the access log's writer numbers a
batch after the last committed entry (``ledger_api.accesslog.writer``: on PostgreSQL under a
transaction-scoped advisory lock held until the commit; on SQLite, whose writers are
serialised by the database, a second writer reading the same last id would collide on the
primary key). An entry becomes visible only after every smaller id did, so no entry can
appear later below the mark.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from indexer.tables import CHECKPOINT, LOG_VIOLATIONS, RECHECK_MARK
from indexer.violations_sql import ACCESS_LOG, violation_ids_query
from ledger_api.store.types import utcnow

__all__ = [
    "PASS_ENTRIES", "checked_through", "forget", "recheck_all", "recheck_pass", "status",
]  # fmt: skip

# Entries one pass judges at most: a few hundred milliseconds at a province's size
# (docs/benchmarks.md), so the follower is never held up long.
PASS_ENTRIES = 20_000
_MARK_ID = 1


def checked_through(conn: Connection) -> int:
    """The id through which every entry's verdict is recorded (0: none yet)."""
    mark = conn.execute(
        select(RECHECK_MARK.c.checked_through_id).where(RECHECK_MARK.c.id == _MARK_ID)
    ).scalar()
    return 0 if mark is None else int(mark)


def forget(conn: Connection) -> None:
    """Drop every verdict (the replica is rebuilt: verdicts are judged again). The mark goes
    first: a pass running meanwhile holds it, so this waits for that pass to end."""
    conn.execute(delete(RECHECK_MARK))
    conn.execute(delete(LOG_VIOLATIONS))


def _hold_mark(conn: Connection) -> int:
    """Lock the mark for this transaction and read it. The no-op update takes the row lock on
    PostgreSQL and the database's write lock on SQLite, so two passes, or a pass and a
    rebuild (``forget``), never interleave."""
    hold = update(RECHECK_MARK).where(RECHECK_MARK.c.id == _MARK_ID)
    if conn.execute(hold.values(checked_through_id=RECHECK_MARK.c.checked_through_id)).rowcount:
        return checked_through(conn)
    first = {"id": _MARK_ID, "checked_through_id": 0, "updated_at": utcnow()}
    insert_first = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert
    conn.execute(insert_first(RECHECK_MARK).values(first).on_conflict_do_nothing())
    conn.execute(hold.values(checked_through_id=RECHECK_MARK.c.checked_through_id))
    return checked_through(conn)


def _final_block(conn: Connection, chain_id: int, reorg_window: int) -> int | None:
    """The highest block whose state no reorg the follower handles can change, or None."""
    indexed = conn.execute(
        select(CHECKPOINT.c.block_number).where(CHECKPOINT.c.chain_id == chain_id)
    ).scalar()
    return None if indexed is None else int(indexed) - reorg_window


def _judged_through(conn: Connection, mark: int, final: int, limit: int) -> tuple[int, int]:
    """(the last id of the contiguous run after ``mark`` whose verdicts are final, how many
    entries that run holds), looking at ``limit`` entries at most. Counted by the database:
    fetching the entries into Python cost about as much as judging them."""
    log = ACCESS_LOG.c
    ahead = (
        select(log.id, log.checked_block, log.decision)
        .where(log.id > mark)
        .order_by(log.id)
        .limit(limit)
        .subquery("ahead")
    )
    first_unfinal = (
        select(func.min(ahead.c.id))
        .where(ahead.c.decision == "allowed", ahead.c.checked_block > final)
        .scalar_subquery()
    )
    through, judged = conn.execute(
        select(func.max(ahead.c.id), func.count()).where(
            or_(first_unfinal.is_(None), ahead.c.id < first_unfinal)
        )
    ).one()
    return (mark, 0) if not judged else (int(through), int(judged))


def recheck_pass(
    engine: Engine, *, chain_id: int, reorg_window: int, limit: int = PASS_ENTRIES
) -> int:
    """Judge the next entries whose verdicts are final (``limit`` at most), record the
    violations among them and move the mark past them, in one transaction. Returns the
    number of entries judged (0: nothing final to judge)."""
    # The follower calls this on every tick: when nothing is left to judge, say so from a
    # read, without the write lock a pass takes (on SQLite the API's log writer waits for it).
    with engine.connect() as conn:
        final = _final_block(conn, chain_id, reorg_window)
        if final is None or _judged_through(conn, checked_through(conn), final, 1)[1] == 0:
            return 0
    with engine.begin() as conn:
        mark = _hold_mark(conn)
        final = _final_block(conn, chain_id, reorg_window)
        if final is None:
            return 0
        through, judged = _judged_through(conn, mark, final, limit)
        if judged == 0:
            return 0
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL jit = off")  # as the view does (audit_views)
        found = (
            violation_ids_query(
                conn, institution=None, subject_id=None, since=None, until=None, after_id=mark
            )
            .where(ACCESS_LOG.c.id <= through)
            .add_columns(ACCESS_LOG.c.checked_block)
        )
        now = utcnow()
        rows = [
            {"entry_id": row.id, "checked_block": row.checked_block, "found_at": now}
            for row in conn.execute(found)
        ]
        # Verdicts above a mark that was set back (a benchmark, an operator) are judged again.
        conn.execute(
            delete(LOG_VIOLATIONS).where(
                LOG_VIOLATIONS.c.entry_id > mark, LOG_VIOLATIONS.c.entry_id <= through
            )
        )
        if rows:
            conn.execute(insert(LOG_VIOLATIONS), rows)
        conn.execute(
            update(RECHECK_MARK)
            .where(RECHECK_MARK.c.id == _MARK_ID)
            .values(checked_through_id=through, updated_at=now)
        )
    return judged


def recheck_all(
    engine: Engine, *, chain_id: int, reorg_window: int, limit: int = PASS_ENTRIES,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Pass after pass until nothing final is left to judge (an upgrade's catch-up)."""
    judged = 0
    while passed := recheck_pass(engine, chain_id=chain_id, reorg_window=reorg_window,
                                 limit=limit):  # fmt: skip
        judged += passed
        if progress is not None:
            progress(status(engine) | {"judged": judged})
    return status(engine) | {"judged": judged}


def status(engine: Engine) -> dict[str, Any]:
    """The mark, the log's last id and the violations recorded."""
    with engine.connect() as conn:
        return {
            "checked_through_id": checked_through(conn),
            "last_entry_id": int(conn.execute(select(func.max(ACCESS_LOG.c.id))).scalar() or 0),
            "violations_recorded": int(
                conn.execute(select(func.count()).select_from(LOG_VIOLATIONS)).scalar_one()
            ),
        }
