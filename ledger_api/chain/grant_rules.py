"""The canonical grant check, in Python.

This is the twin of ``Grants.checkGrant`` in contracts/Grants.sol: same rules, same order, same
result codes. The API's gate runs it over the indexer's replica of chain state; strict mode asks
the contract instead. A property test feeds both the same states and requires equal answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger_api.chain.types import AccessLevel, AgreementStatus, GrantCheck, Purpose


@dataclass(frozen=True)
class GrantState:
    grant_id: int
    subject_index: int
    institution_index: int
    categories: int
    purpose: Purpose
    level: AccessLevel
    not_before: int
    not_after: int
    max_uses: int
    revoked: bool


@dataclass(frozen=True)
class InstitutionState:
    index: int
    suspended: bool
    agreement_id: int


@dataclass(frozen=True)
class AgreementState:
    categories: int
    purposes: int
    not_before: int
    not_after: int
    status: AgreementStatus


@dataclass(frozen=True)
class AccessRequest:
    category: int
    purpose: Purpose
    level: AccessLevel


def check_grant(
    grant: GrantState | None,
    institution: InstitutionState | None,
    agreement: AgreementState | None,
    request: AccessRequest,
    now: int,
    used_count: int,
) -> GrantCheck:
    """Why ``grant`` may not be used for ``request`` at ``now``, or ``GrantCheck.USABLE``."""
    if grant is None:
        return GrantCheck.UNKNOWN_GRANT
    if grant.revoked:
        return GrantCheck.REVOKED
    if institution is None or institution.index == 0:
        return GrantCheck.UNKNOWN_INSTITUTION
    if institution.index != grant.institution_index:
        return GrantCheck.WRONG_INSTITUTION
    if institution.suspended:
        return GrantCheck.INSTITUTION_SUSPENDED
    if now < grant.not_before:
        return GrantCheck.NOT_YET_VALID
    if now >= grant.not_after:
        return GrantCheck.EXPIRED
    if not 0 <= request.category < 32 or not grant.categories >> request.category & 1:
        return GrantCheck.CATEGORY_NOT_GRANTED
    if request.purpose != grant.purpose:
        return GrantCheck.PURPOSE_MISMATCH
    if request.level > grant.level:
        return GrantCheck.LEVEL_TOO_LOW
    if institution.agreement_id == 0 or agreement is None:
        return GrantCheck.NO_AGREEMENT
    if (
        agreement.status != AgreementStatus.ACTIVE
        or now < agreement.not_before
        or now >= agreement.not_after
    ):
        return GrantCheck.AGREEMENT_NOT_ACTIVE
    if not agreement.categories >> request.category & 1:
        return GrantCheck.CATEGORY_NOT_IN_AGREEMENT
    if not agreement.purposes >> int(request.purpose) & 1:
        return GrantCheck.PURPOSE_NOT_IN_AGREEMENT
    if grant.max_uses != 0 and used_count >= grant.max_uses:
        return GrantCheck.USAGE_CAP_REACHED
    return GrantCheck.USABLE
