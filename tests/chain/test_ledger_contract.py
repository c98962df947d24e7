"""The on-chain rules (docs/ARCHITECTURE.md) and the attacks they must stop."""

from __future__ import annotations

import itertools
import time

import pytest
from eth_account import Account
from eth_utils import keccak
from world import World, dev_key, leaf_of, subject_record

from ledger_api.chain import eip712
from ledger_api.chain.artifacts import load_artifact
from ledger_api.chain.build import TEST_ARTIFACTS
from ledger_api.chain.deployment import deploy_ledger
from ledger_api.chain.grant_rules import AccessRequest, check_grant
from ledger_api.chain.ledger import GrantTerms, Ledger, RecordLeaf
from ledger_api.chain.revert import ContractRevert
from ledger_api.chain.transactor import Transactor
from ledger_api.chain.types import (
    AccessLevel,
    AgreementStatus,
    AnchorKind,
    DisputeKind,
    DisputeOutcome,
    GrantCheck,
    InstitutionType,
    Purpose,
    mask_of,
)

TAX, SOCIAL, JUDICIAL = 2, 3, 1
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def terms_for(world: World, **overrides: object) -> GrantTerms:
    now = int(time.time())
    fields: dict[str, object] = {
        "institution": world.bank.address,
        "categories": mask_of([TAX, SOCIAL]),
        "purpose": Purpose.LOAN_APPLICATION,
        "level": AccessLevel.QUERY,
        "not_before": now - 60,
        "not_after": now + 30 * 86400,
        "max_uses": 0,
    }
    fields.update(overrides)
    return GrantTerms(**fields)  # type: ignore[arg-type]


def refused(error_name: str) -> pytest.RaisesExc[ContractRevert]:
    return pytest.raises(ContractRevert, match=rf"^{error_name}\(")


def check(
    world: World,
    grant_id: int,
    institution: str | None = None,
    category: int = TAX,
    purpose: Purpose = Purpose.LOAN_APPLICATION,
    level: AccessLevel = AccessLevel.QUERY,
    used: int = 0,
) -> GrantCheck:
    return world.ledger.check_grant(
        grant_id, institution or world.bank.address, category, purpose, level, used
    )


# -- EIP-712 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("primary", "constant"),
    [
        ("Registration", "REGISTRATION_TYPEHASH"),
        ("IncreaseNonce", "INCREASE_NONCE_TYPEHASH"),
        ("Grant", "GRANT_TYPEHASH"),
        ("Revocation", "REVOCATION_TYPEHASH"),
        ("OpenDispute", "OPEN_DISPUTE_TYPEHASH"),
        ("AgreementAcceptance", "AGREEMENT_ACCEPTANCE_TYPEHASH"),
    ],
)
def test_python_type_strings_hash_to_the_contract_constants(
    world: World, primary: str, constant: str
) -> None:
    on_chain = getattr(world.ledger.contract.functions, constant)().call()
    assert eip712.type_hash(primary) == bytes(on_chain)


def test_domain_is_read_from_the_chain(world: World) -> None:
    assert world.ledger.domain.chain_id == world.w3.eth.chain_id == 131277322940537
    assert world.ledger.domain.verifying_contract == world.ledger.address


# -- grants: issue, relay, batch --------------------------------------------------------------


def test_subject_issues_grant_directly_and_it_is_usable(world: World) -> None:
    grant_id = world.ledger.issue_grant(world.subject_tx[0], terms_for(world))
    assert check(world, grant_id) == GrantCheck.USABLE
    stored = world.ledger.grant(grant_id)
    assert stored.subject_index == 1 and stored.categories == mask_of([TAX, SOCIAL])


def test_signed_grant_relayed_by_the_platform_is_usable(world: World) -> None:
    signed = world.ledger.sign_grant(world.subject_keys[2], terms_for(world))
    (grant_id,) = world.ledger.relay_grants(world.operator, [signed])
    assert check(world, grant_id) == GrantCheck.USABLE
    assert world.ledger.grant(grant_id).subject_index == 3


