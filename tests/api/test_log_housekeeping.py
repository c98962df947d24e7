"""Housekeeping at scale: the nonce table stays bounded and the last day verifies alone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select, update

from ledger_api.accesslog import AccessLogAnchoring, AccessLogWriter, EntryDraft, verify_access_log
from ledger_api.accesslog.entries import ACCESS_LOG
from ledger_api.accesslog.writer import safe_nonce_retention
from ledger_api.anchoring.anchorer import InMemoryAnchorer
from ledger_api.store.db import make_engine, migrate
from ledger_api.store.subject_tables import RequestNonce

NONCES = RequestNonce.__table__
DAY_1 = 1_800_000_000.0  # 2027-01-15 08:00 UTC
DAY_2 = DAY_1 + 86_400


def _engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'log.sqlite'}"
    migrate(url)
    return make_engine(url)


def _draft(n: int) -> EntryDraft:
    return EntryDraft(
        actor="0x" + "ab" * 20, actor_role="institution", action="records", decision="allowed",
        reason="ok", subject_id=n.to_bytes(32, "big"),
    )  # fmt: skip


def _nonces(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(NONCES)).scalar_one())


def test_nonce_retention_never_falls_below_what_the_timestamp_rule_lets_a_replay_reach() -> None:
    assert safe_nonce_retention(600, 60) == 600
    assert safe_nonce_retention(10, 60) == 121  # signed at s - 60, stale after s + 120
    assert safe_nonce_retention(600, 600) == 1201


def test_the_writer_forgets_nonces_a_replay_could_no_longer_use(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    now = [DAY_1]
    writer = AccessLogWriter(engine, clock=lambda: now[0], nonce_retention_s=10, clock_skew_s=60)
    address = "0x" + "ab" * 20
    try:
        assert writer.reserve_nonce(address, "nonce-old-1").result() is True
        now[0] += 100  # within 2 x skew: a replay could still carry a fresh timestamp
        assert writer.reserve_nonce(address, "nonce-mid-1").result() is True
        assert writer.reserve_nonce(address, "nonce-old-1").result() is False
        assert _nonces(engine) == 2
        now[0] += 100  # the first nonce is 200 s old: its replay is refused as stale anyway
        assert writer.reserve_nonce(address, "nonce-new-1").result() is True
        writer.close()  # the writer prunes after its commit: wait for it
        with engine.connect() as conn:
            kept = set(conn.execute(select(NONCES.c.nonce)).scalars())
        assert kept == {"nonce-mid-1", "nonce-new-1"}
    finally:
        writer.close()
        engine.dispose()


def _day_of_entries(writer: AccessLogWriter, anchoring: AccessLogAnchoring, first: int) -> None:
    for n in range(first, first + 5):
        writer.append(_draft(n))
    assert anchoring.anchor_once() is not None


def test_verifying_since_a_day_reads_that_day_and_the_ranges_reaching_it(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    now = [DAY_1]
    writer = AccessLogWriter(engine, clock=lambda: now[0])
    anchoring = AccessLogAnchoring(
        engine, InMemoryAnchorer(), every_s=30, every_entries=5, clock=lambda: now[0]
    )
    since = datetime.fromtimestamp(DAY_2, UTC).replace(hour=0, minute=0, second=0)
    try:
        _day_of_entries(writer, anchoring, 1)
        now[0] = DAY_2
        _day_of_entries(writer, anchoring, 6)
        with engine.connect() as conn:
            report = verify_access_log(conn, since=since)
            assert report.clean and report.entries_checked == 5  # not the first day's 5
            assert verify_access_log(conn).entries_checked == 10
        with engine.begin() as conn:  # tamper with history (day 1) and with the last day
            conn.execute(update(ACCESS_LOG).where(ACCESS_LOG.c.id == 2).values(reason="x"))
        with engine.connect() as conn:
            assert verify_access_log(conn, since=since).clean  # history is not re-read
            assert [f.entry_id for f in verify_access_log(conn).of_kind("edited")] == [2]
        with engine.begin() as conn:
            conn.execute(update(ACCESS_LOG).where(ACCESS_LOG.c.id == 8).values(reason="x"))
        with engine.connect() as conn:
            found = verify_access_log(conn, since=since)
        assert [f.entry_id for f in found.of_kind("edited")] == [8]
    finally:
        writer.close()
        engine.dispose()


def test_a_day_whose_first_entries_were_deleted_is_reported(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    now = [DAY_1]
    writer = AccessLogWriter(engine, clock=lambda: now[0])
    anchoring = AccessLogAnchoring(
        engine, InMemoryAnchorer(), every_s=30, every_entries=5, clock=lambda: now[0]
    )
    since = datetime.fromtimestamp(DAY_2, UTC).replace(hour=0, minute=0, second=0)
    try:
        _day_of_entries(writer, anchoring, 1)
        now[0] = DAY_2
        _day_of_entries(writer, anchoring, 6)
        with engine.begin() as conn:
            conn.execute(ACCESS_LOG.delete().where(ACCESS_LOG.c.id.in_((6, 7))))
        with engine.connect() as conn:
            report = verify_access_log(conn, since=since)
        assert [f.entry_id for f in report.of_kind("deleted")] == [6]
        assert report.of_kind("anchor_mismatch")  # the day's anchored range lost two leaves
    finally:
        writer.close()
        engine.dispose()
