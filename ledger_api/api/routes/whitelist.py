"""White-list (白名单) endpoints: a regulator designates reviewers per region; an enterprise
applies with evidence for the five criteria; its region's reviewer reviews; the enterprise
pushes a recommended entry to banks holding its loan_application grant; each bank answers.
Every state change is anchored (``ledger_api.financing.whitelist``); docs/financing.md.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from sqlalchemy import Connection, or_, select
from web3 import Web3

from ledger_api.api.auth import ContextDep, InstitutionDep, RegulatorDep, SubjectDep
from ledger_api.api.context import AppContext
from ledger_api.api.problems import PROBLEMS
from ledger_api.api.routes.financing import anchor, names, now_of, registered_place
from ledger_api.chain.types import Purpose
from ledger_api.errors import ConflictError, ForbiddenError, InputError
from ledger_api.financing import whitelist as wl
from ledger_api.financing.applications import DAY_S, check_place, serves
from ledger_api.financing.schemas import (
    FindingIn,
    PushDecisionIn,
    PushIn,
    PushOut,
    ReviewerIn,
    ReviewerOut,
    ReviewerPushIn,
    ReviewIn,
    WhitelistIn,
    WhitelistOut,
)
from ledger_api.financing.tables import EVENTS, PRODUCTS, PUSHES, REVIEWERS, WHITELIST

audit_router = APIRouter(prefix="/v1/audit/whitelist", tags=["audit"], responses=PROBLEMS)
subject_router = APIRouter(prefix="/v1/subject/whitelist", tags=["subject"], responses=PROBLEMS)
institution_router = APIRouter(
    prefix="/v1/institution/whitelist", tags=["institution"], responses=PROBLEMS
)
IdPath = Annotated[int, Path(ge=1, lt=2**63)]
_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")


def entry_out(conn: Connection, ctx: AppContext, row: Any) -> WhitelistOut:
    name_of = names(ctx)
    now = now_of(ctx)
    return WhitelistOut(
        id=row.id,
        subject_id="0x" + bytes(row.subject_id).hex(),
        region=row.region,
        industry=row.industry,
        state=row.state,
        criteria=json.loads(row.criteria),
        findings=wl.findings_of(row),
        reason=row.reason,
        repairable=row.repairable,
        reviewer=row.reviewer,
        submitted_at=row.submitted_at,
        updated_at=row.updated_at,
        pushes=[
            PushOut(
                id=p.id,
                institution=p.institution,
                institution_name=name_of(p.institution),
                grant_id=p.grant_id,
                pushed_at=p.pushed_at,
                due_at=p.due_at,
                decision=p.decision,
                decided_at=p.decided_at,
                overdue=p.decision is None and now > int(p.due_at),
            )
            for p in wl.pushes_of(conn, int(row.id))
        ],
    )


def _one(ctx: AppContext, entry_id: int) -> WhitelistOut:
    with ctx.engine.connect() as conn:
        return entry_out(conn, ctx, wl.load_entry(conn, entry_id))


def _check_criteria(criteria: dict[str, str]) -> None:
    if set(criteria) != set(wl.CRITERIA):
        raise InputError(
            "the five criteria are " + ", ".join(wl.CRITERIA), code="criteria_incomplete"
        )
    bad = [name for name, value in criteria.items() if not _HASH.match(value)]
    if bad:
        raise InputError(
            f"evidence hashes are 0x and 64 hex digits: {', '.join(bad)}",
            code="bad_evidence_hash",
        )


# -- the regulator and its reviewers ---------------------------------------------------------


@audit_router.post(
    "/reviewers",
    response_model=list[ReviewerOut],
    status_code=201,
    summary="Designate a regulator-role key as white-list reviewer for region codes",
)
def designate(body: ReviewerIn, ctx: ContextDep, actor: RegulatorDep) -> list[ReviewerOut]:
    address = str(Web3.to_checksum_address(body.address))
    bad = [r for r in body.regions if not re.fullmatch(r"41\d{4}", r)]
    if bad:
        raise InputError(f"not Henan division codes: {', '.join(bad)}", code="unknown_region")
    if "regulator" not in ctx.state().roles_of(address):
        raise InputError(
            "a reviewer is a key holding the regulator role", code="reviewer_not_regulator"
        )
    now = now_of(ctx)
    with ctx.engine.begin() as conn:
        ids = [
            wl.designate(conn, address, r, actor.address, now) for r in sorted(set(body.regions))
        ]
        events = (
            conn.execute(
                select(EVENTS.c.id).where(
                    EVENTS.c.kind == "reviewer_designated", EVENTS.c.ref_id.in_(ids)
                )
            )
            .scalars()
            .all()
        )
    anchor(ctx, list(events))
    with ctx.engine.connect() as conn:
        rows = conn.execute(select(REVIEWERS).where(REVIEWERS.c.id.in_(ids))).all()
    return [
        ReviewerOut(
            id=r.id,
            address=r.address,
            region=r.region,
            designated_by=r.designated_by,
            designated_at=r.designated_at,
        )
        for r in rows
    ]


@audit_router.get("", response_model=list[WhitelistOut], summary="White-list entries")
def entries(
    ctx: ContextDep,
    actor: RegulatorDep,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    state: Annotated[str | None, Query(pattern=r"^[a-z_]{1,16}$")] = None,
) -> list[WhitelistOut]:
    query = select(WHITELIST).order_by(WHITELIST.c.id)
    if region is not None:
        query = query.where(WHITELIST.c.region == region)
    if state is not None:
        query = query.where(WHITELIST.c.state == state)
    with ctx.engine.connect() as conn:
        return [entry_out(conn, ctx, r) for r in conn.execute(query).all()]


@audit_router.get(
    "/my-regions",
    response_model=list[WhitelistOut],
    summary="The entries of the regions I am designated to review",
)
def my_regions(
    ctx: ContextDep,
    actor: RegulatorDep,
    state: Annotated[str | None, Query(pattern=r"^[a-z_]{1,16}$")] = None,
) -> list[WhitelistOut]:
    """A prefecture's designation covers its counties, as for the review itself."""
    with ctx.engine.connect() as conn:
        regions = sorted(wl.reviewer_regions(conn, actor.address))
        if not regions:
            raise ForbiddenError(
                "this key is designated to review no region", code="reviewer_out_of_region"
            )
        covered = [WHITELIST.c.region.in_(regions)] + [
            WHITELIST.c.region.like(r[:4] + "%") for r in regions if r.endswith("00")
        ]
        query = select(WHITELIST).where(or_(*covered)).order_by(WHITELIST.c.id)
        if state is not None:
            query = query.where(WHITELIST.c.state == state)
        return [entry_out(conn, ctx, r) for r in conn.execute(query).all()]


