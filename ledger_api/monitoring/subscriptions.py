"""Subscriptions: create, list, pause, resume, delete, rotate a webhook secret.

Every check runs before anything is written, so a refused request creates nothing: the kind,
the categories, the regions and industry sections (catalog data), the webhook URL (http or
https; in production mode a host that resolves to a private, loopback, link-local or
otherwise non-public address is refused: SSRF), and for risk alerts a usable
``post_loan_monitoring`` grant held by the institution (``grant_rules.check_grant``).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, insert, select, update

from ledger_api.catalog.loader import Catalog
from ledger_api.chain.grant_rules import AccessRequest, GrantState, check_grant
from ledger_api.chain.state import ChainState, InstitutionProfile, institution_state
from ledger_api.chain.types import AccessLevel, AgreementStatus, GrantCheck, Purpose, bits_of
from ledger_api.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from ledger_api.monitoring.rules import MonitoringRules
from ledger_api.store.monitoring_tables import SUBSCRIPTIONS
from ledger_api.store.types import utcnow

RISK_ALERTS = "risk_alerts"
PUBLIC_PUSH = "public_push"
KINDS = (RISK_ALERTS, PUBLIC_PUSH)
ACTIVE, PAUSED, DISABLED, DELETED = "active", "paused", "disabled", "deleted"
ROTATION_GRACE_S = 86_400  # the previous secret still signs for a day after a rotation

Resolver = Callable[[str], list[str]]


def resolve_host(host: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return []
    return [str(info[4][0]) for info in infos]


def check_webhook_url(
    url: str | None, *, production: bool, resolve: Resolver = resolve_host
) -> str | None:
    """The webhook URL to keep (None: pull only), or InputError with a stable code."""
    if url is None or url == "":
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError("the webhook URL must be an http or https URL", code="invalid_webhook_url")
    if len(url) > 2048:
        raise InputError(
            "the webhook URL is longer than 2048 characters", code="invalid_webhook_url"
        )
    if production:
        check_public_host(parts.hostname, resolve)
    return url


def check_public_host(host: str, resolve: Resolver = resolve_host) -> None:
    """Refuse a host that is, or resolves to, anything but a public address (SSRF)."""
    addresses = resolve(host)
    if not addresses:
        raise InputError(f"the webhook host {host!r} does not resolve", code="webhook_unresolvable")
    for raw in addresses:
        address = ipaddress.ip_address(raw.split("%")[0])
        if not address.is_global or address.is_multicast:
            raise InputError(
                "the webhook URL points at a private, loopback or reserved address",
                code="webhook_address_not_public",
            )


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class SubscriptionRequest:
    kind: str
    categories: list[str]
    regions: list[str]
    industries: list[str]
    webhook_url: str | None


def monitoring_check(
    state: ChainState, profile: InstitutionProfile, grant: GrantState, category: int, now: int
) -> GrantCheck:
    """Whether ``grant`` lets ``profile`` be alerted about ``category`` at ``now``."""
    agreement = state.agreement(profile.agreement_id) if profile.agreement_id else None
    return check_grant(
        grant,
        institution_state(profile),
        agreement,
        AccessRequest(category, Purpose.POST_LOAN_MONITORING, AccessLevel.VERIFY),
        now,
        0,  # an alert is no use of the grant: the read it prompts is, and is counted
    )


def validate(
    request: SubscriptionRequest,
    catalog: Catalog,
    rules: MonitoringRules,
    state: ChainState,
    profile: InstitutionProfile,
    now: int,
    *,
    production: bool,
    resolve: Resolver = resolve_host,
) -> tuple[int, str | None]:
    """The category mask and webhook URL of a valid request; a LedgerError otherwise."""
    if request.kind not in KINDS:
        raise InputError(f"kind must be one of {list(KINDS)}", code="invalid_subscription_kind")
    mask = 0
    for name in request.categories:
        if name not in catalog.category_names:
            raise InputError(f"not a catalog category: {name!r}", code="unknown_category")
        mask |= catalog.category(name).mask
    url = check_webhook_url(request.webhook_url, production=production, resolve=resolve)
    if request.kind == RISK_ALERTS:
        if request.regions or request.industries:
            raise InputError(
                "regions and industries belong to public_push subscriptions",
                code="invalid_subscription_filter",
            )
        wanted = bits_of(mask) if mask else list(rules.by_category)
        if not _holds_monitoring_grant(state, profile, wanted, now):
            raise ForbiddenError(
                "the institution holds no usable post_loan_monitoring grant covering these "
                "categories",
                code="no_monitoring_grant",
            )
        return mask, url
    for code in request.regions:
        if code not in rules.regions:
            raise InputError(f"not a region of Henan: {code!r}", code="unknown_region")
    for code in request.industries:
        if code not in rules.industries:
            raise InputError(f"not a GB/T 4754 section: {code!r}", code="unknown_industry")
    if not request.regions and not request.industries:
        raise InputError(
            "a public_push subscription names regions, industries or both",
            code="invalid_subscription_filter",
        )
    _check_agreement_active(state, profile, now)
    return mask, url


def _holds_monitoring_grant(
    state: ChainState, profile: InstitutionProfile, categories: list[int], now: int
) -> bool:
    for grant in state.grants_of_institution(profile.address):
        if grant.purpose != Purpose.POST_LOAN_MONITORING:
            continue
        for bit in categories:
            if monitoring_check(state, profile, grant, bit, now) == GrantCheck.USABLE:
                return True
    return False


def _check_agreement_active(state: ChainState, profile: InstitutionProfile, now: int) -> None:
    agreement = state.agreement(profile.agreement_id) if profile.agreement_id else None
    if (
        profile.suspended
        or agreement is None
        or not (
            agreement.not_before <= now < agreement.not_after
            and agreement.status == AgreementStatus.ACTIVE
        )
    ):
        raise ForbiddenError(
            "public push needs an active data-sharing agreement", code="agreement_not_active"
        )


def create(
    conn: Connection,
    institution: str,
    request: SubscriptionRequest,
    mask: int,
    url: str | None,
    now: float,
) -> dict[str, Any]:
    secret = new_secret() if url else None
    stamp = utcnow()
    result = conn.execute(
        insert(SUBSCRIPTIONS).values(
            institution=institution,
            kind=request.kind,
            status=ACTIVE,
            categories=mask,
            regions=json.dumps(sorted(set(request.regions))),
            industries=json.dumps(sorted(set(request.industries))),
            webhook_url=url,
            secret=secret,
            last_number=0,
            delivered_number=0,
            acked_number=0,
            failures=0,
            next_attempt_at=now,
            created_at=stamp,
            updated_at=stamp,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    sub_id = int(key[0])
    shown = describe(conn, sub_id)
    shown["secret"] = secret  # shown once, at creation (and at each rotation)
    return shown


def _row(conn: Connection, sub_id: int, institution: str | None) -> Any:
    row = conn.execute(select(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == sub_id)).one_or_none()
    if (
        row is None
        or row.status == DELETED
        or (institution is not None and row.institution != institution)
    ):
        raise NotFoundError(
            f"no subscription {sub_id} of this institution", code="unknown_subscription"
        )
    return row


def describe(conn: Connection, sub_id: int, institution: str | None = None) -> dict[str, Any]:
    return as_dict(_row(conn, sub_id, institution))


def as_dict(row: Any, catalog: Catalog | None = None) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "id": row.id,
        "institution": row.institution,
        "kind": row.kind,
        "status": row.status,
        "categories": bits_of(row.categories),
        "regions": json.loads(row.regions),
        "industries": json.loads(row.industries),
        "webhook_url": row.webhook_url,
        "last_event": row.last_number,
        "delivered_up_to": row.delivered_number,
        "acknowledged_up_to": row.acked_number,
        "failures": row.failures,
        "last_error": row.last_error,
    }
    if catalog is not None:
        shown["category_names"] = [catalog.category(b).name for b in shown["categories"]]
    return shown


def list_of(conn: Connection, institution: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(SUBSCRIPTIONS)
        .where(SUBSCRIPTIONS.c.institution == institution, SUBSCRIPTIONS.c.status != DELETED)
        .order_by(SUBSCRIPTIONS.c.id)
    )
    return [as_dict(r) for r in rows]


def set_status(
    conn: Connection, sub_id: int, institution: str, status: str, now: float
) -> dict[str, Any]:
    row = _row(conn, sub_id, institution)
    if status == ACTIVE and row.status == DISABLED and row.webhook_url is None:
        raise ConflictError("this subscription cannot be resumed", code="subscription_disabled")
    values: dict[str, Any] = {"status": status, "updated_at": utcnow()}
    if status == ACTIVE:  # resuming (also a webhook the receiver's 410 disabled): retry now
        values.update(failures=0, next_attempt_at=now, last_error=None)
    conn.execute(update(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == sub_id).values(**values))
    if status == DELETED:  # no longer found, so shown as it was, with its new status
        return {**as_dict(row), "status": DELETED}
    return describe(conn, sub_id)


def rotate_secret(conn: Connection, sub_id: int, institution: str, now: float) -> dict[str, Any]:
    row = _row(conn, sub_id, institution)
    if row.webhook_url is None:
        raise ConflictError("a pull-only subscription has no webhook secret", code="no_webhook")
    secret = new_secret()
    conn.execute(
        update(SUBSCRIPTIONS)
        .where(SUBSCRIPTIONS.c.id == sub_id)
        .values(
            secret=secret,
            previous_secret=row.secret,
            previous_until=int(now) + ROTATION_GRACE_S,
            updated_at=utcnow(),
        )
    )
    shown = describe(conn, sub_id)
    shown["secret"] = secret
    return shown
