"""The financing loop through the API: products, one-signature applications, decisions, loans
sealed and anchored, outcomes, overdue decisions; each bad input a 4xx refusal, audited, with
nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from api_support import Api, ApiWorld, make_api
from financing_support import (
    DAY,
    ZHENGZHOU,
    apply,
    approval,
    assert_refused,
    product_body,
    publish,
    signed_application,
)
from sqlalchemy import func, select
from world import USCCS, World

from indexer.follower import Indexer
from ledger_api.anchoring.kinds import resume_all
from ledger_api.api.routes import financing as financing_routes
from ledger_api.chain.anchorer import ChainAnchorer
from ledger_api.errors import ChainError
from ledger_api.financing import client as fin
from ledger_api.financing.applications import serves
from ledger_api.financing.events import event_leaf
from ledger_api.financing.tables import APPLICATIONS, EVENTS, LOANS, PRODUCTS


def _count(api: Api, table: object) -> int:
    with api.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_a_published_product_is_listed_to_anyone_and_filtered_by_region_industry_kind(
    api: Api,
) -> None:
    published = publish(api)
    publish(api, name="供应链贷", kind="supply_chain", regions=["410500"], industries=["G"])
    assert published.institution_name == "中原银行郑州分行"
    assert published.categories == ["registration", "tax"]
    anyone = api.http
    listed = anyone.get("/v1/financing/products", params={"region": ZHENGZHOU}).json()
    assert [p["id"] for p in listed] == [published.id]
    assert [p["name"] for p in anyone.get("/v1/financing/products?industry=G").json()] == [
        "供应链贷"
    ]
    assert len(anyone.get("/v1/financing/products?kind=pure_credit").json()) == 1
    assert anyone.get("/v1/financing/products?amount=5000000").json() == []


def test_a_product_with_an_empty_range_or_unknown_category_is_refused_and_not_stored(
    api: Api,
) -> None:
    bank = api.client(api.world.bank.account)
    for overrides, code in (
        ({"amount_min": 5_000_000}, "empty_range"),
        ({"categories": ["no_such"]}, "unknown_category"),
        ({"regions": ["110100"]}, "unknown_region"),
    ):
        before = api.entry_count()
        response = bank.send(
            "POST", "/v1/institution/financing/products", json_body=product_body(api, **overrides)
        )
        assert_refused(api, before, response, 422, code)
    assert _count(api, PRODUCTS) == 0


def test_one_signature_applies_and_grants_so_the_bank_reads_under_that_grant(api: Api) -> None:
    product = publish(api)
    application = apply(api, product)
    assert application.status == "submitted" and application.institution == product.institution
    assert application.decision_deadline == application.submitted_at + 30 * DAY
    grant = api.world.ledger.grant(application.grant_id)
    assert grant.categories == product.category_mask and not grant.revoked
    bank = api.client(api.world.bank.account)
    [seen] = fin.bank_applications(bank, status="submitted")
    assert seen.id == application.id and seen.grant_id == application.grant_id
    page = bank.records(
        USCCS[0], category="tax", purpose="loan_application", grant_id=application.grant_id
    )
    assert page.records
    mine = fin.my_applications(api.client(api.world.subject_keys[0]))
    assert [(a.id, a.status) for a in mine] == [(application.id, "submitted")]


def test_an_approval_records_a_sealed_loan_anchored_on_chain_and_its_outcome(api: Api) -> None:
    product = publish(api)
    application = apply(api, product)
    bank = api.client(api.world.bank.account)
    decided = fin.decide(bank, application.id, approval())
    assert decided.status == "approved" and decided.loan_id is not None
    loan = fin.bank_loan(bank, decided.loan_id)
    assert (loan.amount, loan.rate_bp, loan.pure_credit, loan.first_loan) == (
        400_000,
        420,
        True,
        True,
    )
    assert loan.anchored
    assert fin.my_loan(api.client(api.world.subject_keys[0]), loan.id).amount == 400_000
    with api.engine.connect() as conn:
        sealed = conn.execute(select(LOANS.c.terms_sealed)).scalar_one()
        [event] = conn.execute(select(EVENTS).where(EVENTS.c.kind == "loan_recorded")).all()
    assert b"420" not in sealed and b"rate_bp" not in sealed
    assert event_leaf(event.record) == event.leaf
    assert api.world.ledger.anchor_of(event.leaf) is not None
    repaid = fin.report_outcome(bank, loan.id, "repaid")
    assert repaid.status == "repaid"
    regulator = api.client(api.world.regulator.account)
    kinds = [e["kind"] for e in regulator.call("GET", f"/v1/audit/financing/events/loan/{loan.id}")]
    assert kinds == ["loan_recorded", "loan_repaid"]


def test_a_decline_needs_a_reason_code_and_the_enterprise_sees_it(api: Api) -> None:
    product = publish(api)
    application = apply(api, product)
    bank = api.client(api.world.bank.account)
    before = api.entry_count()
    response = bank.send(
        "POST",
        f"/v1/institution/financing/applications/{application.id}/decision",
        json_body={"decision": "declined"},
    )
    assert_refused(api, before, response, 422, "reason_required")
    fin.decide(bank, application.id, {"decision": "declined", "reason": "insufficient_cash_flow"})
    [mine] = fin.my_applications(api.client(api.world.subject_keys[0]))
    assert (mine.status, mine.decline_reason) == ("declined", "insufficient_cash_flow")


def test_applying_to_an_expired_product_or_out_of_its_range_is_refused_with_nothing_stored(
    api: Api,
) -> None:
    now = int(api.clock())
    expired = publish(api, valid_from=now - 10 * DAY, valid_until=now - DAY)
    open_product = publish(api)
    wallet = api.client(api.world.subject_keys[0])
    grants_before = api.world.ledger.contract.functions.grantCount().call()
    for product, kwargs, status, code in (
        (expired, {}, 409, "product_not_active"),
        (open_product, {"amount": 50_000}, 422, "amount_out_of_range"),
        (open_product, {"term_months": 60}, 422, "term_out_of_range"),
        (open_product, {"region": "411700"}, 422, "region_not_served"),
    ):
        body = signed_application(api, product, **kwargs)
        before = api.entry_count()
        response = wallet.send("POST", "/v1/subject/financing/applications", json_body=body)
        assert_refused(api, before, response, status, code)
    assert _count(api, APPLICATIONS) == 0
    assert api.world.ledger.contract.functions.grantCount().call() == grants_before


def test_an_application_whose_signature_does_not_cover_its_terms_is_refused(api: Api) -> None:
    product = publish(api)
    body = signed_application(api, product) | {"amount": 600_000}  # not what was signed
    before = api.entry_count()
    response = api.client(api.world.subject_keys[0]).send(
        "POST", "/v1/subject/financing/applications", json_body=body
    )
    assert_refused(api, before, response, 422, "bad_application_signature")
    assert _count(api, APPLICATIONS) == 0


def test_another_banks_application_and_a_decision_after_withdrawal_are_refused(api: Api) -> None:
    product = publish(api)
    application = apply(api, product)
    other = api.client(api.world.bank_b.account)
    path = f"/v1/institution/financing/applications/{application.id}/decision"
    before = api.entry_count()
    assert_refused(
        api, before, other.send("POST", path, json_body=approval()), 403, "not_your_application"
    )
    fin.withdraw(api.client(api.world.subject_keys[0]), application.id)
    bank = api.client(api.world.bank.account)
    before = api.entry_count()
    assert_refused(
        api, before, bank.send("POST", path, json_body=approval()), 409, "application_withdrawn"
    )
    assert _count(api, LOANS) == 0


def test_an_approval_outside_the_products_range_is_refused_and_records_no_loan(api: Api) -> None:
    product = publish(api)
    application = apply(api, product)
    bank = api.client(api.world.bank.account)
    path = f"/v1/institution/financing/applications/{application.id}/decision"
    for overrides, code in (
        ({"amount": 9_000_000}, "amount_out_of_range"),
        ({"rate_bp": 900}, "rate_out_of_range"),
    ):
        before = api.entry_count()
        assert_refused(
            api, before, bank.send("POST", path, json_body=approval(**overrides)), 422, code
        )
    assert _count(api, LOANS) == 0
    assert fin.bank_applications(bank)[0].status == "submitted"


def test_an_unanswered_application_past_its_deadline_is_flagged_to_the_regulator(api: Api) -> None:
    product = publish(api)
    application = apply(api, product)
    regulator = api.client(api.world.regulator.account)
    assert regulator.call("GET", "/v1/audit/financing/overdue-applications") == []
    api.clock.advance(31 * DAY)
    [flagged] = regulator.call("GET", "/v1/audit/financing/overdue-applications")
    assert flagged["id"] == application.id and flagged["overdue"]
    assert fin.my_applications(api.client(api.world.subject_keys[0]))[0].overdue


def test_the_decision_window_is_the_platforms_setting(
    api_world: ApiWorld, world: World, tmp_path: Path
) -> None:
    short = make_api(api_world, world, tmp_path, financing_decision_days=5)
    try:
        product = publish(short)
        assert product.decision_days == 5
        application = apply(short, product)
        assert application.decision_deadline == application.submitted_at + 5 * DAY
    finally:
        short.ctx.close()
        short.ctx.engine.dispose()


def test_the_application_must_name_the_registered_region_and_industry(api: Api) -> None:
    # Subject 0's registration record says 410100 / C; the product also serves 410300 / F.
    product = publish(api)
    wallet = api.client(api.world.subject_keys[0])
    for kwargs, code in (
        ({"region": "410300"}, "region_mismatch"),
        ({"industry": "F"}, "industry_mismatch"),
    ):
        body = signed_application(api, product, **kwargs)
        before = api.entry_count()
        response = wallet.send("POST", "/v1/subject/financing/applications", json_body=body)
        assert_refused(api, before, response, 422, code)
    assert _count(api, APPLICATIONS) == 0


def test_a_product_for_a_prefecture_serves_its_counties_only() -> None:
    assert serves(["410100"], "410102") and serves(["410102"], "410102")
    assert not serves(["410102"], "410100") and not serves(["410300"], "410102")


def test_a_decision_stays_recorded_when_its_anchor_fails_and_resume_anchors_it(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    product = publish(api)
    application = apply(api, product)

    def chain_down(*_args: object) -> None:
        raise ChainError("node unreachable")

    monkeypatch.setattr(financing_routes, "anchor_events", chain_down)
    bank = api.client(api.world.bank.account)
    decided = fin.decide(bank, application.id, approval())
    assert decided.status == "approved" and decided.loan_id is not None
    assert not fin.bank_loan(bank, decided.loan_id).anchored
    finished = resume_all(api.engine, ChainAnchorer(api.world.ledger, api.world.operator))
    assert finished["loop_events"]
    assert fin.bank_loan(bank, decided.loan_id).anchored


def test_the_regulators_anchor_view_verifies_each_financing_event(api: Api) -> None:
    product = publish(api)
    application = apply(api, product)
    fin.decide(api.client(api.world.bank.account), application.id, approval())
    Indexer.for_engine(
        api.world.w3, api.world.ledger.deployment, api.engine, api.settings
    ).run_once()
    anchors = api.client(api.world.regulator.account).audit("anchors", limit=500).result
    assert isinstance(anchors, list)
    events = [a for a in anchors if a["kind"] == "record_status"]
    assert [a["status"] for a in events] == ["verified"]
