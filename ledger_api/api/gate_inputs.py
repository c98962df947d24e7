"""A decision's look-ups answered from one read: ``prefetched(state, ...)``.

A grant-checked read (records, verify, score) asks the chain state for the position, the
institution, its agreement, the subject and the grant, and counts the grant's uses: on the
indexer's replica one statement reads them all (``ChainState.decision_inputs``, where a state
offers it). ``PrefetchedState`` answers the decision's own look-ups from that read and passes
every other question to the state it wraps, so the gate's checks and their order stay as
they are.
"""

from __future__ import annotations

from ledger_api.chain.grant_rules import AgreementState, GrantState
from ledger_api.chain.state import (
    ChainState,
    DecisionInputs,
    DelegatingState,
    InstitutionProfile,
    StatePoint,
    SubjectBinding,
)


class PrefetchedState(DelegatingState):
    """``inner`` with one decision's look-ups answered from ``inputs``."""

    def __init__(
        self,
        inner: ChainState,
        inputs: DecisionInputs,
        *,
        address: str,
        subject_id: bytes,
        grant_id: int,
    ) -> None:
        super().__init__(inner)
        self.inputs = inputs
        self._address = address
        self._subject_id = subject_id
        self._grant_id = grant_id

    def position(self) -> StatePoint:
        return self.inputs.position

    def institution(self, address: str) -> InstitutionProfile | None:
        if address == self._address:
            return self.inputs.institution
        return self.inner.institution(address)

    def agreement(self, agreement_id: int) -> AgreementState | None:
        profile = self.inputs.institution
        if profile is not None and agreement_id == profile.agreement_id:
            return self.inputs.agreement
        return self.inner.agreement(agreement_id)

    def subject_by_id(self, subject_id: bytes) -> SubjectBinding | None:
        if subject_id == self._subject_id:
            return self.inputs.subject
        return self.inner.subject_by_id(subject_id)

    def grant(self, grant_id: int) -> GrantState | None:
        if grant_id == self._grant_id:
            return self.inputs.grant
        return self.inner.grant(grant_id)

    def uses(self, grant_id: int) -> int | None:
        """Allowed uses logged under ``grant_id`` as read with the rest, if it was read."""
        return self.inputs.uses if grant_id == self._grant_id else None


def prefetched(state: ChainState, address: str, subject_id: bytes, grant_id: int) -> ChainState:
    """``state`` with this decision's look-ups read in one go when it can (else ``state``)."""
    read = getattr(state, "decision_inputs", None)
    if read is None:
        return state
    inputs: DecisionInputs | None = read(address, subject_id, grant_id)
    if inputs is None:  # e.g. everything is cached already: only the uses are counted
        return state
    return PrefetchedState(state, inputs, address=address, subject_id=subject_id, grant_id=grant_id)
