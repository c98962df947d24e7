"""An institution's own affairs: its agreements (and accepting one without gas) and the grants
naming it, each checked by the canonical grant check before the institution queries.

None of these reads subject data, so none writes a data-access entry; a refusal is audited as
every refusal is (``ledger_api.api.refusals``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from sqlalchemy.exc import NoResultFound

from ledger_api.accesslog import used_count
from ledger_api.api.auth import Actor, ContextDep, InstitutionDep
from ledger_api.api.context import AppContext
from ledger_api.api.gate import parse_level, parse_purpose
from ledger_api.api.institution_schemas import (
    AcceptanceIn,
    AcceptanceOut,
    AcceptanceToSign,
    GrantCheckOut,
    GrantUsability,
    GrantWindow,
    InstitutionAgreement,
    InstitutionGrant,
    Named,
    Term,
)
from ledger_api.api.problems import PROBLEMS
from ledger_api.catalog.loader import Catalog
from ledger_api.chain import eip712
from ledger_api.chain.grant_layout import decode_grant_word
from ledger_api.chain.grant_rules import AccessRequest, GrantState, check_grant
from ledger_api.chain.ledger import DEFAULT_SIGNATURE_TTL_S
from ledger_api.chain.signatures import signature_from_hex
from ledger_api.chain.state import AgreementRecord, ChainState, InstitutionProfile
from ledger_api.chain.state import institution_state as as_institution_state
from ledger_api.chain.types import AccessLevel, AgreementStatus, GrantCheck, Purpose, bits_of
from ledger_api.errors import (
    ConflictError,
    CryptoError,
    ForbiddenError,
    InputError,
    NotFoundError,
    ReplicaLagError,
)
from ledger_api.store.records import subject_uscc

router = APIRouter(prefix="/v1/institution", tags=["institution"], responses=PROBLEMS)

AgreementPath = Annotated[int, Path(ge=1, lt=2**63)]
STALE_LOOK_BACK = 16  # earlier acceptance nonces tried to tell a stale signature from a forged one
GrantPath = Annotated[int, Path(ge=1, lt=2**63)]


def category_names(catalog: Catalog, mask: int) -> list[Named]:
    named = []
    for bit in bits_of(mask):
        try:
            name = catalog.category(bit).name
        except NotFoundError:  # a bit the catalog does not (yet) define
            name = f"category_{bit}"
        named.append(Named(id=bit, name=name))
    return named


def purpose_named(purpose: Purpose) -> Named:
    return Named(id=int(purpose), name=purpose.name.lower())


def level_named(level: AccessLevel) -> Named:
    return Named(id=int(level), name=level.name.lower())


def _profile(actor: Actor) -> InstitutionProfile:
    assert actor.institution is not None  # InstitutionDep resolved it
    return actor.institution


def _now(ctx: AppContext, state: ChainState) -> int:
    return max(state.position().block_timestamp, int(ctx.clock()))


# -- agreements ------------------------------------------------------------------------------


def _acceptance(ctx: AppContext, record: AgreementRecord) -> AcceptanceToSign:
    deadline = int(ctx.clock()) + DEFAULT_SIGNATURE_TTL_S
    message = {
        "agreementId": record.agreement_id,
        "nonce": ctx.ledger.acceptance_nonce(record.institution),
        "deadline": deadline,
    }
    typed = eip712.typed_message(ctx.ledger.domain, "AgreementAcceptance", message)
    return AcceptanceToSign(typed_data=typed, deadline=deadline)


@router.get(
    "/agreements",
    response_model=list[InstitutionAgreement],
    summary="My data-sharing agreements; a proposed one with the typed data to accept it",
)
def list_agreements(ctx: ContextDep, actor: InstitutionDep) -> list[InstitutionAgreement]:
    profile = _profile(actor)
    out = []
    for record in ctx.state().agreements_of_institution(profile.address):
        proposed = record.status == AgreementStatus.PROPOSED
        out.append(
            InstitutionAgreement(
                agreement_id=record.agreement_id,
                institution=profile.address,
                institution_name=profile.name,
                status=record.status.name.lower(),
                categories=category_names(ctx.catalog, record.categories),
                purposes=[purpose_named(Purpose(bit)) for bit in bits_of(record.purposes)],
                term=Term(starts_at=record.not_before, ends_at=record.not_after),
                document_hash="0x" + record.document_hash.hex(),
                acceptance=_acceptance(ctx, record) if proposed else None,
            )
        )
    return out


def _refuse_acceptance(ctx: AppContext, actor: Actor, agreement_id: int, deadline: int) -> None:
    """Every reason not to relay, checked against the chain itself (not the replica), so that
    a refused acceptance never costs the platform a reverted transaction."""
    index, status = ctx.ledger.agreement_owner(agreement_id)
    if status == AgreementStatus.NONE:
        raise NotFoundError(f"no agreement {agreement_id}", code="unknown_agreement")
    own = ctx.ledger.institution(actor.address)
    if index != own.index:
        raise ForbiddenError(
            f"agreement {agreement_id} is not proposed to this institution",
            code="not_agreement_institution",
        )
    if status != AgreementStatus.PROPOSED:
        raise ConflictError(
            f"agreement {agreement_id} is {status.name.lower()}, not proposed",
            code="agreement_not_proposed",
        )
    if own.suspended:
        raise ForbiddenError(
            "a suspended institution cannot accept an agreement", code="institution_suspended"
        )
    if own.agreement_id and ctx.ledger.agreement(own.agreement_id).status == (
        AgreementStatus.SUSPENDED
    ):
        raise ConflictError(
            "the institution's current agreement is suspended by a regulator",
            code="institution_agreement_suspended",
        )
    if deadline < int(ctx.clock()):
        raise InputError("the signed deadline has passed", code="acceptance_expired")


def _signed_nonce(
    ctx: AppContext, actor: Actor, agreement_id: int, deadline: int, signature: bytes
) -> int:
    """The current acceptance nonce if the institution signed over it. A signature over an
    older nonce is a replay or made stale by a later acceptance: said so, not "invalid"."""
    current = ctx.ledger.acceptance_nonce(actor.address)
    domain = ctx.ledger.domain
    # A bounded look back: older signatures are refused as not the signer's, no worse.
    for nonce in range(current, max(current - STALE_LOOK_BACK, 0) - 1, -1):
        message = {"agreementId": agreement_id, "nonce": nonce, "deadline": deadline}
        try:
            signer = eip712.recover_typed(domain, "AgreementAcceptance", message, signature)
        except ValueError:
            raise InputError("malformed signature", code="bad_signature") from None
        if signer == actor.address:
            if nonce != current:
                raise ConflictError(
                    f"the acceptance was signed over nonce {nonce}; the next is {current}",
                    code="acceptance_nonce_used",
                )
            return nonce
    raise ForbiddenError(
        "the acceptance is not signed by the requesting institution's key",
        code="acceptance_signer_mismatch",
    )


@router.post(
    "/agreements/{agreement_id}/acceptance",
    response_model=AcceptanceOut,
    status_code=201,
    summary="Relay the institution's signed acceptance (the platform pays the gas)",
)
def accept_agreement(
    agreement_id: AgreementPath, body: AcceptanceIn, ctx: ContextDep, actor: InstitutionDep
) -> AcceptanceOut:
    _refuse_acceptance(ctx, actor, agreement_id, body.deadline)
    signature = signature_from_hex(body.signature)
    nonce = _signed_nonce(ctx, actor, agreement_id, body.deadline, signature)
    receipt = ctx.ledger.relay_acceptance(
        ctx.relayer, agreement_id, nonce, body.deadline, signature
    )
    return AcceptanceOut(
        tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
        block_number=int(receipt["blockNumber"]),
        agreement_id=agreement_id,
        status=AgreementStatus.ACTIVE.name.lower(),
    )


# -- grants ----------------------------------------------------------------------------------


def _check(
    ctx: AppContext,
    state: ChainState,
    profile: InstitutionProfile,
    grant: GrantState,
    request: AccessRequest,
    now: int,
    used: int,
) -> GrantCheck:
    """The canonical check over the replica (the contract's own in strict mode), as the gate
    runs it for a read."""
    if ctx.settings.strict_gate:
        return ctx.ledger.check_grant(
            grant.grant_id,
            profile.address,
            request.category,
            request.purpose,
            request.level,
            min(used, 2**32 - 1),
        )
    agreement = state.agreement(profile.agreement_id) if profile.agreement_id else None
    return check_grant(grant, as_institution_state(profile), agreement, request, now, used)


def _uscc(ctx: AppContext, conn: Any, subject_id: bytes) -> str | None:
    try:
        return subject_uscc(conn, ctx.settings, subject_id)
    except (NoResultFound, NotFoundError, CryptoError):  # no record ingested yet, or shredded
        return None


@router.get(
    "/grants",
    response_model=list[InstitutionGrant],
    summary="Grants naming me, each with its live status from the canonical check",
    description=(
        "Not a read of subject data: no access-log entry. The status checks the grant at its "
        "own purpose, its first category and the lowest level (verify); "
        "`/grants/{grant_id}/check` answers for one intended query. `usable=true` keeps the "
        "usable ones only."
    ),
)
def list_grants(
    ctx: ContextDep,
    actor: InstitutionDep,
    usable: Annotated[bool, Query(description="only the grants usable now")] = False,
) -> list[InstitutionGrant]:
    profile = _profile(actor)
    state = ctx.state()
    now = _now(ctx, state)
    out = []
    with ctx.engine.connect() as conn:
        for grant in state.grants_of_institution(profile.address):
            used = used_count(conn, grant.grant_id)
            bits = bits_of(grant.categories)
            request = AccessRequest(bits[0] if bits else 0, grant.purpose, AccessLevel.VERIFY)
            result = _check(ctx, state, profile, grant, request, now, used)
            if usable and result != GrantCheck.USABLE:
                continue
            binding = state.subject_by_index(grant.subject_index)
            subject_id = binding.subject_id if binding else b""
            shown_uscc = _uscc(ctx, conn, subject_id) if binding and not grant.revoked else None
            out.append(
                InstitutionGrant(
                    grant_id=grant.grant_id,
                    subject_id="0x" + subject_id.hex(),
                    subject_uscc=shown_uscc,
                    categories=category_names(ctx.catalog, grant.categories),
                    purpose=purpose_named(grant.purpose),
                    level=level_named(grant.level),
                    window=GrantWindow(not_before=grant.not_before, not_after=grant.not_after),
                    max_uses=grant.max_uses,
                    uses_left=max(grant.max_uses - used, 0) if grant.max_uses else None,
                    status=GrantUsability(
                        usable=result == GrantCheck.USABLE,
                        reason=None if result == GrantCheck.USABLE else result.code,
                    ),
                )
            )
    return out


def _named_institution(ctx: AppContext, grant: GrantState) -> int:
    """The index of the institution ``grant`` names. The contract zeroes a revoked grant's
    stored terms, so for one read from the contract the ``GrantIssued`` event says (cold path:
    a revoked grant of its own must answer ``revoked``, not "names another institution")."""
    if not grant.revoked or grant.institution_index:
        return grant.institution_index
    issued = ctx.ledger.contract.events.GrantIssued().get_logs(
        from_block=ctx.ledger.deployment.deployment_block,
        argument_filters={"grantId": grant.grant_id},
    )
    return decode_grant_word(int(issued[0]["args"]["terms"])).institution_index if issued else 0


@router.get(
    "/grants/{grant_id}/check",
    response_model=GrantCheckOut,
    summary="The canonical check of one grant for an intended query, without touching data",
)
def check_one_grant(
    grant_id: GrantPath,
    ctx: ContextDep,
    actor: InstitutionDep,
    category: Annotated[
        str, Query(max_length=64, description="catalog category name (or its bit)")
    ],
    purpose: Annotated[str, Query(max_length=64, description="e.g. loan_application")],
    level: Annotated[str, Query(max_length=16, description="verify, query or detail")] = "query",
) -> GrantCheckOut:
    profile = _profile(actor)
    chosen = ctx.catalog.category(int(category) if category.isdigit() else category)
    wanted_purpose = parse_purpose(purpose)
    wanted_level = parse_level(level, AccessLevel.QUERY)
    state = ctx.state()
    point = state.position()
    lag = ctx.chain_head() - point.block_number
    if lag > ctx.settings.max_replica_lag_blocks:
        raise ReplicaLagError(f"chain state is {lag} blocks behind the chain head")
    grant = state.grant(grant_id)
    if grant is None:
        raise NotFoundError(f"no grant {grant_id}", code="unknown_grant")
    if _named_institution(ctx, grant) != profile.index:
        raise ForbiddenError(
            f"grant {grant_id} names another institution", code=GrantCheck.WRONG_INSTITUTION.code
        )
    with ctx.engine.connect() as conn:
        used = used_count(conn, grant_id)
    request = AccessRequest(chosen.bit, wanted_purpose, wanted_level)
    result = _check(ctx, state, profile, grant, request, _now(ctx, state), used)
    return GrantCheckOut(
        grant_id=grant_id,
        usable=result == GrantCheck.USABLE,
        reason=None if result == GrantCheck.USABLE else result.code,
        checked_block=point.block_number,
        category=Named(id=chosen.bit, name=chosen.name),
        purpose=purpose_named(wanted_purpose),
        level=level_named(wanted_level),
    )
