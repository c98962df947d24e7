"""The six findings of the contract review (issue 24), each as the attack that must now fail."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils import keccak
from web3.types import TxReceipt
from world import World, leaf_of, subject_record

from ledger_api.chain.artifacts import load_artifact
from ledger_api.chain.build import TEST_ARTIFACTS
from ledger_api.chain.deployment import CONTRACT_VERSION, Deployment, check_deployment
from ledger_api.chain.ledger import GrantTerms, RecordLeaf
from ledger_api.chain.revert import ContractRevert
from ledger_api.chain.transactor import Transactor
from ledger_api.chain.types import (
    AccessLevel,
    AgreementStatus,
    AnchorKind,
    DisputeKind,
    DisputeOutcome,
    GrantCheck,
    GrantSkip,
    InstitutionType,
    Purpose,
)
from ledger_api.errors import ChainError

TAX = 2
ZERO = b"\x00" * 32


def refused(error_name: str) -> pytest.RaisesExc[ContractRevert]:
    return pytest.raises(ContractRevert, match=rf"^{error_name}\(")


def terms(world: World, institution: str | None = None) -> GrantTerms:
    now = int(time.time())
    return GrantTerms(
        institution or world.bank.address,
        1 << TAX,
        Purpose.LOAN_APPLICATION,
        AccessLevel.QUERY,
        now - 60,
        now + 86400,
    )


def check(world: World, grant_id: int) -> GrantCheck:
    return world.ledger.check_grant(
        grant_id, world.bank.address, TAX, Purpose.LOAN_APPLICATION, AccessLevel.QUERY
    )


def propose(world: World, institution: str, document: int) -> int:
    now = int(time.time())
    return world.ledger.propose_agreement(
        world.operator, institution, 0b1111, 0b11, now - 60, now + 86400, bytes([document]) * 32
    )


# -- 1. agreements ---------------------------------------------------------------------------


def test_a_suspended_institution_cannot_reactivate_itself_by_accepting_a_pending_proposal(
    world: World,
) -> None:
    grant_id = world.ledger.issue_grant(world.subject_tx[0], terms(world))
    pending = propose(world, world.bank.address, 7)
    world.ledger.transact(world.regulator, "suspendAgreement", world.agreement_id)
    assert check(world, grant_id) == GrantCheck.AGREEMENT_NOT_ACTIVE
    with refused("InstitutionAgreementSuspended"):
        world.ledger.transact(world.bank, "acceptAgreement", pending)
    assert check(world, grant_id) == GrantCheck.AGREEMENT_NOT_ACTIVE
    assert world.ledger.institution(world.bank.address).agreement_id == world.agreement_id
    # Once a regulator lifts the suspension, the pending proposal may be accepted.
    world.ledger.transact(world.regulator, "reinstateAgreement", world.agreement_id)
    world.ledger.transact(world.bank, "acceptAgreement", pending)
    assert check(world, grant_id) == GrantCheck.USABLE


def test_a_superseded_agreement_stops_being_active(world: World) -> None:
    newer = propose(world, world.bank.address, 8)
    receipt = world.ledger.transact(world.bank, "acceptAgreement", newer)
    assert world.ledger.agreement(world.agreement_id).status == AgreementStatus.SUPERSEDED
    assert world.ledger.agreement(newer).status == AgreementStatus.ACTIVE
    (event,) = world.ledger.events(receipt, "AgreementSuperseded")
    assert event["args"]["agreementId"] == world.agreement_id
    assert event["args"]["byAgreementId"] == newer
    with refused("AgreementNotActive"):  # a regulator acts on the agreement in force
        world.ledger.transact(world.regulator, "suspendAgreement", world.agreement_id)


def test_the_operator_withdraws_a_proposal_and_it_can_no_longer_be_accepted(world: World) -> None:
    proposal = propose(world, world.bank.address, 9)
    for outsider in (world.regulator, world.bank, world.governance):
        with refused("AccessControlUnauthorizedAccount"):
            world.ledger.withdraw_proposal(outsider, proposal)
    world.ledger.withdraw_proposal(world.operator, proposal)
    assert world.ledger.agreement(proposal).status == AgreementStatus.WITHDRAWN
    with refused("AgreementNotProposed"):
        world.ledger.transact(world.bank, "acceptAgreement", proposal)
    with refused("AgreementNotProposed"):  # only a pending proposal can be withdrawn
        world.ledger.withdraw_proposal(world.operator, world.agreement_id)


# -- 2. anchors ------------------------------------------------------------------------------


def test_a_provider_cannot_squat_the_operators_access_log_root(world: World) -> None:
    root = keccak(b"the operator's next access-log root")
    world.ledger.anchor(world.provider, AnchorKind.DATA_BATCH, root, 3, ZERO)
    squatted = world.ledger.anchor_of(root)
    with refused("RootAnchoredByOther"):  # no silent "success" that anchored nothing
        world.ledger.confirm_anchors(
            world.operator,
            world.ledger.send_anchors(
                world.operator,
                AnchorKind.ACCESS_LOG,
                [(keccak(b"fresh"), 1, ZERO), (root, 9, ZERO)],
            ),
        )
    with refused("RootAnchoredByOther"):
        world.ledger.anchor(world.operator, AnchorKind.ACCESS_LOG, root, 9, ZERO)
    assert world.ledger.anchor_of(root) == squatted
    assert world.ledger.anchor_of(keccak(b"fresh")) is None  # the refused call did nothing


def test_anchor_many_refuses_a_root_another_provider_anchored(world: World) -> None:
    root = keccak(b"provider A's batch")
    world.ledger.anchor(world.provider, AnchorKind.DATA_BATCH, root, 3, ZERO)
    world.ledger.grant_role(world.operator, "PROVIDER_ROLE", world.bank_b.address)
    with refused("RootAnchoredByOther"):
        world.ledger.confirm_anchors(
            world.bank_b,
            world.ledger.send_anchors(world.bank_b, AnchorKind.DATA_BATCH, [(root, 3, ZERO)]),
        )


# -- 3. disputes -----------------------------------------------------------------------------


def _batch_of(world: World, records: list[RecordLeaf]) -> tuple[bytes, list[list[bytes]]]:
    from ledger_api.anchoring.merkle import MerkleTree

    tree = MerkleTree([leaf_of(r) for r in records])
    world.ledger.anchor(world.provider, AnchorKind.DATA_BATCH, tree.root, len(records), ZERO)
    return tree.root, [tree.proof(i) for i in range(len(records))]


def _open(
    world: World, sender: Transactor, root: bytes, record: RecordLeaf, proof: list[bytes]
) -> TxReceipt:
    return world.ledger.transact(
        sender, "openDispute", int(DisputeKind.OBJECTION), root, record.as_tuple(), proof, ZERO
    )


def test_a_dispute_is_bound_to_a_real_record_of_the_disputing_subject(world: World) -> None:
    mine, theirs = subject_record(world.subject_ids[0], 1), subject_record(world.subject_ids[1], 2)
    root, proofs = _batch_of(world, [mine, theirs])
    with refused("NotSubjectsRecord"):  # subject 0 disputes subject 1's record
        _open(world, world.subject_tx[0], root, theirs, proofs[1])
    # The root itself (an inner node) is no leaf: nothing hashes to it as a record's leaf.
    assert world.ledger.verify_inclusion(root, root, [])
    forged = RecordLeaf(root, root, world.subject_ids[0], 0, root)
    with refused("RecordNotInAnchor"):
        _open(world, world.subject_tx[0], root, forged, [])
    receipt = _open(world, world.subject_tx[0], root, mine, proofs[0])
    (event,) = world.ledger.events(receipt, "DisputeOpened")
    assert bytes(event["args"]["leaf"]) == leaf_of(mine)


def test_a_second_open_dispute_on_the_same_record_is_refused(world: World) -> None:
    record = subject_record(world.subject_ids[0], 3)
    root, proofs = _batch_of(world, [record, subject_record(world.subject_ids[0], 4)])
    receipt = _open(world, world.subject_tx[0], root, record, proofs[0])
    dispute_id = world.ledger.events(receipt, "DisputeOpened")[0]["args"]["disputeId"]
    with refused("DisputeAlreadyOpen"):
        _open(world, world.subject_tx[0], root, record, proofs[0])
    world.ledger.resolve_dispute(world.operator, dispute_id, DisputeOutcome.REJECTED, ZERO)
    _open(world, world.subject_tx[0], root, record, proofs[0])  # after resolution: allowed again


# -- 4. separation of duties -----------------------------------------------------------------


def test_the_operator_cannot_make_itself_regulator(world: World) -> None:
    with refused("SelfGrantRefused"):
        world.ledger.grant_role(world.operator, "REGULATOR_ROLE", world.operator.address)
    with refused("AccessControlUnauthorizedAccount"):  # it administers no regulators at all
        world.ledger.grant_role(world.operator, "REGULATOR_ROLE", world.bank.address)
    with refused("RolesNotSeparate"):  # not even the governance key can make it one
        world.ledger.grant_role(world.governance, "REGULATOR_ROLE", world.operator.address)
    with refused("SelfGrantRefused"):  # and governance cannot take a duty itself
        world.ledger.grant_role(world.governance, "REGULATOR_ROLE", world.governance.address)
    with refused("RolesNotSeparate"):  # a regulator cannot also be made a provider
        world.ledger.grant_role(world.operator, "PROVIDER_ROLE", world.regulator.address)
    assert not world.ledger.has_role("REGULATOR_ROLE", world.operator.address)
    with refused("AccessControlUnauthorizedAccount"):
        world.ledger.transact(world.operator, "suspendInstitution", world.bank.address)


def test_role_administration_is_a_separate_governance_key_handed_on_only_after_a_delay(
    world: World,
) -> None:
    deployment = world.ledger.deployment
    assert deployment.governance == world.governance.address != deployment.operator
    assert deployment.contract_version == CONTRACT_VERSION
    functions = world.ledger.contract.functions
    assert functions.defaultAdmin().call() == world.governance.address
    assert functions.defaultAdminDelay().call() == deployment.governance_delay_s > 0
    assert not functions.hasRole(ZERO, world.operator.address).call()  # 0x00: DEFAULT_ADMIN_ROLE
    successor = Transactor(world.w3, Account.from_key((9).to_bytes(32, "big")))
    world.ledger.transact(world.governance, "beginDefaultAdminTransfer", successor.address)
    with refused("AccessControlEnforcedDefaultAdminDelay"):
        world.ledger.transact(successor, "acceptDefaultAdminTransfer")
    # The operator can never become the governance key, even once the delay has passed.
    world.ledger.transact(world.governance, "beginDefaultAdminTransfer", world.operator.address)
    tester = world.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    head = world.w3.eth.get_block("latest")["timestamp"]
    tester.time_travel(head + deployment.governance_delay_s + 10)
    with refused("RolesNotSeparate"):
        world.ledger.transact(world.operator, "acceptDefaultAdminTransfer")
    assert functions.defaultAdmin().call() == world.governance.address


# -- 5. batches ------------------------------------------------------------------------------


def test_one_unusable_item_does_not_sink_a_batch(world: World) -> None:
    key0, key1, key2 = world.subject_keys
    signed = [world.ledger.sign_grant(k, terms(world)) for k in (key0, key1, key2)]
    # Anyone relays item 1 alone, in its 65-byte form: its nonce is spent.
    (alone,) = world.ledger.relay_grants(world.operator, [signed[1]])
    # Subject 0 raises its nonce: its signed item can no longer be used either.
    world.ledger.transact(world.subject_tx[0], "increaseNonce", 5)
    relayed = world.ledger.relay_grant_batch(world.operator, signed)
    assert [(s.index, s.reason) for s in relayed.skipped] == [
        (0, GrantSkip.SIGNATURE_OR_NONCE_INVALID),
        (1, GrantSkip.SIGNATURE_OR_NONCE_INVALID),
    ]
    assert relayed.grant_ids == [alone + 1]
    assert world.ledger.grant(alone + 1).subject_index == 3
    assert world.ledger.nonce_of(key2.address) == 2  # only the issued item spent its nonce


def test_a_batch_skips_unbound_signers_passed_deadlines_and_unknown_institutions(
    world: World,
) -> None:
    stranger = Account.create()
    items = [
        world.ledger.sign_grant(stranger, terms(world), nonce=0),
        world.ledger.sign_grant(world.subject_keys[0], terms(world), deadline=1),
        world.ledger.sign_grant(world.subject_keys[1], terms(world, stranger.address)),
        world.ledger.sign_grant(world.subject_keys[2], terms(world)),
    ]
    relayed = world.ledger.relay_grant_batch(world.operator, items)
    assert [(s.index, s.reason) for s in relayed.skipped] == [
        (0, GrantSkip.NOT_A_SUBJECT),
        (1, GrantSkip.DEADLINE_PASSED),
        (2, GrantSkip.UNKNOWN_INSTITUTION),
    ]
    assert len(relayed.grant_ids) == 1 and check(world, relayed.grant_ids[0]) == GrantCheck.USABLE


# -- 6. nonces -------------------------------------------------------------------------------


def test_a_nonce_cannot_be_raised_to_its_ceiling(world: World) -> None:
    subject, key = world.subject_tx[0], world.subject_keys[0]
    current = world.ledger.nonce_of(key.address)
    with refused("NonceRaiseTooLarge"):
        world.ledger.transact(subject, "increaseNonce", 2**64 - 1)
    with refused("NonceRaiseTooLarge"):
        world.ledger.transact(subject, "increaseNonce", current + 2**32 + 1)
    world.ledger.transact(subject, "increaseNonce", current + 2**32)
    # The account still signs: its next request uses the raised nonce.
    signed = world.ledger.sign_grant(key, terms(world))
    (grant_id,) = world.ledger.relay_grants(world.operator, [signed])
    assert check(world, grant_id) == GrantCheck.USABLE


def test_registering_the_zero_address_as_an_institution_is_refused(world: World) -> None:
    with refused("ZeroAddress"):
        world.ledger.register_institution(
            world.operator, "0x" + "00" * 20, InstitutionType.BANK, "Nobody"
        )


# -- the deployment record names the contract version ----------------------------------------


def test_a_deployment_record_of_an_unknown_contract_version_is_refused(
    world: World, tmp_path: Path
) -> None:
    record = tmp_path / "deployment.json"
    world.ledger.deployment.save(record)
    assert Deployment.load(record) == world.ledger.deployment
    fields = json.loads(record.read_text())
    for version in (None, "1.0.0", "9.9.9"):
        if version is None:
            fields.pop("contract_version", None)
        else:
            fields["contract_version"] = version
        record.write_text(json.dumps(fields))
        with pytest.raises(ChainError) as caught:
            Deployment.load(record)
        assert caught.value.code == "unknown_contract_version"
        assert "docs/upgrading.md" in str(caught.value) and "\n" not in str(caught.value)


def test_a_record_pointing_at_an_unversioned_contract_is_refused(world: World) -> None:
    wallet = load_artifact("ContractWallet", TEST_ARTIFACTS)
    factory = world.w3.eth.contract(abi=wallet["abi"], bytecode=wallet["bytecode"])
    receipt = world.operator.deploy(factory, world.operator.address)
    lookalike = Deployment(
        **{**world.ledger.deployment.__dict__, "address": receipt["contractAddress"]}
    )
    with pytest.raises(ChainError) as caught:
        check_deployment(world.w3, lookalike)
    assert caught.value.code == "unknown_contract_version"


def test_a_record_whose_receivables_contract_is_another_version_is_refused(world: World) -> None:
    assert world.ledger.deployment.receivables
    check_deployment(world.w3, world.ledger.deployment)  # the deployed pair passes
    # The ledger itself answers CONTRACT_VERSION with its own version, not Receivables 1.1.0.
    lookalike = Deployment(
        **{**world.ledger.deployment.__dict__, "receivables": world.ledger.deployment.address}
    )
    with pytest.raises(ChainError) as caught:
        check_deployment(world.w3, lookalike)
    assert caught.value.code == "unknown_contract_version"
    assert "Receivables" in str(caught.value) and "docs/upgrading.md" in str(caught.value)
