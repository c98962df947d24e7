"""The gate's rows: each grant and each institution as it stands now, one row each.

A grant-checked read decides on the checkpoint, the asking institution and its agreement, the
subject and the grant. Read from the versioned tables that is five index look-ups joined, and
on PostgreSQL the server's share of the decision was more than the round trip itself
(docs/benchmarks.md, gate). ``chain_gate_grants`` (a grant's live version with its subject's
live binding) and ``chain_gate_institutions`` (an institution's live version with its current
agreement's) answer the same with two primary-key look-ups (``indexer.decision_inputs``).

They are derived, never edited: the rows of the keys a change touched are deleted and read
again from the live versions, in the transaction that changed the versions (the indexer's
chunk, or the undo of a reorg), so they can never disagree with the versions a reader sees.
An institution row carries its agreement, so an agreement's change rewrites the row of the
institution whose current agreement it is (one row, not one per grant).

Every key read again is also written to the gate's change log (``chain_gate_changes``), in the
same transaction: each API process keeps the rows it has read in its gate mirror
(``indexer.gate_mirror``) and drops a key's when the log names it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, delete, func, insert, or_, select, true

from indexer.tables import (
    AGREEMENTS,
    GATE_CHANGES,
    GATE_GRANTS,
    GATE_INSTITUTIONS,
    GRANTS,
    INSTITUTIONS,
    SUBJECT_BINDINGS,
)

# Kinds of key in the change log; EVERYTHING: every row may have changed.
EVERYTHING, GRANT, SUBJECT, INSTITUTION, AGREEMENT = 0, 1, 2, 3, 4
# More keys than this in one change are logged as EVERYTHING (a catch-up's chunk of new grants:
# a mirror then starts afresh rather than reading thousands of keys it mostly does not hold).
_LISTED_MAX = 1000
# Changes kept for mirrors; one that falls further behind starts afresh.
_KEPT = 100_000

# Keys per statement: an IN list well below SQLite's and PostgreSQL's parameter limits.
_BATCH = 2000
_RUN = 64  # consecutive keys read as one range


def _grants_where(condition: ColumnElement[bool]) -> Any:
    g, s = GRANTS.c, SUBJECT_BINDINGS.c
    subject = and_(s.subject_index == g.subject_index, s.valid_to_block.is_(None))
    columns = (
        g.grant_id, g.subject_index, g.institution_index, g.categories, g.purpose, g.level,
        g.not_before, g.not_after, g.max_uses, g.revoked, s.subject_id, s.account,
    )  # fmt: skip
    return (
        select(*columns)
        .select_from(GRANTS.outerjoin(SUBJECT_BINDINGS, subject))
        .where(g.valid_to_block.is_(None), condition)
    )


def _institutions_where(condition: ColumnElement[bool]) -> Any:
    i, a = INSTITUTIONS.c, AGREEMENTS.c
    agreement = and_(a.agreement_id == i.agreement_id, a.valid_to_block.is_(None))
    columns = (
        i.address, i.institution_index, i.kind, i.name, i.suspended, i.agreement_id,
        a.status, a.categories, a.purposes, a.not_before, a.not_after,
    )  # fmt: skip
    return (
        select(*columns)
        .select_from(INSTITUTIONS.outerjoin(AGREEMENTS, agreement))
        .where(i.valid_to_block.is_(None), condition)
    )


_GRANT_COLUMNS = [c.name for c in GATE_GRANTS.columns]
_INSTITUTION_COLUMNS = [c.name for c in GATE_INSTITUTIONS.columns]


def _batches(keys: Iterable[Any]) -> Iterator[list[Any]]:
    ordered = sorted(set(keys))
    for start in range(0, len(ordered), _BATCH):
        yield ordered[start : start + _BATCH]


def _selections(column: Any, keys: Iterable[int]) -> Iterator[ColumnElement[bool]]:
    """Conditions covering ``keys``: a range for each run of consecutive keys (a chunk of new
    grants: one range scan, about 4x faster than 100,000 keys looked up one by one on SQLite),
    ``IN`` lists for the rest."""
    ordered = sorted(set(keys))
    scattered: list[int] = []
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        if end - start + 1 >= _RUN:
            yield column.between(ordered[start], ordered[end])
        else:
            scattered.extend(ordered[start : end + 1])
        start = end + 1
    for batch in _batches(scattered):
        yield column.in_(batch)


def refresh_gate_rows(
    conn: Connection,
    *,
    grant_ids: Iterable[int] = (),
    subject_indexes: Iterable[int] = (),
    addresses: Iterable[str] = (),
    agreement_ids: Iterable[int] = (),
) -> None:
    """Read again the rows of these grants, of every grant of these subjects, of these
    institutions, and of the institutions whose current agreement is one of these; log them."""
    gg, gi, g, i = GATE_GRANTS.c, GATE_INSTITUTIONS.c, GRANTS.c, INSTITUTIONS.c
    grant_ids, subject_indexes = set(grant_ids), set(subject_indexes)
    addresses, agreement_ids = set(addresses), set(agreement_ids)
    log_changes(
        conn,
        [(GRANT, str(key)) for key in grant_ids]
        + [(SUBJECT, str(key)) for key in subject_indexes]
        + [(INSTITUTION, key.lower()) for key in addresses]
        + [(AGREEMENT, str(key)) for key in agreement_ids],
    )
    for key, keys in (("grant_id", grant_ids), ("subject_index", subject_indexes)):
        for kept, live in zip(_selections(gg[key], keys), _selections(g[key], keys), strict=True):
            conn.execute(delete(GATE_GRANTS).where(kept))
            conn.execute(insert(GATE_GRANTS).from_select(_GRANT_COLUMNS, _grants_where(live)))
    for batch in _batches(addresses):
        conn.execute(delete(GATE_INSTITUTIONS).where(gi.address.in_(batch)))
        rows = _institutions_where(i.address.in_(batch))
        conn.execute(insert(GATE_INSTITUTIONS).from_select(_INSTITUTION_COLUMNS, rows))
    for kept, live in zip(
        _selections(gi.agreement_id, agreement_ids),
        _selections(i.agreement_id, agreement_ids),
        strict=True,
    ):
        conn.execute(delete(GATE_INSTITUTIONS).where(kept))
        rows = _institutions_where(live)
        conn.execute(insert(GATE_INSTITUTIONS).from_select(_INSTITUTION_COLUMNS, rows))


def rebuild_gate_rows(conn: Connection) -> None:
    """Every row read again from the live versions (after loading versions directly)."""
    log_changes(conn, [(EVERYTHING, "")])
    conn.execute(delete(GATE_GRANTS))
    conn.execute(delete(GATE_INSTITUTIONS))
    conn.execute(insert(GATE_GRANTS).from_select(_GRANT_COLUMNS, _grants_where(true())))
    conn.execute(
        insert(GATE_INSTITUTIONS).from_select(_INSTITUTION_COLUMNS, _institutions_where(true()))
    )


def log_changes(conn: Connection, changes: list[tuple[int, str]]) -> None:
    """Append ``(kind, key)`` changes to the gate's change log and drop those beyond ``_KEPT``
    (the newest is always kept, so the numbering goes on from it)."""
    if not changes:
        return
    if len(changes) > _LISTED_MAX:
        changes = [(EVERYTHING, "")]
    conn.execute(insert(GATE_CHANGES).values([{"kind": k, "key": key} for k, key in changes]))
    newest = select(func.max(GATE_CHANGES.c.seq)).scalar_subquery()
    conn.execute(delete(GATE_CHANGES).where(GATE_CHANGES.c.seq < newest - _KEPT))


def keys_changed_after(conn: Connection, block: int) -> dict[str, set[Any]]:
    """The keys whose versions were opened or closed after ``block``: what undoing those
    blocks changes, as ``refresh_gate_rows`` arguments."""

    def keys(table: Any, column: str) -> set[Any]:
        changed = or_(table.c.valid_from_block > block, table.c.valid_to_block > block)
        return set(conn.execute(select(table.c[column]).where(changed).distinct()).scalars())

    return {
        "grant_ids": keys(GRANTS, "grant_id"),
        "subject_indexes": keys(SUBJECT_BINDINGS, "subject_index"),
        "addresses": keys(INSTITUTIONS, "address"),
        "agreement_ids": keys(AGREEMENTS, "agreement_id"),
    }
