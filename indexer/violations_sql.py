"""The violations view's re-check as one SQL statement the database answers.

Each access-log entry logged "allowed" is joined with the replica's state right after its
``checked_block`` (the grant, the actor's institution and that institution's agreement: the
versioned rows live at that block) and the grant check of ``grant_rules.check_grant`` is
evaluated as a SQL predicate over every category the access drew on (``docs/audit.md``):

* the categories used: ``categories`` (a bitmask) when set, else the bit of ``category``, else,
  for a score logged before ``categories`` existed, the scorecard categories the grant covers
  (or the first scorecard category when it covers none);
* usable means: grant known and not revoked; institution known, the grant's, not suspended;
  the request's time inside the grant's window; every category used in the grant and in the
  agreement; purpose equal and in the agreement; level not above the grant's; agreement active
  and inside its window; and, for a capped grant, fewer earlier allowed uses than the cap.

Only the boolean "was it usable" is computed here: the page of violating entries (at most
``limit`` rows) is then shown with the Python re-check (``audit_views``), which names the
first failing rule exactly as the gate would have. The statement reads only the rows of the
window (indexes ``ix_access_log_at``, ``ix_access_log_grant_uses``, migration 0019; one grant
look-up per entry) and holds nothing in Python beyond the page.

The indexer runs the same statement over each range of entries once their verdicts are final
and keeps the violations (``indexer.log_recheck``); ``violations_page_query`` then reads those
and re-checks only the entries after them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Integer,
    Select,
    Table,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy import (
    cast as sql_cast,
)

from indexer.tables import AGREEMENTS, GRANTS, INSTITUTIONS, LOG_VIOLATIONS
from ledger_api.catalog.loader import default_catalog
from ledger_api.chain.types import AgreementStatus
from ledger_api.saferoom import scorecard
from ledger_api.store.access_log import AccessLogEntry

__all__ = ["violation_ids_query", "violations_page_query"]

ACCESS_LOG = cast(Table, AccessLogEntry.__table__)
GRANT_ACTIONS = ("records", "score", "verify")
_CATEGORY_BITS = 32  # the contract's category bitmask is a uint32


def _scorecard_masks() -> tuple[int, int]:
    """(every scorecard category, the first one) as bitmasks."""
    catalog = default_catalog()
    bits = [catalog.category(name).bit for name in scorecard.CATEGORIES]
    mask = 0
    for bit in bits:
        mask |= 1 << bit
    return mask, 1 << bits[0]


def _bit(position: Any) -> ColumnElement[Any]:
    return literal(1, BigInteger).op("<<")(position)


def _epoch_seconds(conn: Connection, at: Any) -> ColumnElement[Any]:
    """UTC seconds of the timestamp column ``at``, truncated like ``int(at.timestamp())``."""
    if conn.dialect.name == "postgresql":
        return sql_cast(func.floor(func.extract("epoch", at)), BigInteger)
    # SQLite keeps the UTC timestamp as text; '%s' is whole seconds since the epoch.
    return sql_cast(func.strftime("%s", at), Integer)


def _live_at(table: Any, block: Any) -> ColumnElement[bool]:
    """The version of ``table`` live right after ``block`` (the current one when NULL), as
    ``ReplicaState.at`` reads it."""
    return or_(
        and_(block.is_(None), table.c.valid_to_block.is_(None)),
        and_(
            table.c.valid_from_block <= block,
            or_(table.c.valid_to_block.is_(None), table.c.valid_to_block > block),
        ),
    )


def _subset(used: Any, granted: Any) -> ColumnElement[bool]:
    return used.op("&")(granted) == used


def violation_ids_query(
    conn: Connection, *, institution: str | None, subject_id: bytes | None,
    since: datetime | None, until: datetime | None, after_id: int | None,
) -> Select[Any]:  # fmt: skip
    """Ids of allowed entries (oldest first) whose re-checked grant was not usable."""
    log = ACCESS_LOG.c
    block = log.checked_block
    live_grant = and_(GRANTS.c.grant_id == log.grant_id, _live_at(GRANTS, block))
    grant: Any
    grant_join: ColumnElement[bool]
    if conn.dialect.name == "postgresql":
        # One index look-up per entry of the window (LATERAL .. LIMIT 1): left to itself the
        # planner hashes the whole grants table, which grows with the province, not the day.
        grant = select(GRANTS).where(live_grant).limit(1).lateral("g")
        grant_join = true()
    else:  # SQLite joins row by row through the (grant_id, valid_to_block) index anyway
        grant = GRANTS.alias("g")
        grant_join = and_(grant.c.grant_id == log.grant_id, _live_at(grant, block))
    inst = INSTITUTIONS.alias("i")
    agreement = AGREEMENTS.alias("a")
    earlier = ACCESS_LOG.alias("earlier")
    score_mask, first_score_bit = _scorecard_masks()

    covered = grant.c.categories.op("&")(score_mask)
    used = case(
        (log.categories.is_not(None), log.categories),
        # An out-of-range category is never granted: -1 is no subset of a uint32 mask.
        (log.category.is_not(None), case(
            (and_(log.category >= 0, log.category < _CATEGORY_BITS), _bit(log.category)),
            else_=-1,
        )),
        (and_(log.action == "score", grant.c.grant_id.is_not(None)),
         case((covered != 0, covered), else_=first_score_bit)),
        else_=0,
    )  # fmt: skip
    uses_before = (
        select(func.count())
        .where(
            earlier.c.grant_id == log.grant_id,
            earlier.c.decision == "allowed",
            earlier.c.id < log.id,
        )
        .scalar_subquery()
    )
    now = _epoch_seconds(conn, log.at)
    usable = and_(
        grant.c.revoked.is_(False),
        inst.c.id.is_not(None),
        inst.c.institution_index != 0,
        inst.c.institution_index == grant.c.institution_index,
        inst.c.suspended.is_(False),
        now >= grant.c.not_before,
        now < grant.c.not_after,
        _subset(used, grant.c.categories),
        log.purpose == grant.c.purpose,
        log.level <= grant.c.level,
        inst.c.agreement_id != 0,
        agreement.c.id.is_not(None),
        agreement.c.status == int(AgreementStatus.ACTIVE),
        now >= agreement.c.not_before,
        now < agreement.c.not_after,
        _subset(used, agreement.c.categories),
        agreement.c.purposes.op("&")(_bit(log.purpose)) != 0,
        # The count runs only for capped grants (a CASE evaluates its branches lazily).
        case((grant.c.max_uses == 0, 1), (uses_before < grant.c.max_uses, 1), else_=0) == 1,
    )
    needs_grant = case(
        (and_(log.actor_role == "institution", log.action.in_(GRANT_ACTIONS)), 1), else_=0
    )
    # NULLs from the outer joins must count as "not usable": CASE sends them to ELSE.
    violated = case(
        (log.grant_id.is_(None), needs_grant),
        (grant.c.id.is_(None), 1),
        (or_(used == 0, log.purpose.is_(None), log.level.is_(None)), needs_grant),
        (usable, 0),
        else_=1,
    )
    query = (
        select(log.id)
        .select_from(
            ACCESS_LOG.outerjoin(grant, grant_join)
            .outerjoin(inst, and_(inst.c.address == log.actor, _live_at(inst, block)))
            .outerjoin(
                agreement,
                and_(agreement.c.agreement_id == inst.c.agreement_id, _live_at(agreement, block)),
            )
        )
        .where(log.decision == "allowed", violated == 1)
    )
    query = _in_window(query, institution, subject_id, since, until)
    if after_id is not None:
        query = query.where(log.id > after_id)
    return query.order_by(log.id)


def _in_window(
    query: Select[Any], institution: str | None, subject_id: bytes | None,
    since: datetime | None, until: datetime | None,
) -> Select[Any]:  # fmt: skip
    log = ACCESS_LOG.c
    if institution is not None:
        query = query.where(log.actor == institution)
    if subject_id is not None:
        query = query.where(log.subject_id == subject_id)
    if since is not None:
        query = query.where(log.at >= since)
    if until is not None:
        query = query.where(log.at < until)
    return query


def violations_page_query(
    conn: Connection, *, checked_through: int, institution: str | None,
    subject_id: bytes | None, since: datetime | None, until: datetime | None,
    after_id: int | None, limit: int, offset: int,
) -> Select[Any]:  # fmt: skip
    """A page of violation ids (ascending) when the indexer has recorded the verdicts of every
    entry up to ``checked_through`` (``indexer.log_recheck``): the recorded violations there,
    joined with their entries by key for the filters, then ``violation_ids_query`` over the
    entries after it only. Same ids, in the same order, as ``violation_ids_query`` alone."""
    after = after_id or 0
    found = LOG_VIOLATIONS.c
    # Each recorded violation's entry is looked up by key (EXISTS keeps the few recorded rows
    # the outer loop: joined, SQLite walked the log's ids up to the mark instead).
    entry = _in_window(
        select(ACCESS_LOG.c.id).where(ACCESS_LOG.c.id == found.entry_id),
        institution, subject_id, since, until,
    )  # fmt: skip
    recorded = select(found.entry_id.label("id")).where(
        found.entry_id > after, found.entry_id <= checked_through, entry.exists()
    )
    tail = violation_ids_query(
        conn, institution=institution, subject_id=subject_id, since=since, until=until,
        after_id=max(after, checked_through),
    ).order_by(None)  # fmt: skip
    both = union_all(recorded, tail).subquery("found")
    return select(both.c.id).order_by(both.c.id).limit(limit).offset(offset)
