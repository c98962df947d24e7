"""The access log's behaviour: group-committed appends, verification, anchoring, proofs.

Entries (``ledger_api.store.access_log.AccessLogEntry``) form a hash chain:
``entry_hash = sha256(prev_hash || canonical_entry)`` with ``prev_hash`` of the first entry 32
zero bytes, and ids 1, 2, 3, ... without gaps. ``categories`` (added later) is covered only when
set, so entries written before it keep their hashes. ``verify_access_log`` walks the chain and names
the first entry that was edited and any ids that were deleted.

Appends go through ONE writer thread per process (``AccessLogWriter``) that commits whatever
has queued up in one transaction (group commit): at 32 concurrent requests that is one commit
per ~32 entries instead of 32. Across processes on PostgreSQL the writers serialise on a
transaction-scoped advisory lock taken before reading the last entry, so the chain never forks;
SQLite runs one API worker (its database has a single writer anyway).

The same writer reserves request nonces (``request_nonces`` primary key): a replayed nonce is
refused by the database even when the replay reaches another worker.

Usage caps are enforced at append time: an "allowed" entry under a capped grant is re-checked
against the count of allowed entries in the same serialised transaction and turned into a
"denied / usage_cap_reached" entry if the cap is reached, so concurrent requests can never
exceed it.

Anchoring (``AccessLogAnchoring``): ranges of entries become an OpenZeppelin-compatible Merkle
tree (leaf = keccak256(keccak256(entry_hash))) whose root is anchored as AnchorKind.ACCESS_LOG.
Anchor rows are entries of the anchor journal (``ledger_api.anchoring.journal``): pending ->
sent -> anchored, and a restart asks the chain before sending a root again.
"""

from __future__ import annotations

from ledger_api.accesslog.anchoring import AccessLogAnchoring, EntryProof
from ledger_api.accesslog.entries import (
    ACCESS_LOG,
    ALLOWED,
    ANCHORS,
    DENIED,
    GENESIS_HASH,
    NONCE_REPLAYED,
    USAGE_CAP_REACHED,
    AppendResult,
    EntryDraft,
    canonical_entry,
    chain_hash,
    count_uses,
    entry_leaf,
    used_count,
)
from ledger_api.accesslog.verification import AccessLogReport, LogFinding, verify_access_log
from ledger_api.accesslog.writer import AccessLogWriter, prune_nonces

__all__ = [
    "ACCESS_LOG",
    "ALLOWED",
    "ANCHORS",
    "DENIED",
    "GENESIS_HASH",
    "NONCE_REPLAYED",
    "USAGE_CAP_REACHED",
    "AccessLogAnchoring",
    "AccessLogReport",
    "AccessLogWriter",
    "AppendResult",
    "EntryDraft",
    "EntryProof",
    "LogFinding",
    "canonical_entry",
    "chain_hash",
    "count_uses",
    "entry_leaf",
    "prune_nonces",
    "used_count",
    "verify_access_log",
]
