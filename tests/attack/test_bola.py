"""Broken object-level authorisation: an institution reading with another institution's grant,
and a subject reading, revoking or disputing another subject's things."""

from __future__ import annotations

import time

import pytest
from attack_checks import assert_audited, assert_no_leak, assert_refused, log_position
from attack_client import Signer
from attack_server import Cast, LiveServer

from ledger_api.chain import eip712

pytestmark = pytest.mark.xdist_group("attack")

LOAN = ("purpose", "loan_application")


def _records(subject: str, grant_id: int) -> tuple[str, list[tuple[str, str]]]:
    path = f"/v1/institution/subjects/{subject}/records"
    return path, [LOAN, ("grant_id", str(grant_id)), ("category", "tax")]


def _refused_and_audited(
    server: LiveServer, cast: Cast, signer: Signer, path: str, query: list, status: int, code: str
) -> None:
    before = log_position(server, signer.address)
    signed = signer.sign("GET", path, query)
    assert_refused(server.send(signed), status, code, cast)
    assert_audited(server, signed, before, code)


def test_the_grantee_itself_reads_subject_a(server: LiveServer, cast: Cast) -> None:
    """The control: the same request by the right institution is served."""
    path, query = _records(cast.subject_ids[0], cast.grant_a)
    response = server.send(cast.bank.sign("GET", path, query))
    assert response.status == 200, response.body[:300]
    assert "tax-1111-1" in response.body.decode()


def test_an_institution_cannot_read_with_another_institutions_grant(
    server: LiveServer, cast: Cast
) -> None:
    path, query = _records(cast.subject_ids[1], cast.grant_b)
    _refused_and_audited(server, cast, cast.bank, path, query, 403, "wrong_institution")


def test_an_institution_cannot_read_subject_b_with_subject_as_grant(
    server: LiveServer, cast: Cast
) -> None:
    path, query = _records(cast.subject_ids[1], cast.grant_a)
    _refused_and_audited(server, cast, cast.bank, path, query, 403, "wrong_subject")


@pytest.mark.parametrize("action", ["verify", "score"])
def test_an_institution_cannot_verify_or_score_with_another_institutions_grant(
    server: LiveServer, cast: Cast, action: str
) -> None:
    path = f"/v1/institution/subjects/{cast.subject_ids[1]}/{action}"
    query = [LOAN, ("grant_id", str(cast.grant_b))]
    if action == "verify":
        query += [("predicate", "no_tax_arrears_months"), ("arg", "12")]
    before = log_position(server, cast.bank.address)
    signed = cast.bank.sign("GET", path, query)
    response = server.send(signed)
    assert_refused(response, 403, None, cast)
    assert response.code in ("wrong_institution", "level_too_low"), response.body[:300]
    assert_audited(server, signed, before, str(response.code))


def test_an_institution_without_an_agreement_gets_no_report(server: LiveServer, cast: Cast) -> None:
    path = f"/v1/institution/subjects/{cast.subject_ids[1]}/report"
    _refused_and_audited(server, cast, cast.insurer, path, [LOAN], 403, "no_agreement")


def test_a_subject_reads_only_its_own_records(server: LiveServer, cast: Cast) -> None:
    response = server.send(cast.subject_a.sign("GET", "/v1/subject/records"))
    assert response.status == 200
    assert_no_leak(response, cast)
    assert "tax-1111-1" in response.body.decode()


def _uid_of_b(server: LiveServer, cast: Cast) -> str:
    response = server.send(cast.subject_b.sign("GET", "/v1/subject/records", [("category", "tax")]))
    assert response.status == 200
    return str(response.json()["records"][0]["record_uid"])


def test_a_subject_cannot_get_the_proof_of_another_subjects_record(
    server: LiveServer, cast: Cast
) -> None:
    path = f"/v1/subject/records/{_uid_of_b(server, cast)}/proof"
    before = log_position(server, cast.subject_a.address)
    signed = cast.subject_a.sign("GET", path)
    response = server.send(signed)
    assert_refused(response, 404, "not_your_record", cast)
    assert_audited(server, signed, before, "not_your_record")