Criterion = Literal[
    "compliant_operation", "fixed_premises", "financing_need", "good_credit", "lawful_loan_use"
]


@audit_router.post(
    "/{entry_id}/criteria/{criterion}",
    response_model=WhitelistOut,
    summary="A reviewer of the entry's region records its finding on one of the five criteria",
)
def record_criterion(
    entry_id: IdPath,
    criterion: Criterion,
    body: FindingIn,
    ctx: ContextDep,
    actor: RegulatorDep,
) -> WhitelistOut:
    now = now_of(ctx)
    with ctx.engine.begin() as conn:
        entry = wl.load_entry(conn, entry_id)
        wl.require_reviewer_of(conn, actor.address, entry.region)
        event = wl.record_finding(
            conn, entry, criterion, body.evidence_hash, body.met, actor.address, now
        )
    anchor(ctx, [event])
    return _one(ctx, entry_id)


def _review_values(body: ReviewIn, actor: str) -> dict[str, Any]:
    if body.action == "reject" and (body.reason is None or body.repairable is None):
        raise InputError("a rejection needs a reason and repairable", code="reason_required")
    if body.action == "remove" and body.reason is None:
        raise InputError("a removal needs a reason", code="reason_required")
    values: dict[str, Any] = {"reviewer": actor}
    if body.reason is not None:
        values["reason"] = body.reason
    if body.action == "reject":
        values["repairable"] = body.repairable
    return values


