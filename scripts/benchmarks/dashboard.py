"""Dashboard benchmark: server time to render the Overview and Violations pages over a
PostgreSQL database holding 1,000,000 access-log entries.

Setup (untimed): a private schema on the PostgreSQL server at ``CCL_TEST_POSTGRES_URL``
(dropped afterwards), migrated; the indexer's replica loaded directly (INSTITUTIONS
institutions with active agreements, SUBJECTS subjects each with a grant to one of them); then
ENTRIES access-log entries inserted by the database itself in one ``INSERT ... SELECT`` over
``generate_series`` (no Python loop; placeholder hashes, since the benchmark measures reads,
not the hash chain), spread over DAYS days, every institution, purpose and category, 5 %
denied, every allowed one consistent with its grant (so Violations is empty, as in a healthy
system), followed by VACUUM ANALYZE (what autovacuum does after a run of inserts).

Timed: ``GET /`` and ``GET /violations`` of the dashboard app in-process (Starlette's test
client: the queries and the template, no network), median of RUNS after one warm-up. The
warm-up of the Overview is reported too (``overview_first_ms``): it takes the in-memory
usage counts (``indexer.dashboard.usage_counts``) over the whole log once; later renders add
only the entries appended since. Likewise ``violations_first_ms``: the first render checks
the whole log (``indexer.dashboard.violation_cache``), later ones the last minutes only.
Then the dashboard as ``ccl-indexer dashboard`` starts it (``warm_up=True``: the whole log
is read in the background at launch, ``indexer.dashboard.warm_up``): ``warm_up_s`` is how long
that pass took and ``*_first_after_warm_up_ms`` the first render of each page once it ended.
Violations runs in a child process with a budget of VIOLATIONS_BUDGET_S seconds for the warm-up and
the runs together: when they do not finish within it, ``violations_ms`` is null and
``violations_over_budget_s`` says so.

``run()`` returns {"entries", "overview_ms", "violations_ms", "goal_ms", ...}.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, create_engine, insert, text

from indexer.tables import AGREEMENTS, CHECKPOINT, GRANTS, INSTITUTIONS, SUBJECT_BINDINGS
from ledger_api.chain.types import AccessLevel, AgreementStatus, InstitutionType, Purpose
from ledger_api.store.db import make_engine, migrate

ENTRIES = int(os.environ.get("CCL_BENCH_DASHBOARD_ENTRIES", "1000000"))
INSTITUTIONS_N = 20
SUBJECTS = 10_000
DAYS = 90
RUNS = 5
GOAL_MS = 500
VIOLATIONS_BUDGET_S = float(os.environ.get("CCL_BENCH_DASHBOARD_BUDGET_S", "120"))
CHAIN_ID = 31337
BLOCK = 1000
PG_URL = os.environ.get(
    "CCL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _institution(index: int) -> str:
    from indexer.replica import checksum_address

    return checksum_address("0x" + f"{index + 0x1000:040x}")


def _seed_replica(engine: Engine) -> None:
    live = {"valid_from_block": 10, "valid_from_log": 0, "valid_to_block": None}
    with engine.begin() as conn:
        conn.execute(insert(CHECKPOINT), [{
            "chain_id": CHAIN_ID, "contract": "0x" + "22" * 20, "deployment_block": 1,
            "block_number": BLOCK, "block_hash": b"\x01" * 32,
            "block_timestamp": int(time.time()), "event_count": 1000,
            "updated_at": datetime.now(UTC)}])  # fmt: skip
        conn.execute(insert(INSTITUTIONS), [
            {**live, "address": _institution(i), "institution_index": i + 1,
             "kind": int(InstitutionType.BANK), "name": f"测试银行{i + 1}号",
             "suspended": False, "agreement_id": i + 1, "registered_block": 10}
            for i in range(INSTITUTIONS_N)])  # fmt: skip
        conn.execute(insert(AGREEMENTS), [
            {**live, "agreement_id": i + 1, "institution": _institution(i),
             "categories": 0x7FFF, "purposes": 0x3F, "not_before": 0, "not_after": 2**33,
             "document_hash": b"\x02" * 32, "status": int(AgreementStatus.ACTIVE),
             "proposed_block": 10}
            for i in range(INSTITUTIONS_N)])  # fmt: skip
        conn.execute(insert(SUBJECT_BINDINGS), [
            {**live, "subject_index": s, "subject_id": s.to_bytes(32, "big"),
             "account": _institution(10_000 + s)}
            for s in range(SUBJECTS)])  # fmt: skip
        conn.execute(insert(GRANTS), [
            {**live, "grant_id": s, "subject_index": s,
             "institution_index": s % INSTITUTIONS_N + 1,
             "institution": _institution(s % INSTITUTIONS_N), "categories": 0x7FFF,
             "purpose": s % len(Purpose), "level": int(AccessLevel.DETAIL), "not_before": 0,
             "not_after": 2**33, "max_uses": 0, "revoked": False, "issued_block": 10,
             "issued_tx": s.to_bytes(32, "big")}
            for s in range(SUBJECTS)])  # fmt: skip


def _load_access_log(engine: Engine) -> None:
    """ENTRIES entries, generated by the database (entry g reads subject g % SUBJECTS under
    its grant; every 20th is denied for a category the grant is imagined to lack)."""
    actors = ", ".join(f"'{_institution(i)}'" for i in range(INSTITUTIONS_N))
    sql = f"""
        INSERT INTO access_log (id, at, actor, actor_role, action, subject_id, category,
            purpose, level, grant_id, checked_block, decision, reason, prev_hash, entry_hash)
        SELECT g,
            now() - make_interval(secs => (g::float8 / {ENTRIES}) * {DAYS} * 86400),
            (ARRAY[{actors}])[(g % {SUBJECTS}) % {INSTITUTIONS_N} + 1],
            'institution',
            CASE WHEN g % 3 = 0 THEN 'verify' ELSE 'records' END,
            decode(lpad(to_hex(g % {SUBJECTS}), 64, '0'), 'hex'),
            g % 15, (g % {SUBJECTS}) % {len(Purpose)}, 1, g % {SUBJECTS}, {BLOCK},
            CASE WHEN g % 20 = 0 THEN 'denied' ELSE 'allowed' END,
            CASE WHEN g % 20 = 0 THEN 'category_not_granted' ELSE 'ok' END,
            decode(lpad(to_hex(g - 1), 64, '0'), 'hex'),
            decode(lpad(to_hex(g), 64, '0'), 'hex')
        FROM generate_series(1, {ENTRIES}) AS g
    """  # numbers and addresses generated above: no input reaches the SQL
    with engine.begin() as conn:
        conn.execute(text(sql))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE access_log"))  # as autovacuum does after inserts
        conn.execute(text("ANALYZE"))


def _render_ms(
    url: str, schema: str, path: str, runs: int, *, include_warmup: bool = False
) -> list[float]:
    from fastapi.testclient import TestClient

    from indexer.dashboard import create_dashboard

    engine = make_engine(url, schema=schema)
    try:
        http = TestClient(create_dashboard(engine, pseudonym_key=b"\x11" * 32))
        started = time.perf_counter()
        assert http.get(path).status_code == 200  # warm-up: connections, templates, plans
        timings = [(time.perf_counter() - started) * 1000] if include_warmup else []
        for _ in range(runs):
            started = time.perf_counter()
            response = http.get(path)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text[:300]
        return timings
    finally:
        engine.dispose()


def _warm_start(url: str, schema: str) -> dict[str, float]:
    """The pass at launch, then the first render of each page (``warm_up``, not timed by a
    wait: the wait only ends when the pass has)."""
    from fastapi.testclient import TestClient

    from indexer.dashboard import create_dashboard

    engine = make_engine(url, schema=schema)
    try:
        app = create_dashboard(engine, pseudonym_key=b"\x11" * 32, warm_up=True)
        if not app.state.warm_up.wait(VIOLATIONS_BUDGET_S) or app.state.warm_up.failed:
            return {"warm_up_failed": 1.0}
        result = {"warm_up_s": round(app.state.warm_up.seconds, 1)}
        http = TestClient(app)
        for name, path in (("overview", "/"), ("violations", "/violations")):
            started = time.perf_counter()
            assert http.get(path).status_code == 200
            result[f"{name}_first_after_warm_up_ms"] = round(
                (time.perf_counter() - started) * 1000, 1
            )
        return result
    finally:
        engine.dispose()


def _violations_child(schema: str, out: Any) -> None:
    out.put(_render_ms(PG_URL, schema, "/violations", RUNS, include_warmup=True))


def _violations_ms(schema: str) -> list[float] | None:
    """The Violations timings, or None when they did not finish within the budget."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    child = context.Process(target=_violations_child, args=(schema, out), daemon=True)
    child.start()
    child.join(VIOLATIONS_BUDGET_S)
    if child.is_alive():
        child.terminate()
        child.join()
        return None
    return out.get() if not out.empty() else None


def run() -> dict[str, Any]:
    schema = f"ccl_bench_dashboard_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        engine = make_engine(PG_URL, schema=schema)
        migrate(engine)
        _seed_replica(engine)
        print(f"loading {ENTRIES:,} access-log entries ...", file=sys.stderr)
        started = time.perf_counter()
        _load_access_log(engine)
        load_s = time.perf_counter() - started
        engine.dispose()
        overview_first, *overview = _render_ms(PG_URL, schema, "/", RUNS, include_warmup=True)
        print(f"overview: {statistics.median(overview):.0f} ms", file=sys.stderr)
        violations = _violations_ms(schema)
        warm = _warm_start(PG_URL, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    result: dict[str, Any] = {
        "entries": ENTRIES,
        "load_s": round(load_s, 1),
        "overview_ms": round(statistics.median(overview), 1),
        "overview_first_ms": round(overview_first, 1),
        "violations_ms": None
        if violations is None
        else round(statistics.median(violations[1:]), 1),
        "violations_first_ms": None if violations is None else round(violations[0], 1),
        "goal_ms": GOAL_MS,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        **warm,
    }
    if violations is None:
        result["violations_over_budget_s"] = VIOLATIONS_BUDGET_S
    return result
