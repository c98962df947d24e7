"""Audit views over the access log and the replica (docs/audit.md)."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from activity import SOCIAL, TAX, agreement_changes, anchors_and_disputes, issue_grants
from eth_utils import keccak
from indexer_support import make_indexer
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner
from world import World

from indexer import audit_views
from indexer.audit_filters import FilterError, parse_time
from indexer.cli import app
from ledger_api.chain.types import AccessLevel, Purpose
from ledger_api.crypto.keys import MasterKey, SubjectKeyring, insert_subjects
from ledger_api.financing.kpis import LOAN_KPIS, kpis
from ledger_api.store.access_log import AccessLogEntry
from ledger_api.store.models import BATCHES, BatchState
from ledger_api.synth import financing as synth_financing
from ledger_api.synth.generator import iter_enterprises

_ids = itertools.count(1)


def log_access(
    engine: Engine, world: World, *, actor: str, grant_id: int | None, decision: str = "allowed",
    action: str = "records", category: int | None = TAX,
    purpose: Purpose = Purpose.LOAN_APPLICATION, level: AccessLevel = AccessLevel.QUERY,
    at: datetime | None = None, subject: int = 0, categories: int | None = None,
) -> int:  # fmt: skip
    """Append an access-log entry as the API would (hash chain faked: not audited here)."""
    entry_id = next(_ids)
    digest = hashlib.sha256(str(entry_id).encode()).digest()
    with Session(engine) as session, session.begin():
        session.add(AccessLogEntry(
            id=entry_id, at=at or datetime.now(UTC), actor=actor, actor_role="institution",
            action=action, subject_id=world.subject_ids[subject], category=category,
            categories=categories,
            purpose=int(purpose), level=int(level), grant_id=grant_id,
            checked_block=world.w3.eth.block_number, decision=decision,
            reason="ok" if decision == "allowed" else "revoked", response_hash=None,
            prev_hash=b"\x00" * 32, entry_hash=digest, anchor_id=None,
        ))  # fmt: skip
    return entry_id


def view(engine: Engine, name: str, **filters: object) -> Any:
    with Session(engine) as session:
        return audit_views.VIEWS[audit_views.view_name(name)](session, **filters)


@pytest.fixture
def grants(world: World, engine: Engine) -> list[int]:
    ids = issue_grants(world)
    make_indexer(world.w3, world.ledger.deployment, engine).run_once()
    return ids


def test_normal_accesses_show_the_grant_state_and_no_violations(
    world: World, engine: Engine, grants: list[int]
) -> None:
    ok = log_access(engine, world, actor=world.bank.address, grant_id=grants[0])
    log_access(engine, world, actor=world.bank.address, grant_id=grants[0], action="verify",
               level=AccessLevel.VERIFY)  # fmt: skip
    log_access(engine, world, actor=world.bank_b.address, grant_id=grants[0], decision="denied")
    assert view(engine, "violations") == []
    rows = view(engine, "access")
    assert isinstance(rows, list) and len(rows) == 3
    first = rows[0]
    assert first["entry_id"] == ok and first["recomputed"] == "usable" and first["consistent"]
    assert first["grant_at_block"]["revoked"] is False
    assert first["grant_at_block"]["categories"] == [2, 3]
    assert rows[2]["recomputed"] == "wrong_institution" and rows[2]["consistent"]
    assert (
        view(engine, "access", institution=world.bank_b.address.lower())[0]["decision"] == "denied"
    )


def test_a_forged_allowed_entry_under_a_revoked_grant_is_named(
    world: World, engine: Engine, grants: list[int]
) -> None:
    before = log_access(engine, world, actor=world.bank.address, grant_id=grants[0])
    world.ledger.revoke_grant(world.subject_tx[0], grants[0])
    make_indexer(world.w3, world.ledger.deployment, engine).run_once()
    forged = log_access(engine, world, actor=world.bank.address, grant_id=grants[0])
    no_grant = log_access(engine, world, actor=world.bank.address, grant_id=None)
    found = view(engine, "violations")
    assert [(v["entry_id"], v["violation"]) for v in found] == [
        (forged, "revoked"),
        (no_grant, "no_grant"),
    ]
    assert found[0]["grant_at_block"]["revoked"] is True
    assert before not in {v["entry_id"] for v in found}
    assert view(engine, "violations", limit=1, offset=1)[0]["entry_id"] == no_grant


def test_usage_caps_are_recounted_from_the_log(
    world: World, engine: Engine, grants: list[int]
) -> None:
    capped = grants[1]  # max_uses = 3, subject 1
    ids = [log_access(engine, world, actor=world.bank.address, grant_id=capped, subject=1)
           for _ in range(4)]  # fmt: skip
    assert [v["entry_id"] for v in view(engine, "violations")] == [ids[3]]
    assert view(engine, "violations")[0]["violation"] == "usage_cap_reached"


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_volumes_group_by_bucket_institution_purpose_and_category(
    world: World, backend: str, request: pytest.FixtureRequest
) -> None:
    engine: Engine = request.getfixturevalue("engine" if backend == "sqlite" else "pg_engine")
    grants = issue_grants(world)
    make_indexer(world.w3, world.ledger.deployment, engine).run_once()
    beijing = timezone(timedelta(hours=8))  # buckets are UTC days whatever zone logged it
    log_access(engine, world, actor=world.bank.address, grant_id=grants[0],
               at=datetime(2025, 3, 2, 1, tzinfo=beijing), action="verify")  # fmt: skip
    day1 = datetime(2025, 3, 1, 10, tzinfo=UTC)
    for at in (day1, day1 + timedelta(hours=1), day1 + timedelta(days=1)):
        log_access(engine, world, actor=world.bank.address, grant_id=grants[0], at=at)
    log_access(engine, world, actor=world.bank.address, grant_id=grants[0], at=day1,
               decision="denied")  # fmt: skip
    rows = view(engine, "volumes")
    assert [(r["bucket"], r["allowed"], r["denied"], r["verifications"]) for r in rows] == [
        ("2025-03-01", 3, 1, 1),
        ("2025-03-02", 1, 0, 0),
    ]
    assert rows[0]["purpose"] == "loan_application" and rows[0]["category"] == TAX
    assert rows[0]["total"] == 4 and rows[0]["institution"] == world.bank.address
    monthly = view(engine, "volumes", bucket="month", since=day1 + timedelta(days=1))
    assert [(r["bucket"], r["total"]) for r in monthly] == [("2025-03", 1)]


def test_grant_history_and_agreements_come_from_the_chain(
    world: World, engine: Engine, grants: list[int]
) -> None:
    world.ledger.revoke_grant(world.subject_tx[0], grants[0])
    agreement = agreement_changes(world)
    make_indexer(world.w3, world.ledger.deployment, engine).run_once()
    history = view(engine, "grants")
    assert [(h["event"], h["grant_id"]) for h in history] == [("issued", g) for g in grants] + [
        ("revoked", grants[0])
    ]
    to_b = view(engine, "grants", institution=world.bank_b.address)
    assert [h["grant_id"] for h in to_b] == [grants[2]]
    mine = view(engine, "grants", subject_id=world.subject_ids[0])
    assert [h["event"] for h in mine] == ["issued", "revoked"]
    statuses = [a["status"] for a in view(engine, "agreements", institution=world.bank_b.address)]
    assert statuses == ["proposed", "active", "suspended", "active"]
    assert view(engine, "agreements", since=datetime.now(UTC) + timedelta(days=3650)) == []
    assert agreement == 2


def test_anchors_are_verified_against_the_ingest_batches(world: World, engine: Engine) -> None:
    root, _, _ = anchors_and_disputes(world)
    make_indexer(world.w3, world.ledger.deployment, engine).run_once()
    base = dict(provider="tax", category=TAX, catalog_version=1, rows_total=2, rows_accepted=2,
                rows_duplicate=0, rows_rejected=0, created_at=datetime.now(UTC),
                updated_at=datetime.now(UTC))  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(BATCHES).values(batch_id=keccak(b"batch"), root=root, leaf_count=2,
                                            state=BatchState.ANCHORED, **base))  # fmt: skip
        conn.execute(insert(BATCHES).values(batch_id=b"\x07" * 32, root=b"\x08" * 32,
                                            leaf_count=5, state=BatchState.ANCHORED,
                                            **base))  # fmt: skip
    rows = view(engine, "anchors")
    assert [(r["kind"], r["status"]) for r in rows] == [
        ("data_batch", "verified"),
        ("access_log", "unknown_log_range"),
        ("data_batch", "missing_on_chain"),
    ], rows
    with engine.begin() as conn:  # someone rewrites the stored root
        conn.execute(BATCHES.update().where(BATCHES.c.batch_id == keccak(b"batch"))
                     .values(root=b"\x09" * 32))  # fmt: skip
    assert view(engine, "anchors")[0]["status"] == "root_mismatch"


def test_statistics_report_the_plan_kpis(world: World, engine: Engine, grants: list[int]) -> None:
    log_access(engine, world, actor=world.bank.address, grant_id=grants[0])
    log_access(engine, world, actor=world.bank.address, grant_id=grants[0], action="verify")
    log_access(engine, world, actor=world.bank.address, grant_id=None, decision="denied")
    stats = view(engine, "statistics")
    assert isinstance(stats, dict)
    assert stats["enterprises_bound"] == 3
    assert stats["enterprises_with_any_grant"] == 2 == stats["enterprises_with_active_grant"]
    assert stats["usage_by_institution"] == [
        {"institution": world.bank.address, "queries": 1, "verifications": 1, "denied": 1}
    ]
    assert stats["records_by_category_provider"] == [] and stats["enterprises_covered"] == 0


def test_statistics_show_the_loan_kpis_of_the_kpi_function(engine: Engine) -> None:
    enterprises = [(e.uscc.encode().ljust(32, b"\0")[:32], e) for e in iter_enterprises(8, seed=2)]
    keyring = SubjectKeyring(MasterKey("test", bytes(range(32))))
    now = int(datetime.now(UTC).timestamp())
    apps = synth_financing.generate(
        enterprises, ["0x" + "0b" * 20], start=now - 60 * 86_400, days=50, count=30, seed=1
    )
    with engine.begin() as conn:
        keys = keyring.keys_for(conn, {sid: e.uscc for sid, e in enterprises})
        insert_subjects(conn, keys.new_subjects)
        synth_financing.store(conn, keyring, apps, now)
        totals = kpis(conn, "month", str)["totals"]
    stats = view(engine, "statistics")
    assert {k: stats[k] for k in LOAN_KPIS} == {k: totals[k] for k in LOAN_KPIS}
    assert stats["credit_loans"] == sum(a.loan is not None for a in apps) > 0
    assert stats["credit_loan_amount"] == sum(a.loan.amount for a in apps if a.loan)


def _store_loans(engine: Engine, banks: list[str]) -> list[synth_financing.SynthApplication]:
    enterprises = [(e.uscc.encode().ljust(32, b"\0")[:32], e) for e in iter_enterprises(12, seed=4)]
    keyring = SubjectKeyring(MasterKey("test", bytes(range(32))))
    now = int(datetime.now(UTC).timestamp())
    apps = synth_financing.generate(
        enterprises, banks, start=now - 90 * 86_400, days=80, count=60, seed=2
    )
    with engine.begin() as conn:
        keys = keyring.keys_for(conn, {sid: e.uscc for sid, e in enterprises})
        insert_subjects(conn, keys.new_subjects)
        synth_financing.store(conn, keyring, apps, now)
    return apps


@pytest.mark.parametrize("group_by", ["month", "region", "industry", "institution"])
def test_statistics_by_group_are_the_kpi_functions_rows_with_names(
    world: World, engine: Engine, group_by: str
) -> None:
    make_indexer(world.w3, world.ledger.deployment, engine).run_once()
    apps = _store_loans(engine, [world.bank.address, world.bank_b.address])
    with engine.connect() as conn:
        want = kpis(conn, group_by, str)  # type: ignore[arg-type]
    stats = view(engine, "statistics", group_by=group_by)
    got = stats["kpis_by_group"]
    assert stats["group_by"] == group_by
    assert [r["group"] for r in got] == [r["key"] for r in want["rows"]]
    for figure in ("credit_loans", "credit_loan_amount", "first_loans", "applications",
                   "median_days_to_decision", "enterprises_with_loan"):  # fmt: skip
        assert [r[figure] for r in got] == [r[figure] for r in want["rows"]], figure
    assert sum(r["credit_loans"] for r in got) == sum(a.loan is not None for a in apps) > 0
    names = {r["group"]: r["name"] for r in got}
    if group_by == "institution":
        assert names == {world.bank.address: "中原银行郑州分行", world.bank_b.address: "Bank B"}
    elif group_by == "region":
        assert names["410100"] == "郑州市"
    elif group_by == "industry":
        assert all(names[k] != k for k in names if k != "unknown")  # the catalog names them
    assert "kpis_by_group" not in view(engine, "statistics")  # only when asked


def test_cli_statistics_group_by_prints_the_groups_and_refuses_a_bad_one_in_one_line(
    world: World, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store_loans(engine, [world.bank.address])
    monkeypatch.setenv("CCL_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("COLUMNS", "120")
    runner = CliRunner()
    as_json = runner.invoke(
        app, ["audit", "statistics", "--group-by", "region", "--format", "json"]
    )
    assert as_json.exit_code == 0, as_json.output
    rows = json.loads(as_json.stdout)["kpis_by_group"]
    table = runner.invoke(app, ["audit", "statistics", "--group-by", "region"])
    assert table.exit_code == 0, table.output
    assert "KPIs by region" in table.stdout and "郑州市" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 120
    as_csv = runner.invoke(app, ["audit", "statistics", "--group-by", "region", "--format", "csv"])
    header, *lines = as_csv.stdout.splitlines()
    assert header.startswith("group,name,credit_loans") and len(lines) == len(rows)
    for args in (["statistics", "--group-by", "planet"], ["volumes", "--group-by", "month"]):
        refused = runner.invoke(app, ["audit", *args])
        assert refused.exit_code == 2, refused.output
        assert refused.stderr.startswith("error: --group-by: ")
        assert len(refused.stderr.strip().splitlines()) == 1


def test_cli_takes_the_api_view_names_and_the_old_names_alike(
    world: World, engine: Engine, grants: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    log_access(engine, world, actor=world.bank.address, grant_id=grants[0])
    monkeypatch.setenv("CCL_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    runner = CliRunner()
    for name, alias in (("access_audit", "access"), ("grant_history", "grants")):
        by_name = runner.invoke(app, ["audit", name, "--format", "json"])
        by_alias = runner.invoke(app, ["audit", alias, "--format", "json"])
        assert by_name.exit_code == 0, by_name.output
        assert json.loads(by_name.stdout) == json.loads(by_alias.stdout) != []
    assert set(audit_views.VIEWS) >= {"access_audit", "grant_history"}
    assert not {"access", "grants"} & set(audit_views.VIEWS)  # one name per view


def test_cli_prints_views_as_json_and_csv(
    world: World, engine: Engine, grants: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    log_access(engine, world, actor=world.bank.address, grant_id=grants[0])
    monkeypatch.setenv("CCL_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    runner = CliRunner()
    result = runner.invoke(app, ["audit", "access", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["recomputed"] == "usable"
    result = runner.invoke(app, ["audit", "grants", "--format", "csv",
                                 "--institution", world.bank_b.address])  # fmt: skip
    assert result.exit_code == 0 and result.stdout.splitlines()[0].startswith("event,grant_id")
    result = runner.invoke(app, ["audit", "violations", "--since", "yesterday"])
    assert result.exit_code == 2 and "error: --since" in result.stderr
    result = runner.invoke(app, ["audit", "nonsense"])
    assert result.exit_code == 2 and "unknown view" in result.stderr
    with engine.connect() as conn:
        assert conn.execute(select(BATCHES)).first() is None


@pytest.mark.postgres
def test_views_on_postgres_name_the_forged_entry(world: World, pg_engine: Engine) -> None:
    grants = issue_grants(world)
    world.ledger.revoke_grant(world.subject_tx[0], grants[0])
    make_indexer(world.w3, world.ledger.deployment, pg_engine).run_once()
    fine = log_access(pg_engine, world, actor=world.bank.address, grant_id=grants[1], subject=1)
    forged = log_access(pg_engine, world, actor=world.bank.address, grant_id=grants[0])
    assert [(v["entry_id"], v["violation"]) for v in view(pg_engine, "violations")] == [
        (forged, "revoked")
    ]
    assert view(pg_engine, "access")[0]["entry_id"] == fine
    assert [h["event"] for h in view(pg_engine, "grants")][-1] == "revoked"
    assert view(pg_engine, "statistics")["enterprises_with_any_grant"] == 2
    assert view(pg_engine, "volumes")[0]["allowed"] == 2


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--institution", "中原银行"),  # a name the replica does not know
        ("--institution", "0x12"),
        ("--subject", "0x12"),
        ("--subject", "not-hex"),
        ("--since", "2030-01-01T00:00:00"),  # naive
        ("--until", "2030-01-01T00:00:00"),
        ("--until", "someday"),
        ("--limit", "0"),
        ("--limit", str(2**70)),
        ("--offset", "-1"),
    ],
)
def test_cli_refuses_a_bad_filter_of_any_view_in_one_line(
    world: World, engine: Engine, grants: list[int], monkeypatch: pytest.MonkeyPatch,
    option: str, value: str,
) -> None:  # fmt: skip
    monkeypatch.setenv("CCL_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    for name in audit_views.VIEWS:
        result = CliRunner().invoke(app, ["audit", name, option, value])
        assert result.exit_code == 2, (name, result.output)
        assert result.stderr.startswith(f"error: {option}: "), (name, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    result = CliRunner().invoke(app, ["audit", "volumes", "--bucket", "week"])
    assert result.exit_code == 2 and result.stderr.startswith("error: --bucket: ")


def test_cli_takes_an_institution_by_its_registered_name_and_dates_as_utc_days(
    world: World, engine: Engine, grants: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)
    entry = log_access(engine, world, actor=world.bank.address, grant_id=grants[0], at=at)
    log_access(engine, world, actor=world.bank_b.address, grant_id=grants[2], at=at)
    monkeypatch.setenv("CCL_DATABASE_URL", engine.url.render_as_string(hide_password=False))

    def rows(*args: str) -> list[dict[str, Any]]:
        result = CliRunner().invoke(app, ["audit", *args, "--format", "json"])
        assert result.exit_code == 0, result.output
        return list(json.loads(result.stdout))

    mine = rows("access", "--institution", "中原银行郑州分行", "--since", "2026-12-07",
                "--until", "2026-12-07")  # fmt: skip
    assert [r["entry_id"] for r in mine] == [entry]
    assert rows("access", "--until", "2026-12-06") == []
    assert len(rows("access", "--since", "2026-12-08T07:00:00+08:00")) == 2  # 23:00 UTC, 7th
    assert rows("access", "--since", "2026-12-08T08:00:00+08:00") == []
    assert [r["bucket"] for r in rows("volumes", "--bucket", "month")] == ["2026-12", "2026-12"]


@pytest.mark.parametrize(
    ("backend", "name"),
    [("sqlite", name) for name in audit_views.VIEWS]
    + [pytest.param("postgres", "access", marks=pytest.mark.postgres)],
)
def test_views_refuse_naive_times_and_unknown_institutions_as_filter_errors(
    world: World, backend: str, name: str, request: pytest.FixtureRequest
) -> None:
    engine: Engine = request.getfixturevalue("engine" if backend == "sqlite" else "pg_engine")
    naive = datetime(2030, 1, 1)
    for filters in ({"since": naive}, {"until": naive}, {"institution": "0x12"},
                    {"institution": "nobody"}, {"institution": "a\x00b"}, {"institution": " "},
                    {"subject_id": b"\x01"}, {"limit": 0}):  # fmt: skip
        with pytest.raises(FilterError) as caught:
            view(engine, name, **filters)
        assert caught.value.field == next(iter(filters)) and caught.value.status == 422


def test_a_score_is_rechecked_over_every_category_it_used(
    world: World, engine: Engine, grants: list[int]
) -> None:
    """The grant covers tax and social insurance (bits 2 and 3), at level QUERY."""

    def score(categories: int | None) -> int:
        return log_access(engine, world, actor=world.bank.address, grant_id=grants[0],
                          action="score", category=None, level=AccessLevel.VERIFY,
                          categories=categories)  # fmt: skip

    legacy = score(None)  # logged before `categories` existed
    fine = score((1 << TAX) | (1 << SOCIAL))
    judicial = 1
    overreach = score((1 << TAX) | (1 << judicial))
    found = view(engine, "violations")
    assert [(v["entry_id"], v["violation"]) for v in found] == [(overreach, "category_not_granted")]
    assert found[0]["categories"] == [judicial, TAX]
    rows = {r["entry_id"]: r for r in view(engine, "access")}
    assert rows[fine]["recomputed"] == "usable" and rows[fine]["categories"] == [TAX, SOCIAL]
    assert rows[legacy]["recomputed"] == "usable" and rows[legacy]["categories"] is None


def test_time_filters_read_dates_as_utc_days_and_an_unencoded_plus_as_the_offset() -> None:
    assert parse_time("2026-12-07", "since") == datetime(2026, 12, 7, tzinfo=UTC)
    assert parse_time("2026-12-07", "until") == datetime(2026, 12, 8, tzinfo=UTC)
    beijing_nine = datetime(2026, 12, 7, 1, tzinfo=UTC)
    assert parse_time("2026-12-07T09:00:00+08:00", "since") == beijing_nine
    assert parse_time("2026-12-07T09:00:00 08:00", "since") == beijing_nine  # "+" decoded
    for bad in ("2026-12-07T09:00:00", "2026-12-07 09:00", "9999-12-31", "x" * 65, ""):
        with pytest.raises(FilterError) as caught:
            parse_time(bad, "until")
        assert caught.value.field == "until", bad
