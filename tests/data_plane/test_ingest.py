from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ledger_api.anchoring.anchorer import AnchorReceipt, InMemoryAnchorer, PendingAnchor
from ledger_api.crypto.keys import shred_subject
from ledger_api.errors import ChainError
from ledger_api.identity.uscc import subject_id
from ledger_api.ingest.pipeline import FAULT_STEPS, Ingestor
from ledger_api.store.models import BATCHES, RECORDS, SUBJECTS, BatchState
from ledger_api.store.records import read_subject_records
from ledger_api.verify.verifier import verify_database

from .conftest import USCC_A, USCC_B, Crash, jsonl, tax_row


def _count(engine, table=RECORDS) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_good_rows_are_stored_and_anchored_in_one_call(ingestor, anchorer, engine) -> None:
    rows = [tax_row(key=f"T-{i}") for i in range(10)]
    result = ingestor.ingest("henan-tax", "tax", jsonl(rows), fmt="jsonl")
    assert result.state == BatchState.ANCHORED
    assert (result.accepted, result.duplicates, result.rejected) == (10, 0, [])
    assert anchorer.calls == 1 and _count(engine) == 10
    on_chain = anchorer.anchored(result.root)
    assert on_chain is not None and on_chain.leaf_count == 10


def test_bad_rows_are_returned_with_row_number_and_reason(ingestor, engine) -> None:
    rows = [
        tax_row(key="ok-1"),
        tax_row(uscc="91350100M000100Y44", key="bad-uscc"),
        tax_row(key="bad-date", period="2025-13"),
        tax_row(key="bad-enum", tax_grade="Z"),
        tax_row(key="bad-type", paid_on_time="perhaps"),
        {**tax_row(key="unknown"), "colour": "red"},
        {k: v for k, v in tax_row(key="missing").items() if k != "tax_paid"},
        tax_row(key="bad-decimal", tax_paid="12.345"),
        tax_row(key="ok-2"),
    ]
    data = jsonl(rows) + b"not json\n"
    result = ingestor.ingest("henan-tax", "tax", data, fmt="jsonl")
    reasons = {e.row: e.reason for e in result.rejected}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8, 10]
    assert "check character" in reasons[2]
    assert reasons[3].startswith("period:")
    assert reasons[4].startswith("tax_grade:")
    assert reasons[5].startswith("paid_on_time:")
    assert "unknown field" in reasons[6] and "colour" in reasons[6]
    assert "missing required" in reasons[7] and "tax_paid" in reasons[7]
    assert "decimal places" in reasons[8]
    assert "JSON" in reasons[10]
    assert result.accepted == 2 and _count(engine) == 2


def test_a_row_with_a_lone_surrogate_is_rejected_and_others_are_stored(ingestor, engine) -> None:
    # JSON can escape a lone surrogate; it has no UTF-8 form, so no record can hold it.
    import json

    bad = json.dumps(tax_row(key="bad-\ud800")).encode()  # ASCII: the surrogate as an escape
    data = jsonl([tax_row(key="ok-1")]) + bad + b"\n" + jsonl([tax_row(key="ok-2")])
    result = ingestor.ingest("henan-tax", "tax", data, fmt="jsonl")
    assert [(e.row, e.reason) for e in result.rejected] == [
        (2, "record_key: text with a lone surrogate is not valid Unicode")
    ]
    assert result.accepted == 2 and _count(engine) == 2


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)  # PostgreSQL: durable anyway
def test_a_batch_is_synced_to_disk_before_its_root_is_anchored(
    ingestor, anchorer, engine, monkeypatch
) -> None:
    from sqlalchemy import event

    assert engine.dialect.name == "sqlite"
    steps: list[str] = []

    def record(conn, cursor, statement, params, context, executemany) -> None:
        if "synchronous" in statement:
            steps.append(statement.strip())
        elif statement.startswith("UPDATE ingest_batches") and "anchor_sent" in str(params):
            steps.append("batch anchor_sent")

    event.listen(engine, "before_cursor_execute", record)
    sent = anchorer.anchor

    def anchor(*args, **kwargs):
        steps.append("anchor")
        return sent(*args, **kwargs)

    monkeypatch.setattr(anchorer, "anchor", anchor)
    try:
        ingestor.ingest("henan-tax", "tax", jsonl([tax_row(key="ok-1")]), fmt="jsonl")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    durable = steps.index("PRAGMA synchronous=FULL")
    assert durable < steps.index("batch anchor_sent") < steps.index("anchor")
    assert steps[durable + 2].startswith("PRAGMA synchronous=")  # put back afterwards
    assert steps[durable + 2] != "PRAGMA synchronous=FULL"


