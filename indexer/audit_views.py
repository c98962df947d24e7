"""The regulators' audit views (docs/audit.md): plain functions over a Session.

Every view takes the same keyword filters and ignores the ones that do not apply to it:

    institution: str | None   address (any case) or registered name of an institution
    subject_id: bytes | None  pseudonymous subject id (32 bytes)
    since, until: datetime | None   half-open window [since, until), timezone-aware
    limit: int = 100, offset: int = 0   paging of list views

Each view checks its filters first (``indexer.audit_filters``): a malformed one raises
``FilterError`` (an ``InputError`` naming the filter), never a database error.

Views (stable signatures; the API mounts them under /v1/audit):

    access_audit(session, **filters) -> list[dict]   every access-log entry with the grant
        check recomputed from the replica's state at the block it was checked
    violations(session, after_id=None, **filters) -> list[dict]   entries logged "allowed"
        that had no usable grant at that block (must be empty); same rows as access_audit.
        An access that drew on several categories (a score: ``categories``) is a violation
        when any one of them was not usable. Found by one SQL statement over the verdicts
        the indexer recorded and the entries after them (``indexer.log_recheck``,
        ``indexer.violations_sql``); ``after_id`` pages by key
    refusals(session, **filters) -> list[dict]       every refused request after
        authentication (and the gate's unauthenticated ones); same rows as access_audit
    volumes(session, *, bucket="day"|"month", **filters) -> list[dict]   accesses per
        institution, purpose, category and time bucket
    grant_history(session, **filters) -> list[dict]  grants issued and revoked
    agreements(session, **filters) -> list[dict]     agreement status history
    anchors(session, **filters) -> list[dict]        anchored roots with their verification
        status against the database (data batches, access-log ranges)
    statistics(session, *, group_by=None, **filters) -> dict   the plan's KPIs; with
        group_by (month, region, industry, institution) also per group (``kpis_by_group``,
        ``records_by_group``)
    subscriptions, deliveries                        monitoring and push, per subscription
        and per institution (``indexer.audit_monitoring``)

Byte values are rendered 0x-hex, times ISO 8601 UTC, enums by name (lowercase).

The grant check of an access is recomputed with ``grant_rules.check_grant`` over the state
right after ``checked_block`` (the block the API's gate reported), at the time of the request
(``at``: grant and agreement windows are judged by the request's clock), with the number of
earlier allowed accesses under the same grant as the usage count.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Select, Table, and_, func, or_, select, text
from sqlalchemy.orm import Session

from indexer import audit_monitoring
from indexer.audit_filters import FilterError, check_filters
from indexer.group_counts import count_groups
from indexer.log_recheck import checked_through
from indexer.regulator_acts import regulator_acts
from indexer.replica import ReplicaState, checksum_address
from indexer.supply_chain_views import SUPPLY_CHAIN_VIEWS
from indexer.tables import AGREEMENTS, ANCHORS, BLOCKS, GRANTS, INSTITUTIONS, SUBJECT_BINDINGS
from indexer.violations_sql import violations_page_query
from ledger_api.catalog.loader import default_catalog
from ledger_api.chain.grant_rules import AccessRequest, GrantState, check_grant
from ledger_api.chain.state import institution_state
from ledger_api.chain.types import (
    AccessLevel,
    AgreementStatus,
    AnchorKind,
    GrantCheck,
    Purpose,
    bits_of,
)
from ledger_api.financing.kpis import GroupBy, kpis, loan_totals
from ledger_api.financing.tables import EVENTS as LOOP_EVENTS
from ledger_api.saferoom import scorecard
from ledger_api.store.access_log import AccessLogAnchor, AccessLogEntry
from ledger_api.store.models import BATCHES, RECORDS, BatchState

__all__ = [
    "VIEWS",
    "VIEW_ALIASES",
    "access_audit",
    "agreements",
    "anchors",
    "grant_history",
    "refusals",
    "statistics",
    "view_name",
    "violations",
    "volumes",
]

ACCESS_LOG = cast(Table, AccessLogEntry.__table__)
ACCESS_LOG_ANCHORS = cast(Table, AccessLogAnchor.__table__)
# Actions that serve restricted data and therefore need a grant (docs/ARCHITECTURE.md).
GRANT_ACTIONS = frozenset({"records", "verify", "score"})
_ROWS_PER_FETCH = 500
_View = TypeVar("_View", bound=Callable[..., Any])


def _checked(view: _View) -> _View:
    """Check and normalise the keyword filters before the view runs (``check_filters``)."""

    @functools.wraps(view)
    def run(session: Session, **filters: Any) -> Any:
        return view(session, **check_filters(session.connection(), filters))

    return cast(_View, run)


def _hex(value: bytes | None) -> str | None:
    return None if value is None else "0x" + bytes(value).hex()


def _iso(value: datetime | int | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, int):
        value = datetime.fromtimestamp(value, UTC)
    return value.astimezone(UTC).isoformat()


def _epoch(value: datetime) -> int:
    if value.tzinfo is None:
        raise FilterError("since/until", "must be timezone-aware")
    return int(value.timestamp())


def _conn(session: Session) -> Connection:
    return session.connection()


def _page(limit: int, offset: int) -> tuple[int, int]:
    if limit < 1 or offset < 0:
        raise FilterError("limit/offset", "limit must be >= 1 and offset >= 0")
    return limit, offset


# -- access log joined with grant state --------------------------------------------------------


def _entry_query(
    institution: str | None, subject_id: bytes | None, since: datetime | None,
    until: datetime | None,
) -> Select[Any]:  # fmt: skip
    log = ACCESS_LOG.c
    query = select(ACCESS_LOG)
    if institution is not None:
        query = query.where(log.actor == checksum_address(institution))
    if subject_id is not None:
        query = query.where(log.subject_id == subject_id)
    if since is not None:
        query = query.where(log.at >= since)
    if until is not None:
        query = query.where(log.at < until)
    return query.order_by(log.id)


def _page_in_time_order(
    query: Select[Any], institution: str | None, subject_id: bytes | None, limit: int,
    offset: int,
) -> Select[Any]:  # fmt: skip
    """A page of entries oldest first. Filtered by institution or subject, by (time, id): the
    order of the (actor, at) and (subject_id, at) indexes, which then yield the page without
    sorting every matching entry (the writer stamps entries in id order, so the two orders
    agree). Unfiltered, by id: the table's own order."""
    log = ACCESS_LOG.c
    if institution is not None or subject_id is not None:
        query = query.order_by(None).order_by(log.at, log.id)
    return query.limit(limit).offset(offset)


