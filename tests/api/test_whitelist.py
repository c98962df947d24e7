"""The financing white list through the API: designation of region-scoped reviewers, the
states submitted -> under_review -> recommended | rejected -> pushed -> bank decisions ->
expired | removed, each change anchored; out-of-order changes and reviewers outside their
region refused (4xx, audited, nothing changed)."""

from __future__ import annotations

from typing import Any

import pytest
from api_support import Api
from eth_account import Account
from eth_account.signers.local import LocalAccount
from financing_support import DAY, assert_refused, publish

from ledger_api.client import LedgerClient

EVIDENCE = {
    name: "0x" + f"{i + 1:02x}" * 32
    for i, name in enumerate(
        (
            "compliant_operation",
            "fixed_premises",
            "financing_need",
            "good_credit",
            "lawful_loan_use",
        )
    )
}
DISTRICT = "410100"  # 郑州, where subject 0 is registered


def _reviewer(api: Api, regions: list[str]) -> LedgerClient:
    key: LocalAccount = Account.create()
    api.world.ledger.grant_role(api.world.governance, "REGULATOR_ROLE", key.address)
    regulator = api.client(api.world.regulator.account)
    regulator.call(
        "POST",
        "/v1/audit/whitelist/reviewers",
        json_body={"address": key.address, "regions": regions},
    )
    return api.client(key)


def _apply(api: Api) -> dict[str, Any]:
    wallet = api.client(api.world.subject_keys[0])
    body = {"region": DISTRICT, "industry": "C", "criteria": EVIDENCE}
    entry: dict[str, Any] = wallet.call("POST", "/v1/subject/whitelist", json_body=body)
    return entry


def _review(who: LedgerClient, entry_id: int, action: str, **extra: Any) -> Any:
    return who.send(
        "POST", f"/v1/audit/whitelist/{entry_id}/review", json_body={"action": action} | extra
    )


def _find(who: LedgerClient, entry_id: int, criterion: str, met: bool = True) -> Any:
    """The reviewer's finding on one criterion, with the hash of the evidence it examined."""
    body = {"evidence_hash": "0x" + "ab" * 32, "met": met}
    return who.send("POST", f"/v1/audit/whitelist/{entry_id}/criteria/{criterion}", json_body=body)


def _recommended(api: Api) -> tuple[dict[str, Any], LedgerClient]:
    reviewer = _reviewer(api, ["410100"])
    entry = _apply(api)
    assert _review(reviewer, entry["id"], "start_review").status_code == 200
    for criterion in EVIDENCE:
        assert _find(reviewer, entry["id"], criterion).status_code == 200
    assert _review(reviewer, entry["id"], "recommend").status_code == 200
    return entry, reviewer


def test_a_reviewer_of_the_prefecture_recommends_and_the_chosen_bank_answers_every_step_anchored(
    api: Api,
) -> None:
    entry, _reviewer_client = _recommended(api)
    grant_id = api.grant(0)
    wallet = api.client(api.world.subject_keys[0])
    pushed = wallet.call(
        "POST",
        f"/v1/subject/whitelist/{entry['id']}/pushes",
        json_body={"banks": [{"institution": api.world.bank.address, "grant_id": grant_id}]},
    )
    assert pushed["state"] == "pushed"
    [push] = pushed["pushes"]
    assert (
        push["institution_name"] == "中原银行郑州分行"
        and push["due_at"] - push["pushed_at"] == 30 * DAY
    )
    bank = api.client(api.world.bank.account)
    assert [e["id"] for e in bank.call("GET", "/v1/institution/whitelist")] == [entry["id"]]
    answered = bank.call(
        "POST",
        f"/v1/institution/whitelist/pushes/{push['id']}/decision",
        json_body={"decision": "approved"},
    )
    assert answered["pushes"][0]["decision"] == "approved"
    regulator = api.client(api.world.regulator.account)
    events = regulator.call("GET", f"/v1/audit/financing/events/whitelist/{entry['id']}")
    assert [e["kind"] for e in events] == [
        "whitelist_submitted",
        "whitelist_under_review",
        *["whitelist_criterion_recorded"] * 5,
        "whitelist_recommended",
        "whitelist_pushed",
        "whitelist_bank_approved",
    ]
    assert all(e["anchored"] for e in events)
    assert all(api.world.ledger.anchor_of(bytes.fromhex(e["leaf"][2:])) for e in events)


def test_a_reviewer_outside_its_region_is_refused_and_the_entry_stays(api: Api) -> None:
    elsewhere = _reviewer(api, ["410300"])
    entry = _apply(api)
    before = api.entry_count()
    assert_refused(
        api, before, _review(elsewhere, entry["id"], "start_review"), 403, "reviewer_out_of_region"
    )
    mine = api.client(api.world.subject_keys[0]).call("GET", "/v1/subject/whitelist")
    assert [e["state"] for e in mine] == ["submitted"]


