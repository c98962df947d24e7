"""The financing white list (白名单): an enterprise applies in its region with evidence for
the five criteria of the national mechanism; a reviewer designated for that region reviews it;
a recommended entry is pushed to banks the enterprise chose (each holding its grant for
loan_application); each bank answers within the decision window; the entry then expires or is
removed. Every state change is a financing event anchored on chain.

Reviewers are regulator-role keys designated per region code by a regulator's signed request
(kept in ``whitelist_reviewers``, each designation itself an anchored event): the on-chain
REGULATOR_ROLE says who may review at all, the designation says where.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, insert, select, update

from ledger_api.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from ledger_api.financing.events import add_event
from ledger_api.financing.tables import PUSHES, REVIEWERS, WHITELIST

CRITERIA = (
    "compliant_operation",  # 合规持续经营
    "fixed_premises",  # 有固定经营场所
    "financing_need",  # 真实融资需求
    "good_credit",  # 信用状况良好
    "lawful_loan_use",  # 贷款用途合法合规
)

# The reviewer's actions: from which states each may be taken, and the state it leads to.
REVIEW_STEPS: dict[str, tuple[tuple[str, ...], str]] = {
    "start_review": (("submitted",), "under_review"),
    "recommend": (("under_review",), "recommended"),
    "reject": (("under_review",), "rejected"),
    "remove": (("recommended", "pushed"), "removed"),
    "expire": (("pushed",), "expired"),
}


def designate(conn: Connection, address: str, region: str, regulator: str, now: int) -> int:
    reviewer_id = int(
        conn.execute(
            insert(REVIEWERS)
            .values(address=address, region=region, designated_by=regulator, designated_at=now)
            .returning(REVIEWERS.c.id)
        ).scalar_one()
    )
    add_event(
        conn, "reviewer_designated", reviewer_id, regulator, now, reviewer=address, region=region
    )
    return reviewer_id


def reviewer_regions(conn: Connection, address: str) -> set[str]:
    rows = conn.execute(
        select(REVIEWERS.c.region).where(
            REVIEWERS.c.address == address, REVIEWERS.c.revoked_at.is_(None)
        )
    ).scalars()
    return set(rows)


def require_reviewer_of(conn: Connection, address: str, region: str) -> None:
    """A reviewer acts only in a region it is designated for (a prefecture covers its
    counties: 410100 covers 410102)."""
    regions = reviewer_regions(conn, address)
    if region in regions or (region[:4] + "00") in regions:
        return
    raise ForbiddenError(
        f"this reviewer is not designated for region {region}", code="reviewer_out_of_region"
    )


def load_entry(conn: Connection, entry_id: int) -> Any:
    row = conn.execute(select(WHITELIST).where(WHITELIST.c.id == entry_id)).first()
    if row is None:
        raise NotFoundError(f"no white-list entry {entry_id}", code="whitelist_entry_not_found")
    return row


def criteria_json(criteria: dict[str, str]) -> str:
    return json.dumps({name: criteria[name].lower() for name in CRITERIA}, sort_keys=True)


def submit(
    conn: Connection,
    subject_id: bytes,
    account: str,
    region: str,
    industry: str,
    criteria: dict[str, str],
    now: int,
) -> tuple[int, int]:
    """A new entry in state submitted: (entry id, its event id)."""
    open_entry = conn.execute(
        select(WHITELIST.c.id).where(
            WHITELIST.c.subject_id == subject_id,
            WHITELIST.c.state.in_(("submitted", "under_review", "recommended", "pushed")),
        )
    ).first()
    if open_entry is not None:
        raise ConflictError(
            f"white-list entry {open_entry.id} is still open", code="whitelist_entry_open"
        )
    evidence = criteria_json(criteria)
    entry_id = int(
        conn.execute(
            insert(WHITELIST)
            .values(
                subject_id=subject_id,
                account=account,
                region=region,
                industry=industry,
                state="submitted",
                criteria=evidence,
                submitted_at=now,
                updated_at=now,
            )
            .returning(WHITELIST.c.id)
        ).scalar_one()
    )
    event = add_event(
        conn,
        "whitelist_submitted",
        entry_id,
        account,
        now,
        region=region,
        criteria=json.loads(evidence),
    )
    return entry_id, event


def move(
    conn: Connection,
    entry: Any,
    allowed: tuple[str, ...],
    to: str,
    actor: str,
    now: int,
    **values: Any,
) -> int:
    """Change the entry's state if it is in ``allowed`` (else 409 whitelist_state_order);
    the change is an event in the same transaction. Returns the event id."""
    if entry.state not in allowed:
        raise ConflictError(
            f"white-list entry {entry.id} is {entry.state}: it cannot become {to}",
            code="whitelist_state_order",
        )
    done = conn.execute(
        update(WHITELIST)
        .where(WHITELIST.c.id == entry.id, WHITELIST.c.state == entry.state)
        .values(state=to, updated_at=now, **values)
    ).rowcount
    if done != 1:
        raise ConflictError(
            f"white-list entry {entry.id} changed meanwhile", code="whitelist_state_order"
        )
    fields = {k: v for k, v in values.items() if k in ("reason", "repairable", "criteria")}
    return add_event(
        conn, "whitelist_" + to, int(entry.id), actor, now, **{"from": entry.state}, **fields
    )


def findings_of(entry: Any) -> dict[str, dict[str, Any]]:
    return dict(json.loads(entry.findings)) if entry.findings else {}


def record_finding(
    conn: Connection,
    entry: Any,
    criterion: str,
    evidence: str,
    met: bool,
    reviewer: str,
    now: int,
) -> int:
    """The reviewer's finding on one criterion of an entry under review (a later finding on
    the same criterion replaces it; both stay in the anchored events). Returns the event id."""
    if criterion not in CRITERIA:
        raise InputError(
            f"unknown criterion {criterion!r}; one of {', '.join(CRITERIA)}",
            code="unknown_criterion",
        )
    if entry.state != "under_review":
        raise ConflictError(
            f"white-list entry {entry.id} is {entry.state}: criteria are recorded under review",
            code="whitelist_state_order",
        )
    findings = findings_of(entry)
    findings[criterion] = {"evidence": evidence.lower(), "met": met, "reviewer": reviewer,
                           "at": now}  # fmt: skip
    done = conn.execute(
        update(WHITELIST)
        .where(WHITELIST.c.id == entry.id, WHITELIST.c.state == "under_review")
        .values(findings=json.dumps(findings, sort_keys=True), updated_at=now)
    ).rowcount
    if done != 1:
        raise ConflictError(
            f"white-list entry {entry.id} changed meanwhile", code="whitelist_state_order"
        )
    return add_event(
        conn, "whitelist_criterion_recorded", int(entry.id), reviewer, now,
        criterion=criterion, evidence=evidence.lower(), met=met,
    )  # fmt: skip


def require_criteria_met(entry: Any) -> None:
    """A recommendation needs the reviewer's finding on all five criteria, each met."""
    findings = findings_of(entry)
    missing = [c for c in CRITERIA if c not in findings]
    unmet = [c for c in CRITERIA if c in findings and not findings[c]["met"]]
    if missing or unmet:
        parts = ([f"not recorded: {', '.join(missing)}"] if missing else []) + (
            [f"not met: {', '.join(unmet)}"] if unmet else []
        )
        raise ConflictError(
            f"white-list entry {entry.id} cannot be recommended ({'; '.join(parts)})",
            code="criteria_not_met",
        )


