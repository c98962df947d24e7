"""Consent receipts: a grant exported, by its subject or by its institution, as a signed
ISO/IEC TS 27560-shaped consent record (``ledger_api.receipts.consent``).

Only the two parties of a grant get its receipt; anyone else is refused 403 ``not_your_grant``,
and the refusal, like every refusal of a signed request, is written to the access log.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel
from sqlalchemy import func, select

from ledger_api.accesslog import ACCESS_LOG, used_count
from ledger_api.accesslog.entries import ALLOWED
from ledger_api.api.auth import ContextDep, InstitutionDep, SubjectDep
from ledger_api.api.context import AppContext
from ledger_api.api.problems import PROBLEMS
from ledger_api.chain.grant_layout import decode_grant_word
from ledger_api.errors import ForbiddenError, NotFoundError
from ledger_api.receipts.consent import (
    ChainEvent,
    GrantFacts,
    build_record,
    sign_record,
)

router = APIRouter(responses=PROBLEMS)  # each route tagged by the party it serves
GrantPath = Annotated[int, Path(ge=1, lt=2**63, description="the grant's on-chain id")]


class ConsentReceipt(BaseModel):
    """The record (schema: ``ledger_api/receipts/consent-receipt.schema.json``) and the
    platform's EIP-191 signature over its canonical JSON."""

    record: dict[str, Any]
    signer: str
    signature_scheme: str
    signature: str


def _event(ctx: AppContext, log: Any) -> ChainEvent:
    block = int(log["blockNumber"])
    return ChainEvent(
        block=block,
        timestamp=int(ctx.ledger.w3.eth.get_block(block)["timestamp"]),
        tx_hash="0x" + bytes(log["transactionHash"]).hex(),
    )


def _logs(ctx: AppContext, event: str, grant_id: int) -> list[Any]:
    contract_event = getattr(ctx.ledger.contract.events, event)()
    return list(
        contract_event.get_logs(
            from_block=ctx.ledger.deployment.deployment_block,
            argument_filters={"grantId": grant_id},
        )
    )


def grant_facts(ctx: AppContext, grant_id: int) -> GrantFacts:
    """What the chain, its state and the access log say about ``grant_id``; the terms come
    from ``GrantIssued`` (the contract zeroes a revoked grant's stored terms)."""
    issued = _logs(ctx, "GrantIssued", grant_id)
    if not issued:
        raise NotFoundError(f"no grant {grant_id}", code="unknown_grant")
    revoked = _logs(ctx, "GrantRevoked", grant_id)
    terms = decode_grant_word(int(issued[0]["args"]["terms"]))
    institution = str(issued[0]["args"]["institution"])
    state = ctx.state()
    profile = state.institution(institution)
    binding = state.subject_by_index(terms.subject_index)
    if binding is None:  # bound before it could grant: only a replica far behind lacks it
        raise NotFoundError(f"grant {grant_id}'s subject is not known yet", code="unknown_grant")
    with ctx.engine.connect() as conn:
        used = used_count(conn, grant_id)
        last_use = conn.execute(
            select(func.max(ACCESS_LOG.c.at)).where(
                ACCESS_LOG.c.grant_id == grant_id, ACCESS_LOG.c.decision == ALLOWED
            )
        ).scalar_one()
    domain = ctx.ledger.domain
    return GrantFacts(
        chain_id=domain.chain_id,
        contract=domain.verifying_contract,
        grant_id=grant_id,
        terms=terms,
        subject_id=binding.subject_id,
        subject_account=binding.account,
        institution=institution,
        institution_name=None if profile is None else profile.name,
        institution_kind=None if profile is None else profile.kind.name.lower(),
        issued=_event(ctx, issued[0]),
        revoked=_event(ctx, revoked[0]) if revoked else None,
        used=used,
        last_use_at=None if last_use is None else int(last_use.timestamp()),
        now=int(max(state.position().block_timestamp, ctx.clock())),
    )


def _receipt(ctx: AppContext, facts: GrantFacts) -> ConsentReceipt:
    platform = ctx.platform_account
    record = build_record(facts, ctx.catalog, platform.address)
    return ConsentReceipt(**sign_record(record, platform))


def _not_yours(grant_id: int) -> ForbiddenError:
    return ForbiddenError(f"grant {grant_id} is not one of yours", code="not_your_grant")


@router.get(
    "/v1/subject/grants/{grant_id}/consent-receipt",
    response_model=ConsentReceipt,
    tags=["subject"],
    summary="One of my grants as a signed consent receipt (ISO/IEC TS 27560 consent record)",
)
def subject_consent_receipt(
    grant_id: GrantPath, ctx: ContextDep, actor: SubjectDep
) -> ConsentReceipt:
    facts = grant_facts(ctx, grant_id)
    assert actor.subject is not None
    if facts.terms.subject_index != actor.subject.subject_index:
        raise _not_yours(grant_id)
    return _receipt(ctx, facts)


@router.get(
    "/v1/institution/grants/{grant_id}/consent-receipt",
    response_model=ConsentReceipt,
    tags=["institution"],
    summary="A grant naming me as a signed consent receipt (ISO/IEC TS 27560 consent record)",
)
def institution_consent_receipt(
    grant_id: GrantPath, ctx: ContextDep, actor: InstitutionDep
) -> ConsentReceipt:
    facts = grant_facts(ctx, grant_id)
    if facts.institution != actor.address:
        raise _not_yours(grant_id)
    return _receipt(ctx, facts)
