"""Subject (enterprise) endpoints: registration, own data, grants, access log, disputes,
credit commitments. The platform relays the subject's EIP-712 signatures, so subjects pay no gas.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from sqlalchemy import insert, select, update
from web3 import Web3

from ledger_api.accesslog import ACCESS_LOG, used_count
from ledger_api.anchoring.keccak import keccak256
from ledger_api.api.auth import ContextDep, SignerDep, SubjectDep, resolve_role
from ledger_api.api.gate import Access, SubjectAccessGate
from ledger_api.api.models import REGISTRATIONS, STATEMENTS
from ledger_api.api.problems import PROBLEMS
from ledger_api.api.reading import read_records
from ledger_api.api.schemas import (
    AccessLogEntryOut,
    AccessLogPage,
    CommitmentIn,
    CommitmentOut,
    DisputeIn,
    DisputeOut,
    GrantBatchIn,
    GrantIds,
    GrantStatus,
    NonceIncreaseIn,
    RecordProofOut,
    RecordsPage,
    Registration,
    RegistrationIn,
    RevocationIn,
    SignatureIn,
    SignedGrantIn,
    SkippedGrantOut,
    SubjectMe,
    TxResult,
)
from ledger_api.api.supply_chain_overdue import chain_now
from ledger_api.chain import eip712
from ledger_api.chain.direct_state import DirectChainState
from ledger_api.chain.grant_rules import AccessRequest, check_grant
from ledger_api.chain.ledger import DEFAULT_SIGNATURE_TTL_S, GrantTerms, RecordLeaf, SignedGrant
from ledger_api.chain.signatures import signature_from_hex
from ledger_api.chain.state import institution_state
from ledger_api.chain.types import AccessLevel, DisputeKind, Purpose, bits_of
from ledger_api.crypto.ecdsa import require_canonical_s
from ledger_api.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from ledger_api.financing.self_reports import self_reported_mark
from ledger_api.identity.uscc import subject_id as make_subject_id
from ledger_api.identity.uscc import validate_uscc
from ledger_api.monitoring.chain_events import record_chain_event
from ledger_api.monitoring.rules import default_rules
from ledger_api.store.dispute_reasons import check_reason, store_reason
from ledger_api.store.records import record_proof

router = APIRouter(prefix="/v1/subject", tags=["subject"], responses=PROBLEMS)
OwnData = Annotated[Access, Depends(SubjectAccessGate("own_data"))]


def _hex(value: bytes | None) -> str | None:
    return None if value is None else "0x" + value.hex()


def _sig(value: str) -> bytes:
    return signature_from_hex(value)  # v normalised to 27 / 28; bad ones are 422 bad_signature


def _tx(receipt: Any) -> TxResult:
    return TxResult(
        tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
        block_number=int(receipt["blockNumber"]),
    )


def mask_uscc(uscc: str) -> str:
    return uscc[:2] + "*" * 12 + uscc[-4:]


# -- registration (the one role-less exception: a key registering itself) -----------------


def registration_out(row: Any, typed_data: dict[str, Any] | None = None) -> Registration:
    return Registration(
        id=row.id,
        account=row.account,
        subject_id="0x" + row.subject_id.hex(),
        uscc_masked=row.uscc_masked,
        status=row.status,
        deadline=row.deadline,
        typed_data=typed_data,
        tx_hash=_hex(row.tx_hash),
        requested_at=row.created_at,
    )


def registration_typed_data(ctx: Any, row: Any) -> dict[str, Any]:
    message = {
        "subjectId": "0x" + row.subject_id.hex(),
        "account": row.account,
        "nonce": row.chain_nonce,
        "deadline": row.deadline,
    }
    return eip712.typed_message(ctx.ledger.domain, "Registration", message)


@router.post(
    "/registrations",
    response_model=Registration,
    status_code=201,
    summary="Ask to bind this key to an enterprise (returns the EIP-712 message to sign)",
)
def create_registration(body: RegistrationIn, ctx: ContextDep, signer: SignerDep) -> Registration:
    uscc = validate_uscc(body.uscc.strip().upper())
    sid = make_subject_id(uscc, ctx.settings.pseudonym_key_bytes)
    state = ctx.state()
    if state.subject_by_account(signer) is not None:
        raise ConflictError("this key is already bound to a subject", code="account_already_bound")
    if state.subject_by_id(sid) is not None:
        raise ConflictError("this enterprise is already registered", code="subject_already_bound")
    nonce = ctx.ledger.nonce_of(signer)
    with ctx.engine.connect() as conn:
        # Asking again (a retry, a second click) returns the open request instead of piling up
        # duplicates, as long as its signature could still be used on chain.
        open_request = conn.execute(
            select(REGISTRATIONS)
            .where(
                REGISTRATIONS.c.account == signer,
                REGISTRATIONS.c.subject_id == sid,
                REGISTRATIONS.c.status.in_(("awaiting_signature", "pending_approval")),
                REGISTRATIONS.c.chain_nonce == nonce,
                REGISTRATIONS.c.deadline > int(ctx.clock()) + DEFAULT_SIGNATURE_TTL_S,
            )
            .order_by(REGISTRATIONS.c.id.desc())
            .limit(1)
        ).first()
    if open_request is not None:
        return registration_out(open_request, registration_typed_data(ctx, open_request))
    deadline = int(ctx.clock()) + DEFAULT_SIGNATURE_TTL_S * 24
    with ctx.engine.begin() as conn:
        new_id = conn.execute(
            insert(REGISTRATIONS)
            .values(
                account=signer,
                subject_id=sid,
                uscc_masked=mask_uscc(uscc),
                status="awaiting_signature",
                deadline=deadline,
                chain_nonce=nonce,
            )
            .returning(REGISTRATIONS.c.id)
        ).scalar_one()
        row = conn.execute(select(REGISTRATIONS).where(REGISTRATIONS.c.id == new_id)).one()
    return registration_out(row, registration_typed_data(ctx, row))


def load_registration(ctx: Any, registration_id: int) -> Any:
    """The registration row, or 404."""
    with ctx.engine.connect() as conn:
        row = conn.execute(
            select(REGISTRATIONS).where(REGISTRATIONS.c.id == registration_id)
        ).first()
    if row is None:
        raise NotFoundError(f"no registration {registration_id}")
    return row


RegistrationPath = Annotated[int, Path(ge=1, lt=2**63)]


@router.post(
    "/registrations/{registration_id}/signature",
    response_model=Registration,
    summary="Submit the signed EIP-712 Registration message",
)
def sign_registration(
    registration_id: RegistrationPath, body: SignatureIn, ctx: ContextDep, signer: SignerDep
) -> Registration:
    row = load_registration(ctx, registration_id)
    if row.account != signer:
        raise ForbiddenError("only the registering key may sign its registration")
    if row.status not in ("awaiting_signature", "pending_approval"):
        raise ConflictError(f"registration is {row.status}", code="registration_closed")
    message = {
        "subjectId": row.subject_id,
        "account": row.account,
        "nonce": row.chain_nonce,
        "deadline": row.deadline,
    }
    signature = _sig(body.signature)
    try:
        recovered = eip712.recover_typed(ctx.ledger.domain, "Registration", message, signature)
    except Exception:
        recovered = None
    if recovered != row.account:
        raise InputError(
            "the signature is not the account's over this registration",
            code="bad_registration_signature",
        )
    with ctx.engine.begin() as conn:
        conn.execute(
            update(REGISTRATIONS)
            .where(REGISTRATIONS.c.id == row.id)
            .values(signature=signature, status="pending_approval")
        )
    return registration_out(load_registration(ctx, registration_id))


@router.get(
    "/registrations/{registration_id}",
    response_model=Registration,
    summary="Status of a registration (its key or an operator)",
)
def registration_status(
    registration_id: RegistrationPath, ctx: ContextDep, signer: SignerDep
) -> Registration:
    row = load_registration(ctx, registration_id)
    if row.account != signer:
        resolve_role(ctx, signer, "operator")
    return registration_out(row)


# -- own data --------------------------------------------------------------------------------


@router.get("/me", response_model=SubjectMe, summary="The subject bound to the signing key")
async def me(actor: SubjectDep) -> SubjectMe:
    assert actor.subject is not None
    return SubjectMe(
        subject_id="0x" + actor.subject.subject_id.hex(),
        subject_index=actor.subject.subject_index,
        account=actor.address,
    )


@router.get(
    "/records",
    response_model=RecordsPage,
    summary="All the platform holds about me, unmasked (objected records flagged)",
)
async def own_records(
    access: OwnData,
    category: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    ctx = access.ctx
    bits = None if category is None else [ctx.catalog.category(category).bit]
    state = ctx.state()
    with ctx.reads.connect() as conn:
        records = read_records(
            conn,
            ctx.keyrings.current(),
            ctx.catalog,
            access.subject_id,
            bits,
            open_leaves=state.open_dispute_leaves(access.subject_index),
            with_leaves=True,
            now=chain_now(ctx),
        )
    return await access.respond(
        {
            "subject_id": "0x" + access.subject_id.hex(),
            "category": category,
            "level": "owner",
            "records": [
                {
                    "record_uid": "0x" + r.record_uid.hex(),
                    "category": r.category,
                    "fields": r.fields,
                    "disputed": r.disputed,
                    "leaf": _hex(r.leaf),
                }
                | self_reported_mark(r.provider)
                for r in records
            ],
        }
    )


@router.get(
    "/records/{record_uid}/proof",
    response_model=RecordProofOut,
    summary="A record's leaf, inclusion proof and anchored root (for disputes)",
)
async def own_record_proof(
    record_uid: Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")],
    access: OwnData,
) -> Response:
    try:
        with access.ctx.reads.connect() as conn:
            proof = record_proof(conn, bytes.fromhex(record_uid[2:]), access.subject_id)
    except NotFoundError as error:  # not_your_record: missing or another subject's
        await access.deny(error)
        raise
    return await access.respond(
        {
            "record_uid": record_uid,
            "leaf": "0x" + proof.leaf.hex(),
            "proof": ["0x" + p.hex() for p in proof.proof],
            "root": "0x" + proof.root.hex(),
            "anchored": proof.anchored,
            "anchor_sequence": proof.anchor_sequence,
            "salt": "0x" + proof.salt.hex(),
            "subject_id": "0x" + proof.subject_id.hex(),
            "category": proof.category_bit,
            "content_digest": "0x" + proof.ciphertext_digest.hex(),
        }
    )


# -- grants ----------------------------------------------------------------------------------


def _signed_grant(item: SignedGrantIn) -> SignedGrant:
    t = item.terms
    terms = GrantTerms(
        institution=t.institution,
        categories=t.categories,
        purpose=Purpose(t.purpose),
        level=AccessLevel(t.level),
        not_before=t.not_before,
        not_after=t.not_after,
        max_uses=t.max_uses,
    )
    return SignedGrant(
        terms=terms,
        signer=Web3.to_checksum_address(item.signer),
        deadline=item.deadline,
        signature=_sig(item.signature),
    )


@router.post(
    "/grants",
    response_model=GrantIds,
    status_code=201,
    summary="Relay signed grants (one, or a batch in one transaction)",
)
def relay_grants(body: GrantBatchIn, ctx: ContextDep, actor: SubjectDep) -> GrantIds:
    signed = [_signed_grant(g) for g in body.grants]
    if any(s.signer != actor.address for s in signed):
        raise ForbiddenError(
            "grants must be signed by the requesting subject's key", code="signer_mismatch"
        )
    relayed = ctx.ledger.relay_grant_batch(ctx.relayer, signed)
    return GrantIds(
        grant_ids=relayed.grant_ids,
        skipped=[
            SkippedGrantOut(index=s.index, reason=s.reason.name.lower()) for s in relayed.skipped
        ],
    )


@router.get("/grants", response_model=list[GrantStatus], summary="My grants and their live status")
def list_grants(ctx: ContextDep, actor: SubjectDep) -> list[GrantStatus]:
    assert actor.subject is not None
    state = ctx.state()
    point = state.position()
    now = max(point.block_timestamp, int(ctx.clock()))
    out = []
    with ctx.engine.connect() as conn:
        for grant in state.grants_of_subject(actor.subject.subject_index):
            profile = state.institution_at(grant.institution_index)
            used = used_count(conn, grant.grant_id)
            agreement = (
                state.agreement(profile.agreement_id) if profile and profile.agreement_id else None
            )
            bits = bits_of(grant.categories)
            check = check_grant(
                grant,
                institution_state(profile),
                agreement,
                AccessRequest(bits[0] if bits else 0, grant.purpose, AccessLevel.VERIFY),
                now,
                used,
            )
            out.append(
                GrantStatus(
                    grant_id=grant.grant_id,
                    institution_index=grant.institution_index,
                    institution=None if profile is None else profile.address,
                    categories=grant.categories,
                    purpose=grant.purpose.name.lower(),
                    level=grant.level.name.lower(),
                    not_before=grant.not_before,
                    not_after=grant.not_after,
                    max_uses=grant.max_uses,
                    used=used,
                    status="usable" if check.code == "usable" else check.code,
                )
            )
    return out


@router.post("/revocations", response_model=TxResult, summary="Relay a signed revocation")
def relay_revocation(body: RevocationIn, ctx: ContextDep, actor: SubjectDep) -> TxResult:
    receipt = ctx.ledger.relay_revocation(
        ctx.relayer, body.grant_id, actor.address, body.deadline, _sig(body.signature)
    )
    return _tx(receipt)


@router.post(
    "/nonce-increases",
    response_model=TxResult,
    summary="Relay a signed nonce increase: every outstanding signature becomes invalid",
)
def relay_nonce_increase(body: NonceIncreaseIn, ctx: ContextDep, actor: SubjectDep) -> TxResult:
    receipt = ctx.ledger.transact(
        ctx.relayer,
        "increaseNonceBySig",
        actor.address,
        body.new_nonce,
        body.deadline,
        _sig(body.signature),
    )
    return _tx(receipt)


# -- access log ------------------------------------------------------------------------------


@router.get(
    "/access-log",
    response_model=AccessLogPage,
    summary="Who read my data: entries with inclusion proofs against anchored roots",
)
def own_access_log(
    ctx: ContextDep,
    actor: SubjectDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, lt=2**62)] = 0,
) -> AccessLogPage:
    assert actor.subject is not None
    limit = min(limit, ctx.settings.max_page_size)
    entries = []
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(ACCESS_LOG)
            .where(ACCESS_LOG.c.subject_id == actor.subject.subject_id)
            # Newest first by (time, id): the (subject_id, at) index's order, so the page is
            # read from the index instead of sorting all the subject's entries.
            .order_by(ACCESS_LOG.c.at.desc(), ACCESS_LOG.c.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
        for row in rows:
            proof = ctx.anchoring.proof_of(conn, row.id)
            entries.append(
                AccessLogEntryOut(
                    id=row.id,
                    at=row.at.isoformat(),
                    actor=row.actor,
                    actor_role=row.actor_role,
                    action=row.action,
                    category=row.category,
                    purpose=row.purpose,
                    level=row.level,
                    grant_id=row.grant_id,
                    checked_block=row.checked_block,
                    decision=row.decision,
                    reason=row.reason,
                    entry_hash="0x" + row.entry_hash.hex(),
                    leaf=None if proof is None else "0x" + proof.leaf.hex(),
                    proof=None if proof is None else ["0x" + p.hex() for p in proof.proof],
                    root=None if proof is None else "0x" + proof.root.hex(),
                    anchor_status=None if proof is None else proof.status,
                    anchor_sequence=None if proof is None else proof.sequence,
                    anchor_tx=None if proof is None else _hex(proof.tx_hash),
                )
            )
    return AccessLogPage(entries=entries, limit=limit, offset=offset)


# -- disputes (objections 异议, credit repair 信用修复) --------------------------------------


@router.post(
    "/disputes",
    response_model=DisputeOut,
    status_code=201,
    summary="Relay a signed objection or credit-repair request about one of my records",
)
def open_dispute(body: DisputeIn, ctx: ContextDep, actor: SubjectDep) -> DisputeOut:
    assert actor.subject is not None
    with ctx.engine.connect() as conn:  # NotFoundError not_your_record, if not the subject's
        proof = record_proof(conn, bytes.fromhex(body.record_uid[2:]), actor.subject.subject_id)
    if not proof.anchored:
        raise ConflictError("the record's batch is not anchored yet", code="not_anchored")
    if body.reason is not None:
        check_reason(body.reason, bytes.fromhex(body.reason_hash[2:]))
    dispute_id = ctx.ledger.relay_dispute(
        ctx.relayer,
        DisputeKind(body.kind),
        proof.root,
        RecordLeaf(
            proof.salt,
            proof.record_uid,
            proof.subject_id,
            proof.category_bit,
            proof.ciphertext_digest,
        ),
        proof.proof,
        bytes.fromhex(body.reason_hash[2:]),
        actor.address,
        body.deadline,
        _sig(body.signature),
    )
    if body.reason is not None:
        store_reason(ctx.engine, dispute_id, bytes.fromhex(body.reason_hash[2:]), body.reason)
    # Institutions monitoring the subject hear of it (a risk event, rules in the catalog).
    record_chain_event(
        ctx.engine,
        default_rules(),
        "DisputeOpened",
        proof.subject_id,
        proof.category_bit,
        proof.record_uid,
    )
    return next(
        d for d in _disputes(ctx, actor.subject.subject_index) if d.dispute_id == dispute_id
    )


def _disputes(ctx: Any, subject_index: int) -> list[DisputeOut]:
    return [
        DisputeOut(
            dispute_id=d["dispute_id"],
            kind=DisputeKind(d["kind"]).name.lower(),
            status=d["status"].name.lower(),
            outcome=d["outcome"].name.lower(),
            opened_at=d["opened_at"],
            resolved_at=d["resolved_at"],
            anchor_root="0x" + d["anchor_root"].hex(),
            leaf="0x" + d["leaf"].hex(),
        )
        for d in DirectChainState(ctx.ledger).disputes_of_subject(subject_index)
    ]


@router.get("/disputes", response_model=list[DisputeOut], summary="My disputes and their status")
def list_disputes(ctx: ContextDep, actor: SubjectDep) -> list[DisputeOut]:
    assert actor.subject is not None
    return _disputes(ctx, actor.subject.subject_index)


# -- credit commitments (信用承诺) -------------------------------------------------------------


def commitment_leaf(subject_id: bytes, text: str, signature: bytes) -> bytes:
    """One-leaf tree (root == leaf): binds subject, text and signature."""
    digest = hashlib.sha256(
        b"ccl/commitment/v1\x00" + subject_id + hashlib.sha256(text.encode()).digest() + signature
    ).digest()
    return keccak256(keccak256(digest))


def _commitment_out(row: Any) -> CommitmentOut:
    return CommitmentOut(
        id=row.id,
        text=row.text,
        leaf="0x" + row.leaf.hex(),
        status=row.status,
        anchor_sequence=row.anchor_sequence,
        tx_hash=_hex(row.tx_hash),
    )


@router.post(
    "/commitments",
    response_model=CommitmentOut,
    status_code=201,
    summary="Make a signed credit commitment; it is stored and anchored on chain",
)
def make_commitment(body: CommitmentIn, ctx: ContextDep, actor: SubjectDep) -> CommitmentOut:
    assert actor.subject is not None
    signature = _sig(body.signature)
    try:
        require_canonical_s(signature)  # a high-s twin would be a second commitment leaf
        signer = Account.recover_message(encode_defunct(text=body.text), signature=signature)
    except Exception:
        signer = None
    if signer != actor.address:
        raise InputError(
            "the signature is not the subject's personal_sign over the text",
            code="bad_commitment_signature",
        )
    leaf = commitment_leaf(actor.subject.subject_id, body.text, signature)
    with ctx.engine.begin() as conn:
        new_id = conn.execute(
            insert(STATEMENTS)
            .values(
                subject_id=actor.subject.subject_id,
                account=actor.address,
                text=body.text,
                signature=signature,
                leaf=leaf,
                status="pending",
            )
            .returning(STATEMENTS.c.id)
        ).scalar_one()
    ctx.commitments.anchor(new_id)  # a crash before it ends: the journal's resume finishes it
    with ctx.engine.connect() as conn:
        row = conn.execute(select(STATEMENTS).where(STATEMENTS.c.id == new_id)).one()
    return _commitment_out(row)


@router.get("/commitments", response_model=list[CommitmentOut], summary="My credit commitments")
def list_commitments(ctx: ContextDep, actor: SubjectDep) -> list[CommitmentOut]:
    assert actor.subject is not None
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(STATEMENTS)
            .where(STATEMENTS.c.subject_id == actor.subject.subject_id)
            .order_by(STATEMENTS.c.id)
        ).all()
    return [_commitment_out(r) for r in rows]
