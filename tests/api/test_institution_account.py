"""An institution on its own: it lists its agreements, accepts one by signature (the platform
relays it), lists the grants naming it and checks one before querying. Bad input is refused
with a stable code, audited, and leaves the chain as it was."""

from __future__ import annotations

import time

import pytest
from api_support import Api
from eth_account import Account
from eth_account.messages import encode_typed_data
from world import USCCS

from ledger_api.chain.types import AccessLevel, AgreementStatus, Purpose
from ledger_api.client import LedgerClient
from ledger_api.errors import LedgerError

TAX, SOCIAL = 1 << 2, 1 << 3


def _propose(api: Api, institution: str, seed: int = 9) -> int:
    now = int(time.time())
    return api.world.ledger.propose_agreement(
        api.world.operator, institution, TAX | SOCIAL, 1, now - 60, now + 86400, bytes([seed]) * 32
    )


def _sign(client: LedgerClient, typed_data: dict) -> bytes:
    signable = encode_typed_data(full_message=typed_data)
    return bytes(Account.sign_message(signable, client.account.key).signature)


def _refused(call: object, status: int, code: str) -> LedgerError:
    with pytest.raises(LedgerError) as caught:
        call()  # type: ignore[operator]
    assert (caught.value.status, caught.value.code) == (status, code), caught.value
    return caught.value


def _last_refusal(api: Api) -> dict:
    entry = api.last_entry()
    assert entry["decision"] == "denied"
    return entry


def test_a_proposed_agreement_is_listed_by_name_with_the_typed_data_to_sign(api: Api) -> None:
    agreement_id = _propose(api, api.world.insurer.address)
    insurer = api.client(api.world.insurer.account)
    [listed] = insurer.institution_agreements()
    assert (listed.agreement_id, listed.status) == (agreement_id, "proposed")
    assert listed.institution_name == "Insurer C"
    assert [c.name for c in listed.categories] == ["tax", "social_insurance"]
    assert [p.name for p in listed.purposes] == ["loan_application"]
    assert listed.document_hash == "0x" + "09" * 32
    assert listed.acceptance is not None
    typed = listed.acceptance.typed_data
    assert typed["primaryType"] == "AgreementAcceptance"
    assert typed["domain"]["verifyingContract"] == api.world.ledger.address
    assert typed["message"] == {
        "agreementId": agreement_id,
        "nonce": 0,
        "deadline": listed.acceptance.deadline,
    }


def test_a_relayed_acceptance_makes_the_agreement_active_without_the_institution_paying(
    api: Api,
) -> None:
    agreement_id = _propose(api, api.world.insurer.address)
    balance = api.world.w3.eth.get_balance(api.world.insurer.address)
    accepted = api.client(api.world.insurer.account).accept_agreement(agreement_id)
    assert (accepted.agreement_id, accepted.status) == (agreement_id, "active")
    assert api.world.ledger.agreement(agreement_id).status == AgreementStatus.ACTIVE
    assert api.world.w3.eth.get_balance(api.world.insurer.address) == balance
    [listed] = api.client(api.world.insurer.account).institution_agreements()
    assert listed.status == "active" and listed.acceptance is None


def test_accepting_someone_elses_agreement_is_refused_audited_and_changes_nothing(
    api: Api,
) -> None:
    agreement_id = _propose(api, api.world.insurer.address)
    insurer = api.client(api.world.insurer.account)
    [listed] = insurer.institution_agreements()
    assert listed.acceptance is not None
    bank = api.client(api.world.bank_b.account)
    signature = _sign(bank, listed.acceptance.typed_data)
    block = api.world.w3.eth.block_number
    _refused(
        lambda: bank.relay_acceptance(agreement_id, signature, listed.acceptance.deadline),
        403,
        "not_agreement_institution",
    )
    entry = _last_refusal(api)
    assert (entry["actor"], entry["reason"]) == (
        api.world.bank_b.address,
        "not_agreement_institution",
    )
    assert api.world.w3.eth.block_number == block
    assert api.world.ledger.agreement(agreement_id).status == AgreementStatus.PROPOSED