def test_many_signed_grants_relay_in_one_transaction_with_consecutive_ids(world: World) -> None:
    signed = [
        world.ledger.sign_grant(key, terms_for(world, purpose=Purpose.CREDIT_RATING))
        for key in world.subject_keys
    ]
    before = world.w3.eth.block_number
    ids = world.ledger.relay_grants(world.operator, signed)
    assert world.w3.eth.block_number == before + 1
    assert ids == list(range(ids[0], ids[0] + 3))
    assert {world.ledger.grant(i).subject_index for i in ids} == {1, 2, 3}


def test_smart_contract_wallet_subject_grants_by_erc1271(world: World) -> None:
    owner = Account.create()
    artifact = load_artifact("ContractWallet", TEST_ARTIFACTS)
    factory = world.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    wallet = world.operator.deploy(factory, owner.address, gas=1_000_000)["contractAddress"]
    assert wallet is not None
    sid = keccak(b"contract-wallet-subject")
    # The wallet proves control with its owner's signature over the wallet's Registration.
    nonce = world.ledger.nonce_of(wallet)
    deadline = int(time.time()) + 600
    message = {"subjectId": sid, "account": wallet, "nonce": nonce, "deadline": deadline}
    signature = eip712.sign_typed(owner.key, world.ledger.domain, "Registration", message)
    world.ledger.bind_subject(world.operator, sid, wallet, deadline, signature)
    terms = terms_for(world)
    grant_sig = eip712.sign_typed(
        owner.key, world.ledger.domain, "Grant", terms.as_message(1, deadline)
    )
    receipt = world.ledger.transact(
        world.operator, "issueGrantBySig", (terms.as_tuple(), wallet, deadline, grant_sig)
    )
    (event,) = world.ledger.events(receipt, "GrantIssued")
    assert check(world, event["args"]["grantId"]) == GrantCheck.USABLE


# -- signature attacks --------------------------------------------------------------------------


def test_signed_grant_cannot_be_replayed_on_the_same_contract(world: World) -> None:
    signed = world.ledger.sign_grant(world.subject_keys[0], terms_for(world))
    world.ledger.relay_grants(world.operator, [signed])
    with refused("SignatureInvalid"):
        world.ledger.relay_grants(world.operator, [signed])


def test_signed_grant_cannot_be_replayed_on_a_second_deployment(world: World) -> None:
    other = Ledger(world.w3, deploy_ledger(world.w3, world.operator, world.governance.address))
    other.register_institution(world.operator, world.bank.address, InstitutionType.BANK, "Bank")
    key, sid = world.subject_keys[2], world.subject_ids[2]
    deadline, reg = other.sign_registration(key, sid)
    other.bind_subject(world.operator, sid, key.address, deadline, reg)
    # Same signer nonce (1) on both contracts: only the domain differs.
    signed = world.ledger.sign_grant(key, terms_for(world), nonce=other.nonce_of(key.address))
    with refused("SignatureInvalid"):
        other.relay_grants(world.operator, [signed])


def test_signed_grant_for_another_chain_id_is_refused(world: World) -> None:
    key = world.subject_keys[2]
    terms = terms_for(world)
    foreign = eip712.Domain(chain_id=1, verifying_contract=world.ledger.address)
    deadline = int(time.time()) + 600
    signature = eip712.sign_typed(
        key.key, foreign, "Grant", terms.as_message(world.ledger.nonce_of(key.address), deadline)
    )
    with refused("SignatureInvalid"):
        world.ledger.transact(
            world.operator, "issueGrantBySig", (terms.as_tuple(), key.address, deadline, signature)
        )


