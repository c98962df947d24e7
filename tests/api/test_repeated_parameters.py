"""A query parameter given twice is refused (400 ``repeated_parameter``) before anything is
served: the signed form sorts repetitions, the handlers would read only one of them."""

from __future__ import annotations

from api_support import Api
from signed_raw import send_raw_query
from test_gate import sid

from ledger_api.api.auth import parse_query


def test_a_repeated_category_reordered_after_signing_is_refused_and_logged(api: Api) -> None:
    grant = api.grant()  # covers tax and social_insurance
    bank = api.world.bank.account
    path = f"/v1/institution/subjects/{sid(api)}/records"
    common = [("purpose", "loan_application"), ("grant_id", str(grant)), ("level", "query")]
    before = api.entry_count()
    # The client signs category=tax&category=social_insurance; a man in the middle swaps them.
    response = send_raw_query(
        api, bank, "GET", path, [("category", "social_insurance"), ("category", "tax"), *common]
    )
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "repeated_parameter" and "'category'" in problem["detail"]
    assert response.headers["content-type"] == "application/problem+json"
    assert "records" not in problem
    assert api.entry_count() == before + 1
    entry = api.last_entry()
    assert (entry["decision"], entry["reason"]) == ("denied", "repeated_parameter")
    assert entry["actor"] == bank.address and entry["response_hash"] is None


def test_a_repeated_parameter_on_an_ordinary_route_is_refused(api: Api) -> None:
    regulator = api.world.regulator.account
    before = api.entry_count()
    response = send_raw_query(
        api, regulator, "GET", "/v1/audit/access_audit", [("limit", "1"), ("limit", "500")]
    )
    assert response.status_code == 400 and response.json()["code"] == "repeated_parameter"
    assert "'limit'" in response.json()["detail"]
    assert api.entry_count() == before + 1  # refused after authentication: audited
    entry = api.last_entry()
    assert (entry["action"], entry["reason"]) == ("GET /v1/audit/{view}", "repeated_parameter")
    assert entry["actor_role"] == "signer"


def test_parse_query_names_the_first_repeated_parameter_once_per_query_string() -> None:
    assert parse_query(b"a=1&b=2&a=3&b=4").repeated == "a"
    assert parse_query(b"b=1&%61=2&a=3").repeated == "a"  # the same name, percent-encoded
    assert parse_query(b"a=1&b=2&c=").repeated is None
    assert parse_query(b"a=1&a=1") is parse_query(b"a=1&a=1")  # memoised
