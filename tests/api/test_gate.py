"""The grant gate: every refusal has its status, stable code and an access-log entry."""

from __future__ import annotations

import hashlib
import json

import pytest
from api_support import Api

from ledger_api.api.gate import canonical_json
from ledger_api.chain.types import AccessLevel, Purpose
from ledger_api.errors import GrantError, LedgerError


def sid(api: Api, i: int = 0) -> str:
    return "0x" + api.world.subject_ids[i].hex()


def read(
    api: Api,
    grant_id: int,
    *,
    who=None,
    subject: int = 0,
    category: str = "tax",
    purpose: str = "loan_application",
    level: str = "query",
):
    client = api.client(who or api.world.bank.account)
    return client.records(
        sid(api, subject), category=category, purpose=purpose, grant_id=grant_id, level=level
    )


def assert_denied(api: Api, call, status: int, code: str) -> None:
    before = api.entry_count()
    with pytest.raises(LedgerError) as caught:
        call()
    assert caught.value.status == status, caught.value.detail
    assert caught.value.code == code, caught.value.detail
    assert api.entry_count() == before + 1
    entry = api.last_entry()
    assert entry["decision"] == "denied" and entry["reason"] == code


def test_records_under_a_grant_carry_a_receipt_and_are_logged(api: Api) -> None:
    grant = api.grant()
    page = read(api, grant)
    assert page.category == "tax" and len(page.records) == 3
    entry = api.last_entry()
    assert entry["decision"] == "allowed" and entry["grant_id"] == grant
    assert page.receipt.access_log_id == entry["id"]
    assert page.receipt.grant_id == grant
    assert page.receipt.checked_block == entry["checked_block"]
    body = page.model_dump(exclude={"receipt", "signed_receipt"})
    for record in body["records"]:
        record.pop("leaf")
    assert page.receipt.response_hash == "0x" + hashlib.sha256(canonical_json(body)).hexdigest()
    assert entry["response_hash"] == bytes.fromhex(page.receipt.response_hash[2:])


def test_sensitive_fields_are_masked_below_detail(api: Api) -> None:
    query_grant = api.grant(categories=0b1)
    masked = read(api, query_grant, category="registration").records[0].fields
    assert masked["legal_representative"] == "张**"
    assert masked["legal_rep_id_number"] == "410***********1234"
    assert masked["enterprise_name"] == "郑州示例科技有限公司"  # PUBLIC passes
    detail_grant = api.grant(categories=0b1, level=AccessLevel.DETAIL)
    full = read(api, detail_grant, category="registration", level="detail").records[0].fields
    assert full["legal_representative"] == "张三丰"
    assert full["legal_rep_id_number"] == "410101199001011234"


def test_institution_cannot_use_a_grant_made_to_another(api: Api) -> None:
    grant = api.grant(institution=api.world.bank.address)
    assert_denied(
        api, lambda: read(api, grant, who=api.world.bank_b.account), 403, "wrong_institution"
    )


def test_grant_of_another_subject_is_refused(api: Api) -> None:
    grant = api.grant(subject=1)
    assert_denied(api, lambda: read(api, grant, subject=0), 403, "wrong_subject")


def test_revoked_grant_is_refused(api: Api) -> None:
    grant = api.grant()
    read(api, grant)
    api.world.ledger.revoke_grant(api.world.subject_tx[0], grant)
    assert_denied(api, lambda: read(api, grant), 403, "revoked")


def test_expired_grant_is_refused(api: Api) -> None:
    now = int(api.clock())
    grant = api.grant(not_before=now - 100, not_after=now + 100)
    api.clock.advance(200)
    assert_denied(api, lambda: read(api, grant), 403, "expired")


def test_not_yet_valid_grant_is_refused(api: Api) -> None:
    now = int(api.clock())
    grant = api.grant(not_before=now + 3600, not_after=now + 7200)
    assert_denied(api, lambda: read(api, grant), 403, "not_yet_valid")


def test_suspended_institution_is_refused(api: Api) -> None:
    grant = api.grant()
    w = api.world
    w.ledger.transact(w.regulator, "suspendInstitution", w.bank.address)
    assert_denied(api, lambda: read(api, grant), 403, "institution_suspended")