def test_a_signature_by_another_key_is_refused(api: Api) -> None:
    agreement_id = _propose(api, api.world.insurer.address)
    insurer = api.client(api.world.insurer.account)
    [listed] = insurer.institution_agreements()
    assert listed.acceptance is not None
    forged = _sign(api.client(api.world.bank_b.account), listed.acceptance.typed_data)
    block = api.world.w3.eth.block_number
    _refused(
        lambda: insurer.relay_acceptance(agreement_id, forged, listed.acceptance.deadline),
        403,
        "acceptance_signer_mismatch",
    )
    assert _last_refusal(api)["reason"] == "acceptance_signer_mismatch"
    assert api.world.w3.eth.block_number == block
    assert api.world.ledger.agreement(agreement_id).status == AgreementStatus.PROPOSED


def test_a_stale_acceptance_signature_is_refused_after_another_acceptance(api: Api) -> None:
    first, second = (
        _propose(api, api.world.insurer.address, 9),
        _propose(api, api.world.insurer.address, 10),
    )
    insurer = api.client(api.world.insurer.account)
    stale = {a.agreement_id: a for a in insurer.institution_agreements()}[second].acceptance
    assert stale is not None
    insurer.accept_agreement(first)
    signature = _sign(insurer, stale.typed_data)
    block = api.world.w3.eth.block_number
    _refused(
        lambda: insurer.relay_acceptance(second, signature, stale.deadline),
        409,
        "acceptance_nonce_used",
    )
    assert api.world.w3.eth.block_number == block
    assert _last_refusal(api)["reason"] == "acceptance_nonce_used"
    assert api.world.ledger.agreement(second).status == AgreementStatus.PROPOSED


def test_a_replayed_acceptance_is_refused(api: Api) -> None:
    agreement_id = _propose(api, api.world.insurer.address)
    insurer = api.client(api.world.insurer.account)
    [listed] = insurer.institution_agreements()
    assert listed.acceptance is not None
    signature = _sign(insurer, listed.acceptance.typed_data)
    insurer.relay_acceptance(agreement_id, signature, listed.acceptance.deadline)
    block = api.world.w3.eth.block_number
    _refused(
        lambda: insurer.relay_acceptance(agreement_id, signature, listed.acceptance.deadline),
        409,
        "agreement_not_proposed",
    )
    entry = _last_refusal(api)
    assert (entry["actor"], entry["reason"]) == (
        api.world.insurer.address,
        "agreement_not_proposed",
    )
    assert api.world.w3.eth.block_number == block
    assert api.world.ledger.agreement(agreement_id).status == AgreementStatus.ACTIVE


def test_an_acceptance_past_its_deadline_is_refused(api: Api) -> None:
    agreement_id = _propose(api, api.world.insurer.address)
    insurer = api.client(api.world.insurer.account)
    [listed] = insurer.institution_agreements()
    assert listed.acceptance is not None
    signature = _sign(insurer, listed.acceptance.typed_data)
    api.clock.advance(2 * 3600)
    block = api.world.w3.eth.block_number
    _refused(
        lambda: insurer.relay_acceptance(agreement_id, signature, listed.acceptance.deadline),
        422,
        "acceptance_expired",
    )
    assert _last_refusal(api)["reason"] == "acceptance_expired"
    assert api.world.w3.eth.block_number == block
    assert api.world.ledger.agreement(agreement_id).status == AgreementStatus.PROPOSED


def test_a_suspended_institution_cannot_accept(api: Api) -> None:
    agreement_id = _propose(api, api.world.insurer.address)
    insurer = api.client(api.world.insurer.account)
    [listed] = insurer.institution_agreements()
    assert listed.acceptance is not None
    signature = _sign(insurer, listed.acceptance.typed_data)
    api.world.ledger.transact(api.world.regulator, "suspendInstitution", api.world.insurer.address)
    block = api.world.w3.eth.block_number
    _refused(
        lambda: insurer.relay_acceptance(agreement_id, signature, listed.acceptance.deadline),
        403,
        "institution_suspended",
    )
    entry = _last_refusal(api)
    assert (entry["actor"], entry["reason"]) == (api.world.insurer.address, "institution_suspended")
    assert api.world.w3.eth.block_number == block
    assert api.world.ledger.agreement(agreement_id).status == AgreementStatus.PROPOSED