def test_high_s_malleable_signature_is_refused(world: World) -> None:
    signed = world.ledger.sign_grant(world.subject_keys[2], terms_for(world))
    r, s, v = (
        signed.signature[:32],
        int.from_bytes(signed.signature[32:64], "big"),
        signed.signature[64],
    )
    malleable = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28
    forged = type(signed)(signed.terms, signed.signer, signed.deadline, malleable)
    with refused("SignatureInvalid"):
        world.ledger.relay_grants(world.operator, [forged])
    # The original low-s signature is still valid: the malleable twin consumed nothing.
    assert world.ledger.relay_grants(world.operator, [signed])


def test_signature_past_its_deadline_is_refused(world: World) -> None:
    # Chain time, not wall time: eth-tester stamps a block when the previous one was mined.
    chain_now = int(world.w3.eth.get_block("latest")["timestamp"])
    signed = world.ledger.sign_grant(
        world.subject_keys[2], terms_for(world), deadline=chain_now - 1
    )
    with refused("SignatureDeadlinePassed"):
        world.ledger.relay_grants(world.operator, [signed])


def test_increasing_the_nonce_invalidates_outstanding_signatures(world: World) -> None:
    key = world.subject_keys[2]
    outstanding = world.ledger.sign_grant(key, terms_for(world))
    deadline, signature = world.ledger.sign_nonce_increase(key, 1000)
    world.ledger.transact(
        world.operator, "increaseNonceBySig", key.address, 1000, deadline, signature
    )
    assert world.ledger.nonce_of(key.address) == 1000
    with refused("SignatureInvalid"):
        world.ledger.relay_grants(world.operator, [outstanding])


def test_nonce_can_only_increase(world: World) -> None:
    world.ledger.transact(world.subject_tx[0], "increaseNonce", 50)
    with refused("NonceNotIncreased"):
        world.ledger.transact(world.subject_tx[0], "increaseNonce", 10)


# -- grant validity -----------------------------------------------------------------------------


def test_grant_to_an_unregistered_institution_cannot_be_issued(world: World) -> None:
    with refused("UnknownInstitution"):
        world.ledger.issue_grant(
            world.subject_tx[0], terms_for(world, institution=dev_key(9).address)
        )


def test_grant_with_empty_categories_or_window_is_refused(world: World) -> None:
    with refused("InvalidGrantTerms"):
        world.ledger.issue_grant(world.subject_tx[0], terms_for(world, categories=0))
    with refused("InvalidGrantTerms"):
        world.ledger.issue_grant(world.subject_tx[0], terms_for(world, not_before=10, not_after=10))


def test_only_a_bound_subject_can_issue_grants(world: World) -> None:
    with refused("NotASubject"):
        world.ledger.issue_grant(world.bank, terms_for(world))


def test_suspended_institution_cannot_use_any_grant_until_reinstated(world: World) -> None:
    grant_id = world.ledger.issue_grant(world.subject_tx[0], terms_for(world))
    world.ledger.transact(world.regulator, "suspendInstitution", world.bank.address)
    assert check(world, grant_id) == GrantCheck.INSTITUTION_SUSPENDED
    world.ledger.transact(world.regulator, "reinstateInstitution", world.bank.address)
    assert check(world, grant_id) == GrantCheck.USABLE


def test_only_a_regulator_suspends_institutions(world: World) -> None:
    with refused("AccessControlUnauthorizedAccount"):
        world.ledger.transact(world.operator, "suspendInstitution", world.bank.address)


def test_grant_is_unusable_before_and_after_its_window(world: World) -> None:
    now = int(time.time())
    future = world.ledger.issue_grant(world.subject_tx[0], terms_for(world, not_before=now + 86400))
    past = world.ledger.issue_grant(
        world.subject_tx[0], terms_for(world, not_before=now - 86400, not_after=now - 3600)
    )
    assert check(world, future) == GrantCheck.NOT_YET_VALID
    assert check(world, past) == GrantCheck.EXPIRED


