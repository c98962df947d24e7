"""Every refusal of an authenticated request leaves exactly one access-log entry the regulator
sees, and spends its nonce; refusals of unauthenticated requests are not attributable."""

from __future__ import annotations

from typing import Any

import pytest
from api_support import Api
from eth_account.signers.local import LocalAccount
from test_gate import sid

from ledger_api.accesslog import verify_access_log
from ledger_api.api.signing import HEADER_SIGNATURE


def _refusals_seen_by_regulator(api: Api) -> list[dict[str, Any]]:
    rows = api.client(api.world.regulator.account).audit("refusals", limit=500).result
    assert isinstance(rows, list)
    return rows


def _send(api: Api, who: LocalAccount, method: str, path: str, nonce: str, **kwargs: Any) -> Any:
    return api.client(who).send(method, path, nonce=nonce, **kwargs)


def _assert_one_refusal(
    api: Api, before: int, response: Any, status: int, code: str, who: LocalAccount, action: str
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert response.headers["content-type"] == "application/problem+json"
    assert api.entry_count() == before + 1
    entry = api.last_entry()
    assert (entry["decision"], entry["reason"]) == ("denied", code)
    assert (entry["actor"], entry["action"]) == (who.address, action)
    assert entry["response_hash"] is None
    return entry


def _assert_replay_refused(api: Api, who: LocalAccount, method: str, path: str, nonce: str,
                           **kwargs: Any) -> None:  # fmt: skip
    again = _send(api, who, method, path, nonce, **kwargs)
    assert again.status_code == 401 and again.json()["code"] == "nonce_replayed", again.text


def test_an_unknown_category_of_own_records_is_logged_once_and_not_replayable(api: Api) -> None:
    subject = api.world.subject_keys[0]
    before = api.entry_count()
    params = {"category": "no_such_category"}
    response = _send(api, subject, "GET", "/v1/subject/records", "own-unknown-1", params=params)
    entry = _assert_one_refusal(api, before, response, 404, "unknown_category", subject, "own_data")
    assert entry["actor_role"] == "subject" and entry["subject_id"] == api.world.subject_ids[0]
    _assert_replay_refused(api, subject, "GET", "/v1/subject/records", "own-unknown-1",
                           params=params)  # fmt: skip


def test_a_malformed_record_uid_is_logged_once_and_not_replayable(api: Api) -> None:
    subject = api.world.subject_keys[0]
    path = "/v1/subject/records/0x1234/proof"
    before = api.entry_count()
    response = _send(api, subject, "GET", path, "proof-bad-uid-1")
    _assert_one_refusal(api, before, response, 422, "validation_error", subject, "own_data")
    _assert_replay_refused(api, subject, "GET", path, "proof-bad-uid-1")


def test_an_invalid_signed_body_is_logged_once_and_not_replayable(api: Api) -> None:
    subject = api.world.subject_keys[0]
    path, body = "/v1/subject/revocations", {"grant_id": "x"}
    before = api.entry_count()
    response = _send(api, subject, "POST", path, "bad-body-1", json_body=body)
    entry = _assert_one_refusal(
        api, before, response, 422, "validation_error", subject, "POST /v1/subject/revocations"
    )
    assert entry["actor_role"] == "subject"
    _assert_replay_refused(api, subject, "POST", path, "bad-body-1", json_body=body)


def test_a_correctly_signed_body_that_is_not_json_is_logged_once_and_not_replayable(
    api: Api,
) -> None:
    subject = api.world.subject_keys[0]
    path = "/v1/subject/revocations"
    kwargs: dict[str, Any] = {"content": b'{"grant_id": ', "content_type": "application/json"}
    before = api.entry_count()
    response = _send(api, subject, "POST", path, "not-json-1", **kwargs)
    entry = _assert_one_refusal(
        api, before, response, 422, "validation_error", subject, "POST /v1/subject/revocations"
    )
    assert entry["actor_role"] == "signer"  # refused before its role was resolved
    _assert_replay_refused(api, subject, "POST", path, "not-json-1", **kwargs)
    assert api.entry_count() == before + 2  # the replay is logged as nonce_replayed
    assert api.last_entry()["reason"] == "nonce_replayed"


# (who, method, path template, path, request) of role-confusion refusals, one or more per
# route family; the callers' roles are the world's (see tests/world.py).
ROLE_CONFUSION: dict[str, tuple[str, str, str, str, dict[str, Any]]] = {
    "operator: a subject lists registrations": (
        "subject", "GET", "/v1/operator/registrations", "/v1/operator/registrations", {},
    ),
    "operator: a regulator grants itself a role": (
        "regulator", "POST", "/v1/operator/roles", "/v1/operator/roles",
        {"json_body": {"role": "OPERATOR_ROLE", "address": "<self>"}},
    ),
    "provider: an institution ingests a batch": (
        "bank", "POST", "/v1/provider/batches", "/v1/provider/batches",
        {"params": {"category": "tax"}, "content": b"{}", "content_type": "application/x-ndjson"},
    ),
    "regulator: an institution reads an audit view": (
        "bank", "GET", "/v1/audit/{view}", "/v1/audit/access_audit", {},
    ),
    "subject: an operator lists a subject's grants": (
        "operator", "GET", "/v1/subject/grants", "/v1/subject/grants", {},
    ),
    "subject: an institution relays a revocation": (
        "bank", "POST", "/v1/subject/revocations", "/v1/subject/revocations",
        {"json_body": {"grant_id": 1, "deadline": 1, "signature": "0x" + "11" * 65}},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(ROLE_CONFUSION))
def test_a_role_confusion_refusal_leaves_one_record_the_regulator_sees(api: Api, case: str) -> None:
    role, method, template, path, kwargs = ROLE_CONFUSION[case]
    who = {
        "subject": api.world.subject_keys[0],
        "regulator": api.world.regulator.account,
        "bank": api.world.bank.account,
        "operator": api.world.operator.account,
    }[role]
    if "json_body" in kwargs and kwargs["json_body"].get("address") == "<self>":
        kwargs = {"json_body": {**kwargs["json_body"], "address": who.address}}
    nonce = f"confusion-{abs(hash(case)) % 10**12}"
    before = api.entry_count()
    response = _send(api, who, method, path, nonce, **kwargs)
    entry = _assert_one_refusal(
        api, before, response, 403, "role_required", who, f"{method} {template}"
    )
    assert entry["actor_role"] == "signer"
    seen = [r for r in _refusals_seen_by_regulator(api) if r["entry_id"] == entry["id"]]
    assert len(seen) == 1 and seen[0]["action"] == f"{method} {template}"
    assert seen[0]["reason"] == "role_required" and seen[0]["actor"] == who.address
    _assert_replay_refused(api, who, method, path, nonce, **kwargs)


def test_an_institution_reading_as_a_subject_is_refused_by_the_gate_and_seen(api: Api) -> None:
    """The institution family: the gate's own refusal is the one record."""
    subject = api.world.subject_keys[0]
    path = f"/v1/institution/subjects/{sid(api)}/records"
    params = {"category": "tax", "purpose": "loan_application", "grant_id": 1}
    before = api.entry_count()
    response = _send(api, subject, "GET", path, "inst-as-subject-1", params=params)
    entry = _assert_one_refusal(api, before, response, 403, "role_required", subject, "records")
    assert [r["entry_id"] for r in _refusals_seen_by_regulator(api)].count(entry["id"]) == 1


def test_a_subject_revoking_another_subjects_grant_is_logged_once(api: Api) -> None:
    w = api.world
    grant = api.grant(subject=1)
    deadline, signature = w.ledger.sign_revocation(w.subject_keys[0], grant)
    body = {"grant_id": grant, "deadline": deadline, "signature": "0x" + signature.hex()}
    subject = w.subject_keys[0]
    before = api.entry_count()
    response = _send(api, subject, "POST", "/v1/subject/revocations", "revoke-other-1",
                     json_body=body)  # fmt: skip
    assert 400 <= response.status_code < 500, response.text
    code = response.json()["code"]
    entry = _assert_one_refusal(
        api, before, response, response.status_code, code, subject, "POST /v1/subject/revocations"
    )
    assert entry["actor_role"] == "subject"
    still = api.ctx.strict_state.grant(grant)
    assert still is not None and not still.revoked
    _assert_replay_refused(api, subject, "POST", "/v1/subject/revocations", "revoke-other-1",
                           json_body=body)  # fmt: skip


def test_a_refusal_of_an_unauthenticated_request_is_not_logged(api: Api) -> None:
    client = api.client(api.world.operator.account)
    headers = client.signed_headers("GET", "/v1/operator/registrations")
    headers[HEADER_SIGNATURE] = headers[HEADER_SIGNATURE][:-4] + "0000"
    before = api.entry_count()
    response = api.http.get("/v1/operator/registrations", headers=headers)
    assert response.status_code == 401 and response.json()["code"] == "bad_signature"
    assert api.entry_count() == before


def test_audited_refusals_keep_the_hash_chain_verifiable(api: Api) -> None:
    subject = api.world.subject_keys[0]
    for i in range(3):
        _send(api, subject, "GET", "/v1/operator/registrations", f"chain-check-{i}")
    with api.engine.connect() as conn:
        report = verify_access_log(conn)
    assert report.clean and report.entries_checked == api.entry_count() >= 3


_TOO_DEEP = b'{"grant_id": ' + b"[" * 65 + b"]" * 65 + b"}"


def test_a_signed_body_nested_too_deep_is_logged_once_and_not_replayable(api: Api) -> None:
    subject = api.world.subject_keys[0]
    path = "/v1/subject/revocations"
    kwargs: dict[str, Any] = {"content": _TOO_DEEP, "content_type": "application/json"}
    before = api.entry_count()
    response = _send(api, subject, "POST", path, "too-deep-1", **kwargs)
    entry = _assert_one_refusal(
        api, before, response, 400, "nesting_too_deep", subject, "POST /v1/subject/revocations"
    )
    assert entry["actor_role"] == "signer"  # refused before any route ran
    seen = [r for r in _refusals_seen_by_regulator(api) if r["entry_id"] == entry["id"]]
    assert len(seen) == 1 and seen[0]["reason"] == "nesting_too_deep"
    _assert_replay_refused(api, subject, "POST", path, "too-deep-1", **kwargs)


def test_a_body_nested_too_deep_whose_signature_fails_is_refused_unlogged(api: Api) -> None:
    subject = api.world.subject_keys[0]
    path = "/v1/subject/revocations"
    client = api.client(subject)
    headers = client.signed_headers("POST", path, None, b'{"grant_id": 1}', nonce="too-deep-2")
    headers["content-type"] = "application/json"
    before = api.entry_count()
    response = api.http.post(path, content=_TOO_DEEP, headers=headers)  # another body signed
    assert response.status_code == 400 and response.json()["code"] == "nesting_too_deep"
    assert api.entry_count() == before  # not attributable: nobody proved they sent it