def test_dates_must_be_iso_8601_calendar_dates(ingestor) -> None:
    row: dict[str, object] = {
        "uscc": USCC_A, "record_key": "J1", "case_no": "(2024)豫01民初1号", "case_type": "civil",
        "court": "郑州市中级人民法院", "role": "defendant", "status": "judged",
    }  # fmt: skip
    rows = [
        {**row, "record_key": "a", "judgment_date": "2024-02-30"},
        {**row, "record_key": "b", "judgment_date": "20240201"},
        {**row, "record_key": "c", "judgment_date": "2024-02-29"},
    ]
    result = ingestor.ingest("court", "judicial", jsonl(rows), fmt="jsonl")
    assert [e.row for e in result.rejected] == [1, 2] and result.accepted == 1


def test_csv_batches_are_ingested_with_line_numbers(ingestor) -> None:
    csv = (
        "uscc,record_key,month,insured_headcount,paid_amount,arrears_months,arrears_amount\n"
        f"{USCC_A},SI-1,2025-01,12,5400.00,0,0\n"
        f"{USCC_B},SI-2,2025-01,twelve,5400.00,0,0\n"
        f"{USCC_B},SI-3,2025-01,3,100,1,\n"
    ).encode()
    result = ingestor.ingest("hrss", "social_insurance", csv, source_name="si.csv")
    assert [(e.row, e.reason.split(":")[0]) for e in result.rejected] == [
        (3, "insured_headcount"), (4, "missing required field(s)")
    ]  # fmt: skip
    assert result.accepted == 1


def test_resubmitting_a_batch_stores_nothing_twice(ingestor, anchorer, engine) -> None:
    data = jsonl([tax_row(key=f"T-{i}") for i in range(5)])
    first = ingestor.ingest("henan-tax", "tax", data, fmt="jsonl")
    again = ingestor.ingest("henan-tax", "tax", data, fmt="jsonl")
    assert again.batch_id == first.batch_id and again.already_known
    assert again.accepted == 0 and again.duplicates == 5
    assert _count(engine) == 5 and anchorer.calls == 1


def test_same_record_in_another_batch_is_a_duplicate_and_new_content_a_new_version(
    ingestor, engine, settings
) -> None:
    ingestor.ingest("henan-tax", "tax", jsonl([tax_row(key="T-1")]), fmt="jsonl")
    second = ingestor.ingest(
        "henan-tax", "tax", jsonl([tax_row(key="T-1"), tax_row(key="T-2")]), fmt="jsonl"
    )
    assert (second.accepted, second.duplicates) == (1, 1)
    third = ingestor.ingest(
        "henan-tax", "tax", jsonl([tax_row(key="T-1", arrears_amount="99.00")]), fmt="jsonl"
    )
    assert third.accepted == 1 and _count(engine) == 3
    with engine.connect() as conn:
        latest = read_subject_records(
            conn, settings, subject_id(USCC_A, settings.pseudonym_key_bytes)
        )
    by_key = {r.record_key: r.fields for r in latest}
    assert set(by_key) == {"T-1", "T-2"} and by_key["T-1"]["arrears_amount"] == "99.00"


def test_progress_is_reported_up_to_the_total(ingestor) -> None:
    calls: list[tuple[int, int | None]] = []
    ingestor.chunk_size = 3
    ingestor.ingest(
        "henan-tax", "tax", jsonl([tax_row(key=f"T-{i}") for i in range(10)]),
        fmt="jsonl", progress=lambda d, t: calls.append((d, t)),
    )  # fmt: skip
    assert calls[0] == (0, 20) and calls[-1] == (20, 20)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