def test_grant_expires_as_chain_time_passes(world: World) -> None:
    # An hour of margin: eth-tester's pending block may carry a later timestamp than "latest".
    now = world.w3.eth.get_block("latest")["timestamp"]
    grant_id = world.ledger.issue_grant(world.subject_tx[0], terms_for(world, not_after=now + 3600))
    assert check(world, grant_id) == GrantCheck.USABLE
    world.w3.provider.ethereum_tester.time_travel(now + 7200)  # type: ignore[attr-defined]
    assert check(world, grant_id) == GrantCheck.EXPIRED


def test_grant_is_usable_only_within_its_categories_purpose_and_level(world: World) -> None:
    grant_id = world.ledger.issue_grant(world.subject_tx[0], terms_for(world))
    assert check(world, grant_id, category=JUDICIAL) == GrantCheck.CATEGORY_NOT_GRANTED
    assert check(world, grant_id, purpose=Purpose.GUARANTEE) == GrantCheck.PURPOSE_MISMATCH
    assert check(world, grant_id, level=AccessLevel.DETAIL) == GrantCheck.LEVEL_TOO_LOW
    assert check(world, grant_id, level=AccessLevel.VERIFY) == GrantCheck.USABLE


def test_another_institution_cannot_use_a_grant(world: World) -> None:
    grant_id = world.ledger.issue_grant(world.subject_tx[0], terms_for(world))
    assert check(world, grant_id, institution=world.bank_b.address) == GrantCheck.WRONG_INSTITUTION
    assert check(world, grant_id, institution=dev_key(9).address) == GrantCheck.UNKNOWN_INSTITUTION


def test_usage_cap_is_enforced_against_the_recorded_count(world: World) -> None:
    grant_id = world.ledger.issue_grant(world.subject_tx[0], terms_for(world, max_uses=3))
    assert check(world, grant_id, used=2) == GrantCheck.USABLE
    assert check(world, grant_id, used=3) == GrantCheck.USAGE_CAP_REACHED


def test_unknown_grant_ids_are_reported(world: World) -> None:
    assert check(world, 0) == GrantCheck.UNKNOWN_GRANT
    assert check(world, 10**9) == GrantCheck.UNKNOWN_GRANT


# -- agreements ---------------------------------------------------------------------------------


def test_grant_needs_an_accepted_agreement_covering_category_and_purpose(world: World) -> None:
    now = int(time.time())
    grant_id = world.ledger.issue_grant(
        world.subject_tx[0], terms_for(world, institution=world.bank_b.address)
    )
    assert check(world, grant_id, institution=world.bank_b.address) == GrantCheck.NO_AGREEMENT
    agreement = world.ledger.propose_agreement(
        world.operator,
        world.bank_b.address,
        mask_of([SOCIAL]),
        mask_of([Purpose.CREDIT_RATING]),
        now - 10,
        now + 86400,
        b"\x02" * 32,
    )
    # Proposed but not yet accepted: still no agreement in force.
    assert check(world, grant_id, institution=world.bank_b.address) == GrantCheck.NO_AGREEMENT
    world.ledger.transact(world.bank_b, "acceptAgreement", agreement)
    assert world.ledger.agreement(agreement).status == AgreementStatus.ACTIVE
    assert (
        check(world, grant_id, institution=world.bank_b.address)
        == GrantCheck.CATEGORY_NOT_IN_AGREEMENT
    )
    assert (
        check(world, grant_id, institution=world.bank_b.address, category=SOCIAL)
        == GrantCheck.PURPOSE_NOT_IN_AGREEMENT
    )


def test_only_the_named_institution_accepts_an_agreement(world: World) -> None:
    now = int(time.time())
    agreement = world.ledger.propose_agreement(
        world.operator, world.bank_b.address, 1, 1, now, now + 10, b"\x03" * 32
    )
    with refused("NotAgreementInstitution"):
        world.ledger.transact(world.bank, "acceptAgreement", agreement)


