"""One statement for everything a grant-checked read decides on: ``DecisionInputs``.

A records/verify/score decision needs the replica's position, the institution, its agreement,
the subject, the grant, and the grant's uses counted in the access log. They come first from
the gate's rows (``indexer.gate_rows``): the checkpoint, the asking institution's row (with its
agreement) and the grant's row (with its subject's binding), each a primary-key look-up,
left-joined on a one-row source so a missing piece is NULLs rather than no row. Those rows are
the state at the checkpoint read in the same statement, so they also answer a read pinned at
that block (the API's cached state pins the position it has just read). That statement also
reads the access log's last id, from which a gate mirror counts the grant's later uses. When
they do not answer everything (no such grant or institution, the grant is another subject's:
the decision will refuse; or a read at an earlier block), the same inputs come from the
versioned tables, five look-ups joined, in a second statement. The access log lives in the
replica's database (one database per ledger); the uses are counted only for a grant that caps them
(``CASE``: the count is not evaluated otherwise), as the gate does.

On PostgreSQL the statements run through libpq, prepared once per connection
(``ledger_api.store.compiled.PgPrepared``); the row is read by position: this runs once per
request.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, case, func, literal, select

from indexer.replica_rows import checksum_address, live
from indexer.tables import (
    AGREEMENTS,
    CHECKPOINT,
    GATE_GRANTS,
    GATE_INSTITUTIONS,
    GRANTS,
    INSTITUTIONS,
    SUBJECT_BINDINGS,
)
from ledger_api.accesslog.entries import ACCESS_LOG, ALLOWED
from ledger_api.chain.grant_rules import AgreementState, GrantState
from ledger_api.chain.state import DecisionInputs, InstitutionProfile, StatePoint, SubjectBinding
from ledger_api.chain.types import AccessLevel, AgreementStatus, InstitutionType, Purpose
from ledger_api.store.compiled import CompiledQuery, PgPrepared


def _uses(grant_id: Any, max_uses: Any) -> ColumnElement[Any]:
    counted = (
        select(func.count())
        .select_from(ACCESS_LOG)
        .where(ACCESS_LOG.c.grant_id == grant_id, ACCESS_LOG.c.decision == ALLOWED)
        .scalar_subquery()
    )
    return case((max_uses > 0, counted), else_=0).label("uses")


def _checkpoint(by_chain: bool) -> Any:
    one = select(literal(1).label("one")).subquery("one")
    on_chain = CHECKPOINT.c.chain_id == bindparam("chain_id") if by_chain else literal(True)
    return one.outerjoin(CHECKPOINT, on_chain)


def _from_versions(pinned: bool, by_chain: bool) -> Select[Any]:
    i, a, s, g = INSTITUTIONS.c, AGREEMENTS.c, SUBJECT_BINDINGS.c, GRANTS.c
    columns = (
        CHECKPOINT.c.block_number, CHECKPOINT.c.block_timestamp,                      # 0-1
        i.institution_index, i.kind, i.name, i.suspended, i.agreement_id,            # 2-6
        a.status, a.categories, a.purposes, a.not_before, a.not_after,               # 7-11
        s.subject_index, s.account,                                                  # 12-13
        g.grant_id, g.subject_index, g.institution_index, g.categories, g.purpose,   # 14-18
        g.level, g.not_before, g.not_after, g.max_uses, g.revoked,                   # 19-23
        _uses(g.grant_id, g.max_uses),                                               # 24
    )  # fmt: skip
    joined = (
        _checkpoint(by_chain)
        .outerjoin(
            INSTITUTIONS, and_(i.address == bindparam("address"), live(INSTITUTIONS, pinned))
        )
        .outerjoin(AGREEMENTS, and_(a.agreement_id == i.agreement_id, live(AGREEMENTS, pinned)))
        .outerjoin(
            SUBJECT_BINDINGS,
            and_(s.subject_id == bindparam("subject_id"), live(SUBJECT_BINDINGS, pinned)),
        )
        .outerjoin(GRANTS, and_(g.grant_id == bindparam("grant_id"), live(GRANTS, pinned)))
    )  # fmt: skip
    return select(*columns).select_from(joined)


def _from_gate_rows(by_chain: bool) -> Select[Any]:
    """The same columns from the gate's rows, and the grant's subject id (25) to check."""
    i, g = GATE_INSTITUTIONS.c, GATE_GRANTS.c
    columns = (
        CHECKPOINT.c.block_number, CHECKPOINT.c.block_timestamp,                      # 0-1
        i.institution_index, i.kind, i.name, i.suspended, i.agreement_id,            # 2-6
        i.agreement_status, i.agreement_categories, i.agreement_purposes,            # 7-9
        i.agreement_not_before, i.agreement_not_after,                               # 10-11
        g.subject_index, g.account,                                                  # 12-13
        g.grant_id, g.subject_index, g.institution_index, g.categories, g.purpose,   # 14-18
        g.level, g.not_before, g.not_after, g.max_uses, g.revoked,                   # 19-23
        _uses(g.grant_id, g.max_uses), g.subject_id,                                 # 24-25
        select(func.max(ACCESS_LOG.c.id)).scalar_subquery(),                         # 26
    )  # fmt: skip
    joined = (
        _checkpoint(by_chain)
        .outerjoin(GATE_INSTITUTIONS, i.address == bindparam("address"))
        .outerjoin(GATE_GRANTS, g.grant_id == bindparam("grant_id"))
    )
    return select(*columns).select_from(joined)


# (pinned, by_chain): read at ``:at_block`` or now; the checkpoint of ``:chain_id`` or the one.
_FROM_VERSIONS = {
    (pinned, by_chain): PgPrepared(CompiledQuery(_from_versions(pinned, by_chain)))
    for pinned in (False, True)
    for by_chain in (False, True)
}
_FROM_GATE_ROWS = {
    by_chain: PgPrepared(CompiledQuery(_from_gate_rows(by_chain))) for by_chain in (False, True)
}


def read_decision_inputs(
    conn: Any,
    position: Any,
    *,
    address: str,
    subject_id: bytes,
    grant_id: int,
    chain_id: int | None,
    at_block: int | None,
) -> DecisionInputs:
    """The inputs on ``conn``; ``position(checkpoint)`` turns the checkpoint's
    ``(block_number, block_timestamp)`` (or None) into the state's position."""
    address = checksum_address(address)
    params: dict[str, Any] = {"address": address, "grant_id": grant_id}
    if chain_id is not None:
        params["chain_id"] = chain_id
    r: tuple[Any, ...] | None
    (r,) = _FROM_GATE_ROWS[chain_id is not None].tuples(conn, params)
    log_horizon: int | None = int(r[26] or 0)
    if (
        (at_block is not None and r[0] != at_block)  # the rows are of another block
        or r[2] is None
        or r[14] is None
        or r[25] is None
        or bytes(r[25]) != subject_id
    ):
        r = log_horizon = None  # not everything answered here: the versions say what is missing
    if r is None:
        params["subject_id"] = subject_id
        if at_block is not None:
            params["at_block"] = at_block
        (r,) = _FROM_VERSIONS[(at_block is not None, chain_id is not None)].tuples(conn, params)
    point: StatePoint = position(None if r[0] is None else (r[0], r[1]))
    institution = agreement = subject = grant = None
    if r[2] is not None:
        institution = InstitutionProfile(
            address, r[2], InstitutionType(r[3]), r[4], bool(r[5]), r[6]
        )
    if r[7] is not None:
        agreement = AgreementState(r[8], r[9], r[10], r[11], AgreementStatus(r[7]))
    if r[12] is not None:
        subject = SubjectBinding(subject_id, r[12], r[13])
    if r[14] is not None:
        grant = GrantState(
            grant_id=r[14], subject_index=r[15], institution_index=r[16], categories=r[17],
            purpose=Purpose(r[18]), level=AccessLevel(r[19]), not_before=r[20],
            not_after=r[21], max_uses=r[22], revoked=bool(r[23]),
        )  # fmt: skip
    return DecisionInputs(
        point, institution, agreement, subject, grant, int(r[24] or 0), log_horizon
    )
