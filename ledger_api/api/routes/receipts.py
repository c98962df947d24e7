"""What a receipt's holder needs to check it without trusting the platform's word.

- ``GET /v1/access-log/entries/{entry_id}`` (signed; the entry's institution, its subject or a
  regulator):
  the entry's hashed fields with the previous entry's hash (so its hash can be recomputed), the
  allowed uses of its grant before it, and its inclusion proof once its range is anchored.
- ``GET /v1/receipts/anchors/{root}`` (public): whether the chain holds ``root`` as an
  access-log anchor, read from the contract.
- ``GET /v1/receipts/grant-check`` (public): the contract's canonical ``checkGrant`` evaluated
  at a past block (what the gate decided from, replayed by the chain itself).

``ledger_api.receipts.verify`` uses them; with a node of one's own it needs only the first.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel
from sqlalchemy import func, select

from ledger_api.accesslog.entries import ACCESS_LOG, ALLOWED, entry_fields
from ledger_api.api.auth import ContextDep, SignerDep
from ledger_api.api.problems import PROBLEMS
from ledger_api.chain.types import AccessLevel, AnchorKind, Purpose
from ledger_api.errors import InputError, NotFoundError

router = APIRouter(tags=["receipts"], responses=PROBLEMS)


class EntryProofOut(BaseModel):
    fields: dict[str, object]  # ledger_api.accesslog.entries.entry_fields
    entry_hash: str
    uses_before: int  # allowed entries under the same grant before this one
    anchored: bool
    leaf: str | None = None
    proof: list[str] | None = None
    root: str | None = None
    anchor_status: str | None = None  # pending, sent, anchored (the platform's journal)
    anchor_sequence: int | None = None
    anchor_tx: str | None = None


class AnchorStatusOut(BaseModel):
    root: str
    anchored: bool
    kind: str | None = None
    sequence: int | None = None
    submitter: str | None = None


class GrantCheckAtOut(BaseModel):
    grant_id: int
    block: int
    institution: str
    category: int
    purpose: str
    level: str
    used_count: int
    result: str  # GrantCheck code; "usable" when it passes


@router.get(
    "/v1/access-log/entries/{entry_id}",
    response_model=EntryProofOut,
    summary="One access-log entry's fields, previous hash and inclusion proof (its parties and "
    "regulators only)",
)
def access_log_entry(
    entry_id: Annotated[int, Path(ge=1, lt=2**63)], ctx: ContextDep, signer: SignerDep
) -> EntryProofOut:
    with ctx.engine.connect() as conn:
        row = conn.execute(select(ACCESS_LOG).where(ACCESS_LOG.c.id == entry_id)).first()
        if row is None or not _is_party(ctx, signer, row.actor, row.subject_id):
            # the same answer for "none" and "not yours": ids of others' entries stay unknown
            raise NotFoundError(f"no access-log entry {entry_id} of yours", code="unknown_entry")
        uses_before = 0
        if row.grant_id is not None:
            uses_before = int(
                conn.execute(
                    select(func.count())
                    .select_from(ACCESS_LOG)
                    .where(
                        ACCESS_LOG.c.grant_id == row.grant_id,
                        ACCESS_LOG.c.decision == ALLOWED,
                        ACCESS_LOG.c.id < entry_id,
                    )
                ).scalar_one()
            )
        proof = ctx.anchoring.proof_of(conn, entry_id)
    return EntryProofOut(
        fields=entry_fields(row),
        entry_hash="0x" + row.entry_hash.hex(),
        uses_before=uses_before,
        anchored=proof is not None and proof.status == "anchored",
        leaf=None if proof is None else "0x" + proof.leaf.hex(),
        proof=None if proof is None else ["0x" + p.hex() for p in proof.proof],
        root=None if proof is None else "0x" + proof.root.hex(),
        anchor_status=None if proof is None else proof.status,
        anchor_sequence=None if proof is None else proof.sequence,
        anchor_tx=None if proof is None or proof.tx_hash is None else "0x" + proof.tx_hash.hex(),
    )


def _is_party(ctx: ContextDep, signer: str, actor: str, subject_id: bytes | None) -> bool:
    """The entry's institution, its subject, or a regulator (who audits every entry anyway)."""
    if signer.lower() == actor.lower():
        return True
    state = ctx.state()
    binding = state.subject_by_account(signer)
    if binding is not None and subject_id is not None and binding.subject_id == subject_id:
        return True
    return "regulator" in state.roles_of(signer)


@router.get(
    "/v1/receipts/anchors/{root}",
    response_model=AnchorStatusOut,
    summary="Whether a root is anchored on chain, read from the contract (public)",
)
def anchor_status(
    root: Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")], ctx: ContextDep
) -> AnchorStatusOut:
    record = ctx.ledger.anchor_of(bytes.fromhex(root[2:]))
    if record is None:
        return AnchorStatusOut(root=root, anchored=False)
    return AnchorStatusOut(
        root=root,
        anchored=True,
        kind=AnchorKind(record.kind).name.lower(),
        sequence=record.sequence,
        submitter=record.submitter,
    )


@router.get(
    "/v1/receipts/grant-check",
    response_model=GrantCheckAtOut,
    summary="The contract's canonical grant check at a past block (public)",
)
def grant_check_at(
    ctx: ContextDep,
    grant_id: Annotated[int, Query(ge=1, lt=2**63)],
    block: Annotated[int, Query(ge=0, lt=2**63)],
    institution: Annotated[str, Query(pattern=r"^0x[0-9a-fA-F]{40}$")],
    category: Annotated[int, Query(ge=0, lt=32)],
    purpose: Annotated[int, Query(ge=0, lt=len(Purpose))],
    level: Annotated[int, Query(ge=0, lt=len(AccessLevel))],
    used_count: Annotated[int, Query(ge=0, lt=2**32)] = 0,  # uint32 on chain
) -> GrantCheckAtOut:
    if block > ctx.chain_head():
        raise InputError(f"block {block} is not mined yet", code="future_block")
    if block < ctx.ledger.deployment.deployment_block:
        raise InputError(
            f"block {block} is before the ledger's deployment", code="before_deployment"
        )
    result = ctx.ledger.check_grant(
        grant_id, institution, category, Purpose(purpose), AccessLevel(level), used_count, block
    )
    return GrantCheckAtOut(
        grant_id=grant_id,
        block=block,
        institution=institution,
        category=category,
        purpose=Purpose(purpose).name.lower(),
        level=AccessLevel(level).name.lower(),
        used_count=used_count,
        result=result.code,
    )
