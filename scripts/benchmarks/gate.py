"""Gate micro-benchmark: the decision an allowed record read makes, on SQLite and PostgreSQL.

Setup (untimed): a fresh database of each kind (a temporary SQLite file; a private schema on
the PostgreSQL server at ``CCL_TEST_POSTGRES_URL``, dropped afterwards), migrated, with the
indexer's tables loaded directly: one institution with an active agreement, SUBJECTS subjects
bound to accounts, each with a QUERY grant (capped, so usage is counted) to the institution.

Timed: ``SubjectAccessGate("records")._decide`` for allowed reads, round-robin over the
subjects, in-process on a running event loop (as uvicorn runs it), without HTTP or signature
checks: role resolution, the replica position and lag check, subject and grant look-ups, the
agreement, and the usage count. Two wirings:

* headline figures: the chain state as the API wires it (``ledger_api.stack.gate_state``):
  the gate mirror (``indexer.gate_mirror``), its follower syncing every
  ``state_cache_ttl_s`` in its thread, holds the rows after the first read of each grant (the
  untimed warm-up reads every grant), so a decision reads no database: a bank's reads of a
  subject's categories one after another under one grant;
* ``*_db`` figures: the replica alone, so every decision reads the database in one statement
  (``indexer.decision_inputs``), as a decision whose rows the mirror does not hold (the first
  read of a grant since the process started, or since the grant's rows changed).

``run()`` returns {"gate_decision_p50_us_pg", "gate_decision_p50_us_sqlite",
"gate_decision_p99_us_pg", "gate_decision_p99_us_sqlite", "ratio"} (ratio: pg/sqlite p50),
the same with ``_db`` appended, and the machine's load.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Engine, create_engine, insert, text
from starlette.requests import Request

from indexer.gate_rows import rebuild_gate_rows
from indexer.tables import AGREEMENTS, CHECKPOINT, GRANTS, INSTITUTIONS, SUBJECT_BINDINGS
from ledger_api.api.context import AppContext
from ledger_api.api.gate import SubjectAccessGate
from ledger_api.api.read_connections import ReadConnections
from ledger_api.catalog.loader import default_catalog
from ledger_api.chain.state import ChainState
from ledger_api.chain.types import AccessLevel, AgreementStatus, InstitutionType, Purpose
from ledger_api.settings import Settings
from ledger_api.stack import gate_state, replica_state
from ledger_api.store.db import make_engine, migrate

SUBJECTS = 300
DECISIONS = int(os.environ.get("CCL_BENCH_GATE_DECISIONS", "4000"))
WARMUP = 500
CHAIN_ID = 31337
BLOCK = 1000
INSTITUTION = "0x" + "11" * 20
PG_URL = os.environ.get(
    "CCL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _subject_id(index: int) -> bytes:
    return index.to_bytes(32, "big")


def _account(index: int) -> str:
    from indexer.replica import checksum_address

    return checksum_address("0x" + f"{index + 1:040x}")


def _seed(engine: Engine) -> None:
    """The replica's rows for one institution, its agreement and SUBJECTS granting subjects."""
    tax = default_catalog().category("tax").bit
    live = {"valid_from_block": 10, "valid_from_log": 0, "valid_to_block": None}
    with engine.begin() as conn:
        conn.execute(
            insert(CHECKPOINT),
            [{"chain_id": CHAIN_ID, "contract": "0x" + "22" * 20, "deployment_block": 1,
              "block_number": BLOCK, "block_hash": b"\x01" * 32,
              "block_timestamp": int(time.time()), "event_count": 1000,
              "updated_at": datetime.now(UTC)}],
        )  # fmt: skip
        conn.execute(
            insert(INSTITUTIONS),
            [{**live, "address": INSTITUTION, "institution_index": 1,
              "kind": int(InstitutionType.BANK), "name": "Bench Bank", "suspended": False,
              "agreement_id": 1, "registered_block": 10}],
        )  # fmt: skip
        conn.execute(
            insert(AGREEMENTS),
            [{**live, "agreement_id": 1, "institution": INSTITUTION, "categories": 0xFFFF,
              "purposes": 0x3F, "not_before": 0, "not_after": 2**40,
              "document_hash": b"\x02" * 32, "status": int(AgreementStatus.ACTIVE),
              "proposed_block": 10}],
        )  # fmt: skip
        conn.execute(
            insert(SUBJECT_BINDINGS),
            [{**live, "subject_index": i, "subject_id": _subject_id(i), "account": _account(i)}
             for i in range(1, SUBJECTS + 1)],
        )  # fmt: skip
        conn.execute(
            insert(GRANTS),
            [{**live, "grant_id": i, "subject_index": i, "institution_index": 1,
              "institution": INSTITUTION, "categories": 1 << tax,
              "purpose": int(Purpose.LOAN_APPLICATION), "level": int(AccessLevel.QUERY),
              "not_before": 0, "not_after": 2**40, "max_uses": 1_000_000, "revoked": False,
              "issued_block": 10, "issued_tx": i.to_bytes(32, "big")}
             for i in range(1, SUBJECTS + 1)],
        )  # fmt: skip
        rebuild_gate_rows(conn)  # as the indexer keeps them beside the versions


