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
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
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


def callers(*rightful: str) -> st.SearchStrategy[str]:
    """About half the time an actor entitled to the call, otherwise anyone: enough calls succeed
    for the state to move, and every role keeps trying what it must not do."""
    return st.one_of(st.sampled_from(rightful), st.sampled_from(ACTOR_NAMES))


# Pool root 0 is a real data tree of one record of each subject; the others are bare roots.
POOL_RECORD_NUMBER = 1


def _pool(world: World) -> tuple[list[bytes], list[bytes]]:
    leaves = [leaf_of(subject_record(sid, POOL_RECORD_NUMBER)) for sid in world.subject_ids[:2]]
    roots = [hash_pair(*leaves), *(keccak(b"state-machine-root-%d" % i) for i in range(3))]
    return roots, leaves


@dataclass
class Model:
    """What the test itself knows happened (the chain is asked for everything else)."""

    grants: dict[int, tuple[str, str]] = field(default_factory=dict)  # id -> subject, institution
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

    @initialize()
    def a_grant_per_subject_a_pending_proposal_and_a_data_batch(self) -> None:
        """Start from grants to the bank (usable), a second agreement proposed to the bank (the
        one a suspended bank would accept to step around its suspension) and an anchored batch
        of both subjects' records, so that the random steps meet them from the first step on."""
        for subject in ("subject0", "subject1"):
            self.grant(subject, "bank", AccessLevel.QUERY)
        self.propose("operator", "bank")
        self.anchor("provider", AnchorKind.DATA_BATCH, 0, False)

    # -- rules -----------------------------------------------------------------------------------
    @rule(actor=callers("operator"), institution=st.sampled_from(INSTITUTION_NAMES))
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

    @rule(actor=callers(*INSTITUTION_NAMES), pick=st.integers(0, 8))
    def accept(self, actor: str, pick: int) -> None:
        agreement_id = self.model.agreements[pick % len(self.model.agreements)]
        self.send(actor, "acceptAgreement", agreement_id)

    @rule(
        actor=callers("regulator", "operator"),
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
        actor=callers("regulator"),
        action=st.sampled_from(("suspendInstitution", "reinstateInstitution")),
        institution=st.sampled_from(INSTITUTION_NAMES),
    )
    def change_institution(self, actor: str, action: str, institution: str) -> None:
        if self.send(actor, action, self.address(institution)):
            assert actor == "regulator"

    @rule(actor=callers("operator"), account=st.sampled_from(ACTOR_NAMES))
    def register(self, actor: str, account: str) -> None:
        if self.send(
            actor, "registerInstitution", self.address(account), int(InstitutionType.BANK), "X"
        ):
            assert actor == "operator"

    @rule(
        actor=callers("subject0", "subject1"),
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
            self.model.grants[before + 1] = (actor, institution)

    @rule(actor=callers("subject0", "subject1"), pick=st.integers(0, 8))
    def revoke(self, actor: str, pick: int) -> None:
        if not self.model.grants:
            return
        grant_id = sorted(self.model.grants)[pick % len(self.model.grants)]
        owner = self.model.grants[grant_id][0]
        if self.send(actor, "revokeGrant", grant_id):
            assert actor == owner, f"{actor} revoked {owner}'s grant {grant_id}"
            self.model.revoked_by_owner.add(grant_id)

    @rule(
        actor=callers("provider", "operator"),
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

    @rule(actor=callers("subject0", "subject1"), owner=st.integers(0, 1))
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
        actor=callers("governance", "operator"),
        role=st.sampled_from(ROLES),
        account=st.sampled_from(ACTOR_NAMES),
    )
    def grant_role(self, actor: str, role: str, account: str) -> None:
        held = self.world.ledger.has_role(role, self.address(account))
        if self.send(actor, "grantRole", keccak(text=role), self.address(account)):
            assert actor != account or held, f"{actor} granted itself {role}"

    # -- invariants ------------------------------------------------------------------------------
    @invariant()
    def ledger_invariants(self) -> None:
        """One pass over the chain after each step (eth-tester calls are slow: read each once)."""
        ledger = self.world.ledger
        head = self.world.w3.eth.get_block("latest")["timestamp"]
        request = AccessRequest(2, Purpose.LOAN_APPLICATION, AccessLevel.VERIFY)
        institutions: dict[str, tuple[Any, Any]] = {}
        revoked = set()
        for grant_id, (_owner, institution_name) in self.model.grants.items():
            state = ledger.grant(grant_id)
            if state.revoked:
                revoked.add(grant_id)
            if institution_name not in institutions:
                institution = ledger.institution(self.address(institution_name))
                agreement_id = institution.agreement_id
                institutions[institution_name] = (
                    institution,
                    ledger.agreement(agreement_id) if agreement_id else None,
                )
            institution, agreement = institutions[institution_name]
            on_chain = ledger.check_grant(
                grant_id, self.address(institution_name), 2, request.purpose, request.level
            )
            # The Python twin agrees with the contract.
            assert check_grant(state, institution, agreement, request, head, 0) == on_chain
            # No grant is usable while its institution or its agreement is not in force.
            if on_chain == GrantCheck.USABLE:
                assert not institution.suspended
                assert agreement is not None and agreement.status == AgreementStatus.ACTIVE
        # Only the subject revokes (the revoke rule asserts who succeeded).
        assert revoked == self.model.revoked_by_owner
        # An anchor's kind, submitter and root never change once written.
        for root, first in self.model.anchors.items():
            assert ledger.anchor_of(root) == first
        # Separation of duties, whoever tried what.
        functions = ledger.contract.functions
        operator, governance = self.address("operator"), self.address("governance")
        assert not functions.hasRole(keccak(text="REGULATOR_ROLE"), operator).call()
        assert not functions.hasRole(ADMIN_ROLE, operator).call()
        assert not functions.hasRole(keccak(text="OPERATOR_ROLE"), governance).call()


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
