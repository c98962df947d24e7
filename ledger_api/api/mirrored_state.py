"""The API's chain state with the gate's decisions answered by the gate mirror.

``MirroredState`` is the cached state (``CachedChainState``) for every question but a
grant-checked read's decision inputs: those come from the process's ``GateMirror`` when it holds
them, and otherwise from one read of the replica (unpinned: the read's own checkpoint is the
position the decision names), which the mirror then holds (``indexer.gate_mirror``).
"""

from __future__ import annotations

from indexer.gate_mirror import GateMirror
from indexer.replica import ReplicaState
from ledger_api.chain.grant_rules import AgreementState, GrantState
from ledger_api.chain.state import (
    AgreementRecord,
    ChainState,
    DecisionInputs,
    InstitutionProfile,
    StatePoint,
    SubjectBinding,
)


class MirroredState:
    """``inner`` with decision inputs from ``mirror``, or read from ``replica`` and held."""

    def __init__(self, inner: ChainState, mirror: GateMirror, replica: ReplicaState) -> None:
        self.inner = inner
        self.mirror = mirror
        self.replica = replica

    def decision_inputs(self, address: str, subject_id: bytes, grant_id: int) -> DecisionInputs:
        held = self.mirror.lookup(address, subject_id, grant_id)
        if held is not None:
            return held
        epoch = self.mirror.epoch()
        inputs = self.replica.decision_inputs(address, subject_id, grant_id)
        self.mirror.remember(address, inputs, epoch)
        return inputs

    # -- the rest of ChainState, from the cached state -----------------------------------------
    def position(self) -> StatePoint:
        return self.inner.position()

    def grant(self, grant_id: int) -> GrantState | None:
        return self.inner.grant(grant_id)

    def grants_of_subject(self, subject_index: int) -> list[GrantState]:
        return self.inner.grants_of_subject(subject_index)

    def grants_of_institution(self, address: str) -> list[GrantState]:
        return self.inner.grants_of_institution(address)

    def agreements_of_institution(self, address: str) -> list[AgreementRecord]:
        return self.inner.agreements_of_institution(address)

    def institution(self, address: str) -> InstitutionProfile | None:
        return self.inner.institution(address)

    def institution_at(self, index: int) -> InstitutionProfile | None:
        return self.inner.institution_at(index)

    def agreement(self, agreement_id: int) -> AgreementState | None:
        return self.inner.agreement(agreement_id)

    def subject_by_account(self, address: str) -> SubjectBinding | None:
        return self.inner.subject_by_account(address)

    def subject_by_id(self, subject_id: bytes) -> SubjectBinding | None:
        return self.inner.subject_by_id(subject_id)

    def subject_by_index(self, subject_index: int) -> SubjectBinding | None:
        return self.inner.subject_by_index(subject_index)

    def roles_of(self, address: str) -> set[str]:
        return self.inner.roles_of(address)

    def open_dispute_leaves(self, subject_index: int) -> set[bytes]:
        return self.inner.open_dispute_leaves(subject_index)

    def hidden_leaves(self, subject_index: int) -> set[bytes]:
        return self.inner.hidden_leaves(subject_index)
