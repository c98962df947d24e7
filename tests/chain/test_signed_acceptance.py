"""acceptAgreementBySig: an institution accepts its agreement by signature, the platform pays."""

from __future__ import annotations

import time

import pytest
from world import World

from ledger_api.chain.revert import ContractRevert
from ledger_api.chain.types import AgreementStatus


def refused(error_name: str) -> pytest.RaisesExc[ContractRevert]:
    return pytest.raises(ContractRevert, match=rf"^{error_name}\(")


def propose_for_insurer(world: World, seed: int = 7) -> int:
    now = int(time.time())
    return world.ledger.propose_agreement(
        world.operator, world.insurer.address, 1, 1, now - 60, now + 86400, bytes([seed]) * 32
    )


def test_a_relayed_acceptance_activates_the_agreement_and_names_the_institution(
    world: World,
) -> None:
    agreement = propose_for_insurer(world)
    deadline, signature = world.ledger.sign_acceptance(world.insurer.account, agreement)
    receipt = world.ledger.relay_acceptance(world.operator, agreement, 0, deadline, signature)
    accepted = world.ledger.events(receipt, "AgreementAccepted")[0]["args"]
    assert accepted["institution"] == world.insurer.address
    assert world.ledger.agreement(agreement).status == AgreementStatus.ACTIVE
    assert world.ledger.institution(world.insurer.address).agreement_id == agreement
    assert world.ledger.acceptance_nonce(world.insurer.address) == 1


def test_a_replayed_acceptance_is_refused_for_its_used_nonce(world: World) -> None:
    agreement = propose_for_insurer(world)
    deadline, signature = world.ledger.sign_acceptance(world.insurer.account, agreement)
    world.ledger.relay_acceptance(world.operator, agreement, 0, deadline, signature)
    with refused("AcceptanceNonceUsed"):
        world.ledger.relay_acceptance(world.operator, agreement, 0, deadline, signature)


def test_a_signature_made_stale_by_a_direct_acceptance_is_refused(world: World) -> None:
    first, second = propose_for_insurer(world, 7), propose_for_insurer(world, 8)
    deadline, signature = world.ledger.sign_acceptance(world.insurer.account, second)
    world.ledger.transact(world.insurer, "acceptAgreement", first)
    with refused("AcceptanceNonceUsed"):
        world.ledger.relay_acceptance(world.operator, second, 0, deadline, signature)
    assert world.ledger.agreement(second).status == AgreementStatus.PROPOSED


def test_someone_elses_signature_does_not_accept_the_agreement(world: World) -> None:
    agreement = propose_for_insurer(world)
    deadline, signature = world.ledger.sign_acceptance(world.bank.account, agreement, nonce=0)
    with refused("SignatureInvalid"):
        world.ledger.relay_acceptance(world.operator, agreement, 0, deadline, signature)
    assert world.ledger.agreement(agreement).status == AgreementStatus.PROPOSED


def test_an_acceptance_past_its_deadline_is_refused(world: World) -> None:
    agreement = propose_for_insurer(world)
    deadline, signature = world.ledger.sign_acceptance(
        world.insurer.account, agreement, deadline=int(time.time()) - 10
    )
    with refused("SignatureDeadlinePassed"):
        world.ledger.relay_acceptance(world.operator, agreement, 0, deadline, signature)


def test_a_suspended_institutions_signed_acceptance_is_refused(world: World) -> None:
    agreement = propose_for_insurer(world)
    world.ledger.transact(world.regulator, "suspendInstitution", world.insurer.address)
    deadline, signature = world.ledger.sign_acceptance(world.insurer.account, agreement)
    with refused("AcceptingInstitutionSuspended"):
        world.ledger.relay_acceptance(world.operator, agreement, 0, deadline, signature)
    assert world.ledger.agreement(agreement).status == AgreementStatus.PROPOSED