@audit_router.post(
    "/{entry_id}/review",
    response_model=WhitelistOut,
    summary="A reviewer of the entry's region moves it (review, recommend, reject, ...)",
)
def review(entry_id: IdPath, body: ReviewIn, ctx: ContextDep, actor: RegulatorDep) -> WhitelistOut:
    now = now_of(ctx)
    allowed, to = wl.REVIEW_STEPS[body.action]
    with ctx.engine.begin() as conn:
        entry = wl.load_entry(conn, entry_id)
        wl.require_reviewer_of(conn, actor.address, entry.region)
        values = _review_values(body, actor.address)
        if body.action == "recommend" and entry.state == "under_review":
            wl.require_criteria_met(entry)
        if body.action == "expire" and entry.state == "pushed":
            waiting = [
                p.id
                for p in wl.pushes_of(conn, entry_id)
                if p.decision is None and now <= int(p.due_at)
            ]
            if waiting:
                raise ConflictError(
                    f"banks still have time to answer (pushes {waiting})", code="pushes_pending"
                )
        event = wl.move(conn, entry, allowed, to, actor.address, now, **values)
    anchor(ctx, [event])
    return _one(ctx, entry_id)


def _live_grant(ctx: AppContext, subject_id: bytes, institution: str, now: int) -> int:
    """The enterprise's live loan_application grant to ``institution`` (the newest): holding
    one is how an enterprise chooses a bank a reviewer may push its entry to."""
    state = ctx.state()
    binding = state.subject_by_id(subject_id)
    profile = state.institution(institution)
    if binding is not None and profile is not None:
        live = [
            g.grant_id
            for g in state.grants_of_subject(binding.subject_index)
            if g.institution_index == profile.index
            and g.purpose == Purpose.LOAN_APPLICATION
            and not g.revoked
            and g.not_before <= now < g.not_after
        ]
        if live:
            return max(live)
    name = names(ctx)(institution)
    raise InputError(
        f"the enterprise holds no live loan_application grant to {name} ({institution})",
        code="push_grant_mismatch",
    )


@audit_router.post(
    "/{entry_id}/pushes",
    response_model=WhitelistOut,
    summary="A reviewer pushes a recommended entry to banks holding the enterprise's grant",
)
def reviewer_push(
    entry_id: IdPath, body: ReviewerPushIn, ctx: ContextDep, actor: RegulatorDep
) -> WhitelistOut:
    now = now_of(ctx)
    banks = list(dict.fromkeys(str(Web3.to_checksum_address(b)) for b in body.banks))
    with ctx.engine.connect() as conn:
        entry = wl.load_entry(conn, entry_id)
        wl.require_reviewer_of(conn, actor.address, entry.region)
    if entry.state != "recommended":
        raise ConflictError(
            f"white-list entry {entry_id} is {entry.state}: only a recommended one is pushed",
            code="whitelist_state_order",
        )
    targets = [(bank, _live_grant(ctx, bytes(entry.subject_id), bank, now)) for bank in banks]
    due = now + ctx.settings.financing_decision_days * DAY_S
    with ctx.engine.begin() as conn:
        entry = wl.load_entry(conn, entry_id)
        event = wl.move(conn, entry, ("recommended",), "pushed", actor.address, now)
        for institution, grant_id in targets:
            wl.add_push(conn, entry_id, institution, grant_id, now, due)
    anchor(ctx, [event])
    return _one(ctx, entry_id)


# -- the enterprise ----------------------------------------------------------------------------


@subject_router.post(
    "", response_model=WhitelistOut, status_code=201, summary="Apply to my region's white list"
)
def apply(body: WhitelistIn, ctx: ContextDep, actor: SubjectDep) -> WhitelistOut:
    assert actor.subject is not None
    _check_criteria(body.criteria)
    with ctx.engine.begin() as conn:
        # The region decides who reviews: it must be where the enterprise is registered.
        place = registered_place(
            conn, ctx.keyrings.current(), ctx.catalog, actor.subject.subject_id
        )
        check_place(place, body.region, body.industry)
        entry_id, event = wl.submit(
            conn,
            actor.subject.subject_id,
            actor.address,
            body.region,
            body.industry,
            body.criteria,
            now_of(ctx),
        )
    anchor(ctx, [event])
    return _one(ctx, entry_id)


@subject_router.get("", response_model=list[WhitelistOut], summary="My white-list entries")
def mine(ctx: ContextDep, actor: SubjectDep) -> list[WhitelistOut]:
    assert actor.subject is not None
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(WHITELIST)
            .where(WHITELIST.c.subject_id == actor.subject.subject_id)
            .order_by(WHITELIST.c.id)
        ).all()
        return [entry_out(conn, ctx, r) for r in rows]


def _own_entry(conn: Connection, entry_id: int, actor: Any) -> Any:
    entry = wl.load_entry(conn, entry_id)
    if bytes(entry.subject_id) != actor.subject.subject_id:
        raise ForbiddenError(f"white-list entry {entry_id} is not yours", code="not_your_entry")
    return entry


