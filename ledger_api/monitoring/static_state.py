"""A fixed, in-memory ``ChainState``: the alerts benchmark and database-only tests give the
fan-out and delivery checks a chain state without a chain."""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger_api.chain.grant_rules import AgreementState, GrantState
from ledger_api.chain.state import (
    AgreementRecord,
    InstitutionProfile,
    StatePoint,
    SubjectBinding,
)


@dataclass
class StaticChainState:
    now: int
    institutions: dict[str, InstitutionProfile] = field(default_factory=dict)
    agreements: dict[int, AgreementState] = field(default_factory=dict)
    subjects: dict[bytes, SubjectBinding] = field(default_factory=dict)
    grants: dict[int, GrantState] = field(default_factory=dict)
    _by_subject: dict[int, list[GrantState]] = field(default_factory=dict)

    def add_grant(self, grant: GrantState) -> None:
        self.grants[grant.grant_id] = grant
        self._by_subject.setdefault(grant.subject_index, []).append(grant)

    def position(self) -> StatePoint:
        return StatePoint(1, self.now)

    def grant(self, grant_id: int) -> GrantState | None:
        return self.grants.get(grant_id)

    def grants_of_subject(self, subject_index: int) -> list[GrantState]:
        return list(self._by_subject.get(subject_index, ()))

    def grants_of_institution(self, address: str) -> list[GrantState]:
        profile = self.institutions.get(address)
        if profile is None:
            return []
        found = [g for g in self.grants.values() if g.institution_index == profile.index]
        return sorted(found, key=lambda g: g.grant_id)

    def agreements_of_institution(self, address: str) -> list[AgreementRecord]:
        return []  # the benchmark and tests read agreements by id only

    def institution(self, address: str) -> InstitutionProfile | None:
        return self.institutions.get(address)

    def institution_at(self, index: int) -> InstitutionProfile | None:
        for profile in self.institutions.values():
            if profile.index == index:
                return profile
        return None

    def agreement(self, agreement_id: int) -> AgreementState | None:
        return self.agreements.get(agreement_id)

    def subject_by_account(self, address: str) -> SubjectBinding | None:
        return next((s for s in self.subjects.values() if s.account == address), None)

    def subject_by_id(self, subject_id: bytes) -> SubjectBinding | None:
        return self.subjects.get(subject_id)

    def subject_by_index(self, subject_index: int) -> SubjectBinding | None:
        return next((s for s in self.subjects.values() if s.subject_index == subject_index), None)

    def roles_of(self, address: str) -> set[str]:
        return set()

    def open_dispute_leaves(self, subject_index: int) -> set[bytes]:
        return set()

    def hidden_leaves(self, subject_index: int) -> set[bytes]:
        return set()
