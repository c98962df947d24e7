"""What leaves the platform about an event, and the check that must pass first.

An alert is thin: subject id, category, kind, record id, time and event number, never the
record's data; the institution reads the detail through the gated API (so the read is in
the access log). Before any delivery (webhook, poll or stream) a risk alert's grant (a public
event: the institution's agreement) is checked again at the current block; a refusal is
logged, and the event is not sent.
Webhook bodies are CloudEvents-shaped JSON; the ``webhook-id`` is fixed per event, so every
retry of one event carries the same id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ledger_api.accesslog import ALLOWED, DENIED, EntryDraft
from ledger_api.catalog.loader import Catalog
from ledger_api.chain.state import ChainState, InstitutionProfile
from ledger_api.chain.types import AccessLevel, AgreementStatus, GrantCheck, Purpose
from ledger_api.monitoring.rules import default_rules
from ledger_api.monitoring.subscriptions import monitoring_check

SOURCE = "/ccl/ledger-api"
TYPE_PREFIX = "cn.gov.henan.ccl."


def webhook_id(subscription_id: int, number: int) -> str:
    return f"msg_{subscription_id}_{number}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def event_data(row: Any, catalog: Catalog) -> dict[str, Any]:
    category = catalog.category(row.category)
    return {
        "subscription_id": row.subscription_id,
        "event_number": row.number,
        "subject_id": "0x" + bytes(row.subject_id).hex(),
        "category": category.name,
        "category_name": category.title_zh or category.title,
        "kind": default_rules().kind_name(row.kind),
        "record_uid": None if row.record_uid is None else "0x" + bytes(row.record_uid).hex(),
        "grant_id": row.grant_id,
        "occurred_at": _iso(row.occurred_at),
    }


def cloud_event(row: Any, catalog: Catalog) -> dict[str, Any]:
    """A CloudEvents 1.0 structured-mode body for one subscription event."""
    kind = "risk" if row.grant_id is not None else "public"
    return {
        "specversion": "1.0",
        "id": webhook_id(row.subscription_id, row.number),
        "source": SOURCE,
        "type": f"{TYPE_PREFIX}{kind}.{default_rules().kind_name(row.kind)}",
        "subject": "0x" + bytes(row.subject_id).hex(),
        "time": _iso(row.occurred_at),
        "datacontenttype": "application/json",
        "data": event_data(row, catalog),
    }


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str  # "ok" or the grant check's code


def recheck(state: ChainState, institution: str, row: Any, now: int) -> Verdict:
    """Whether the event may still go to ``institution`` (risk alerts: its grant, now)."""
    profile = state.institution(institution)
    if row.grant_id is None:  # public information: under the institution's agreement
        return _under_agreement(state, profile, row.category, now)
    grant = state.grant(row.grant_id)
    if profile is None:
        return Verdict(False, GrantCheck.UNKNOWN_INSTITUTION.code)
    if grant is None:
        return Verdict(False, GrantCheck.UNKNOWN_GRANT.code)
    check = monitoring_check(state, profile, grant, row.category, now)
    return Verdict(check == GrantCheck.USABLE, check.code)


def _under_agreement(
    state: ChainState, profile: InstitutionProfile | None, category: int, now: int
) -> Verdict:
    if profile is None:
        return Verdict(False, GrantCheck.UNKNOWN_INSTITUTION.code)
    if profile.suspended:
        return Verdict(False, GrantCheck.INSTITUTION_SUSPENDED.code)
    agreement = state.agreement(profile.agreement_id) if profile.agreement_id else None
    if agreement is None:
        return Verdict(False, GrantCheck.NO_AGREEMENT.code)
    if (
        agreement.status != AgreementStatus.ACTIVE
        or not agreement.not_before <= now < agreement.not_after
    ):
        return Verdict(False, GrantCheck.AGREEMENT_NOT_ACTIVE.code)
    if not agreement.categories >> category & 1:
        return Verdict(False, GrantCheck.CATEGORY_NOT_IN_AGREEMENT.code)
    return Verdict(True, "ok")


def log_draft(
    institution: str, row: Any, verdict: Verdict, operation: str, block: int
) -> EntryDraft:
    """The access-log entry of one delivery (or refusal to deliver)."""
    return EntryDraft(
        actor=institution,
        actor_role="institution",
        action=operation,
        decision=ALLOWED if verdict.allowed else DENIED,
        reason=verdict.reason,
        subject_id=bytes(row.subject_id),
        category=row.category,
        purpose=int(Purpose.POST_LOAN_MONITORING) if row.grant_id is not None else None,
        # VERIFY: the regulator's audit re-checks each alert's grant like any gated access
        level=int(AccessLevel.VERIFY) if row.grant_id is not None else None,
        grant_id=row.grant_id,
        checked_block=block,
    )
