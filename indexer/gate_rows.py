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
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, delete, insert, or_, select, true

from indexer.tables import (
    AGREEMENTS,
    GATE_GRANTS,
    GATE_INSTITUTIONS,
    GRANTS,
    INSTITUTIONS,
    SUBJECT_BINDINGS,
)

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
    institutions, and of the institutions whose current agreement is one of these."""
    gg, gi, g, i = GATE_GRANTS.c, GATE_INSTITUTIONS.c, GRANTS.c, INSTITUTIONS.c
    for key, keys in (("grant_id", set(grant_ids)), ("subject_index", set(subject_indexes))):
        for kept, live in zip(_selections(gg[key], keys), _selections(g[key], keys), strict=True):
            conn.execute(delete(GATE_GRANTS).where(kept))
            conn.execute(insert(GATE_GRANTS).from_select(_GRANT_COLUMNS, _grants_where(live)))
    for batch in _batches(addresses):
        conn.execute(delete(GATE_INSTITUTIONS).where(gi.address.in_(batch)))
        rows = _institutions_where(i.address.in_(batch))
        conn.execute(insert(GATE_INSTITUTIONS).from_select(_INSTITUTION_COLUMNS, rows))
    agreements = set(agreement_ids)
    for kept, live in zip(
        _selections(gi.agreement_id, agreements),
        _selections(i.agreement_id, agreements),
        strict=True,
    ):
        conn.execute(delete(GATE_INSTITUTIONS).where(kept))
        rows = _institutions_where(live)
        conn.execute(insert(GATE_INSTITUTIONS).from_select(_INSTITUTION_COLUMNS, rows))


def rebuild_gate_rows(conn: Connection) -> None:
    """Every row read again from the live versions (after loading versions directly)."""
    conn.execute(delete(GATE_GRANTS))
    conn.execute(delete(GATE_INSTITUTIONS))
    conn.execute(insert(GATE_GRANTS).from_select(_GRANT_COLUMNS, _grants_where(true())))
    conn.execute(
        insert(GATE_INSTITUTIONS).from_select(_INSTITUTION_COLUMNS, _institutions_where(true()))
    )


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
