"""Voluntary information with a credit commitment (自愿填报 + 信用承诺), from the wallet:
stored and anchored as a ``self_reported`` record (``ledger_api.financing.self_reports``),
withdrawable with the withdrawal recorded and the first anchor kept.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from sqlalchemy import insert, select, update

from ledger_api.api.auth import ContextDep, SubjectDep
from ledger_api.api.context import AppContext
from ledger_api.api.problems import PROBLEMS
from ledger_api.api.routes.financing import anchor, now_of
from ledger_api.api.schemas import SIGNATURE_PATTERN
from ledger_api.chain.signatures import signature_from_hex
from ledger_api.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from ledger_api.financing import self_reports as sr
from ledger_api.financing.events import add_event
from ledger_api.financing.tables import SELF_REPORTS
from ledger_api.identity.uscc import subject_id as make_subject_id
from ledger_api.identity.uscc import validate_uscc
from ledger_api.ingest.pipeline import ingest_batch

router = APIRouter(prefix="/v1/subject/self-reports", tags=["subject"], responses=PROBLEMS)
IdPath = Annotated[int, Path(ge=1, lt=2**63)]


class SelfReportIn(BaseModel):
    topic: str = Field(pattern=r"^[a-z_]{1,16}$")
    reported_on: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    value_text: str | None = Field(default=None, max_length=1000)
    value_amount: str | None = Field(default=None, pattern=r"^-?\d{1,15}(\.\d{1,2})?$")
    commitment: str = Field(min_length=1, max_length=2000)
    signature: str = Field(pattern=SIGNATURE_PATTERN, max_length=4096)
    uscc: str | None = Field(default=None, max_length=18)  # only before any record exists


class SelfReportOut(BaseModel):
    id: int
    record_key: str
    topic: str
    provider: str  # always "self_reported": never a department's record
    entry_hash: str
    commitment: str
    status: str
    submitted_at: int
    withdrawn_at: int | None
    anchored: bool


def _out(row: Any, anchored: bool) -> SelfReportOut:
    return SelfReportOut(
        id=row.id,
        record_key=row.record_key,
        topic=row.topic,
        provider=sr.PROVIDER,
        entry_hash="0x" + bytes(row.entry_hash).hex(),
        commitment=row.commitment,
        status=row.status,
        submitted_at=row.submitted_at,
        withdrawn_at=row.withdrawn_at,
        anchored=anchored,
    )


def _uscc(ctx: AppContext, subject_id: bytes, given: str | None) -> str:
    """The enterprise's USCC: from its data key's directory entry, else the one it gives."""
    with ctx.engine.connect() as conn:
        try:
            return ctx.keyrings.current().uscc_of(conn, subject_id)
        except NotFoundError:
            pass
    if given is None:
        raise InputError(
            "give your USCC: the platform holds no record of you yet", code="uscc_required"
        )
    uscc = validate_uscc(given.strip().upper())
    if make_subject_id(uscc, ctx.settings.pseudonym_key_bytes) != subject_id:
        raise InputError("this USCC is not the registered enterprise's", code="uscc_mismatch")
    return uscc


def _store(ctx: AppContext, row: dict[str, Any]) -> bool:
    """Ingest one self_reported row (sealed, anchored); True when its batch is anchored."""
    result = ingest_batch(
        ctx.engine,
        ctx.data_anchorer,
        ctx.settings,
        provider=sr.PROVIDER,
        category=sr.CATEGORY,
        data=json.dumps(row, ensure_ascii=False).encode(),
        fmt="jsonl",
        catalog=ctx.catalog,
    )
    if result.rejected:
        raise InputError(
            "the entry does not fit the self_reported category: " + result.rejected[0].reason,
            code="invalid_self_report",
        )
    return result.anchor_sequence is not None


@router.post(
    "",
    response_model=SelfReportOut,
    status_code=201,
    summary="Add information about my enterprise, signed with a credit commitment",
)
def add(body: SelfReportIn, ctx: ContextDep, actor: SubjectDep) -> SelfReportOut:
    assert actor.subject is not None
    entry = sr.SelfReportEntry(
        body.topic, body.reported_on, body.value_text, body.value_amount, body.commitment,
        actor.address,
    )  # fmt: skip
    signature = signature_from_hex(body.signature)
    sr.require_signed_by(entry, signature, actor.address)
    digest = entry.digest()
    record_key = "sr-" + digest.hex()[:32]
    with ctx.engine.connect() as conn:
        if conn.execute(
            select(SELF_REPORTS.c.id).where(SELF_REPORTS.c.record_key == record_key)
        ).first():
            raise ConflictError("this entry was reported already", code="duplicate_self_report")
    subject_id = actor.subject.subject_id
    anchored = _store(ctx, sr.record_row(_uscc(ctx, subject_id, body.uscc), record_key, entry))
    now = now_of(ctx)
    with ctx.engine.begin() as conn:
        new_id = int(
            conn.execute(
                insert(SELF_REPORTS)
                .values(
                    subject_id=subject_id, account=actor.address, record_key=record_key,
                    topic=body.topic, entry_hash=digest, commitment=body.commitment,
                    signature=signature, status="active", submitted_at=now,
                )
                .returning(SELF_REPORTS.c.id)
            ).scalar_one()
        )  # fmt: skip
        event = add_event(
            conn, "self_report_submitted", new_id, actor.address, now,
            entry_hash="0x" + digest.hex(),
        )  # fmt: skip
        row = conn.execute(select(SELF_REPORTS).where(SELF_REPORTS.c.id == new_id)).one()
    anchor(ctx, [event])
    return _out(row, anchored)


@router.get("", response_model=list[SelfReportOut], summary="My self-reported information")
def mine(ctx: ContextDep, actor: SubjectDep) -> list[SelfReportOut]:
    assert actor.subject is not None
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(SELF_REPORTS)
            .where(SELF_REPORTS.c.subject_id == actor.subject.subject_id)
            .order_by(SELF_REPORTS.c.id)
        ).all()
    # Stored entries were anchored when added (or finished by `ccl resume` after a crash).
    return [_out(r, True) for r in rows]


@router.post(
    "/{report_id}/withdrawal",
    response_model=SelfReportOut,
    summary="Withdraw an entry: readers see it withdrawn; its first anchor stays",
)
def withdraw(report_id: IdPath, ctx: ContextDep, actor: SubjectDep) -> SelfReportOut:
    assert actor.subject is not None
    with ctx.engine.connect() as conn:
        row = conn.execute(select(SELF_REPORTS).where(SELF_REPORTS.c.id == report_id)).first()
    if row is None:
        raise NotFoundError(f"no self-reported entry {report_id}", code="self_report_not_found")
    if bytes(row.subject_id) != actor.subject.subject_id:
        raise ForbiddenError(f"entry {report_id} is not yours", code="not_your_self_report")
    if row.status != "active":
        raise ConflictError(f"entry {report_id} is already withdrawn", code="already_withdrawn")
    now = now_of(ctx)
    uscc = _uscc(ctx, actor.subject.subject_id, None)
    anchored = _store(ctx, sr.withdrawal_row(uscc, row.record_key, row.topic, now))
    with ctx.engine.begin() as conn:
        conn.execute(
            update(SELF_REPORTS)
            .where(SELF_REPORTS.c.id == report_id)
            .values(status="withdrawn", withdrawn_at=now)
        )
        event = add_event(conn, "self_report_withdrawn", report_id, actor.address, now)
        row = conn.execute(select(SELF_REPORTS).where(SELF_REPORTS.c.id == report_id)).one()
    anchor(ctx, [event])
    return _out(row, anchored)
