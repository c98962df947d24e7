"""`ccl-indexer audit VIEW` as tables a person reads at 120 columns (docs/audit.md)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from activity import (
    SUPPLY_CHAIN_USCC_MASKED,
    agreement_changes,
    anchors_and_disputes,
    issue_grants,
    supply_chain_activity,
)
from indexer_support import make_indexer
from receivables_kit import SupplyChain
from sqlalchemy import Engine, update
from test_indexer_audit_views import log_access
from typer.testing import CliRunner
from world import PSEUDONYM_KEY, USCCS, World

from indexer import audit_views
from indexer.cli import app
from ledger_api.monitoring.subscriptions import RISK_ALERTS, SubscriptionRequest, create
from ledger_api.store.monitoring_tables import SUBSCRIPTIONS

BANK_NAME = "中原银行郑州分行"
# The accesses' time: an hour after the run starts, inside the windows of the grants the test
# issues (a fixed time went outside them once the clock passed it).
AT = (datetime.now(UTC) + timedelta(hours=1)).replace(second=0, microsecond=0)
# What each view's table must show of the demo activity below: names, never bare addresses.
VISIBLE = {
    "access_audit": [BANK_NAME, "纳税", "贷前审查", "allowed", "usable", f"{AT:%Y-%m-%d %H:%M}"],
    "violations": [BANK_NAME, "revoked", "纳税", "0x"],  # the subject, shortened
    "refusals": ["Bank B", "revoked", "社会保险"],
    "volumes": [BANK_NAME, "Bank B", f"{AT:%Y-%m-%d}", "纳税", "贷前审查"],
    "grant_history": [BANK_NAME, "Bank B", "issued", "revoked", "纳税, 社会保险", "担保"],
    "agreements": [BANK_NAME, "Bank B", "Insurer C", "terminated", "suspended"],
    "anchors": ["data_batch", "access_log", "unknown_log_range"],
    "statistics": [
        "enterprises_with_any_grant",
        BANK_NAME,
        "usage by institution",
        "credit_loans",
        "median_days_to_decision",
        "renewals_without_repayment",
    ],
    "regulator_acts": ["Insurer C", "suspend_agreement", "terminate_agreement"],
    "supply_chain": [SUPPLY_CHAIN_USCC_MASKED, "10500.00", "3000.00", "200.00"],
    "double_financing_refusals": ["Bank B", BANK_NAME, "part_locked", "2026-12-07 09:30"],
    "subscriptions": [BANK_NAME, "risk_alerts", "hooks.bank.example", "http 503"],
    "deliveries": [BANK_NAME, "Bank B", "Insurer C"],
}


def failing_webhook(engine: Engine, institution: str) -> None:
    """A risk-alert subscription whose endpoint answered 503 to its last delivery."""
    request = SubscriptionRequest(RISK_ALERTS, [], [], [], "https://hooks.bank.example/x?t=1")
    with engine.begin() as conn:
        sub = create(conn, institution, request, 0, request.webhook_url, 0)
        conn.execute(
            update(SUBSCRIPTIONS)
            .where(SUBSCRIPTIONS.c.id == sub["id"])
            .values(last_number=3, failures=2, last_error="http 503")
        )


@pytest.fixture
def activity(
    world: World, supply_chain: SupplyChain, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Grants (one revoked), agreements, anchors, allowed, refused and forged accesses,
    receivables split, financed and refused a second financing."""
    supply_chain_activity(supply_chain, engine)
    grants = issue_grants(world)
    world.ledger.revoke_grant(world.subject_tx[0], grants[0])
    agreement_changes(world)
    anchors_and_disputes(world)
    make_indexer(world.w3, world.ledger.deployment, engine).run_once()
    bank, bank_b = world.bank.address, world.bank_b.address
    fine = log_access(engine, world, actor=bank, grant_id=grants[1], subject=1, at=AT)
    forged = log_access(engine, world, actor=bank, grant_id=grants[0], at=AT)
    refused = log_access(
        engine, world, actor=bank_b, grant_id=grants[2], subject=1, decision="denied",
        category=3, at=AT,
    )  # fmt: skip
    failing_webhook(engine, bank)
    monkeypatch.setenv("CCL_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("CCL_PSEUDONYM_KEY", PSEUDONYM_KEY.hex())
    monkeypatch.setenv("COLUMNS", "120")
    return {"grants": grants, "fine": fine, "forged": forged, "refused": refused}


def run(*args: str) -> str:
    result = CliRunner().invoke(app, ["audit", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("view", list(audit_views.VIEWS))
def test_every_view_fits_120_columns_and_shows_names_not_addresses(
    activity: dict[str, Any], world: World, view: str
) -> None:
    table = run(view)
    widest = max(len(line) for line in table.splitlines())
    assert widest <= 120, table
    for value in VISIBLE[view]:
        assert value in table, (value, table)
    assert world.bank.address not in table and "{" not in table  # no addresses, no JSON
    assert "0x" + world.subject_ids[0].hex() not in table
    wide = run(view, "--wide")
    assert VISIBLE[view][0] in wide
    assert "{" not in wide and "[" not in wide


def test_wide_tables_flatten_the_grant_state_into_columns(activity: dict[str, Any]) -> None:
    wide = run("access_audit", "--wide")
    header = next(line for line in wide.splitlines() if "entry_id" in line)
    assert "grant_at_block.level" in header and "institution_name" in header
    assert "grant_at_block" not in run("access_audit")


def test_subject_is_found_by_its_uscc_as_by_its_subject_id(
    activity: dict[str, Any], world: World
) -> None:
    by_uscc = json.loads(run("access_audit", "--subject", USCCS[1].lower(), "--format", "json"))
    by_id = json.loads(
        run("access_audit", "--subject", "0x" + world.subject_ids[1].hex(), "--format", "json")
    )
    assert [r["entry_id"] for r in by_uscc] == [activity["fine"], activity["refused"]]
    assert by_uscc == by_id


@pytest.mark.parametrize(
    "value", ["91410100MA0000001Y", "914101", "统一社会信用代码", "0xZZ", "0x" + "ab" * 31]
)
def test_a_bad_subject_is_refused_in_one_line(activity: dict[str, Any], value: str) -> None:
    result = CliRunner().invoke(app, ["audit", "access_audit", "--subject", value])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: --subject: ")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_json_and_csv_keep_addresses_and_ids_beside_the_names(
    activity: dict[str, Any], world: World
) -> None:
    (row,) = json.loads(run("violations", "--format", "json"))
    assert row["actor"] == world.bank.address and row["institution_name"] == BANK_NAME
    assert row["category"] == 2 and row["category_name"] == "纳税"
    assert row["purpose"] == "loan_application" and row["purpose_name"] == "贷前审查"
    assert row["grant_at_block"]["category_names"] == ["纳税", "社会保险"]
    rows = list(csv.DictReader(io.StringIO(run("grant_history", "--format", "csv"))))
    bank_b = [r for r in rows if r["institution"] == world.bank_b.address]
    assert bank_b and all(r["institution_name"] == "Bank B" for r in bank_b)
    assert all("[" not in value for r in rows for value in r.values())
    stats = list(csv.DictReader(io.StringIO(run("statistics", "--format", "csv"))))
    assert {"kpi", "value"} == set(stats[0])
    assert any(BANK_NAME in r["value"] for r in stats)


@pytest.mark.parametrize(
    ("option", "value"),
    [("--limit", "abc"), ("--offset", "1.5"), ("--since", "2026-13-01"), ("--until", "07/12/2026")],
)
def test_a_malformed_number_or_date_is_refused_in_one_line(
    activity: dict[str, Any], option: str, value: str
) -> None:
    result = CliRunner().invoke(app, ["audit", "volumes", option, value])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {option}: ")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_long_names_wrap_inside_120_columns_and_short_columns_stay_whole(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from indexer.audit_table import print_view

    monkeypatch.setenv("COLUMNS", "120")
    row = {
        "entry_id": 12345, "at": "2026-12-07T23:30:00+00:00", "actor": "0x" + "1f" * 20,
        "institution_name": "中国工商银行股份有限公司郑州分行", "subject_id": "0x" + "ab" * 32,
        "action": "records", "category": 11, "category_name": "公共资源交易",
        "purpose": "supply_chain_finance", "purpose_name": "供应链金融", "grant_id": 123456,
        "decision": "allowed", "recomputed": "category_not_in_agreement",
    }  # fmt: skip
    print_view("access_audit", [row])
    table = capsys.readouterr().out
    assert max(len(line) for line in table.splitlines()) <= 120
    assert "2026-12-07 23:30" in table and "0xabab…abab" in table and "123456" in table
