"""Voluntary information with a credit commitment: signed in the wallet, stored and anchored as
a self_reported record marked as such, readable by a bank only under a grant covering the
category, withdrawable (readers see the withdrawal, the first anchor stays)."""

from __future__ import annotations

import hashlib
from typing import Any

from api_support import Api
from financing_support import assert_refused
from sqlalchemy import select
from world import USCCS

from ledger_api.api.gate import canonical_json
from ledger_api.chain.types import AccessLevel
from ledger_api.errors import GrantError
from ledger_api.financing import self_reports as sr
from ledger_api.financing.tables import SELF_REPORTS
from ledger_api.store.models import BATCHES

SELF_REPORTED_BIT = 1 << 12
COMMITMENT = "本企业承诺所填报信息真实、准确、完整。"


def _body(api: Api, subject: int = 0, **overrides: Any) -> dict[str, Any]:
    key = api.world.subject_keys[subject]
    entry = sr.SelfReportEntry(
        topic=overrides.get("topic", "orders"),
        reported_on="2026-11-30",
        value_text="与郑州某制造企业签订年度供货合同",
        value_amount="1200000.00",
        commitment=COMMITMENT,
        account=key.address,
    )
    signature = "0x" + sr.sign_entry(key, entry).hex()
    return {
        "topic": entry.topic,
        "reported_on": entry.reported_on,
        "value_text": entry.value_text,
        "value_amount": entry.value_amount,
        "commitment": entry.commitment,
        "signature": signature,
    } | {k: v for k, v in overrides.items() if k != "topic"}


def _bank_reads(api: Api, grant_id: int) -> list[Any]:
    page = api.client(api.world.bank.account).records(
        USCCS[0], category="self_reported", purpose="loan_application", grant_id=grant_id,
        level="detail",
    )  # fmt: skip
    return list(page.records)


def test_a_signed_entry_is_stored_anchored_and_read_as_self_reported_under_a_grant(
    api: Api,
) -> None:
    wallet = api.client(api.world.subject_keys[0])
    added = wallet.call("POST", "/v1/subject/self-reports", json_body=_body(api))
    assert added["provider"] == "self_reported" and added["anchored"]
    with api.engine.connect() as conn:
        batch = conn.execute(select(BATCHES).where(BATCHES.c.provider == "self_reported")).one()
    assert api.world.ledger.anchor_of(bytes(batch.root)) is not None
    grant_id = api.grant(0, categories=SELF_REPORTED_BIT, level=AccessLevel.DETAIL)
    [record] = _bank_reads(api, grant_id)
    assert record.model_extra == {"self_reported": True}
    assert record.fields["value_text"] == "与郑州某制造企业签订年度供货合同"


def test_without_a_grant_covering_self_reported_the_bank_reads_nothing(api: Api) -> None:
    api.client(api.world.subject_keys[0]).call(
        "POST", "/v1/subject/self-reports", json_body=_body(api)
    )
    tax_only = api.grant(0, categories=0b100)
    try:
        _bank_reads(api, tax_only)
    except GrantError as refused:
        assert refused.code == "category_not_granted"
    else:
        raise AssertionError("read without a grant covering self_reported")


def test_a_withdrawal_is_what_readers_see_and_the_first_anchor_stays(api: Api) -> None:
    wallet = api.client(api.world.subject_keys[0])
    added = wallet.call("POST", "/v1/subject/self-reports", json_body=_body(api))
    with api.engine.connect() as conn:
        first_root = conn.execute(
            select(BATCHES.c.root).where(BATCHES.c.provider == "self_reported")
        ).scalar_one()
    withdrawn = wallet.call("POST", f"/v1/subject/self-reports/{added['id']}/withdrawal")
    assert withdrawn["status"] == "withdrawn"

    grant_id = api.grant(0, categories=SELF_REPORTED_BIT, level=AccessLevel.DETAIL)
    [record] = _bank_reads(api, grant_id)
    assert record.fields["value_text"] == sr.WITHDRAWN_TEXT
    assert api.world.ledger.anchor_of(bytes(first_root)) is not None
    before = api.entry_count()
    again = wallet.send("POST", f"/v1/subject/self-reports/{added['id']}/withdrawal")
    assert_refused(api, before, again, 409, "already_withdrawn")


def test_an_entry_not_signed_as_sent_or_outside_the_catalog_is_refused_and_not_stored(
    api: Api,
) -> None:
    wallet = api.client(api.world.subject_keys[0])
    for body, code in (
        (_body(api) | {"value_amount": "9.99"}, "bad_self_report_signature"),
        (_body(api, topic="lottery"), "invalid_self_report"),
    ):
        before = api.entry_count()
        response = wallet.send("POST", "/v1/subject/self-reports", json_body=body)
        assert_refused(api, before, response, 422, code)
    with api.engine.connect() as conn:
        assert conn.execute(select(SELF_REPORTS.c.id)).all() == []


def test_the_receipt_of_a_read_covers_the_self_reported_mark(api: Api) -> None:
    api.client(api.world.subject_keys[0]).call(
        "POST", "/v1/subject/self-reports", json_body=_body(api)
    )
    grant_id = api.grant(0, categories=SELF_REPORTED_BIT, level=AccessLevel.DETAIL)
    page = api.client(api.world.bank.account).records(
        USCCS[0], category="self_reported", purpose="loan_application", grant_id=grant_id,
        level="detail",
    )  # fmt: skip
    body = page.model_dump(exclude={"receipt", "signed_receipt"})
    for record in body["records"]:
        record.pop("leaf")
    assert body["records"][0]["self_reported"] is True
    assert page.receipt.response_hash == "0x" + hashlib.sha256(canonical_json(body)).hexdigest()
