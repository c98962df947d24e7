"""Consent receipts: every grant exported by its subject and by its institution as a signed
ISO/IEC TS 27560-shaped consent record that validates against the repository's JSON Schema;
another party's grant is refused with a stable code and the refusal is audited."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from api_support import Api
from sqlalchemy import select
from world import USCCS

from ledger_api.accesslog import ACCESS_LOG
from ledger_api.chain.types import AccessLevel
from ledger_api.errors import ForbiddenError, NotFoundError
from ledger_api.receipts.consent import load_schema, receipt_signer


def _validate(receipt: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema())
    jsonschema.validate(receipt, load_schema(), cls=jsonschema.Draft202012Validator)


def _events(receipt: dict[str, Any]) -> list[str]:
    return [event["type"] for event in receipt["record"]["events"]]


def test_subject_and_institution_export_the_same_signed_record(api: Api) -> None:
    grant_id = api.grant(0, categories=0b110, level=AccessLevel.QUERY)
    platform = api.ctx.platform_account.address
    by_subject = api.client(api.world.subject_keys[0]).consent_receipt(grant_id)
    by_bank = api.client(api.world.bank.account).consent_receipt(grant_id, as_role="institution")
    for receipt in (by_subject, by_bank):
        _validate(receipt)
        assert receipt["signer"] == platform
        assert receipt_signer(receipt) == platform
    record = by_subject["record"]
    assert record["record_id"] == by_bank["record"]["record_id"]  # one consent, one record
    assert record["receipt_id"] != by_bank["record"]["receipt_id"]  # two receipts of it
    assert record["pii_principal"]["id"] == "0x" + api.world.subject_ids[0].hex()
    assert record["controller"]["address"] == platform
    assert record["recipients"] == [
        {"name": "中原银行郑州分行", "address": api.world.bank.address, "type": "bank"}
    ]
    assert [c["name"] for c in record["pii_categories"]] == [
        api.ctx.catalog.category(1).name,
        api.ctx.catalog.category(2).name,
    ]
    assert record["purposes"] == [{"purpose": "loan_application"}]
    assert record["processing"]["access_level"] == "query"
    assert record["consent_status"] == "active"
    assert _events(by_subject) == ["given"]
    assert record["withdrawal_method"]["command"] == f"ccl-wallet revoke {grant_id}"


def test_a_tampered_record_no_longer_recovers_the_platform(api: Api) -> None:
    grant_id = api.grant(0)
    receipt = api.client(api.world.subject_keys[0]).consent_receipt(grant_id)
    receipt["record"]["processing"]["access_level"] = "detail"
    assert receipt_signer(receipt) != api.ctx.platform_account.address


def test_withdrawn_grant_shows_given_then_withdrawn(api: Api) -> None:
    world = api.world
    grant_id = api.grant(0)
    world.ledger.revoke_grant(world.subject_tx[0], grant_id)
    receipt = api.client(world.subject_keys[0]).consent_receipt(grant_id)
    _validate(receipt)
    assert receipt["record"]["consent_status"] == "withdrawn"
    assert _events(receipt) == ["given", "withdrawn"]
    # The terms survive the revocation (the contract zeroes them; the event keeps them).
    assert receipt["record"]["recipients"][0]["address"] == world.bank.address


def test_expired_grant_shows_its_expiry(api: Api) -> None:
    now = int(api.clock())
    grant_id = api.grant(0, not_before=now - 7200, not_after=now - 60)
    receipt = api.client(api.world.subject_keys[0]).consent_receipt(grant_id)
    _validate(receipt)
    assert receipt["record"]["consent_status"] == "expired"
    assert _events(receipt) == ["given", "expired"]


def test_exhausted_grant_shows_its_last_use(api: Api) -> None:
    grant_id = api.grant(0, max_uses=1)
    bank = api.client(api.world.bank.account)
    bank.records(USCCS[0], category="tax", purpose="loan_application", grant_id=grant_id)
    receipt = bank.consent_receipt(grant_id, as_role="institution")
    _validate(receipt)
    assert receipt["record"]["processing"] == {"access_level": "query", "max_uses": 1, "uses": 1}
    assert receipt["record"]["consent_status"] == "exhausted"
    assert _events(receipt) == ["given", "exhausted"]


def _refusals(api: Api, code: str) -> list[Any]:
    with api.engine.connect() as conn:
        return list(conn.execute(select(ACCESS_LOG).where(ACCESS_LOG.c.reason == code)).all())


def test_another_subjects_grant_is_refused_and_audited(api: Api) -> None:
    grant_id = api.grant(0)
    with pytest.raises(ForbiddenError) as caught:
        api.client(api.world.subject_keys[1]).consent_receipt(grant_id)
    assert caught.value.code == "not_your_grant"
    [entry] = _refusals(api, "not_your_grant")
    assert entry.actor == api.world.subject_keys[1].address
    assert entry.decision == "denied"


def test_a_grant_naming_another_institution_is_refused_and_audited(api: Api) -> None:
    grant_id = api.grant(0)
    other = api.world.bank_b.account
    with pytest.raises(ForbiddenError) as caught:
        api.client(other).consent_receipt(grant_id, as_role="institution")
    assert caught.value.code == "not_your_grant"
    [entry] = _refusals(api, "not_your_grant")
    assert entry.actor == other.address


def test_an_unknown_grant_is_not_found(api: Api) -> None:
    with pytest.raises(NotFoundError) as caught:
        api.client(api.world.subject_keys[0]).consent_receipt(999_999)
    assert caught.value.code == "unknown_grant"
