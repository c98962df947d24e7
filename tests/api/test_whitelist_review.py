"""A white-list reviewer's own steps through the API: the entries of its regions, its finding
on each of the five criteria (evidence hash, met or not) before any recommendation, and the
push of a recommended entry to banks holding the enterprise's loan_application grant. Every
refusal is 4xx problem+json, audited, and changes nothing."""

from __future__ import annotations

from api_support import Api
from financing_support import assert_refused
from test_whitelist import EVIDENCE, _apply, _find, _recommended, _review, _reviewer


def test_a_recommendation_needs_all_five_criteria_recorded_and_met(api: Api) -> None:
    reviewer = _reviewer(api, ["410100"])
    entry = _apply(api)
    _review(reviewer, entry["id"], "start_review")
    criteria = list(EVIDENCE)
    for criterion in criteria[:4]:
        assert _find(reviewer, entry["id"], criterion).status_code == 200
    before = api.entry_count()
    refused = _review(reviewer, entry["id"], "recommend")
    assert_refused(api, before, refused, 409, "criteria_not_met")
    assert "not recorded: lawful_loan_use" in refused.json()["detail"]
    _find(reviewer, entry["id"], "lawful_loan_use", met=False)
    before = api.entry_count()
    refused = _review(reviewer, entry["id"], "recommend")
    assert_refused(api, before, refused, 409, "criteria_not_met")
    assert "not met: lawful_loan_use" in refused.json()["detail"]
    found = _find(reviewer, entry["id"], "lawful_loan_use").json()  # evidence found after all
    assert found["state"] == "under_review"
    assert set(found["findings"]) == set(criteria)
    assert found["findings"]["good_credit"]["evidence"] == "0x" + "ab" * 32
    assert found["findings"]["good_credit"]["reviewer"] == reviewer.account.address
    assert _review(reviewer, entry["id"], "recommend").json()["state"] == "recommended"
    regulator = api.client(api.world.regulator.account)
    events = regulator.call("GET", f"/v1/audit/financing/events/whitelist/{entry['id']}")
    recorded = [e for e in events if e["kind"] == "whitelist_criterion_recorded"]
    assert len(recorded) == 6 and all(e["anchored"] for e in recorded)  # the unmet one too
    assert '"met":false' in recorded[4]["record"]


def test_a_criterion_is_recorded_only_under_review_by_a_reviewer_of_the_region(api: Api) -> None:
    reviewer = _reviewer(api, ["410100"])
    elsewhere = _reviewer(api, ["410300"])
    entry = _apply(api)
    before = api.entry_count()
    early = _find(reviewer, entry["id"], "good_credit")
    assert_refused(api, before, early, 409, "whitelist_state_order")
    _review(reviewer, entry["id"], "start_review")
    before = api.entry_count()
    outside = _find(elsewhere, entry["id"], "good_credit")
    assert_refused(api, before, outside, 403, "reviewer_out_of_region")
    unknown = _find(reviewer, entry["id"], "nice_logo")
    assert unknown.status_code == 422
    assert unknown.headers["content-type"] == "application/problem+json"
    bad_hash = reviewer.send(
        "POST",
        f"/v1/audit/whitelist/{entry['id']}/criteria/good_credit",
        json_body={"evidence_hash": "0x1234"},
    )
    assert bad_hash.status_code == 422
    mine = api.client(api.world.subject_keys[0]).call("GET", "/v1/subject/whitelist")
    assert mine[0]["findings"] == {}


def test_a_reviewer_lists_the_entries_of_its_regions_only(api: Api) -> None:
    entry = _apply(api)  # 410100
    prefecture = _reviewer(api, ["410100"])
    elsewhere = _reviewer(api, ["410300"])
    assert [e["id"] for e in prefecture.call("GET", "/v1/audit/whitelist/my-regions")] == [
        entry["id"]
    ]
    listed = prefecture.call("GET", "/v1/audit/whitelist/my-regions", params={"state": "pushed"})
    assert listed == []
    assert elsewhere.call("GET", "/v1/audit/whitelist/my-regions") == []
    regulator = api.client(api.world.regulator.account)  # designated nowhere
    before = api.entry_count()
    refused = regulator.send("GET", "/v1/audit/whitelist/my-regions")
    assert_refused(api, before, refused, 403, "reviewer_out_of_region")


def test_a_reviewer_pushes_to_banks_holding_the_enterprises_grant_only(api: Api) -> None:
    entry, reviewer = _recommended(api)
    grant_id = api.grant(0)  # the enterprise's loan_application grant to the first bank
    path = f"/v1/audit/whitelist/{entry['id']}/pushes"
    before = api.entry_count()
    refused = reviewer.send("POST", path, json_body={"banks": [api.world.bank_b.address]})
    assert_refused(api, before, refused, 422, "push_grant_mismatch")
    assert "Bank B" in refused.json()["detail"]
    elsewhere = _reviewer(api, ["410300"])
    before = api.entry_count()
    outside = elsewhere.send("POST", path, json_body={"banks": [api.world.bank.address]})
    assert_refused(api, before, outside, 403, "reviewer_out_of_region")
    pushed = reviewer.call("POST", path, json_body={"banks": [api.world.bank.address]})
    assert pushed["state"] == "pushed"
    [push] = pushed["pushes"]
    assert push["grant_id"] == grant_id and push["institution_name"] == "中原银行郑州分行"
    before = api.entry_count()
    again = reviewer.send("POST", path, json_body={"banks": [api.world.bank.address]})
    assert_refused(api, before, again, 409, "whitelist_state_order")
    bank = api.client(api.world.bank.account)
    assert [e["id"] for e in bank.call("GET", "/v1/institution/whitelist")] == [entry["id"]]
