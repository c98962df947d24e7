"""Random sequences of ledger calls from every role, with the ledger's invariants checked after
each step (issue 24). Bounded (a few short runs on the session's chain) to stay a few seconds.

Every call is sent by an actor chosen at random, allowed or not; whatever the chain accepts,
after every step:

* no grant is usable while its institution or the institution's agreement is suspended or
  terminated (or superseded, withdrawn: anything but Active);
* an anchor's kind, submitter and root never change once written;
* only the subject revokes its grants;
* no role holder grants itself a role, and the operator never becomes a regulator or governance;
* the Python twin of ``checkGrant`` agrees with the contract.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from eth_utils import keccak
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from world import World, leaf_of, subject_record

from ledger_api.anchoring.merkle import hash_pair
from ledger_api.chain.grant_rules import AccessRequest, check_grant
from ledger_api.chain.ledger import AnchorRecord, GrantTerms
from ledger_api.chain.revert import ContractRevert
from ledger_api.chain.transactor import Transactor
from ledger_api.chain.types import (
    AccessLevel,
    AgreementStatus,
    AnchorKind,
    DisputeKind,
    GrantCheck,
    InstitutionType,
    Purpose,
)

ROLES = ("OPERATOR_ROLE", "PROVIDER_ROLE", "REGULATOR_ROLE")
ADMIN_ROLE = b"\x00" * 32
ACTOR_NAMES = (
    "operator", "governance", "regulator", "provider", "bank", "bank_b", "insurer",
    "subject0", "subject1",
)  # fmt: skip
INSTITUTION_NAMES = ("bank", "bank_b", "insurer")
# Pool root 0 is a real data tree of one record of each subject; the others are bare roots.
POOL_RECORD_NUMBER = 1


def _pool(world: World) -> tuple[list[bytes], list[bytes]]:
    leaves = [leaf_of(subject_record(sid, POOL_RECORD_NUMBER)) for sid in world.subject_ids[:2]]
    roots = [hash_pair(*leaves), *(keccak(b"state-machine-root-%d" % i) for i in range(3))]
    return roots, leaves


@dataclass
class Model:
    """What the test itself knows happened (the chain is asked for everything else)."""

    grants: dict[int, int] = field(default_factory=dict)  # grant id -> issuing actor index
    revoked_by_owner: set[int] = field(default_factory=set)
    agreements: list[int] = field(default_factory=list)
    anchors: dict[bytes, AnchorRecord] = field(default_factory=dict)
    open_disputes: set[int] = field(default_factory=set)  # subject numbers with an open dispute


class LedgerMachine(RuleBasedStateMachine):
    world: World  # set by the test before the machine runs

    def __init__(self) -> None:
        super().__init__()
        w = self.world
        self.tester = w.w3.provider.ethereum_tester  # type: ignore[attr-defined]
        self.snapshot = self.tester.take_snapshot()
        self.actors: dict[str, Transactor] = {
            "operator": w.operator,
            "governance": w.governance,
            "regulator": w.regulator,
            "provider": w.provider,
            "bank": w.bank,
            "bank_b": w.bank_b,
            "insurer": w.insurer,
            "subject0": w.subject_tx[0],
            "subject1": w.subject_tx[1],
        }
        self.model = Model(agreements=[w.agreement_id])
        self.roots, self.leaves = _pool(w)
        self.now = int(time.time())

    def teardown(self) -> None:
        self.tester.revert_to_snapshot(self.snapshot)
        self.world.forget_nonces()

    def send(self, actor: str, fn: str, *args: Any, gas: int | None = None) -> bool:
        """Send ``fn`` from ``actor``; True if the chain accepted it, False if it reverted."""
        try:
            self.world.ledger.transact(self.actors[actor], fn, *args, gas=gas)
        except ContractRevert:
            self.actors[actor].forget_nonce()
            return False
        return True

    def address(self, name: str) -> str:
        return self.actors[name].address

    # -- rules -----------------------------------------------------------------------------------
    @rule(actor=st.sampled_from(ACTOR_NAMES), institution=st.sampled_from(INSTITUTION_NAMES))
    def propose(self, actor: str, institution: str) -> None:
        args = (
            self.address(institution),
            0b1111,
            0b11,
            self.now - 60,
            self.now + 86400,
            b"\x07" * 32,
        )
        if self.send(actor, "proposeAgreement", *args):
            assert actor == "operator"
            self.model.agreements.append(len(self.model.agreements) + 1)

    @rule(actor=st.sampled_from(ACTOR_NAMES), pick=st.integers(0, 8))
    def accept(self, actor: str, pick: int) -> None:
        agreement_id = self.model.agreements[pick % len(self.model.agreements)]
        self.send(actor, "acceptAgreement", agreement_id)

    @rule(
        actor=st.sampled_from(ACTOR_NAMES),
        action=st.sampled_from(
            ("suspendAgreement", "reinstateAgreement", "terminateAgreement", "withdrawProposal")
        ),
        pick=st.integers(0, 8),
    )
    def change_agreement(self, actor: str, action: str, pick: int) -> None:
        agreement_id = self.model.agreements[pick % len(self.model.agreements)]
        if self.send(actor, action, agreement_id):
            assert actor == ("operator" if action == "withdrawProposal" else "regulator")

    @rule(
        actor=st.sampled_from(ACTOR_NAMES),
        action=st.sampled_from(("suspendInstitution", "reinstateInstitution")),
        institution=st.sampled_from(INSTITUTION_NAMES),
    )
    def change_institution(self, actor: str, action: str, institution: str) -> None:
        if self.send(actor, action, self.address(institution)):
            assert actor == "regulator"

    @rule(actor=st.sampled_from(ACTOR_NAMES), account=st.sampled_from(ACTOR_NAMES))
    def register(self, actor: str, account: str) -> None:
        if self.send(
            actor, "registerInstitution", self.address(account), int(InstitutionType.BANK), "X"
        ):
            assert actor == "operator"

    @rule(
        actor=st.sampled_from(ACTOR_NAMES),
        institution=st.sampled_from(INSTITUTION_NAMES),
        level=st.sampled_from(list(AccessLevel)),
    )
    def grant(self, actor: str, institution: str, level: AccessLevel) -> None:
        terms = GrantTerms(
            self.address(institution), 0b1100, Purpose.LOAN_APPLICATION, level,
            self.now - 60, self.now + 86400,
        )  # fmt: skip
        before = self.world.ledger.contract.functions.grantCount().call()
        if self.send(actor, "issueGrant", terms.as_tuple()):
            assert actor in ("subject0", "subject1")
            self.model.grants[before + 1] = ACTOR_NAMES.index(actor)

    @rule(actor=st.sampled_from(ACTOR_NAMES), pick=st.integers(0, 8))
    def revoke(self, actor: str, pick: int) -> None:
        if not self.model.grants:
            return
        grant_id = sorted(self.model.grants)[pick % len(self.model.grants)]
        owner = ACTOR_NAMES[self.model.grants[grant_id]]
        if self.send(actor, "revokeGrant", grant_id):
            assert actor == owner, f"{actor} revoked {owner}'s grant {grant_id}"
            self.model.revoked_by_owner.add(grant_id)

    @rule(
        actor=st.sampled_from(ACTOR_NAMES),
        kind=st.sampled_from((AnchorKind.DATA_BATCH, AnchorKind.ACCESS_LOG)),
        pick=st.integers(0, 3),
        many=st.booleans(),
    )
    def anchor(self, actor: str, kind: AnchorKind, pick: int, many: bool) -> None:
        root = self.roots[pick]
        if many:
            self.send(actor, "anchorMany", int(kind), [root], [3], [b"\x00" * 32], gas=200_000)
        else:
            self.send(actor, "anchor", int(kind), root, 3, b"\x00" * 32)
        record = self.world.ledger.anchor_of(root)
        if record is not None:
            self.model.anchors.setdefault(root, record)

    @rule(actor=st.sampled_from(ACTOR_NAMES), owner=st.integers(0, 1))
    def dispute(self, actor: str, owner: int) -> None:
        """Dispute subject ``owner``'s record in pool root 0: only that subject, only once the
        root is anchored as a data batch, and only while no dispute on it is open."""
        record = subject_record(self.world.subject_ids[owner], POOL_RECORD_NUMBER)
        root, proof = self.roots[0], [self.leaves[1 - owner]]
        opened = self.send(
            actor, "openDispute", int(DisputeKind.OBJECTION), root, record.as_tuple(), proof,
            b"\x00" * 32,
        )  # fmt: skip
        anchored = self.model.anchors.get(root)
        allowed = (
            actor == f"subject{owner}"
            and anchored is not None
            and anchored.kind == AnchorKind.DATA_BATCH
            and owner not in self.model.open_disputes
        )
        assert opened == allowed, (actor, owner, anchored)
        if opened:
            self.model.open_disputes.add(owner)

    @rule(
        actor=st.sampled_from(ACTOR_NAMES),
        role=st.sampled_from(ROLES),
        account=st.sampled_from(ACTOR_NAMES),
    )
    def grant_role(self, actor: str, role: str, account: str) -> None:
        held = self.world.ledger.has_role(role, self.address(account))
        if self.send(actor, "grantRole", keccak(text=role), self.address(account)):
            assert actor != account or held, f"{actor} granted itself {role}"

    # -- invariants ------------------------------------------------------------------------------
    @invariant()
    def grants_follow_institution_and_agreement(self) -> None:
        ledger = self.world.ledger
        head = self.world.w3.eth.get_block("latest")["timestamp"]
        request = AccessRequest(2, Purpose.LOAN_APPLICATION, AccessLevel.VERIFY)
        for grant_id in self.model.grants:
            state = ledger.grant(grant_id)
            # Its own institution, unless revoked (then the word is empty): the first one.
            index = state.institution_index or 1
            address = ledger.contract.functions.institutionAt(index).call()
            institution = ledger.institution(address)
            agreement = (
                ledger.agreement(institution.agreement_id) if institution.agreement_id else None
            )
            on_chain = ledger.check_grant(
                grant_id, address, 2, Purpose.LOAN_APPLICATION, AccessLevel.VERIFY
            )
            assert check_grant(state, institution, agreement, request, head, 0) == on_chain
            if on_chain == GrantCheck.USABLE:
                assert not institution.suspended
                assert agreement is not None and agreement.status == AgreementStatus.ACTIVE

    @invariant()
    def only_subjects_revoke(self) -> None:
        revoked = {g for g in self.model.grants if self.world.ledger.grant(g).revoked}
        assert revoked == self.model.revoked_by_owner

    @invariant()
    def anchors_never_change(self) -> None:
        for root, first in self.model.anchors.items():
            assert self.world.ledger.anchor_of(root) == first

    @invariant()
    def duties_stay_apart(self) -> None:
        ledger = self.world.ledger
        operator = self.address("operator")
        assert not ledger.has_role("REGULATOR_ROLE", operator)
        assert not ledger.contract.functions.hasRole(ADMIN_ROLE, operator).call()
        governance = self.address("governance")
        assert ledger.roles_of(governance) == set()


def test_random_call_sequences_from_every_role_keep_the_ledger_invariants(world: World) -> None:
    LedgerMachine.world = world
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=4,
            stateful_step_count=12,
            deadline=None,
            derandomize=True,
            phases=(Phase.generate,),  # no shrinking: a failure prints its steps as found
            suppress_health_check=list(HealthCheck),
        ),
    )
