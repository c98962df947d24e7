"""Would the institution be able to use this grant? Checked before anything is signed.

A grant is only usable while the institution is not suspended and its data-sharing agreement is
active and covers the grant's categories and purpose (``ledger_api.chain.grant_rules``). The
contract accepts a grant that fails these tests, so without this check an enterprise could sign
a grant that is dead from the start. The facts come from the chain: the node given with
``--chain-url``/``--rpc``, else the platform's public institution directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ledger_api.chain.types import AgreementStatus, Purpose, bits_of

if TYPE_CHECKING:
    from ledger_api.api import schemas
    from wallet_cli.chain import Node


@dataclass(frozen=True)
class Agreement:
    agreement_id: int
    categories: int
    purposes: int
    not_before: int
    not_after: int
    status: str


@dataclass(frozen=True)
class Standing:
    """An institution's suspension and agreement; ``agreement`` None when it has none, or when
    the source could not tell (``agreement_known`` False: an older platform)."""

    suspended: bool
    agreement_id: int
    agreement: Agreement | None
    agreement_known: bool = True


def standing_from_directory(found: schemas.InstitutionOut) -> Standing:
    terms = getattr(found, "agreement", None)
    agreement = None
    if terms is not None:
        agreement = Agreement(
            found.agreement_id,
            terms.categories,
            terms.purposes,
            terms.not_before,
            terms.not_after,
            terms.status,
        )
    known = found.agreement_id == 0 or agreement is not None
    return Standing(found.suspended, found.agreement_id, agreement, known)


def standing_from_node(node: Node, address: str) -> Standing:
    from wallet_cli.chain import node_errors

    with node_errors(node.url):
        state = node.ledger.institution(address)
        if state.agreement_id == 0:
            return Standing(state.suspended, 0, None)
        terms = node.ledger.agreement(state.agreement_id)
    agreement = Agreement(
        state.agreement_id,
        terms.categories,
        terms.purposes,
        terms.not_before,
        terms.not_after,
        AgreementStatus(terms.status).name.lower(),
    )
    return Standing(state.suspended, state.agreement_id, agreement)


def grant_problems(
    standing: Standing,
    categories: dict[str, int],
    purpose: Purpose,
    not_before: int,
    now: int,
) -> list[str]:
    """Why the institution could not use a grant of ``categories`` (name -> bit mask) for
    ``purpose``; empty when it could."""
    from wallet_cli.terms import utc_time

    problems = []
    if standing.suspended:
        problems.append("the institution is suspended: it cannot use any grant")
    agreement = standing.agreement
    if standing.agreement_id == 0:
        problems.append(
            "the institution has no data-sharing agreement: it cannot use any grant yet"
        )
    if agreement is None:
        return problems
    if agreement.status != "active":
        problems.append(
            f"its agreement #{agreement.agreement_id} is {agreement.status}, not active"
        )
    elif now >= agreement.not_after:
        problems.append(
            f"its agreement #{agreement.agreement_id} ended on {utc_time(agreement.not_after)}"
        )
    elif max(now, not_before) < agreement.not_before:
        problems.append(
            f"its agreement #{agreement.agreement_id} starts only on "
            f"{utc_time(agreement.not_before)}"
        )
    uncovered = [
        name
        for name, mask in categories.items()
        if any(not agreement.categories >> bit & 1 for bit in bits_of(mask))
    ]
    if uncovered:
        problems.append(
            f"its agreement does not cover {', '.join(uncovered)}: it could never read "
            f"{'it' if len(uncovered) == 1 else 'them'} under this grant"
        )
    if not agreement.purposes >> int(purpose) & 1:
        problems.append(
            f"its agreement does not allow the purpose {purpose.name.lower()}: "
            "the grant could never be used"
        )
    return problems