def test_grants_naming_the_institution_show_subject_uscc_names_and_live_status(api: Api) -> None:
    usable = api.grant(0, categories=TAX | SOCIAL, max_uses=5)
    revoked = api.grant(1, categories=TAX, level=AccessLevel.DETAIL)
    api.world.ledger.revoke_grant(api.world.subject_tx[1], revoked)
    api.grant(0, api.world.bank_b.address)  # names another institution: not listed
    bank = api.client(api.world.bank.account)
    before = api.entry_count()
    by_id = {g.grant_id: g for g in bank.institution_grants()}
    assert set(by_id) == {usable, revoked}
    shown = by_id[usable]
    assert shown.subject_id == "0x" + api.world.subject_ids[0].hex()
    assert shown.subject_uscc == USCCS[0]
    assert [c.name for c in shown.categories] == ["tax", "social_insurance"]
    assert (shown.purpose.name, shown.level.name) == ("loan_application", "query")
    assert (shown.max_uses, shown.uses_left) == (5, 5)
    assert shown.status.usable and shown.status.reason is None
    gone = by_id[revoked]
    assert gone.status.usable is False and gone.status.reason == "revoked"
    assert gone.subject_uscc is None  # the enterprise withdrew its authorisation
    assert [g.grant_id for g in bank.institution_grants(usable=True)] == [usable]
    assert api.entry_count() == before  # not a read of subject data


def test_checking_a_grant_answers_the_canonical_check_for_one_intended_query(api: Api) -> None:
    grant_id = api.grant(0, categories=TAX, purpose=Purpose.LOAN_APPLICATION)
    bank = api.client(api.world.bank.account)
    before = api.entry_count()
    ok = bank.check_grant(grant_id, category="tax", purpose="loan_application", level="query")
    assert (ok.usable, ok.reason, ok.category.name, ok.level.name) == (True, None, "tax", "query")
    assert ok.checked_block >= 0
    no = bank.check_grant(grant_id, category="social_insurance", purpose="loan_application")
    assert (no.usable, no.reason) == (False, "category_not_granted")
    deep = bank.check_grant(grant_id, category="tax", purpose="loan_application", level="detail")
    assert deep.reason == "level_too_low"
    assert api.entry_count() == before


def test_checking_a_revoked_grant_of_ones_own_answers_revoked(api: Api) -> None:
    grant_id = api.grant(0, categories=TAX)
    api.world.ledger.revoke_grant(api.world.subject_tx[0], grant_id)
    bank = api.client(api.world.bank.account)
    answer = bank.check_grant(grant_id, category="tax", purpose="loan_application")
    assert (answer.usable, answer.reason) == (False, "revoked")


def test_checking_a_grant_naming_another_institution_is_refused_and_audited(api: Api) -> None:
    grant_id = api.grant(0, api.world.bank_b.address)
    bank = api.client(api.world.bank.account)
    block = api.world.w3.eth.block_number
    _refused(
        lambda: bank.check_grant(grant_id, category="tax", purpose="loan_application"),
        403,
        "wrong_institution",
    )
    entry = _last_refusal(api)
    assert (entry["actor"], entry["reason"]) == (api.world.bank.address, "wrong_institution")
    assert api.world.w3.eth.block_number == block
    _refused(
        lambda: bank.check_grant(999, category="tax", purpose="loan_application"),
        404,
        "unknown_grant",
    )


def test_only_institutions_list_agreements_and_grants(api: Api) -> None:
    subject = api.client(api.world.subject_keys[0])
    _refused(subject.institution_agreements, 403, "role_required")
    _refused(subject.institution_grants, 403, "role_required")
