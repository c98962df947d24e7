"""Regulators read the indexer's audit views over the API, with filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from api_support import Api
from test_gate import read, sid
from world import USCCS

from indexer.follower import Indexer
from ledger_api.accesslog import verify_access_log
from ledger_api.chain.types import AccessLevel
from ledger_api.client import LedgerClient
from ledger_api.errors import LedgerError


def _index(api: Api) -> None:
    Indexer.for_engine(
        api.world.w3, api.world.ledger.deployment, api.engine, api.settings
    ).run_once()


def test_regulator_sees_each_access_with_the_grant_state_at_its_block_filtered(api: Api) -> None:
    grant = api.grant()
    read(api, grant)
    _index(api)
    regulator = api.client(api.world.regulator.account)
    rows = regulator.audit("access_audit", institution=api.world.bank.address).result
    assert isinstance(rows, list)
    (entry,) = [r for r in rows if r["grant_id"] == grant]
    assert entry["decision"] == "allowed" and entry["recomputed"] == "usable"
    assert entry["consistent"] and entry["grant_at_block"]["grant_id"] == grant
    assert regulator.audit("access_audit", institution=api.world.bank_b.address).result == []
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert regulator.audit("access_audit", since=later).result == []
    assert regulator.audit("violations").result == []


def test_regulator_sees_every_data_batch_anchor_verified(api: Api) -> None:
    _index(api)
    anchors = api.client(api.world.regulator.account).audit("anchors", limit=500).result
    assert isinstance(anchors, list)
    batches = [a for a in anchors if a["kind"] == "data_batch"]
    assert batches and all(a["status"] == "verified" for a in batches)


AUDIT_VIEWS = ("access_audit", "violations", "volumes", "grant_history", "agreements",
               "anchors", "statistics")  # fmt: skip


def _refused(regulator: LedgerClient, view: str, **filters: object) -> dict:
    with pytest.raises(LedgerError) as caught:
        regulator.audit(view, **filters)
    assert caught.value.status == 422, caught.value.detail
    problem = caught.value.extra["problem"]
    assert problem["code"] == "validation_error"
    return problem


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("institution", "0x12"),
        ("institution", "0x" + "zz" * 20),
        ("institution", "中原银行"),  # not a registered name
        ("since", "2030-01-01T00:00:00"),  # naive: its zone would be a guess
        ("until", "2030-01-01T00:00:00"),
        ("since", "yesterday"),
        ("until", "2026-13-45"),
        ("since", "9999-12-31T23:59:59-14:00"),  # beyond datetime's range in UTC
        ("subject_id", "0x12"),
        ("limit", 0),
        ("offset", -1),
        ("bucket", "week"),
        ("uscc", "91410100MA0000001Y"),  # wrong check character
        ("uscc", "not a code"),
    ],
)
def test_a_bad_audit_filter_is_a_422_naming_it_on_every_view(
    api: Api, field: str, value: object
) -> None:
    _index(api)
    regulator = api.client(api.world.regulator.account)
    for view in AUDIT_VIEWS:
        problem = _refused(regulator, view, **{field: value})
        assert problem["errors"][0]["loc"] == ["query", field], (view, problem)
        assert problem["detail"].startswith(f"query.{field}: "), (view, problem)


def test_a_window_that_ends_before_it_starts_is_refused(api: Api) -> None:
    regulator = api.client(api.world.regulator.account)
    problem = _refused(regulator, "access_audit", since="2026-12-08", until="2026-12-07T00:00:00Z")
    assert problem["errors"][0]["loc"] == ["query", "until"]


def test_date_only_filters_are_whole_utc_days(api: Api) -> None:
    grant = api.grant()
    read(api, grant)
    _index(api)
    today = datetime.fromtimestamp(api.clock(), UTC).date()
    regulator = api.client(api.world.regulator.account)

    def entries(view: str = "access_audit", **window: object) -> list:
        rows = regulator.audit(view, **window).result
        assert isinstance(rows, list)
        return rows

    day = today.isoformat()
    assert [r["grant_id"] for r in entries(since=day, until=day)] == [grant]
    assert entries(until=day)  # until a date includes that whole day
    assert entries(until=(today - timedelta(days=1)).isoformat()) == []
    assert entries(since=(today + timedelta(days=1)).isoformat()) == []
    assert entries("volumes", since=day, until=day)[0]["allowed"] == 1
    assert entries("grant_history", since=day, until=day)[0]["grant_id"] == grant
    assert entries("agreements", since="2000-01-01", until=day)
    assert entries("volumes", bucket="month")[0]["bucket"] == today.isoformat()[:7]
    beijing_midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(),
                                        timezone(timedelta(hours=8)))  # fmt: skip
    zoned = entries(since=(beijing_midnight - timedelta(days=2)).isoformat())
    assert [r["grant_id"] for r in zoned] == [grant]


def test_an_institution_is_found_by_its_registered_name(api: Api) -> None:
    grant = api.grant()
    read(api, grant)
    _index(api)
    regulator = api.client(api.world.regulator.account)
    by_name = regulator.audit("access_audit", institution="中原银行郑州分行").result
    by_address = regulator.audit("access_audit", institution=api.world.bank.address.lower())
    assert isinstance(by_name, list) and [r["grant_id"] for r in by_name] == [grant]
    assert by_name == by_address.result
    assert regulator.audit("grant_history", institution="Bank B").result == []


def test_a_score_read_logs_the_categories_it_used_and_is_no_violation(api: Api) -> None:
    catalog = api.ctx.catalog
    bank = api.client(api.world.bank.account)
    four = api.grant(categories=0b1111, level=AccessLevel.VERIFY)  # reg, judicial, tax, SI
    score = bank.score(sid(api), purpose="loan_application", grant_id=four)
    first = api.last_entry()
    # housing_fund (bit 4) is granted but no scorecard category: only tax is read.
    tax_only = api.grant(categories=0b10100, level=AccessLevel.VERIFY)
    narrow = bank.score(sid(api), purpose="loan_application", grant_id=tax_only)
    second = api.last_entry()
    _index(api)
    regulator = api.client(api.world.regulator.account)
    assert regulator.audit("violations").result == []
    assert first["action"] == "score" and first["categories"] == 0b1111
    assert catalog.bitmask(score.categories_used) == 0b1111
    assert narrow.categories_used == ["tax"] and second["categories"] == 0b100
    assert "NOT_ASSESSED_REGISTRATION" in narrow.reason_codes
    rows = regulator.audit("access_audit").result
    assert isinstance(rows, list)
    scores = [r for r in rows if r["action"] == "score"]
    assert [(r["categories"], r["recomputed"], r["consistent"]) for r in scores] == [
        ([0, 1, 2, 3], "usable", True),
        ([2], "usable", True),
    ]
    with api.engine.connect() as conn:
        assert verify_access_log(conn).clean


def test_a_score_under_a_grant_of_no_scorecard_category_is_refused_naming_one(api: Api) -> None:
    housing_only = api.grant(categories=0b10000, level=AccessLevel.VERIFY)
    bank = api.client(api.world.bank.account)
    with pytest.raises(LedgerError) as caught:
        bank.score(sid(api), purpose="loan_application", grant_id=housing_only)
    assert caught.value.code == "category_not_granted"
    entry = api.last_entry()
    assert entry["decision"] == "denied" and entry["category"] == 0  # registration
    assert entry["categories"] is None


def test_audit_rows_carry_institution_category_and_purpose_names_beside_the_ids(
    api: Api,
) -> None:
    grant = api.grant()
    read(api, grant)
    _index(api)
    regulator = api.client(api.world.regulator.account)
    rows = regulator.audit("access_audit", institution=api.world.bank.address).result
    assert isinstance(rows, list)
    (entry,) = [r for r in rows if r["grant_id"] == grant]
    assert entry["actor"] == api.world.bank.address
    assert entry["institution_name"] == "中原银行郑州分行"
    assert (entry["category"], entry["category_name"]) == (2, "纳税")
    assert (entry["purpose"], entry["purpose_name"]) == ("loan_application", "贷前审查")
    assert "纳税" in entry["grant_at_block"]["category_names"]
    (volume,) = regulator.audit("volumes", institution=api.world.bank.address).result
    assert volume["institution_name"] == "中原银行郑州分行" and volume["category_name"] == "纳税"
    issued = regulator.audit("grant_history", institution=api.world.bank.address).result
    assert isinstance(issued, list)
    assert all(g["institution_name"] == "中原银行郑州分行" for g in issued)
    agreements = regulator.audit("agreements", institution=api.world.bank.address).result
    assert isinstance(agreements, list) and agreements[0]["purpose_names"][0] == "贷前审查"
    stats = regulator.audit("statistics").result
    assert isinstance(stats, dict)
    assert stats["usage_by_institution"][0]["institution_name"] == "中原银行郑州分行"


def test_an_enterprise_is_found_by_its_uscc_as_by_its_subject_id(api: Api) -> None:
    grant = api.grant()
    read(api, grant)
    _index(api)
    regulator = api.client(api.world.regulator.account)
    by_uscc = regulator.audit("access_audit", uscc=USCCS[0].lower()).result
    assert by_uscc and by_uscc == regulator.audit("access_audit", subject_id=sid(api, 0)).result
    assert regulator.audit("access_audit", uscc=USCCS[1]).result == []
    problem = _refused(regulator, "access_audit", uscc=USCCS[0], subject_id=sid(api, 1))
    assert problem["errors"][0]["loc"] == ["query", "uscc"]