def _requests() -> list[Request]:
    return [
        Request(
            {
                "type": "http",
                "method": "GET",
                "path": f"/v1/subjects/0x{_subject_id(i).hex()}/records",
                "query_string": f"purpose=loan_application&grant_id={i}&category=tax".encode(),
                "path_params": {"subject": "0x" + _subject_id(i).hex()},
                "headers": [],
            }
        )
        for i in range(1, SUBJECTS + 1)
    ]


async def _decide_many(engine: Engine, *, mirrored: bool) -> list[float]:
    """Microseconds per decision (after WARMUP untimed ones), on the event loop's thread."""
    reads = ReadConnections(engine)
    settings = SimpleNamespace(
        strict_gate=False,
        max_replica_lag_blocks=5,
        pseudonym_key_bytes=b"\x00" * 32,
        state_cache_ttl_s=Settings.model_fields["state_cache_ttl_s"].default,
        gate_mirror_entries=Settings.model_fields["gate_mirror_entries"].default,
    )
    state: ChainState = replica_state(engine, CHAIN_ID, reads)
    mirror = None
    if mirrored:
        state, mirror = gate_state(engine, CHAIN_ID, reads, cast(Settings, settings))
        assert mirror is not None, "the API's wiring has no gate mirror"
        mirror.start(settings.state_cache_ttl_s)
    ctx = cast(
        AppContext,
        SimpleNamespace(
            settings=settings,
            state=lambda: state,
            chain_head=lambda: BLOCK,
            clock=time.time,
            catalog=default_catalog(),
            reads=reads,
        ),
    )
    gate = SubjectAccessGate("records")
    requests = _requests()
    timings: list[float] = []
    try:
        for n in range(WARMUP + DECISIONS):
            request = requests[n % len(requests)]
            started = time.perf_counter_ns()
            gate._decide(request, ctx, INSTITUTION, {})
            elapsed = time.perf_counter_ns() - started
            if n >= WARMUP:
                timings.append(elapsed / 1000)
    finally:
        if mirror is not None:
            mirror.stop()
        reads.close()
    return timings


def _figures(timings: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(timings, n=100)
    return round(statistics.median(timings), 1), round(cuts[98], 1)


Figures = dict[str, tuple[float, float]]  # "mirrored" / "db": (p50, p99) in microseconds


def _measure(engine: Engine) -> Figures:
    try:
        migrate(engine)
        _seed(engine)
        return {
            "mirrored": _figures(asyncio.run(_decide_many(engine, mirrored=True))),
            "db": _figures(asyncio.run(_decide_many(engine, mirrored=False))),
        }
    finally:
        engine.dispose()


def _measure_sqlite() -> Figures:
    with tempfile.TemporaryDirectory() as tmp:
        return _measure(make_engine(f"sqlite:///{Path(tmp) / 'gate.db'}"))


def _measure_pg() -> Figures:
    schema = f"ccl_bench_gate_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        return _measure(make_engine(PG_URL, schema=schema))
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def run() -> dict[str, Any]:
    print("gate: SQLite ...", file=sys.stderr)
    sqlite = _measure_sqlite()
    print("gate: PostgreSQL ...", file=sys.stderr)
    pg = _measure_pg()
    result: dict[str, Any] = {}
    for kind, suffix in (("mirrored", ""), ("db", "_db")):
        result[f"gate_decision_p50_us_pg{suffix}"] = pg[kind][0]
        result[f"gate_decision_p50_us_sqlite{suffix}"] = sqlite[kind][0]
        result[f"gate_decision_p99_us_pg{suffix}"] = pg[kind][1]
        result[f"gate_decision_p99_us_sqlite{suffix}"] = sqlite[kind][1]
        result[f"ratio{suffix}"] = round(pg[kind][0] / sqlite[kind][0], 2)
    result.update(
        decisions=DECISIONS,
        subjects=SUBJECTS,
        cpu_count=os.cpu_count(),
        load_average_1m=round(os.getloadavg()[0], 2),
    )
    return result