@pytest.mark.parametrize("action", ["recommend", "expire", "remove"])
def test_a_state_change_out_of_order_is_refused(api: Api, action: str) -> None:
    reviewer = _reviewer(api, ["410100"])
    entry = _apply(api)
    before = api.entry_count()
    response = _review(reviewer, entry["id"], action, reason="not_eligible")
    assert_refused(api, before, response, 409, "whitelist_state_order")


def test_pushing_to_a_bank_without_the_enterprises_grant_is_refused(api: Api) -> None:
    entry, _ = _recommended(api)
    wallet = api.client(api.world.subject_keys[0])
    before = api.entry_count()
    response = wallet.send(
        "POST",
        f"/v1/subject/whitelist/{entry['id']}/pushes",
        json_body={"banks": [{"institution": api.world.bank_b.address, "grant_id": api.grant(0)}]},
    )
    assert_refused(api, before, response, 422, "push_grant_mismatch")
    assert wallet.call("GET", "/v1/subject/whitelist")[0]["state"] == "recommended"


def test_a_repairable_rejection_can_be_resubmitted_and_a_final_one_cannot(api: Api) -> None:
    reviewer = _reviewer(api, ["410100"])
    entry = _apply(api)
    wallet = api.client(api.world.subject_keys[0])
    path = f"/v1/subject/whitelist/{entry['id']}/resubmission"
    body = {"region": DISTRICT, "industry": "C", "criteria": EVIDENCE}
    _review(reviewer, entry["id"], "start_review")
    rejected = _review(reviewer, entry["id"], "reject", reason="premises_unproven", repairable=True)
    assert rejected.json()["repairable"] is True
    assert wallet.call("POST", path, json_body=body)["state"] == "submitted"
    _review(reviewer, entry["id"], "start_review")
    _review(reviewer, entry["id"], "reject", reason="loan_use_unlawful", repairable=False)
    before = api.entry_count()
    assert_refused(api, before, wallet.send("POST", path, json_body=body), 409, "not_repairable")


def test_an_entry_expires_only_after_the_banks_window(api: Api) -> None:
    entry, reviewer = _recommended(api)
    api.client(api.world.subject_keys[0]).call(
        "POST",
        f"/v1/subject/whitelist/{entry['id']}/pushes",
        json_body={
            "banks": [
                {
                    "institution": api.world.bank.address,
                    "grant_id": api.grant(0, not_after=int(api.clock()) + 90 * DAY),
                }
            ]
        },
    )
    before = api.entry_count()
    assert_refused(api, before, _review(reviewer, entry["id"], "expire"), 409, "pushes_pending")
    api.clock.advance(31 * DAY)
    regulator = api.client(api.world.regulator.account)
    [listed] = regulator.call("GET", "/v1/audit/whitelist", params={"state": "pushed"})
    assert listed["pushes"][0]["overdue"]
    assert _review(reviewer, entry["id"], "expire").json()["state"] == "expired"
    bank = api.client(api.world.bank.account)
    push_id = bank.call("GET", "/v1/institution/whitelist")[0]["pushes"][0]["id"]
    late = bank.send(
        "POST",
        f"/v1/institution/whitelist/pushes/{push_id}/decision",
        json_body={"decision": "approved"},
    )
    assert late.status_code == 409 and late.json()["code"] == "push_expired"


def test_incomplete_criteria_and_a_non_regulator_reviewer_are_refused(api: Api) -> None:
    wallet = api.client(api.world.subject_keys[0])
    partial = dict(list(EVIDENCE.items())[:4])
    before = api.entry_count()
    response = wallet.send(
        "POST",
        "/v1/subject/whitelist",
        json_body={
            "region": DISTRICT,
            "industry": "C",
            "criteria": partial | {"x": EVIDENCE["good_credit"]},
        },
    )
    assert_refused(api, before, response, 422, "criteria_incomplete")
    regulator = api.client(api.world.regulator.account)
    before = api.entry_count()
    response = regulator.send(
        "POST",
        "/v1/audit/whitelist/reviewers",
        json_body={"address": api.world.bank.address, "regions": ["410100"]},
    )
    assert_refused(api, before, response, 422, "reviewer_not_regulator")


def test_banks_see_the_recommended_entries_of_the_regions_their_products_serve(api: Api) -> None:
    entry, _ = _recommended(api)  # region 410100
    bank = api.client(api.world.bank.account)
    assert bank.call("GET", "/v1/institution/whitelist") == []  # no product yet
    publish(api)  # serves 410100 and 410300
    assert [e["id"] for e in bank.call("GET", "/v1/institution/whitelist")] == [entry["id"]]
    assert bank.call("GET", "/v1/institution/whitelist", params={"region": "411700"}) == []


def test_an_enterprise_applies_only_in_the_region_it_is_registered_in(api: Api) -> None:
    wallet = api.client(api.world.subject_keys[0])
    body = {"region": "410300", "industry": "C", "criteria": EVIDENCE}
    before = api.entry_count()
    response = wallet.send("POST", "/v1/subject/whitelist", json_body=body)
    assert_refused(api, before, response, 422, "region_mismatch")
    assert wallet.call("GET", "/v1/subject/whitelist") == []