class _Rechecker:
    """Recomputes grant checks, caching state per (block, key): a scan revisits the same few
    grants and institutions at the same few blocks."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.state = ReplicaState(conn)
        self._cache: dict[tuple[Any, ...], Any] = {}

    def _cached(self, key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = load()
        return self._cache[key]

    def _used_before(self, entry: Any) -> int:
        log = ACCESS_LOG.c
        return int(
            self.conn.execute(
                select(func.count()).where(
                    log.grant_id == entry.grant_id, log.decision == "allowed", log.id < entry.id
                )
            ).scalar_one()
        )

    def check(self, entry: Any) -> tuple[GrantCheck | None, GrantState | None]:
        """The recomputed check, or (None, None) when the entry used no grant."""
        if entry.grant_id is None:
            return None, None
        block = entry.checked_block
        state = self.state if block is None else self.state.at(block)
        grant = self._cached(("g", block, entry.grant_id), lambda: state.grant(entry.grant_id))
        profile = self._cached(("i", block, entry.actor), lambda: state.institution(entry.actor))
        agreement = None
        if profile is not None and profile.agreement_id:
            agreement = self._cached(
                ("a", block, profile.agreement_id), lambda: state.agreement(profile.agreement_id)
            )
        bits = _categories_used(entry, grant)
        if not bits or entry.purpose is None or entry.level is None:
            return GrantCheck.UNKNOWN_GRANT if grant is None else None, grant
        now = int(entry.at.timestamp())
        used = self._used_before(entry)
        result = GrantCheck.USABLE
        for bit in bits:  # every category the access drew on must have been usable
            request = AccessRequest(bit, Purpose(entry.purpose), AccessLevel(entry.level))
            result = check_grant(grant, institution_state(profile), agreement, request, now, used)
            if result != GrantCheck.USABLE:
                break
        return result, grant


def _categories_used(entry: Any, grant: GrantState | None) -> list[int]:
    """The categories an entry's access drew on: its ``categories`` set (scores since it was
    logged), else its one ``category``. A score logged before ``categories`` existed used the
    scorecard categories its grant covered at the block (the gate's rule, recomputed here)."""
    if entry.categories is not None:
        return bits_of(entry.categories)
    if entry.category is not None:
        return [entry.category]
    if entry.action == "score" and grant is not None:
        catalog = default_catalog()
        used = scorecard.score_categories(catalog, grant.categories)
        return used or [catalog.category(scorecard.CATEGORIES[0]).bit]
    return []


def _grant_dict(grant: GrantState | None) -> dict[str, Any] | None:
    if grant is None:
        return None
    return {
        "grant_id": grant.grant_id,
        "subject_index": grant.subject_index,
        "institution_index": grant.institution_index,
        "categories": bits_of(grant.categories),
        "purpose": grant.purpose.name.lower(),
        "level": grant.level.name.lower(),
        "not_before": _iso(grant.not_before),
        "not_after": _iso(grant.not_after),
        "max_uses": grant.max_uses,
        "revoked": grant.revoked,
    }


def _audit_row(entry: Any, result: GrantCheck | None, grant: GrantState | None) -> dict[str, Any]:
    allowed = entry.decision == "allowed"
    needs_grant = entry.actor_role == "institution" and entry.action in GRANT_ACTIONS
    if result is None:
        consistent = not (allowed and needs_grant)  # served restricted data with no grant
    else:
        consistent = not allowed or result == GrantCheck.USABLE
    return {
        "entry_id": entry.id,
        "at": _iso(entry.at),
        "actor": entry.actor,
        "actor_role": entry.actor_role,
        "action": entry.action,
        "subject_id": _hex(entry.subject_id),
        "category": entry.category,
        "categories": None if entry.categories is None else bits_of(entry.categories),
        "purpose": None if entry.purpose is None else Purpose(entry.purpose).name.lower(),
        "level": None if entry.level is None else AccessLevel(entry.level).name.lower(),
        "grant_id": entry.grant_id,
        "checked_block": entry.checked_block,
        "decision": entry.decision,
        "reason": entry.reason,
        "recomputed": None if result is None else result.code,
        "consistent": consistent,
        "grant_at_block": _grant_dict(grant),
    }


@_checked
def access_audit(
    session: Session, *, institution: str | None = None, subject_id: bytes | None = None,
    since: datetime | None = None, until: datetime | None = None, limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:  # fmt: skip
    """Access-log entries (oldest first) with the grant state at their checked block."""
    limit, offset = _page(limit, offset)
    query = _page_in_time_order(
        _entry_query(institution, subject_id, since, until), institution, subject_id, limit,
        offset,
    )  # fmt: skip
    conn = _conn(session)
    checker = _Rechecker(conn)
    return [_audit_row(e, *checker.check(e)) for e in conn.execute(query).all()]


@_checked
def violations(
    session: Session, *, institution: str | None = None, subject_id: bytes | None = None,
    since: datetime | None = None, until: datetime | None = None, limit: int = 100,
    offset: int = 0, after_id: int | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Entries logged as allowed without a usable grant at their block. Must be empty.

    The database finds them in one statement: the verdicts the indexer recorded for the
    entries it has re-checked (``indexer.log_recheck``), and the re-check of the window's
    later entries (``indexer.violations_sql``); the page is then shown with the Python
    re-check, which names the failing rule.
    ``after_id`` pages by key: the next page starts after the last ``entry_id`` shown.
    """
    limit, offset = _page(limit, offset)
    conn = _conn(session)
    if conn.dialect.name == "postgresql":
        # A window's statement runs in well under a second; compiling it (JIT, chosen by the
        # plan's cost, which grows with the log) took about 0.2 s more.
        conn.execute(text("SET LOCAL jit = off"))
    ids = violations_page_query(
        conn, checked_through=checked_through(conn),
        institution=None if institution is None else checksum_address(institution),
        subject_id=subject_id, since=since, until=until, after_id=after_id, limit=limit,
        offset=offset,
    )  # fmt: skip
    return violation_rows(session, [row.id for row in conn.execute(ids)])


def violation_rows(session: Session, page: list[int]) -> list[dict[str, Any]]:
    """The violations view's rows for entries already found violating (``page``: ids,
    ascending), with the Python re-check naming the failing rule."""
    conn = _conn(session)
    checker = _Rechecker(conn)
    found: list[dict[str, Any]] = []
    # In chunks: a caller asking for many rows must not exceed the number of bound
    # parameters a statement may carry (32,766 on SQLite).
    for start in range(0, len(page), _ROWS_PER_FETCH):
        chunk = page[start : start + _ROWS_PER_FETCH]
        entries = conn.execute(
            select(ACCESS_LOG).where(ACCESS_LOG.c.id.in_(chunk)).order_by(ACCESS_LOG.c.id)
        ).all()
        for entry in entries:
            row = _audit_row(entry, *checker.check(entry))
            row["violation"] = row["recomputed"] or "no_grant"
            found.append(row)
    return found


@_checked
def refusals(
    session: Session, *, institution: str | None = None, subject_id: bytes | None = None,
    since: datetime | None = None, until: datetime | None = None, limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:  # fmt: skip
    """Every refused request (oldest first), whoever sent it: data requests the gate denied
    (``action`` names the data action) and refused operations after authentication
    (``action`` is ``METHOD /route/{template}``, ``reason`` the problem code); same rows as
    access_audit. ``institution`` filters by the actor's address, whatever its role."""
    limit, offset = _page(limit, offset)
    query = _entry_query(institution, subject_id, since, until).where(
        ACCESS_LOG.c.decision == "denied"
    )
    conn = _conn(session)
    checker = _Rechecker(conn)
    page = _page_in_time_order(query, institution, subject_id, limit, offset)
    return [_audit_row(e, *checker.check(e)) for e in conn.execute(page).all()]


# -- volumes -------------------------------------------------------------------------------------


def _bucket(conn: Connection, at: Any, bucket: str) -> Any:
    """SQL for the UTC day ("2025-03-01") or month ("2025-03") of the timestamp column ``at``."""
    if bucket not in ("day", "month"):
        raise FilterError("bucket", "must be 'day' or 'month'")
    if conn.dialect.name == "postgresql":
        return func.to_char(
            func.timezone("UTC", at), "YYYY-MM-DD" if bucket == "day" else "YYYY-MM"
        )
    # SQLite keeps UTC timestamps as text, "2025-03-01 10:00:00.000000".
    return func.substr(at, 1, 10 if bucket == "day" else 7)


@_checked
def volumes(
    session: Session, *, institution: str | None = None, subject_id: bytes | None = None,
    since: datetime | None = None, until: datetime | None = None, limit: int = 100,
    offset: int = 0, bucket: str = "day",
) -> list[dict[str, Any]]:  # fmt: skip
    """Institutions' accesses per (bucket, institution, purpose, category), allowed/denied.

    Counted without sorting the log (``indexer.group_counts``): one tally per group.
    """
    limit, offset = _page(limit, offset)
    log = ACCESS_LOG.c
    conn = _conn(session)
    entries = _entry_query(institution, subject_id, since, until).where(
        log.actor_role == "institution"
    )
    groups = count_groups(
        conn,
        entries,
        [_bucket(conn, log.at, bucket), log.actor, log.purpose, log.category],
        {"allowed": log.decision == "allowed", "verifications": log.action == "verify"},
    )
    rows = [
        {
            "bucket": period,
            "institution": actor,
            "purpose": None if purpose is None else Purpose(purpose).name.lower(),
            "category": category,
            "allowed": n["allowed"],
            "denied": n["total"] - n["allowed"],
            "verifications": n["verifications"],
            "total": n["total"],
        }
        for (period, actor, purpose, category), n in groups.items()
    ]
    rows.sort(key=lambda r: (r["bucket"], r["institution"], str(r["purpose"]), str(r["category"])))
    return rows[offset : offset + limit]


# -- chain history -------------------------------------------------------------------------------


def _subject_index(conn: Connection, subject_id: bytes) -> int:
    row = conn.execute(
        select(SUBJECT_BINDINGS.c.subject_index).where(SUBJECT_BINDINGS.c.subject_id == subject_id)
    ).first()
    return -1 if row is None else int(row.subject_index)


def _time_window(query: Select[Any], since: datetime | None, until: datetime | None) -> Select[Any]:
    if since is not None:
        query = query.where(BLOCKS.c.timestamp >= _epoch(since))
    if until is not None:
        query = query.where(BLOCKS.c.timestamp < _epoch(until))
    return query


@_checked
def grant_history(
    session: Session, *, institution: str | None = None, subject_id: bytes | None = None,
    since: datetime | None = None, until: datetime | None = None, limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:  # fmt: skip
    """Grants issued and revoked, in chain order."""
    limit, offset = _page(limit, offset)
    conn = _conn(session)
    first_version = and_(GRANTS.c.valid_from_block == GRANTS.c.issued_block, ~GRANTS.c.revoked)
    query = (
        select(GRANTS, BLOCKS.c.timestamp)
        .join(BLOCKS, BLOCKS.c.number == GRANTS.c.valid_from_block)
        .where(or_(first_version, GRANTS.c.revoked))
    )
    if institution is not None:
        query = query.where(GRANTS.c.institution == checksum_address(institution))
    if subject_id is not None:
        query = query.where(GRANTS.c.subject_index == _subject_index(conn, subject_id))
    query = _time_window(query, since, until)
    query = query.order_by(GRANTS.c.valid_from_block, GRANTS.c.valid_from_log)
    rows = conn.execute(query.limit(limit).offset(offset)).all()
    return [
        {
            "event": "revoked" if r.revoked else "issued",
            "grant_id": r.grant_id,
            "block": r.valid_from_block,
            "at": _iso(r.timestamp),
            "subject_index": r.subject_index,
            "institution": r.institution,
            "categories": bits_of(r.categories),
            "purpose": Purpose(r.purpose).name.lower(),
            "level": AccessLevel(r.level).name.lower(),
            "not_before": _iso(r.not_before),
            "not_after": _iso(r.not_after),
            "max_uses": r.max_uses,
            "tx_hash": _hex(r.issued_tx) if not r.revoked else None,
        }
        for r in rows
    ]


@_checked
def agreements(
    session: Session, *, institution: str | None = None, subject_id: bytes | None = None,
    since: datetime | None = None, until: datetime | None = None, limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:  # fmt: skip
    """Every status an agreement went through (proposed, active, suspended, ...)."""
    limit, offset = _page(limit, offset)
    query = select(AGREEMENTS, BLOCKS.c.timestamp).join(
        BLOCKS, BLOCKS.c.number == AGREEMENTS.c.valid_from_block
    )
    if institution is not None:
        query = query.where(AGREEMENTS.c.institution == checksum_address(institution))
    query = _time_window(query, since, until).order_by(
        AGREEMENTS.c.valid_from_block, AGREEMENTS.c.valid_from_log
    )
    rows = _conn(session).execute(query.limit(limit).offset(offset)).all()
    return [
        {
            "agreement_id": r.agreement_id,
            "institution": r.institution,
            "status": AgreementStatus(r.status).name.lower(),
            "block": r.valid_from_block,
            "at": _iso(r.timestamp),
            "current": r.valid_to_block is None,
            "categories": bits_of(r.categories),
            "purposes": [Purpose(p).name.lower() for p in bits_of(r.purposes)],
            "not_before": _iso(r.not_before),
            "not_after": _iso(r.not_after),
            "document_hash": _hex(r.document_hash),
        }
        for r in rows
    ]


def _verify_anchor(conn: Connection, anchor: Any) -> str:
    """How the database backs an anchored root up."""
    if anchor.kind == AnchorKind.DATA_BATCH:
        batch = conn.execute(
            select(BATCHES.c.root, BATCHES.c.leaf_count).where(BATCHES.c.batch_id == anchor.ref)
        ).first()
        if batch is None:
            by_root = conn.execute(select(BATCHES.c.batch_id).where(BATCHES.c.root == anchor.root))
            return "batch_id_mismatch" if by_root.first() is not None else "unknown_batch"
        if batch.root != anchor.root:
            return "root_mismatch"
        return "verified" if batch.leaf_count == anchor.leaf_count else "leaf_count_mismatch"
    if anchor.kind == AnchorKind.ACCESS_LOG:
        table = ACCESS_LOG_ANCHORS
        found = conn.execute(select(table.c.id).where(table.c.root == anchor.root)).first()
        return "verified" if found is not None else "unknown_log_range"
    if anchor.kind == AnchorKind.RECORD_STATUS:  # a financing event (docs/financing.md)
        event = conn.execute(select(LOOP_EVENTS.c.id).where(LOOP_EVENTS.c.leaf == anchor.root))
        return "verified" if event.first() is not None else "unknown_financing_event"
    return "not_applicable"


@_checked
def anchors(
    session: Session, *, institution: str | None = None, subject_id: bytes | None = None,
    since: datetime | None = None, until: datetime | None = None, limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:  # fmt: skip
    """Anchored roots (by sequence) with their verification status; then data batches the
    database holds as anchored whose root is not on chain ("missing_on_chain")."""
    limit, offset = _page(limit, offset)
    conn = _conn(session)
    query = select(ANCHORS, BLOCKS.c.timestamp).join(
        BLOCKS, BLOCKS.c.number == ANCHORS.c.block_number
    )
    query = _time_window(query, since, until).order_by(ANCHORS.c.sequence)
    rows: list[dict[str, Any]] = [
        {
            "sequence": a.sequence,
            "kind": AnchorKind(a.kind).name.lower(),
            "root": _hex(a.root),
            "ref": _hex(a.ref),
            "leaf_count": a.leaf_count,
            "submitter": a.submitter,
            "block": a.block_number,
            "at": _iso(a.timestamp),
            "tx_hash": _hex(a.tx_hash),
            "status": _verify_anchor(conn, a),
        }
        for a in conn.execute(query)
    ]
    claimed = select(BATCHES.c.batch_id, BATCHES.c.root, BATCHES.c.leaf_count).where(
        BATCHES.c.state.in_((BatchState.ANCHORED, BatchState.ANCHOR_SENT)),
        BATCHES.c.root.not_in(select(ANCHORS.c.root)),
    )
    for b in conn.execute(claimed.order_by(BATCHES.c.batch_id)):
        rows.append({
            "sequence": None, "kind": "data_batch", "root": _hex(b.root), "ref": _hex(b.batch_id),
            "leaf_count": b.leaf_count, "submitter": None, "block": None, "at": None,
            "tx_hash": None, "status": "missing_on_chain",
        })  # fmt: skip
    return rows[offset : offset + limit]


# -- KPIs ----------------------------------------------------------------------------------------


@_checked
def statistics(
    session: Session, *, institution: str | None = None, subject_id: bytes | None = None,
    since: datetime | None = None, until: datetime | None = None, limit: int = 100,
    offset: int = 0, group_by: GroupBy | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The plan's KPIs: information collected, coverage, grants, queries and verifications,
    and the loan KPIs of ``ledger_api.financing.kpis`` (all time: the filters do not apply);
    with ``group_by``, the financing KPIs and records collected per month, region, industry
    or institution as well (the figures of GET /v1/audit/kpis, docs/financing.md)."""
    conn = _conn(session)
    by_group = {} if group_by is None else _kpis_by_group(conn, group_by)
    records = (
        select(RECORDS.c.category, RECORDS.c.provider, func.count().label("n"))
        .join(BATCHES, BATCHES.c.batch_id == RECORDS.c.batch_id)
        .group_by(RECORDS.c.category, RECORDS.c.provider)
    )
    covered = select(func.count(func.distinct(RECORDS.c.subject_id))).join(
        BATCHES, BATCHES.c.batch_id == RECORDS.c.batch_id
    )
    if since is not None:
        records = records.where(BATCHES.c.created_at >= since)
        covered = covered.where(BATCHES.c.created_at >= since)
    if until is not None:
        records = records.where(BATCHES.c.created_at < until)
        covered = covered.where(BATCHES.c.created_at < until)
    live = GRANTS.c.valid_to_block.is_(None)
    with_grant = select(func.count(func.distinct(GRANTS.c.subject_index)))
    with_active = with_grant.where(live, ~GRANTS.c.revoked)
    bound = select(func.count()).where(SUBJECT_BINDINGS.c.valid_to_block.is_(None))
    log = ACCESS_LOG.c
    entries = _entry_query(institution, subject_id, since, until).where(
        log.actor_role == "institution"
    )
    usage: dict[str, dict[str, int]] = defaultdict(
        lambda: {"queries": 0, "verifications": 0, "denied": 0}
    )
    # Counted without sorting the log (``indexer.group_counts``).
    groups = count_groups(conn, entries, [log.actor, log.action, log.decision], {})
    for (actor, action, decision), n in groups.items():
        if decision != "allowed":
            usage[actor]["denied"] += n["total"]
        elif action == "verify":
            usage[actor]["verifications"] += n["total"]
        else:
            usage[actor]["queries"] += n["total"]
    return (
        {
            "records_by_category_provider": [
                {"category": r.category, "provider": r.provider, "records": r.n}
                for r in conn.execute(records.order_by(RECORDS.c.category, RECORDS.c.provider))
            ],
            "enterprises_covered": int(conn.execute(covered).scalar_one()),
            "enterprises_bound": int(conn.execute(bound).scalar_one()),
            "enterprises_with_any_grant": int(conn.execute(with_grant).scalar_one()),
            "enterprises_with_active_grant": int(conn.execute(with_active).scalar_one()),
            "usage_by_institution": [{"institution": k, **v} for k, v in sorted(usage.items())],
        }
        | loan_totals(conn)
        | by_group
    )


def _kpis_by_group(conn: Connection, group_by: GroupBy) -> dict[str, Any]:
    """The KPIs per group, each row named (institutions by the replica's registry), and the
    records collected per group, category and provider."""

    def name_of(address: str) -> str:
        name = conn.execute(
            select(INSTITUTIONS.c.name)
            .where(INSTITUTIONS.c.address == address)
            .order_by(INSTITUTIONS.c.valid_from_block.desc(), INSTITUTIONS.c.valid_from_log.desc())
            .limit(1)
        ).scalar()
        return str(name) if name is not None else address

    found = kpis(conn, group_by, name_of)
    return {
        "group_by": group_by,
        "kpis_by_group": [{"group": r.pop("key"), **r} for r in found["rows"]],
        "records_by_group": [
            {"group": r["key"], "name": r["name"], "category": r["category_bit"],
             "provider": r["provider"], "records": r["records"]}
            for r in found["records_collected"]
        ],
    }  # fmt: skip


# One name per view, the API's (/v1/audit/{name}) and the CLI's alike.
VIEWS: dict[str, Callable[..., Any]] = {
    "access_audit": access_audit,
    "violations": violations,
    "refusals": refusals,
    "volumes": volumes,
    "grant_history": grant_history,
    "agreements": agreements,
    "anchors": anchors,
    "statistics": statistics,
    "regulator_acts": regulator_acts,
    "subscriptions": audit_monitoring.subscriptions,
    "deliveries": audit_monitoring.deliveries,
}
VIEWS.update(SUPPLY_CHAIN_VIEWS)  # supply_chain, double_financing_refusals
# Names the indexer CLI used before, still accepted there.
VIEW_ALIASES = {"access": "access_audit", "grants": "grant_history"}


def view_name(name: str) -> str:
    """The view's one name, for a name or an old alias (unknown names come back as given)."""
    return VIEW_ALIASES.get(name, name)