@pytest.mark.parametrize("step", FAULT_STEPS)
def test_a_crash_at_any_step_is_resumed_without_loss_duplication_or_second_anchor(
    step, engine, anchorer, settings
) -> None:
    data = jsonl([tax_row(key=f"T-{i}") for i in range(20)])

    def fault(at: str) -> None:
        if at == step:
            raise Crash(at)

    with pytest.raises(Crash):
        Ingestor(engine, anchorer, settings, fault_hook=fault).ingest(
            "henan-tax", "tax", data, fmt="jsonl"
        )
    healthy = Ingestor(engine, anchorer, settings)
    healthy.resume_pending()
    result = healthy.ingest("henan-tax", "tax", data, fmt="jsonl")  # the provider retries
    assert result.state == BatchState.ANCHORED
    assert _count(engine) == 20
    assert anchorer.calls == 1 and len(anchorer) == 1
    on_chain = anchorer.anchored(result.root)
    assert on_chain is not None and on_chain.leaf_count == 20
    assert healthy.resume_pending() == []
    assert verify_database(engine, anchorer).clean


@pytest.mark.parametrize("step", ["stored", "anchor_sent", "anchor_returned"])
def test_resume_pending_alone_finishes_a_stored_batch(step, engine, anchorer, settings) -> None:
    def fault(at: str) -> None:
        if at == step:
            raise Crash(at)

    with pytest.raises(Crash):
        Ingestor(engine, anchorer, settings, fault_hook=fault).ingest(
            "henan-tax", "tax", jsonl([tax_row(key="T-1")]), fmt="jsonl"
        )
    [result] = Ingestor(engine, anchorer, settings).resume_pending()
    assert result.state == BatchState.ANCHORED and len(anchorer) == 1
    with engine.connect() as conn:
        assert conn.execute(select(BATCHES.c.anchor_sequence)).scalar_one() == 1


def test_a_crash_before_storing_leaves_no_records(engine, anchorer, settings) -> None:
    def fault(at: str) -> None:
        if at == "validated":
            raise Crash(at)

    with pytest.raises(Crash):
        Ingestor(engine, anchorer, settings, fault_hook=fault).ingest(
            "henan-tax", "tax", jsonl([tax_row()]), fmt="jsonl"
        )
    assert _count(engine) == 0 and _count(engine, SUBJECTS) == 0 and len(anchorer) == 0
    [pending] = Ingestor(engine, anchorer, settings).resume_pending()
    assert pending.state == BatchState.VALIDATED  # waits for the re-submission


def test_shredded_subject_gets_no_new_records(ingestor, engine, settings) -> None:
    ingestor.ingest("henan-tax", "tax", jsonl([tax_row(key="T-1")]), fmt="jsonl")
    with engine.begin() as conn:
        shred_subject(conn, subject_id(USCC_A, settings.pseudonym_key_bytes))
    result = ingestor.ingest(
        "henan-tax", "tax", jsonl([tax_row(key="T-9"), tax_row(uscc=USCC_B, key="T-10")]),
        fmt="jsonl",
    )  # fmt: skip
    assert [e.row for e in result.rejected] == [1] and result.accepted == 1


def test_ingest_many_matches_one_by_one_and_overlaps_nothing_observable(
    ingestor, anchorer, engine
) -> None:
    batches = [
        ("tax", jsonl([tax_row(key=f"T-{i}") for i in range(6)])),
        ("tax", jsonl([tax_row(key="T-0"), tax_row(USCC_B, key="T-9")])),  # one duplicate
        ("tax", jsonl([tax_row(key="bad", tax_grade="Z")])),
    ]
    seen: list[tuple[int, int | None]] = []
    results = ingestor.ingest_many(
        "henan-tax", batches, fmt="jsonl", progress=lambda d, t: seen.append((d, t))
    )
    assert [(r.accepted, r.duplicates, len(r.rejected)) for r in results] == [
        (6, 0, 0), (1, 1, 0), (0, 0, 1)
    ]  # fmt: skip
    assert [r.state for r in results] == [BatchState.ANCHORED, BatchState.ANCHORED, "empty"]
    assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)]
    assert _count(engine) == 7 and anchorer.calls == 2
    assert verify_database(engine, anchorer).clean


