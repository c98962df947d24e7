"""Read-only view of chain state that the API's grant gate and auth need.

Two implementations answer the same questions:
- ``indexer.replica.ReplicaState``: the indexer's SQL replica (fast; the default), and
- ``ledger_api.chain.direct_state.DirectChainState``: the contract itself (strict mode).
The gate never cares which one it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ledger_api.chain.grant_rules import AgreementState, GrantState, InstitutionState
from ledger_api.chain.types import AgreementStatus, InstitutionType


@dataclass(frozen=True)
class InstitutionProfile:
    address: str
    index: int
    kind: InstitutionType
    name: str
    suspended: bool
    agreement_id: int


@dataclass(frozen=True)
class AgreementRecord:
    """An agreement with everything its institution is shown (AgreementState is what the
    grant check needs)."""

    agreement_id: int
    institution: str
    categories: int
    purposes: int
    not_before: int
    not_after: int
    document_hash: bytes
    status: AgreementStatus


@dataclass(frozen=True)
class SubjectBinding:
    subject_id: bytes
    subject_index: int
    account: str


@dataclass(frozen=True)
class StatePoint:
    """The chain position a state reader reflects."""

    block_number: int
    block_timestamp: int


@dataclass(frozen=True)
class DecisionInputs:
    """Everything a grant-checked read's decision looks up, read in one statement (see
    ``indexer.decision_inputs``): the position, the asking institution and its agreement, the
    subject, the grant, and the allowed uses logged under the grant (0 unless it caps uses)."""

    position: StatePoint
    institution: InstitutionProfile | None
    agreement: AgreementState | None
    subject: SubjectBinding | None
    grant: GrantState | None
    uses: int
    # The access log's last entry id in the read that counted ``uses`` (where the gate's rows
    # answered it): a gate mirror counts later uses from there (``indexer.gate_mirror``).
    log_horizon: int | None = None


class ChainState(Protocol):
    def position(self) -> StatePoint:
        """Block up to which this state is known (the replica's checkpoint, or the head)."""
        ...

    def grant(self, grant_id: int) -> GrantState | None: ...

    def grants_of_subject(self, subject_index: int) -> list[GrantState]: ...

    def grants_of_institution(self, address: str) -> list[GrantState]:
        """Every grant naming the institution, revoked ones included, by grant id."""
        ...

    def agreements_of_institution(self, address: str) -> list[AgreementRecord]:
        """Every agreement proposed to the institution, by agreement id."""
        ...

    def institution(self, address: str) -> InstitutionProfile | None: ...

    def institution_at(self, index: int) -> InstitutionProfile | None: ...

    def agreement(self, agreement_id: int) -> AgreementState | None: ...

    def subject_by_account(self, address: str) -> SubjectBinding | None: ...

    def subject_by_id(self, subject_id: bytes) -> SubjectBinding | None: ...

    def subject_by_index(self, subject_index: int) -> SubjectBinding | None: ...

    def roles_of(self, address: str) -> set[str]:
        """Subset of {"operator", "provider", "regulator"} held by ``address``."""
        ...

    def open_dispute_leaves(self, subject_index: int) -> set[bytes]:
        """Leaves of the subject's records under an open objection/repair request."""
        ...

    def hidden_leaves(self, subject_index: int) -> set[bytes]:
        """Leaves of records no longer shown: objection upheld or credit repaired."""
        ...


class DelegatingState:
    """Every ``ChainState`` question answered by ``inner``: the base of a state that answers
    a few itself (a decision's prefetched inputs, the gate mirror's)."""

    def __init__(self, inner: ChainState) -> None:
        self.inner = inner

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


def institution_state(profile: InstitutionProfile | None) -> InstitutionState | None:
    if profile is None:
        return None
    return InstitutionState(profile.index, profile.suspended, profile.agreement_id)
