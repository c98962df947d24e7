"""Verifying the access log's hash chain: the first edited entry and any deleted ids."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from ledger_api.accesslog.entries import (
    ACCESS_LOG,
    ANCHORS,
    GENESIS_HASH,
    canonical_entry,
    chain_hash,
    entry_leaf,
)
from ledger_api.anchoring.merkle import MerkleTree


@dataclass(frozen=True)
class LogFinding:
    kind: str  # "edited" | "deleted" | "relinked" | "anchor_mismatch"
    entry_id: int
    detail: str


@dataclass
class AccessLogReport:
    entries_checked: int = 0
    findings: list[LogFinding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings

    def of_kind(self, kind: str) -> list[LogFinding]:
        return [f for f in self.findings if f.kind == kind]


def _iter_entries(
    session: Session | Connection, after: int = 0, batch: int = 5000
) -> Iterator[Any]:
    while True:
        rows = session.execute(
            select(ACCESS_LOG).where(ACCESS_LOG.c.id > after).order_by(ACCESS_LOG.c.id).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].id


def _starting_point(session: Session | Connection, since: datetime | None) -> tuple[int, bytes]:
    """(id after which to verify, the hash the first verified entry must follow).

    From ``since`` on, the chain is verified from the first entry written at or after it,
    linked to the stored hash of the entry before it: that entry and the ones before it
    were verified (and anchored) earlier, so the last day costs a day's reading, not the
    whole history's."""
    if since is None:
        return 0, GENESIS_HASH
    log = ACCESS_LOG.c
    first = session.execute(select(func.min(log.id)).where(log.at >= since)).scalar_one()
    if first is None:
        last = session.execute(select(func.max(log.id))).scalar_one()
        first = (last or 0) + 1
    before = session.execute(
        select(log.id, log.entry_hash).where(log.id < first).order_by(log.id.desc()).limit(1)
    ).first()
    return (0, GENESIS_HASH) if before is None else (int(before.id), bytes(before.entry_hash))


def verify_access_log(
    session: Session | Connection, *, since: datetime | None = None
) -> AccessLogReport:
    """Recompute the hash chain and the anchored roots; name every entry that does not fit.

    ``since`` verifies only the entries written from then on and the anchored ranges
    reaching them (a range that began earlier is re-read whole: at most one range).

    - ``edited``: the entry's stored hash does not match its content;
    - ``deleted``: ids missing from the sequence (or after the last entry, up to what an
      anchor covered);
    - ``relinked``: the entry's ``prev_hash`` is not the previous entry's hash;
    - ``anchor_mismatch``: an anchored range no longer hashes to its root.
    """
    report = AccessLogReport()
    after, prev_hash = _starting_point(session, since)
    expected_id = after + 1
    last_id = after
    for row in _iter_entries(session, after):
        report.entries_checked += 1
        if row.id != expected_id:
            missing = f"{expected_id}..{row.id - 1}" if row.id - 1 > expected_id else expected_id
            report.findings.append(
                LogFinding("deleted", expected_id, f"entries {missing} are missing")
            )
        if chain_hash(row.prev_hash, canonical_entry(row)) != row.entry_hash:
            report.findings.append(
                LogFinding("edited", row.id, f"entry {row.id} does not match its hash")
            )
        elif row.prev_hash != prev_hash and row.id == expected_id:
            report.findings.append(
                LogFinding("relinked", row.id, f"entry {row.id} does not follow its predecessor")
            )
        prev_hash = row.entry_hash
        expected_id = row.id + 1
        last_id = row.id
    ranges = select(ANCHORS).where(ANCHORS.c.last_entry > after).order_by(ANCHORS.c.id)
    for anchor in session.execute(ranges).all():
        if anchor.last_entry > last_id:
            report.findings.append(
                LogFinding(
                    "deleted",
                    max(last_id + 1, anchor.first_entry),
                    f"entries {max(last_id + 1, anchor.first_entry)}..{anchor.last_entry} "
                    f"were anchored (root 0x{anchor.root.hex()}) but are missing",
                )
            )
            continue
        hashes = (
            session.execute(
                select(ACCESS_LOG.c.entry_hash)
                .where(ACCESS_LOG.c.id.between(anchor.first_entry, anchor.last_entry))
                .order_by(ACCESS_LOG.c.id)
            )
            .scalars()
            .all()
        )
        if not hashes or MerkleTree([entry_leaf(h) for h in hashes]).root != anchor.root:
            report.findings.append(
                LogFinding(
                    "anchor_mismatch",
                    anchor.first_entry,
                    f"entries {anchor.first_entry}..{anchor.last_entry} no longer match "
                    f"anchored root 0x{anchor.root.hex()}",
                )
            )
    return report