def test_regulator_suspension_of_the_agreement_stops_every_query_at_once(world: World) -> None:
    grant_id = world.ledger.issue_grant(world.subject_tx[0], terms_for(world))
    world.ledger.transact(world.regulator, "suspendAgreement", world.agreement_id)
    assert check(world, grant_id) == GrantCheck.AGREEMENT_NOT_ACTIVE
    world.ledger.transact(world.regulator, "reinstateAgreement", world.agreement_id)
    assert check(world, grant_id) == GrantCheck.USABLE
    world.ledger.transact(world.regulator, "terminateAgreement", world.agreement_id)
    assert check(world, grant_id) == GrantCheck.AGREEMENT_NOT_ACTIVE
    with refused("AgreementNotSuspended"):
        world.ledger.transact(world.regulator, "reinstateAgreement", world.agreement_id)


def test_operator_cannot_suspend_or_terminate_agreements(world: World) -> None:
    with refused("AccessControlUnauthorizedAccount"):
        world.ledger.transact(world.operator, "suspendAgreement", world.agreement_id)


# -- revocation ---------------------------------------------------------------------------------


def test_subject_revokes_directly_and_revocation_is_final(world: World) -> None:
    grant_id = world.ledger.issue_grant(world.subject_tx[0], terms_for(world))
    world.ledger.revoke_grant(world.subject_tx[0], grant_id)
    assert check(world, grant_id) == GrantCheck.REVOKED
    assert world.ledger.grant(grant_id).revoked
    with refused("GrantAlreadyRevoked"):
        world.ledger.revoke_grant(world.subject_tx[0], grant_id)


def test_subject_revokes_by_signature_relayed_by_the_platform(world: World) -> None:
    key = world.subject_keys[2]
    (grant_id,) = world.ledger.relay_grants(
        world.operator, [world.ledger.sign_grant(key, terms_for(world))]
    )
    deadline, signature = world.ledger.sign_revocation(key, grant_id)
    world.ledger.relay_revocation(world.operator, grant_id, key.address, deadline, signature)
    assert check(world, grant_id) == GrantCheck.REVOKED


@pytest.mark.parametrize("who", ["operator", "regulator", "bank", "other_subject"])
def test_nobody_but_the_subject_can_revoke(world: World, who: str) -> None:
    grant_id = world.ledger.issue_grant(world.subject_tx[0], terms_for(world))
    revoker = world.subject_tx[1] if who == "other_subject" else getattr(world, who)
    expected = "NotGrantSubject" if who == "other_subject" else "NotASubject"
    with refused(expected):
        world.ledger.revoke_grant(revoker, grant_id)
    assert check(world, grant_id) == GrantCheck.USABLE


def test_revocation_signed_by_another_subject_is_refused(world: World) -> None:
    grant_id = world.ledger.issue_grant(world.subject_tx[0], terms_for(world))
    intruder = world.subject_keys[2]
    deadline, signature = world.ledger.sign_revocation(intruder, grant_id)
    with refused("NotGrantSubject"):
        world.ledger.relay_revocation(
            world.operator, grant_id, intruder.address, deadline, signature
        )


# -- subjects: registration and re-binding ------------------------------------------------------


def test_binding_needs_the_accounts_own_registration_signature(world: World) -> None:
    victim, attacker = Account.create(), Account.create()
    sid = keccak(b"new-subject")
    deadline, signature = world.ledger.sign_registration(attacker, sid)
    with refused("SignatureInvalid"):
        world.ledger.bind_subject(world.operator, sid, victim.address, deadline, signature)


def test_a_subject_cannot_be_bound_twice(world: World) -> None:
    fresh = Account.create()
    deadline, signature = world.ledger.sign_registration(fresh, world.subject_ids[0])
    with refused("SubjectAlreadyBound"):
        world.ledger.bind_subject(
            world.operator, world.subject_ids[0], fresh.address, deadline, signature
        )