def test_ingest_many_stops_at_a_failing_batch_after_finishing_the_ones_before(
    ingestor, anchorer, engine
) -> None:
    from ledger_api.errors import NotFoundError

    batches = [
        ("tax", jsonl([tax_row(key="T-1")])),
        ("no-such-category", jsonl([tax_row(key="T-2")])),
        ("tax", jsonl([tax_row(key="T-3")])),
    ]
    with pytest.raises(NotFoundError):
        ingestor.ingest_many("henan-tax", batches, fmt="jsonl")
    assert _count(engine) == 1 and anchorer.calls == 1


def test_a_crash_while_storing_in_ingest_many_is_raised_and_resumed(
    engine, anchorer, settings
) -> None:
    def fault(at: str) -> None:
        if at == "anchor_sent":
            raise Crash(at)

    data = jsonl([tax_row(key=f"T-{i}") for i in range(4)])
    with pytest.raises(Crash):
        Ingestor(engine, anchorer, settings, fault_hook=fault).ingest_many(
            "henan-tax", [("tax", data), ("tax", jsonl([tax_row(key="X")]))], fmt="jsonl"
        )
    [resumed] = Ingestor(engine, anchorer, settings).resume_pending()
    assert resumed.state == BatchState.ANCHORED and _count(engine) == 4
    assert verify_database(engine, anchorer).clean


def test_a_batch_anchored_by_a_concurrent_resume_is_not_anchored_twice(
    engine, anchorer, settings
) -> None:
    # The ingest that stored the batch sends its anchor without asking the chain first; a
    # resume that anchored the root just before makes the anchorer refuse the second one.
    def resume_meanwhile(at: str) -> None:
        if at == "anchor_sent":
            [resumed] = Ingestor(engine, anchorer, settings).resume_pending()
            assert resumed.state == BatchState.ANCHORED

    result = Ingestor(engine, anchorer, settings, fault_hook=resume_meanwhile).ingest(
        "henan-tax", "tax", jsonl([tax_row(key=f"T-{i}") for i in range(3)]), fmt="jsonl"
    )
    assert result.state == BatchState.ANCHORED and result.anchor_sequence == 1
    assert anchorer.calls == 2 and len(anchorer) == 1  # the second anchor was refused
    assert verify_database(engine, anchorer).clean


def test_a_duplicate_the_probe_misses_is_still_found_and_nothing_is_stored_twice(
    ingestor, anchorer, engine, settings
) -> None:
    ingestor.ingest("henan-tax", "tax", jsonl([tax_row(key="old")]), fmt="jsonl")
    # Row 2 of 201 is not among the probed rows: the first attempt fails on the unique key,
    # the second looks every record up. USCC_B is a new subject in both attempts.
    rows = [tax_row(USCC_B, key="new-0"), tax_row(key="old")]
    rows += [tax_row(USCC_B, key=f"new-{i}") for i in range(1, 200)]
    result = ingestor.ingest("henan-tax", "tax", jsonl(rows), fmt="jsonl")
    assert (result.accepted, result.duplicates, result.rejected) == (200, 1, [])
    assert _count(engine) == 201 and _count(engine, SUBJECTS) == 2
    with engine.connect() as conn:
        records = read_subject_records(
            conn, settings, subject_id(USCC_B, settings.pseudonym_key_bytes)
        )
    assert len(records) == 200  # sealed under the key that was stored
    assert verify_database(engine, anchorer).clean


def test_ingest_many_on_sqlite_hands_checkpoints_back_to_the_connections(
    sqlite_engine, anchorer, settings
) -> None:
    # While ingest_many runs, a checkpointer thread checkpoints the WAL and the writer's
    # commits do not; afterwards every pooled connection checkpoints on commit again.
    ingestor = Ingestor(sqlite_engine, anchorer, settings)
    batches = [("tax", jsonl([tax_row(key=f"T-{i}") for i in range(3)])) for _ in range(2)]
    batches[1] = ("tax", jsonl([tax_row(USCC_B, key="B")]))
    results = ingestor.ingest_many("henan-tax", batches, fmt="jsonl")
    assert [r.state for r in results] == [BatchState.ANCHORED] * 2
    assert ingestor._checkpointer is None
    with sqlite_engine.connect() as a, sqlite_engine.connect() as b, sqlite_engine.connect() as c:
        for conn in (a, b, c):
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one() == 1000