def pushes_of(conn: Connection, entry_id: int) -> list[Any]:
    return list(
        conn.execute(select(PUSHES).where(PUSHES.c.entry_id == entry_id).order_by(PUSHES.c.id))
    )


def add_push(
    conn: Connection, entry_id: int, institution: str, grant_id: int, now: int, due: int
) -> None:
    conn.execute(
        insert(PUSHES).values(
            entry_id=entry_id,
            institution=institution,
            grant_id=grant_id,
            pushed_at=now,
            due_at=due,
        )
    )


def load_push(conn: Connection, push_id: int) -> Any:
    row = conn.execute(select(PUSHES).where(PUSHES.c.id == push_id)).first()
    if row is None:
        raise NotFoundError(f"no white-list push {push_id}", code="whitelist_push_not_found")
    return row


def decide_push(conn: Connection, push: Any, institution: str, decision: str, now: int) -> int:
    if push.institution != institution:
        raise ForbiddenError(
            f"white-list push {push.id} is not addressed to this institution",
            code="not_your_push",
        )
    if push.decision is not None:
        raise ConflictError(
            f"white-list push {push.id} is already {push.decision}", code="already_decided"
        )
    if now > int(push.due_at):
        raise ConflictError(f"white-list push {push.id} is past its deadline", code="push_expired")
    conn.execute(
        update(PUSHES).where(PUSHES.c.id == push.id).values(decision=decision, decided_at=now)
    )
    return add_event(
        conn, "whitelist_bank_" + decision, int(push.entry_id), institution, now, push=push.id
    )