def _revocation_signature(server: LiveServer, signer: Signer, grant_id: int, deadline: int) -> str:
    """An EIP-712 revocation signed by ``signer`` (the wallet's part, not request signing)."""
    chain = server.http.get("/v1/chain", params={"account": signer.address}).json()
    domain = eip712.Domain(chain["chain_id"], chain["contract"])
    message = {"grantId": grant_id, "nonce": chain["account_nonce"], "deadline": deadline}
    return "0x" + eip712.sign_typed(signer.account.key, domain, "Revocation", message).hex()


def test_a_subject_cannot_revoke_another_subjects_grant(server: LiveServer, cast: Cast) -> None:
    deadline = int(time.time()) + 600
    signature = _revocation_signature(server, cast.subject_a, cast.grant_b, deadline)
    body = (
        f'{{"grant_id":{cast.grant_b},"deadline":{deadline},"signature":"{signature}"}}'
    ).encode()
    signed = cast.subject_a.sign("POST", "/v1/subject/revocations", body=body)
    response = server.send(signed)
    assert 400 <= response.status < 500, response.body[:300]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert_no_leak(response, cast)
    # Subject B's grant still serves its institution.
    path, query = _records(cast.subject_ids[1], cast.grant_b)
    assert server.send(cast.bank_b.sign("GET", path, query)).status == 200


def test_a_refused_revocation_of_another_subjects_grant_is_audited(
    server: LiveServer, cast: Cast
) -> None:
    deadline = int(time.time()) + 600
    body = (
        f'{{"grant_id":{cast.grant_b},"deadline":{deadline},"signature":"0x{"11" * 65}"}}'
    ).encode()
    before = log_position(server, cast.subject_a.address)
    signed = cast.subject_a.sign("POST", "/v1/subject/revocations", body=body)
    response = server.send(signed)
    assert 400 <= response.status < 500
    assert_audited(server, signed, before, str(response.code))


def test_a_subject_cannot_dispute_another_subjects_record(server: LiveServer, cast: Cast) -> None:
    body = (
        f'{{"record_uid":"{_uid_of_b(server, cast)}","kind":0,"reason_hash":"0x{"22" * 32}",'
        f'"deadline":{int(time.time()) + 600},"signature":"0x{"33" * 65}"}}'
    ).encode()
    signed = cast.subject_a.sign("POST", "/v1/subject/disputes", body=body)
    response = server.send(signed)
    assert_refused(response, 404, "not_your_record", cast)


def test_a_refused_dispute_of_another_subjects_record_is_audited(
    server: LiveServer, cast: Cast
) -> None:
    body = (
        f'{{"record_uid":"{_uid_of_b(server, cast)}","kind":0,"reason_hash":"0x{"22" * 32}",'
        f'"deadline":{int(time.time()) + 600},"signature":"0x{"33" * 65}"}}'
    ).encode()
    before = log_position(server, cast.subject_a.address)
    signed = cast.subject_a.sign("POST", "/v1/subject/disputes", body=body)
    assert server.send(signed).status == 404
    assert_audited(server, signed, before, "not_your_record")


def test_a_subjects_access_log_holds_only_its_own_entries(server: LiveServer, cast: Cast) -> None:
    response = server.send(cast.subject_a.sign("GET", "/v1/subject/access-log"))
    assert response.status == 200
    assert_no_leak(response, cast)
    actors = {e["actor"] for e in response.json()["entries"]}
    assert cast.bank_b.address not in actors


def test_a_subject_cannot_export_another_subjects_consent_receipt(
    server: LiveServer, cast: Cast
) -> None:
    path = f"/v1/subject/grants/{cast.grant_b}/consent-receipt"
    _refused_and_audited(server, cast, cast.subject_a, path, [], 403, "not_your_grant")


def test_an_institution_cannot_export_another_institutions_consent_receipt(
    server: LiveServer, cast: Cast
) -> None:
    path = f"/v1/institution/grants/{cast.grant_b}/consent-receipt"
    _refused_and_audited(server, cast, cast.bank, path, [], 403, "not_your_grant")