def test_missing_agreement_is_refused(api: Api) -> None:
    grant = api.grant(institution=api.world.bank_b.address)
    assert_denied(api, lambda: read(api, grant, who=api.world.bank_b.account), 403, "no_agreement")


def test_suspended_agreement_is_refused(api: Api) -> None:
    grant = api.grant()
    w = api.world
    w.ledger.transact(w.regulator, "suspendAgreement", w.agreement_id)
    assert_denied(api, lambda: read(api, grant), 403, "agreement_not_active")


def test_purpose_outside_the_agreement_is_refused(api: Api) -> None:
    w = api.world
    now = int(api.clock())
    agreement = w.ledger.propose_agreement(
        w.operator, w.bank_b.address, 0b1111, 1 << 0, now - 60, now + 86400, b"\x02" * 32
    )
    w.ledger.transact(w.bank_b, "acceptAgreement", agreement)
    grant = api.grant(institution=w.bank_b.address, purpose=Purpose.CREDIT_RATING)
    assert_denied(
        api,
        lambda: read(api, grant, who=w.bank_b.account, purpose="credit_rating"),
        403,
        "purpose_not_in_agreement",
    )


def test_category_outside_the_grant_is_refused(api: Api) -> None:
    grant = api.grant(categories=0b1)  # registration only
    assert_denied(api, lambda: read(api, grant, category="tax"), 403, "category_not_granted")


def test_level_too_low_is_refused(api: Api) -> None:
    grant = api.grant(level=AccessLevel.QUERY)
    assert_denied(api, lambda: read(api, grant, level="detail"), 403, "level_too_low")
    verify_only = api.grant(level=AccessLevel.VERIFY)
    assert_denied(api, lambda: read(api, verify_only), 403, "level_too_low")


def test_usage_cap_is_counted_from_the_access_log(api: Api) -> None:
    grant = api.grant(max_uses=2)
    read(api, grant)
    read(api, grant)
    with pytest.raises(GrantError):
        read(api, grant)
    assert api.last_entry()["reason"] == "usage_cap_reached"
    assert_denied(api, lambda: read(api, grant), 403, "usage_cap_reached")


def test_verification_returns_only_the_boolean_and_a_signed_receipt(api: Api) -> None:
    from eth_account import Account
    from eth_account.messages import encode_defunct

    grant = api.grant(level=AccessLevel.VERIFY)
    client = api.client(api.world.bank.account)
    result = client.verify(
        sid(api),
        predicate="no_tax_arrears_months",
        arg=12,
        purpose="loan_application",
        grant_id=grant,
    )
    assert result.result is True
    raw = result.model_dump()
    assert set(raw) == {"predicate", "argument", "result", "receipt", "signed_receipt"}
    claims = result.signed_receipt.claims
    assert claims["result"] is True and claims["access_log_id"] == result.receipt.access_log_id
    signer = Account.recover_message(
        encode_defunct(primitive=canonical_json(claims)), signature=result.signed_receipt.signature
    )
    assert signer == api.world.operator.address == result.signed_receipt.signer
    grant_b = api.grant(subject=1, level=AccessLevel.VERIFY)
    arrears = client.verify(
        sid(api, 1),
        predicate="no_tax_arrears_months",
        arg=12,
        purpose="loan_application",
        grant_id=grant_b,
    )
    assert arrears.result is False
    headcount = client.verify(
        sid(api, 1),
        predicate="insured_headcount_at_least",
        arg=10,
        purpose="loan_application",
        grant_id=grant_b,
    )
    assert headcount.result is False
    # The arrears amount (1200) must not leak; hashes and signatures are hex and may hold those
    # digits by chance, so only the other values are searched.
    assert not any("1200" in value for value in _plain_values(arrears.model_dump()))