def test_ingest_many_leaves_the_batches_after_a_failing_one_untouched(
    engine, anchorer, settings
) -> None:
    # Later batches may already be validated and queued for the writer: none is stored.
    crashed: list[str] = []

    def fault(at: str) -> None:
        if at == "stored" and not crashed:
            crashed.append(at)
            raise Crash(at)

    batches = [("tax", jsonl([tax_row(key=f"{b}-{i}") for i in range(3)])) for b in "abcd"]
    with pytest.raises(Crash):
        Ingestor(engine, anchorer, settings, fault_hook=fault).ingest_many(
            "henan-tax", batches, fmt="jsonl"
        )
    assert _count(engine, BATCHES) == 1 and _count(engine) == 3 and len(anchorer) == 0
    [resumed] = Ingestor(engine, anchorer, settings).resume_pending()
    assert resumed.state == BatchState.ANCHORED


class _ReceiptLost(InMemoryAnchorer):
    """Anchors when sent; the ``fail_on``-th wait for a receipt fails (a node gone away)."""

    def __init__(self, fail_on: int) -> None:
        super().__init__()
        self.fail_on = fail_on
        self.confirms = 0

    def confirm_anchor(self, pending: PendingAnchor) -> AnchorReceipt:
        self.confirms += 1
        if self.confirms == self.fail_on:
            raise ChainError("lost the connection to the node")
        return super().confirm_anchor(pending)


def test_an_anchor_failing_after_later_ones_were_sent_leaves_them_for_resume(
    engine, settings
) -> None:
    # ingest_many sends the next batches' anchors before waiting for one: when waiting for
    # the second fails, the third and fourth are stored and sent, and resume finishes them.
    anchorer = _ReceiptLost(fail_on=2)
    batches = [("tax", jsonl([tax_row(key=f"{b}-{i}") for i in range(3)])) for b in "abcd"]
    with pytest.raises(ChainError):
        Ingestor(engine, anchorer, settings).ingest_many("henan-tax", batches, fmt="jsonl")
    with engine.connect() as conn:
        states = conn.execute(select(BATCHES.c.state).order_by(BATCHES.c.created_at)).scalars()
        assert list(states) == [BatchState.ANCHORED] + [BatchState.ANCHOR_SENT] * 3
    assert _count(engine) == 12 and len(anchorer) == 4  # nothing lost, each root sent once
    resumed = Ingestor(engine, anchorer, settings).resume_pending()
    assert [r.state for r in resumed] == [BatchState.ANCHORED] * 3
    assert len(anchorer) == 4 and verify_database(engine, anchorer).clean


def test_a_bad_batch_is_the_error_reported_when_anchoring_the_ones_before_fails_too(
    engine, settings, caplog
) -> None:
    from ledger_api.errors import NotFoundError

    anchorer = _ReceiptLost(fail_on=1)  # the first wait for a receipt, at the end
    batches = [
        ("tax", jsonl([tax_row(key="A-1")])),
        ("tax", jsonl([tax_row(key="B-1")])),
        ("no-such-category", jsonl([tax_row(key="C-1")])),
    ]
    with pytest.raises(NotFoundError, match="no-such-category"):
        Ingestor(engine, anchorer, settings).ingest_many("henan-tax", batches, fmt="jsonl")
    assert "resume_pending finishes them" in caplog.text
    with engine.connect() as conn:
        states = conn.execute(select(BATCHES.c.state).order_by(BATCHES.c.created_at)).scalars()
        assert list(states) == [BatchState.ANCHOR_SENT] * 2
    resumed = Ingestor(engine, anchorer, settings).resume_pending()
    assert [r.state for r in resumed] == [BatchState.ANCHORED] * 2
    assert verify_database(engine, anchorer).clean


def test_the_same_batch_twice_in_one_ingest_many_is_stored_once(ingestor, anchorer, engine) -> None:
    data = jsonl([tax_row(key=f"T-{i}") for i in range(3)])
    first, again = ingestor.ingest_many("henan-tax", [("tax", data), ("tax", data)])
    assert (first.accepted, first.already_known) == (3, False)
    assert (again.accepted, again.duplicates, again.already_known) == (0, 3, True)
    assert again.state == BatchState.ANCHORED and again.batch_id == first.batch_id
    assert _count(engine) == 3 and anchorer.calls == 1
