"""Unsigned public endpoints: liveness and the chain the ledger lives on."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from web3 import Web3

from ledger_api.api.auth import ContextDep
from ledger_api.api.problems import PROBLEMS
from ledger_api.api.schemas import AgreementTermsOut, ChainInfo, Health, InstitutionOut
from ledger_api.errors import NotFoundError

router = APIRouter(tags=["meta"], responses=PROBLEMS)


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/v1/chain",
    response_model=ChainInfo,
    summary="Chain id, contract (the EIP-712 domain), head, and an account's nonce",
)
def chain_info(
    ctx: ContextDep,
    account: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$")] = None,
) -> ChainInfo:
    domain = ctx.ledger.domain
    return ChainInfo(
        chain_id=domain.chain_id,
        contract=domain.verifying_contract,
        head_block=ctx.chain_head(),
        state_block=ctx.state().position().block_number,
        account_nonce=None
        if account is None
        else ctx.ledger.nonce_of(Web3.to_checksum_address(account)),
        platform_signer=ctx.platform_account.address,
    )


@router.get(
    "/v1/institutions/{address}",
    response_model=InstitutionOut,
    summary="An institution's registered name, type and status (the public directory)",
)
def institution(
    ctx: ContextDep,
    address: Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{40}$")],
) -> InstitutionOut:
    state = ctx.state()
    profile = state.institution(Web3.to_checksum_address(address))
    if profile is None:
        raise NotFoundError(
            f"no institution is registered at {address}", code="unknown_institution"
        )
    agreement = state.agreement(profile.agreement_id) if profile.agreement_id else None
    return InstitutionOut(
        address=profile.address,
        name=profile.name,
        kind=profile.kind.name.lower(),
        suspended=profile.suspended,
        agreement_id=profile.agreement_id,
        state_block=state.position().block_number,
        agreement=None
        if agreement is None
        else AgreementTermsOut(
            categories=agreement.categories,
            purposes=agreement.purposes,
            not_before=agreement.not_before,
            not_after=agreement.not_after,
            status=agreement.status.name.lower(),
        ),
    )