def test_rebinding_keeps_grants_and_strips_the_old_address_of_all_power(world: World) -> None:
    old = world.subject_tx[0]
    grant_id = world.ledger.issue_grant(old, terms_for(world))
    new_key = dev_key(10)
    deadline, signature = world.ledger.sign_registration(new_key, world.subject_ids[0])
    world.ledger.rebind_subject(
        world.operator, world.subject_ids[0], new_key.address, deadline, signature
    )
    assert world.ledger.account_of(world.subject_ids[0]) == (new_key.address, 1)
    assert check(world, grant_id) == GrantCheck.USABLE  # the grant belongs to the subject
    with refused("NotASubject"):
        world.ledger.revoke_grant(old, grant_id)
    with refused("NotASubject"):
        world.ledger.relay_grants(
            world.operator, [world.ledger.sign_grant(world.subject_keys[0], terms_for(world))]
        )
    world.ledger.revoke_grant(Transactor(world.w3, new_key), grant_id)
    assert check(world, grant_id) == GrantCheck.REVOKED


# -- anchors ------------------------------------------------------------------------------------


def _tree(leaves: list[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """A minimal OpenZeppelin-compatible tree (sorted pairs) for a power-of-two leaf count."""
    proofs: list[list[bytes]] = [[] for _ in leaves]
    level = [(leaf, [i]) for i, leaf in enumerate(leaves)]
    while len(level) > 1:
        nxt = []
        for (a, ia), (b, ib) in zip(level[::2], level[1::2], strict=True):
            for i in ia:
                proofs[i].append(b)
            for i in ib:
                proofs[i].append(a)
            nxt.append((keccak(b"".join(sorted((a, b)))), ia + ib))
        level = nxt
    return level[0][0], proofs


def test_provider_anchors_a_root_once_and_it_cannot_be_overwritten(world: World) -> None:
    root = keccak(b"batch-1")
    seq, _ = world.ledger.anchor(world.provider, AnchorKind.DATA_BATCH, root, 1000, b"\x00" * 32)
    record = world.ledger.anchor_of(root)
    assert record is not None and record.sequence == seq and record.leaf_count == 1000
    assert record.submitter == world.provider.address and record.kind == AnchorKind.DATA_BATCH
    with refused("RootAlreadyAnchored"):
        world.ledger.anchor(world.provider, AnchorKind.DATA_BATCH, root, 5, b"\x00" * 32)
    with refused("RootAnchoredByOther"):
        world.ledger.anchor(world.operator, AnchorKind.ACCESS_LOG, root, 5, b"\x00" * 32)
    assert world.ledger.anchor_of(root) == record


def test_anchor_many_anchors_each_new_root_in_order_and_skips_roots_anchored_before(
    world: World,
) -> None:
    ledger = world.ledger
    earlier = keccak(b"anchored-before")
    first, _ = ledger.anchor(world.provider, AnchorKind.DATA_BATCH, earlier, 7, b"\x00" * 32)
    roots = [keccak(b"group-%d" % i) for i in range(3)]
    items = [
        (roots[0], 10, keccak(b"ref-0")),
        (earlier, 99, keccak(b"ref-x")),  # skipped: its record stays as it was
        (roots[1], 20, keccak(b"ref-1")),
        (roots[0], 30, keccak(b"ref-y")),  # repeated in the list: skipped too
        (roots[2], 30, keccak(b"ref-2")),
    ]
    sequences, receipt = ledger.confirm_anchors(
        world.provider, ledger.send_anchors(world.provider, AnchorKind.DATA_BATCH, items)
    )
    assert sequences == {roots[0]: first + 1, roots[1]: first + 2, roots[2]: first + 3}
    events = ledger.events(receipt, "Anchored")
    assert [bytes(e["args"]["ref"]) for e in events] == [keccak(b"ref-%d" % i) for i in range(3)]
    for root, count in zip(roots, (10, 20, 30), strict=True):
        record = ledger.anchor_of(root)
        assert record is not None and record.leaf_count == count
        assert record.submitter == world.provider.address
    before = ledger.anchor_of(earlier)
    assert before is not None and before.sequence == first and before.leaf_count == 7


def test_anchor_many_refuses_uneven_lists_empty_roots_and_callers_without_the_role(
    world: World,
) -> None:
    ledger, provider = world.ledger, world.provider
    zero = b"\x00" * 32
    with refused("AnchorListsDiffer"):
        uneven = ledger.contract.functions.anchorMany(
            0, [keccak(b"a"), keccak(b"b")], [1], [zero, zero]
        )
        provider.transact(uneven, gas=200_000)

    def anchor_many(sender: Transactor, items: list[tuple[bytes, int, bytes]]) -> None:
        ledger.confirm_anchors(sender, ledger.send_anchors(sender, AnchorKind.DATA_BATCH, items))

    with refused("EmptyRoot"):
        anchor_many(provider, [(keccak(b"c"), 1, zero), (zero, 1, zero)])
    with refused("EmptyTree"):
        anchor_many(provider, [(keccak(b"d"), 0, zero)])
    with refused("NotAllowedToAnchor"):
        anchor_many(world.bank, [(keccak(b"e"), 1, zero)])
    assert ledger.anchor_of(keccak(b"c")) is None  # a refused list anchors none of its roots


def test_only_providers_anchor_data_and_only_the_operator_anchors_the_log(world: World) -> None:
    with refused("NotAllowedToAnchor"):
        world.ledger.anchor(world.bank, AnchorKind.DATA_BATCH, keccak(b"x"), 1, b"\x00" * 32)
    with refused("NotAllowedToAnchor"):
        world.ledger.anchor(world.provider, AnchorKind.ACCESS_LOG, keccak(b"y"), 1, b"\x00" * 32)


def test_contract_checks_inclusion_proofs_against_anchored_roots(world: World) -> None:
    leaves = [keccak(keccak(bytes([i]))) for i in range(8)]
    root, proofs = _tree(leaves)
    assert not world.ledger.verify_inclusion(root, leaves[3], proofs[3])  # not anchored yet
    world.ledger.anchor(world.provider, AnchorKind.DATA_BATCH, root, 8, b"\x00" * 32)
    assert all(
        world.ledger.verify_inclusion(root, leaf, p) for leaf, p in zip(leaves, proofs, strict=True)
    )
    assert not world.ledger.verify_inclusion(root, leaves[3], proofs[4])


# -- disputes -----------------------------------------------------------------------------------


def _anchored_batch(world: World) -> tuple[bytes, list[RecordLeaf], list[list[bytes]]]:
    """Four records (subjects 0, 2, 1, 1) in one anchored data batch."""
    owners = (0, 2, 1, 1)
    records = [subject_record(world.subject_ids[o], i) for i, o in enumerate(owners)]
    root, proofs = _tree([leaf_of(r) for r in records])
    world.ledger.anchor(world.provider, AnchorKind.DATA_BATCH, root, 4, b"\x00" * 32)
    return root, records, proofs


def test_subject_objects_by_signature_and_operator_resolves(world: World) -> None:
    root, records, proofs = _anchored_batch(world)
    key = world.subject_keys[2]
    reason = keccak(b"the penalty was overturned")
    deadline, signature = world.ledger.sign_dispute(
        key, DisputeKind.OBJECTION, root, leaf_of(records[1]), reason
    )
    dispute_id = world.ledger.relay_dispute(
        world.operator,
        DisputeKind.OBJECTION,
        root,
        records[1],
        proofs[1],
        reason,
        key.address,
        deadline,
        signature,
    )
    assert world.ledger.contract.functions.dispute(dispute_id).call()[2] == 1  # Open
    with refused("InvalidOutcome"):
        world.ledger.resolve_dispute(
            world.operator, dispute_id, DisputeOutcome.REPAIRED, b"\x00" * 32
        )
    world.ledger.resolve_dispute(world.operator, dispute_id, DisputeOutcome.UPHELD, keccak(b"ok"))
    stored = world.ledger.contract.functions.dispute(dispute_id).call()
    assert stored[2:4] == [2, int(DisputeOutcome.UPHELD)] or tuple(stored[2:4]) == (2, 1)
    with refused("DisputeNotOpen"):
        world.ledger.resolve_dispute(
            world.operator, dispute_id, DisputeOutcome.REJECTED, b"\x00" * 32
        )


def test_dispute_about_a_record_not_in_the_anchor_is_refused(world: World) -> None:
    root, _records, proofs = _anchored_batch(world)
    stranger = subject_record(world.subject_ids[0], 99)
    with refused("RecordNotInAnchor"):
        world.ledger.transact(
            world.subject_tx[0],
            "openDispute",
            int(DisputeKind.CREDIT_REPAIR),
            root,
            stranger.as_tuple(),
            proofs[0],
            b"\x00" * 32,
        )


@pytest.mark.parametrize("who", ["regulator", "provider", "bank", "subject"])
def test_only_the_operator_resolves_disputes(world: World, who: str) -> None:
    root, records, proofs = _anchored_batch(world)
    receipt = world.ledger.transact(
        world.subject_tx[0],
        "openDispute",
        int(DisputeKind.CREDIT_REPAIR),
        root,
        records[0].as_tuple(),
        proofs[0],
        b"\x00" * 32,
    )
    dispute_id = world.ledger.events(receipt, "DisputeOpened")[0]["args"]["disputeId"]
    resolver = world.subject_tx[0] if who == "subject" else getattr(world, who)
    with refused("AccessControlUnauthorizedAccount"):
        world.ledger.resolve_dispute(resolver, dispute_id, DisputeOutcome.REPAIRED, b"\x00" * 32)


# -- the canonical check has one meaning on chain and in Python ----------------------------------


def test_python_grant_rules_agree_with_the_contract_view(world: World) -> None:
    now = int(time.time())
    subject = world.subject_tx[0]
    grants = [
        world.ledger.issue_grant(subject, terms_for(world)),
        world.ledger.issue_grant(
            subject,
            terms_for(
                world, level=AccessLevel.DETAIL, max_uses=2, purpose=Purpose.POST_LOAN_MONITORING
            ),
        ),
        world.ledger.issue_grant(subject, terms_for(world, institution=world.bank_b.address)),
        world.ledger.issue_grant(subject, terms_for(world, institution=world.insurer.address)),
        world.ledger.issue_grant(subject, terms_for(world, not_before=now + 86400)),
        world.ledger.issue_grant(
            subject, terms_for(world, not_before=now - 9000, not_after=now - 10)
        ),
    ]
    world.ledger.revoke_grant(subject, grants[0])
    world.ledger.transact(world.regulator, "suspendInstitution", world.insurer.address)
    chain_now = world.w3.eth.get_block("latest")["timestamp"]
    institutions = [
        world.bank.address,
        world.bank_b.address,
        world.insurer.address,
        dev_key(9).address,
    ]
    compared = 0
    for grant_id in [*grants, 999]:
        state = world.ledger.grant(grant_id) if grant_id != 999 else None
        for inst, category, purpose, level, used in itertools.product(
            institutions,
            (TAX, JUDICIAL),
            (Purpose.LOAN_APPLICATION, Purpose.POST_LOAN_MONITORING),
            (AccessLevel.VERIFY, AccessLevel.DETAIL),
            (0, 2),
        ):
            on_chain = check(world, grant_id, inst, category, purpose, level, used)
            inst_state = world.ledger.institution(inst)
            agreement = (
                world.ledger.agreement(inst_state.agreement_id) if inst_state.agreement_id else None
            )
            in_python = check_grant(
                state,
                inst_state,
                agreement,
                AccessRequest(category, purpose, level),
                chain_now,
                used,
            )
            assert in_python == on_chain, (grant_id, inst, category, purpose, level, used)
            compared += 1
    assert compared == 7 * 4 * 2 * 2 * 2 * 2
