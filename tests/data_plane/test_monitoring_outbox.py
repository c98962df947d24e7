"""The risk-event outbox and catch-up on SQLite and PostgreSQL: events are written in the
records' own transaction (a crash inside it leaves neither), fanned out with
per-subscription numbers, and read back after a number, logged."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

import ledger_api.ingest.pipeline as pipeline
from ledger_api.accesslog import ACCESS_LOG, AccessLogWriter
from ledger_api.catalog.loader import default_catalog
from ledger_api.chain.grant_rules import AgreementState, GrantState
from ledger_api.chain.state import InstitutionProfile, SubjectBinding
from ledger_api.chain.types import AccessLevel, AgreementStatus, InstitutionType, Purpose
from ledger_api.identity.uscc import subject_id
from ledger_api.ingest.pipeline import Ingestor
from ledger_api.monitoring import catchup
from ledger_api.monitoring.fanout import FanOut
from ledger_api.monitoring.static_state import StaticChainState
from ledger_api.monitoring.subscriptions import RISK_ALERTS, SubscriptionRequest, create
from ledger_api.settings import Settings
from ledger_api.store.models import RECORDS
from ledger_api.store.monitoring_tables import OUTBOX

from .conftest import USCC_A, USCC_B, Crash, jsonl, tax_row

BANK = "0x" + "ba" * 20
NOW = 1_800_000_000


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _arrears(n: int, uscc: str = USCC_A) -> bytes:
    return jsonl([tax_row(uscc, f"T-{i}", arrears_amount="99.00") for i in range(n)])


def test_a_crash_inside_the_records_transaction_leaves_neither_records_nor_events(
    ingestor: Ingestor, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = pipeline.record_risk_events

    def then_crash(*args: Any) -> int:
        original(*args)
        raise Crash("power cut after the outbox insert")

    monkeypatch.setattr(pipeline, "record_risk_events", then_crash)
    with pytest.raises(Crash):
        ingestor.ingest("henan-tax", "tax", _arrears(3), fmt="jsonl")
    assert (_count(engine, RECORDS), _count(engine, OUTBOX)) == (0, 0)
    monkeypatch.setattr(pipeline, "record_risk_events", original)
    ingestor.ingest("henan-tax", "tax", _arrears(3), fmt="jsonl")
    assert (_count(engine, RECORDS), _count(engine, OUTBOX)) == (3, 3)


def _state(settings: Settings) -> StaticChainState:
    state = StaticChainState(NOW)
    state.institutions[BANK] = InstitutionProfile(BANK, 1, InstitutionType.BANK, "Bank", False, 1)
    state.agreements[1] = AgreementState(
        0xFFFF, 0xFF, NOW - 10, NOW + 10**6, AgreementStatus.ACTIVE
    )
    for index, uscc in enumerate((USCC_A, USCC_B), start=1):
        sid = subject_id(uscc, settings.pseudonym_key_bytes)
        state.subjects[sid] = SubjectBinding(sid, index, "0x" + f"{index:040x}")
    state.add_grant(
        GrantState(
            1, 1, 1, 1 << 2, Purpose.POST_LOAN_MONITORING, AccessLevel.VERIFY,
            NOW - 10, NOW + 10**6, 0, False,
        )
    )  # fmt: skip
    return state


def test_fan_out_numbers_events_per_subscription_and_catch_up_reads_them_after_a_number(
    ingestor: Ingestor, engine: Engine, settings: Settings
) -> None:
    state = _state(settings)
    request = SubscriptionRequest(RISK_ALERTS, ["tax"], [], [], None)
    with engine.begin() as conn:
        sub = create(conn, BANK, request, 1 << 2, None, NOW)["id"]
    ingestor.ingest("henan-tax", "tax", _arrears(4), fmt="jsonl")
    ingestor.ingest("henan-tax", "tax", _arrears(2, USCC_B), fmt="jsonl")  # no grant: no alert
    fanout = FanOut(engine, lambda: state, clock=lambda: NOW)
    assert fanout.run_once() == 4
    assert fanout.run_once() == 0  # the cursor moved: nothing twice
    writer = AccessLogWriter(engine, clock=lambda: NOW)
    try:
        with engine.connect() as conn:
            rows = catchup.events_after(conn, sub, 1, 10)
        page = asyncio.run(
            catchup.released(rows, BANK, state, writer, default_catalog(), NOW, "alert_polled", 1)
        )
    finally:
        writer.close()
    assert [e["data"]["event_number"] for e in page.events] == [2, 3, 4]
    assert page.next_after == 4
    assert _count(engine, ACCESS_LOG) == 3