@subject_router.post(
    "/{entry_id}/resubmission",
    response_model=WhitelistOut,
    summary="Resubmit a repairable rejection with new evidence",
)
def resubmit(
    entry_id: IdPath, body: WhitelistIn, ctx: ContextDep, actor: SubjectDep
) -> WhitelistOut:
    _check_criteria(body.criteria)
    with ctx.engine.begin() as conn:
        entry = _own_entry(conn, entry_id, actor)
        if entry.state == "rejected" and not entry.repairable:
            raise ConflictError("this rejection cannot be repaired", code="not_repairable")
        event = wl.move(
            conn,
            entry,
            ("rejected",),
            "submitted",
            actor.address,
            now_of(ctx),
            criteria=wl.criteria_json(body.criteria),
            reason=None,
            repairable=None,
        )
    anchor(ctx, [event])
    return _one(ctx, entry_id)


def _check_push_grant(
    ctx: AppContext, actor: Any, institution: str, grant_id: int, now: int
) -> None:
    state = ctx.state()
    profile = state.institution(institution)
    grant = state.grant(grant_id)
    if (
        profile is None
        or grant is None
        or grant.subject_index != actor.subject.subject_index
        or grant.institution_index != profile.index
        or grant.purpose != Purpose.LOAN_APPLICATION
        or grant.revoked
        or not grant.not_before <= now < grant.not_after
    ):
        raise InputError(
            f"grant {grant_id} is not a live loan_application grant of yours to {institution}",
            code="push_grant_mismatch",
        )


@subject_router.post(
    "/{entry_id}/pushes",
    response_model=WhitelistOut,
    summary="Push my recommended entry to banks holding my loan_application grant",
)
def push(entry_id: IdPath, body: PushIn, ctx: ContextDep, actor: SubjectDep) -> WhitelistOut:
    now = now_of(ctx)
    banks = [(str(Web3.to_checksum_address(b.institution)), b.grant_id) for b in body.banks]
    for institution, grant_id in banks:
        _check_push_grant(ctx, actor, institution, grant_id, now)
    due = now + ctx.settings.financing_decision_days * DAY_S
    with ctx.engine.begin() as conn:
        entry = _own_entry(conn, entry_id, actor)
        event = wl.move(conn, entry, ("recommended",), "pushed", actor.address, now)
        for institution, grant_id in banks:
            wl.add_push(conn, entry_id, institution, grant_id, now, due)
    anchor(ctx, [event])
    return _one(ctx, entry_id)


# -- the banks ---------------------------------------------------------------------------------


@institution_router.get(
    "",
    response_model=list[WhitelistOut],
    summary="Entries pushed to me, and the recommended entries of a region",
)
def bank_entries(
    ctx: ContextDep,
    actor: InstitutionDep,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
) -> list[WhitelistOut]:
    """Entries pushed to this bank, and the recommended entries of ``region`` or, without it,
    of the regions its loan products serve."""
    with ctx.engine.connect() as conn:
        if region is not None:
            regions = [region]
        else:
            served = conn.execute(
                select(PRODUCTS.c.regions).where(PRODUCTS.c.institution == actor.address)
            ).scalars()
            regions = sorted({r for listed in served for r in json.loads(listed)})
        pushed_to_me = select(PUSHES.c.entry_id).where(PUSHES.c.institution == actor.address)
        rows = conn.execute(
            select(WHITELIST)
            .where(or_(WHITELIST.c.id.in_(pushed_to_me), WHITELIST.c.state == "recommended"))
            .order_by(WHITELIST.c.id)
        ).all()
        mine = set(conn.execute(pushed_to_me).scalars())
        return [
            entry_out(conn, ctx, r) for r in rows if r.id in mine or serves(regions, str(r.region))
        ]


@institution_router.post(
    "/pushes/{push_id}/decision",
    response_model=WhitelistOut,
    summary="Answer a white-list push within its deadline",
)
def decide_push(
    push_id: IdPath,
    body: PushDecisionIn,
    ctx: ContextDep,
    actor: InstitutionDep,
) -> WhitelistOut:
    with ctx.engine.begin() as conn:
        pushed = wl.load_push(conn, push_id)
        event = wl.decide_push(conn, pushed, actor.address, body.decision, now_of(ctx))
    anchor(ctx, [event])
    return _one(ctx, int(pushed.entry_id))