def _plain_values(tree: object) -> list[str]:
    """Every leaf of a JSON-like tree as text, leaving out hex digests and signatures."""
    if isinstance(tree, dict):
        return [v for item in tree.values() for v in _plain_values(item)]
    if isinstance(tree, list | tuple):
        return [v for item in tree for v in _plain_values(item)]
    text = str(tree)
    is_hex = len(text) >= 40 and all(c in "0123456789abcdefABCDEFx" for c in text)
    return [] if is_hex else [text]


def test_score_returns_only_score_and_reason_codes(api: Api) -> None:
    grant = api.grant(categories=0b1111, level=AccessLevel.VERIFY)
    score = api.client(api.world.bank.account).score(
        sid(api), purpose="loan_application", grant_id=grant
    )
    assert 300 <= score.score <= 900 and score.band in "ABCD"
    assert "TAX_GRADE_A" in score.reason_codes
    assert set(score.categories_used) == {"registration", "tax", "judicial", "social_insurance"}
    assert api.last_entry()["action"] == "score"


def test_report_holds_public_fields_only_and_needs_an_agreement(api: Api) -> None:
    report = api.client(api.world.bank.account).report(sid(api), purpose="loan_application")
    registration = report.categories["registration"][0].fields
    assert "legal_representative" not in registration and "registered_address" not in registration
    assert "paid_on_time" not in report.categories["tax"][0].fields
    assert report.receipt.grant_id is None
    assert_denied(
        api,
        lambda: api.client(api.world.bank_b.account).report(sid(api), purpose="loan_application"),
        403,
        "no_agreement",
    )


def test_replica_lag_refuses_with_503(api: Api) -> None:
    grant = api.grant()
    api.ctx.chain_head = lambda: api.ctx.state().position().block_number + 10
    assert_denied(api, lambda: read(api, grant), 503, "replica_lagging")


def test_strict_mode_asks_the_contract(api: Api) -> None:
    grant = api.grant()
    api.ctx.settings = api.ctx.settings.model_copy(update={"strict_gate": True})
    assert read(api, grant).records
    api.world.ledger.revoke_grant(api.world.subject_tx[0], grant)
    assert_denied(api, lambda: read(api, grant), 403, "revoked")


def _report_leaks(api: Api, report: dict) -> list[str]:
    """Every field in ``report`` the catalog does not classify PUBLIC in its category."""
    catalog = api.ctx.catalog
    leaks = []
    for name, records in report["categories"].items():
        category = catalog.category(name)
        for record in records:
            assert set(record) == {"record_uid", "category", "fields", "disputed", "leaf"}
            for field in record["fields"]:
                known = field in category.field_names
                if not known or category.field(field).classification != "PUBLIC":
                    leaks.append(f"{name}.{field}")
    return leaks


def test_the_standard_report_holds_only_public_fields_of_the_agreements_categories(
    api: Api,
) -> None:
    w = api.world
    now = int(api.clock())
    registration_and_tax = 0b101  # bits 0 and 2; not social_insurance or judicial
    agreement = w.ledger.propose_agreement(
        w.operator, w.bank_b.address, registration_and_tax, 1 << int(Purpose.LOAN_APPLICATION),
        now - 60, now + 86400, b"\x02" * 32,
    )  # fmt: skip
    w.ledger.transact(w.bank_b, "acceptAgreement", agreement)
    narrow = api.client(w.bank_b.account).report(sid(api), purpose="loan_application")
    assert set(narrow.categories) == {"registration", "tax"}
    broad = api.client(w.bank.account).report(sid(api), purpose="loan_application")
    # social_insurance has records but no PUBLIC field: none of its records is shown.
    assert set(broad.categories) == {"registration", "tax", "judicial"}
    for report in (narrow, broad):
        body = report.model_dump()
        assert _report_leaks(api, body) == []
        text = json.dumps(body, ensure_ascii=False)
        for secret in ("reg-1", "tax-1", "case-1", "si-1", "张三丰", "13800138000", "50000.00",
                       "record_key", "period", "paid_on_time"):  # fmt: skip
            assert secret not in text, secret
    assert broad.categories["tax"][0].fields == {"tax_grade": "A"}
    assert broad.categories["registration"][0].fields["enterprise_name"] == "郑州示例科技有限公司"
