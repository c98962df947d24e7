"""ReplicaState answers what the contract's views answer, for the world's state."""

from __future__ import annotations

import itertools

import pytest
from activity import everything
from indexer_support import make_indexer
from sqlalchemy import Engine
from web3 import Web3
from world import World

from indexer.replica import ReplicaState
from ledger_api.chain.grant_rules import AccessRequest, check_grant
from ledger_api.chain.state import ChainState, institution_state
from ledger_api.chain.types import AccessLevel, Purpose

STRANGER = "0x000000000000000000000000000000000000bEEF"


@pytest.fixture
def replica(world: World, engine: Engine) -> ReplicaState:
    everything(world)
    make_indexer(world.w3, world.ledger.deployment, engine).run_once()
    return ReplicaState(engine)


def test_replica_state_is_a_chain_state(replica: ReplicaState) -> None:
    state: ChainState = replica
    assert state.position().block_number >= 0


def test_grants_match_the_contract(world: World, replica: ReplicaState) -> None:
    count = world.ledger.contract.functions.grantCount().call()
    assert count >= 4
    for grant_id in range(1, count + 1):
        on_chain = world.ledger.grant(grant_id)
        mine = replica.grant(grant_id)
        assert mine is not None and mine.revoked == on_chain.revoked
        if not on_chain.revoked:  # the contract zeroes a revoked grant's terms; we keep them
            assert mine == on_chain
    assert replica.grant(count + 1) is None
    subject_index = world.ledger.subject_of(world.subject_keys[1].address)[1]
    assert [g.grant_id for g in replica.grants_of_subject(subject_index)] == [2, 3, 4]


def test_institutions_and_agreements_match_the_contract(
    world: World, replica: ReplicaState
) -> None:
    for who in (world.bank, world.bank_b, world.insurer):
        profile = replica.institution(who.address.lower())  # any spelling of the address
        assert profile is not None
        assert institution_state(profile) == world.ledger.institution(who.address)
        assert (profile.name, profile.kind) == world.ledger.institution_profile(who.address)
        assert replica.institution_at(profile.index) == profile
        if profile.agreement_id:
            assert replica.agreement(profile.agreement_id) == world.ledger.agreement(
                profile.agreement_id
            )
    assert replica.institution(STRANGER) is None and replica.institution_at(99) is None
    for agreement_id in range(1, 4):
        assert replica.agreement(agreement_id) == world.ledger.agreement(agreement_id)
    assert replica.agreement(99) is None


def test_subjects_and_roles_match_the_contract(world: World, replica: ReplicaState) -> None:
    for subject_id in world.subject_ids:
        account, index = world.ledger.account_of(subject_id)
        binding = replica.subject_by_id(subject_id)
        assert binding is not None and (binding.account, binding.subject_index) == (account, index)
        assert replica.subject_by_index(index) == binding
        assert replica.subject_by_account(account) == binding
    rebound_from = world.subject_keys[2].address  # rebound: the old address lost its subject
    assert world.ledger.subject_of(rebound_from)[1] == 0
    assert replica.subject_by_account(rebound_from) is None
    for who in (world.operator, world.regulator, world.provider, world.bank, world.bank_b):
        assert replica.roles_of(who.address) == world.ledger.roles_of(who.address)
    assert replica.roles_of(STRANGER) == set()


def test_the_grant_check_over_the_replica_equals_the_contracts(
    world: World, replica: ReplicaState
) -> None:
    count = world.ledger.contract.functions.grantCount().call()
    now = world.w3.eth.get_block("latest")["timestamp"]
    institutions = (world.bank.address, world.bank_b.address, world.insurer.address, STRANGER)
    cases = itertools.product(
        range(1, count + 2),
        institutions,
        (1, 2, 3),
        (Purpose.LOAN_APPLICATION, Purpose.GUARANTEE),
        (AccessLevel.QUERY, AccessLevel.DETAIL),
    )
    for grant_id, institution, category, purpose, level in cases:
        profile = replica.institution(institution)
        agreement = replica.agreement(profile.agreement_id) if profile else None
        mine = check_grant(
            replica.grant(grant_id), institution_state(profile), agreement,
            AccessRequest(category, purpose, level), now, 0,
        )  # fmt: skip
        theirs = world.ledger.check_grant(grant_id, institution, category, purpose, level)
        assert mine == theirs, (grant_id, institution, category, purpose, level)


def test_disputes_and_history_are_answered_at_any_block(world: World, engine: Engine) -> None:
    from activity import anchors_and_disputes, issue_grants

    grants = issue_grants(world)
    make_indexer(world.w3, world.ledger.deployment, engine).run_once()
    before_revocation = world.w3.eth.block_number
    world.ledger.revoke_grant(world.subject_tx[0], grants[0])
    _root, upheld_leaf, open_leaf = anchors_and_disputes(world)
    make_indexer(world.w3, world.ledger.deployment, engine).run_once()
    replica = ReplicaState(engine)
    subject = world.ledger.subject_of(world.subject_keys[0].address)[1]
    assert replica.open_dispute_leaves(subject) == {open_leaf}
    assert replica.hidden_leaves(subject) == {upheld_leaf}
    assert replica.grant(grants[0]).revoked  # type: ignore[union-attr]
    past = replica.at(before_revocation)
    assert not past.grant(grants[0]).revoked  # type: ignore[union-attr]
    assert past.open_dispute_leaves(subject) == set() and past.hidden_leaves(subject) == set()
    assert past.position().block_number == before_revocation
    assert Web3.is_checksum_address(past.institution(world.bank.address).address)  # type: ignore[union-attr]


def test_cached_state_answers_as_of_the_block_it_reports(world: World, engine: Engine) -> None:
    from activity import issue_grants

    from ledger_api.api.context import CachedChainState

    grants = issue_grants(world)
    make_indexer(world.w3, world.ledger.deployment, engine).run_once()
    now = [0.0]
    cached = CachedChainState(ReplicaState(engine), ttl_s=60, clock=lambda: now[0])
    reported = cached.position().block_number
    world.ledger.revoke_grant(world.subject_tx[0], grants[0])
    make_indexer(world.w3, world.ledger.deployment, engine).run_once()  # the replica moves on
    # Looked up for the first time after the revocation was indexed, yet answered as of the
    # block the cache reports: the receipt names that block and the audit replays it there.
    assert cached.position().block_number == reported
    assert not cached.grant(grants[0]).revoked  # type: ignore[union-attr]
    now[0] += 61
    assert cached.position().block_number > reported
    assert cached.grant(grants[0]).revoked  # type: ignore[union-attr]
