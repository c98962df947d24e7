"""Subject flows (registration, grants, access log with proofs, disputes, commitments),
provider ingestion, and access-log tamper detection."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from api_support import Api
from eth_account import Account
from eth_account.messages import encode_defunct
from sql_plans import statements_that_sort
from sqlalchemy import delete, insert, update
from test_gate import read, sid
from world import USCCS

from ledger_api.accesslog import ACCESS_LOG, verify_access_log
from ledger_api.anchoring.merkle import verify_proof
from ledger_api.api.routes.subject import commitment_leaf
from ledger_api.chain.ledger import GrantTerms
from ledger_api.chain.types import AccessLevel, DisputeKind, Purpose
from ledger_api.errors import GrantError, LedgerError


def test_registration_is_requested_signed_and_approved(api: Api) -> None:
    key = Account.create()
    wallet = api.client(key)
    w = api.world
    with pytest.raises(LedgerError) as caught:
        wallet.me()
    assert caught.value.code == "role_required"
    registration = wallet.request_registration(_free_uscc())
    assert registration.status == "awaiting_signature" and "*" in registration.uscc_masked
    signed = wallet.sign_registration(registration)
    assert signed.status == "pending_approval"
    operator = api.client(w.operator.account)
    assert [r.id for r in operator.list_registrations("pending_approval")] == [registration.id]
    approved = operator.approve_registration(registration.id)
    assert (
        approved.status == "bound" and wallet.registration_status(registration.id).status == "bound"
    )
    assert wallet.me().subject_id == registration.subject_id


def test_asking_again_returns_the_open_registration_instead_of_a_duplicate(api: Api) -> None:
    wallet = api.client(Account.create())
    first = wallet.request_registration(_free_uscc())
    again = wallet.request_registration(_free_uscc())
    assert again.id == first.id and again.typed_data == first.typed_data
    wallet.sign_registration(first)
    assert wallet.request_registration(_free_uscc()).id == first.id  # still open, now signed
    operator = api.client(api.world.operator.account)
    assert [r.id for r in operator.list_registrations()] == [first.id]


def _free_uscc() -> str:
    from ledger_api.synth.generator import make_uscc

    return make_uscc("410100", 987654)


def test_a_relayed_batch_reports_the_items_it_skipped_and_issues_the_rest(api: Api) -> None:
    w = api.world
    key = w.subject_keys[0]
    wallet = api.client(key)
    now = int(api.clock())
    terms = GrantTerms(
        w.bank.address, 0b100, Purpose.LOAN_APPLICATION, AccessLevel.QUERY, now - 10, now + 3600
    )
    nonce = w.ledger.nonce_of(key.address)
    signed = [w.ledger.sign_grant(key, terms, nonce=nonce + i) for i in range(3)]
    # Someone relays the first item on its own, straight to the chain: its nonce is spent.
    (alone,) = w.ledger.relay_grants(w.operator, [signed[0]])
    relayed = wallet.relay_grant_batch(signed)
    assert relayed.grant_ids == [alone + 1, alone + 2]
    assert [(s.index, s.reason) for s in relayed.skipped] == [(0, "signature_or_nonce_invalid")]


def test_subject_relays_grants_and_revocation_through_the_api(api: Api) -> None:
    w = api.world
    key = w.subject_keys[0]
    wallet = api.client(key)
    now = int(api.clock())
    terms = GrantTerms(
        w.bank.address, 0b100, Purpose.LOAN_APPLICATION, AccessLevel.QUERY, now - 10, now + 3600
    )
    [single] = wallet.relay_grants([w.ledger.sign_grant(key, terms)])
    assert read(api, single).records
    nonce = w.ledger.nonce_of(key.address)
    batch = wallet.relay_grants(
        [
            w.ledger.sign_grant(key, terms, nonce=nonce),
            w.ledger.sign_grant(key, terms, nonce=nonce + 1),
        ]
    )
    assert len(batch) == 2
    statuses = {g.grant_id: g.status for g in wallet.my_grants()}
    assert statuses[single] == "usable"
    deadline, signature = w.ledger.sign_revocation(key, single)
    wallet.relay_revocation(single, deadline, signature)
    assert {g.grant_id: g.status for g in wallet.my_grants()}[single] == "revoked"
    with pytest.raises(GrantError) as caught:
        read(api, single)
    assert caught.value.code == "revoked"
    new_nonce = w.ledger.nonce_of(key.address) + 5
    deadline, signature = w.ledger.sign_nonce_increase(key, new_nonce)
    wallet.relay_nonce_increase(new_nonce, deadline, signature)
    assert w.ledger.nonce_of(key.address) == new_nonce


def test_own_data_is_unmasked_and_access_log_entries_prove_against_anchored_root(api: Api) -> None:
    w = api.world
    grant = api.grant(categories=0b1, level=AccessLevel.QUERY)
    read(api, grant, category="registration")
    wallet = api.client(w.subject_keys[0])
    mine = wallet.my_records()
    registration = next(r for r in mine.records if r.category == "registration")
    assert registration.fields["legal_representative"] == "张三丰"
    assert {r.category for r in mine.records} == {
        "registration",
        "tax",
        "social_insurance",
        "judicial",
    }
    anchor_id = api.client(w.operator.account).anchor_access_log()
    assert anchor_id is not None
    page = wallet.my_access_log()
    institution_reads = [e for e in page.entries if e.actor == w.bank.address]
    assert institution_reads and institution_reads[0].grant_id == grant
    entry = institution_reads[0]
    proof = [bytes.fromhex(p[2:]) for p in entry.proof or []]
    root, leaf = bytes.fromhex(entry.root[2:]), bytes.fromhex(entry.leaf[2:])
    assert entry.anchor_status == "anchored" and entry.anchor_sequence
    assert verify_proof(proof, root, leaf)
    assert w.ledger.verify_inclusion(root, leaf, proof)
    assert all(e.actor != w.subject_keys[1].address for e in page.entries)


def test_own_access_log_pages_are_newest_first_and_read_without_sorting_the_log(
    api: Api,
) -> None:
    grant = api.grant(categories=0b1, level=AccessLevel.QUERY)
    for _ in range(3):
        read(api, grant, category="registration")
    wallet = api.client(api.world.subject_keys[0])
    ids = [e.id for e in wallet.my_access_log().entries]
    assert len(ids) >= 3 and ids == sorted(ids, reverse=True)
    assert [e.id for e in wallet.my_access_log(limit=2, offset=1).entries] == ids[1:3]
    assert statements_that_sort(api.engine, lambda: wallet.my_access_log(limit=2)) == []


def test_objection_flags_the_record_and_an_upheld_one_hides_it(api: Api) -> None:
    w = api.world
    key = w.subject_keys[0]
    wallet = api.client(key)
    tax = [r for r in wallet.my_records("tax").records]
    target = tax[0]
    proof = wallet.record_proof(target.record_uid)
    reason = b"\x07" * 32
    deadline, signature = w.ledger.sign_dispute(
        key,
        DisputeKind.OBJECTION,
        bytes.fromhex(proof.root[2:]),
        bytes.fromhex(proof.leaf[2:]),
        reason,
    )
    dispute = wallet.open_dispute(
        target.record_uid, int(DisputeKind.OBJECTION), reason, deadline, signature
    )
    assert dispute.status == "open" and [d.dispute_id for d in wallet.my_disputes()] == [
        dispute.dispute_id
    ]
    grant = api.grant()
    flagged = {r.record_uid: r.disputed for r in read(api, grant).records}
    assert flagged[target.record_uid] is True and sum(flagged.values()) == 1
    api.client(w.operator.account).resolve_dispute(dispute.dispute_id, 1, b"\x08" * 32)
    remaining = [r.record_uid for r in read(api, grant).records]
    assert target.record_uid not in remaining and len(remaining) == len(tax) - 1
    assert wallet.my_disputes()[0].outcome == "upheld"


def test_credit_commitment_is_stored_and_anchored(api: Api) -> None:
    wallet = api.client(api.world.subject_keys[0])
    made = wallet.make_commitment("本企业承诺按期足额偿还融资款项。")
    assert made.status == "anchored" and made.anchor_sequence
    anchor = api.world.ledger.anchor_of(bytes.fromhex(made.leaf[2:]))
    assert anchor is not None and anchor.kind.name == "SUBJECT_STATEMENT"
    assert [c.id for c in wallet.my_commitments()] == [made.id]


@pytest.mark.parametrize("crash_after_anchor", [False, True])
def test_commitment_left_pending_by_a_crash_is_anchored_exactly_once(
    api: Api, crash_after_anchor: bool
) -> None:
    from ledger_api.api.models import STATEMENTS
    from ledger_api.api.routes.subject import commitment_leaf
    from ledger_api.chain.types import AnchorKind

    key, subject_id = api.world.subject_keys[0], api.world.subject_ids[0]
    text = "本企业承诺如实报送信息。"
    signature = bytes(Account.sign_message(encode_defunct(text=text), key.key).signature)
    leaf = commitment_leaf(subject_id, text, signature)
    with api.engine.begin() as conn:  # the row as stored just before the crash
        conn.execute(insert(STATEMENTS).values(subject_id=subject_id, account=key.address,
                                               text=text, signature=signature, leaf=leaf,
                                               status="pending"))  # fmt: skip
    if crash_after_anchor:  # the anchor transaction went through, the update did not
        api.world.ledger.anchor(api.world.operator, AnchorKind.SUBJECT_STATEMENT, leaf, 1,
                                subject_id)  # fmt: skip
    anchors_before = api.world.ledger.contract.functions.anchorCount().call()
    api.ctx.commitments.resume()  # what the API does when it starts again
    (listed,) = api.client(key).my_commitments()
    assert listed.status == "anchored" and listed.anchor_sequence
    anchors_after = api.world.ledger.contract.functions.anchorCount().call()
    assert anchors_after - anchors_before == (0 if crash_after_anchor else 1)


def test_the_api_finishes_a_commitment_left_pending_when_it_starts_again(api: Api) -> None:
    from ledger_api.api.models import STATEMENTS

    key, subject_id = api.world.subject_keys[0], api.world.subject_ids[0]
    text = "本企业承诺依法经营。"
    signature = bytes(Account.sign_message(encode_defunct(text=text), key.key).signature)
    leaf = commitment_leaf(subject_id, text, signature)
    with api.engine.begin() as conn:  # stored, then the process died before anchoring it
        conn.execute(insert(STATEMENTS).values(subject_id=subject_id, account=key.address,
                                               text=text, signature=signature, leaf=leaf,
                                               status="pending"))  # fmt: skip
    api.ctx.start_background()
    try:
        assert api.ctx.resuming is not None
        api.ctx.resuming.join(timeout=60)
    finally:
        api.ctx.anchoring.stop()
    (listed,) = api.client(key).my_commitments()
    assert listed.status == "anchored" and listed.anchor_sequence
    record = api.world.ledger.anchor_of(leaf)
    assert record is not None and record.sequence == listed.anchor_sequence


def test_listing_commitments_sends_no_transaction_even_with_one_left_pending(api: Api) -> None:
    from ledger_api.api.models import STATEMENTS

    key, subject_id = api.world.subject_keys[0], api.world.subject_ids[0]
    with api.engine.begin() as conn:  # left pending by a crash
        conn.execute(insert(STATEMENTS).values(subject_id=subject_id, account=key.address,
                                               text="t", signature=b"\x01" * 65,
                                               leaf=b"\x33" * 32, status="pending"))  # fmt: skip
    block = api.world.w3.eth.block_number
    (listed,) = api.client(key).my_commitments()
    assert listed.status == "pending"
    assert api.world.w3.eth.block_number == block  # a read never anchors


def test_provider_ingests_a_batch_anchored_on_chain(api: Api) -> None:
    w = api.world
    row = {
        "uscc": USCCS[2],
        "record_key": "u-1",
        "month": "2025-01",
        "account_no": "4101234567",
        "water_arrears": "0.00",
        "electricity_arrears": "0.00",
        "gas_arrears": "0.00",
    }
    bad = dict(row, record_key="u-2", month="2025-13")
    data = (json.dumps(row) + "\n" + json.dumps(bad)).encode()
    result = api.client(w.provider.account).ingest("utilities", data)
    assert result.accepted == 1 and len(result.rejected) == 1 and result.state == "anchored"
    assert w.ledger.anchor_of(bytes.fromhex(result.root[2:])) is not None
    with pytest.raises(LedgerError) as caught:
        api.client(w.bank.account).ingest("utilities", data)
    assert caught.value.status == 403


def test_access_log_detects_a_deleted_and_an_edited_entry(api: Api) -> None:
    grant = api.grant()
    for _ in range(5):
        read(api, grant)
    with api.engine.connect() as conn:
        assert verify_access_log(conn).clean
    with api.engine.begin() as conn:
        conn.execute(update(ACCESS_LOG).where(ACCESS_LOG.c.id == 2).values(reason="edited"))
        conn.execute(delete(ACCESS_LOG).where(ACCESS_LOG.c.id == 4))
    with api.engine.connect() as conn:
        report = verify_access_log(conn)
    assert [f.entry_id for f in report.of_kind("edited")] == [2]
    assert [f.entry_id for f in report.of_kind("deleted")] == [4]
    verdict = api.client(api.world.operator.account).verify_access_log()
    assert not verdict.clean and {f.kind for f in verdict.findings} == {"edited", "deleted"}


def test_the_operator_verifies_the_log_from_a_day_on_without_rereading_before_it(
    api: Api,
) -> None:
    grant = api.grant()
    for _ in range(3):
        read(api, grant)
    today = datetime.now(UTC).date()
    operator = api.client(api.world.operator.account)
    with api.engine.begin() as conn:
        first = api.last_entry()["id"] - 2
        conn.execute(update(ACCESS_LOG).where(ACCESS_LOG.c.id == first).values(reason="edited"))
    tomorrow = operator.verify_access_log(since=(today + timedelta(days=1)).isoformat())
    assert tomorrow.clean and tomorrow.entries_checked == 0
    verdict = operator.verify_access_log(since=today.isoformat())
    assert [f.entry_id for f in verdict.findings if f.kind == "edited"] == [first]


def test_access_log_detects_deleted_tail_after_anchoring(api: Api) -> None:
    grant = api.grant()
    for _ in range(3):
        read(api, grant)
    api.ctx.anchoring.anchor_once()
    with api.engine.begin() as conn:
        last = api.last_entry()["id"]
        conn.execute(delete(ACCESS_LOG).where(ACCESS_LOG.c.id == last))
    with api.engine.connect() as conn:
        report = verify_access_log(conn)
    assert [f.entry_id for f in report.of_kind("deleted")] == [last]


def test_audit_views_are_for_regulators_only_and_unknown_views_are_404(api: Api) -> None:
    regulator = api.client(api.world.regulator.account)
    assert regulator.audit("violations").result == []
    with pytest.raises(LedgerError) as unknown:
        regulator.audit("gossip")
    assert unknown.value.status == 404 and "access_audit" in unknown.value.detail
    with pytest.raises(LedgerError) as denied:
        api.client(api.world.bank.account).audit("violations")
    assert denied.value.code == "role_required"


def test_subject_id_may_be_given_as_uscc(api: Api) -> None:
    grant = api.grant()
    page = api.client(api.world.bank.account).records(
        USCCS[0], category="tax", purpose="loan_application", grant_id=grant
    )
    assert page.subject_id == sid(api)


def test_the_operator_endpoint_refuses_to_appoint_regulators_which_only_governance_may(
    api: Api,
) -> None:
    operator = api.client(api.world.operator.account)
    with pytest.raises(LedgerError) as caught:
        operator.grant_role("REGULATOR_ROLE", api.world.bank.address)
    assert caught.value.code == "governance_only"
    assert not api.world.ledger.has_role("REGULATOR_ROLE", api.world.bank.address)
