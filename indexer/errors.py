"""Errors the indexer raises on purpose (all ``LedgerError``s with a stable code)."""

from __future__ import annotations

from ledger_api.errors import ChainError, LedgerError


class IndexerError(LedgerError):
    code = "indexer_error"
    status = 500
    title = "Indexer error"


class ReorgTooDeepError(ChainError):
    """The chain replaced blocks further back than the reorg window: refuse to guess.

    Re-indexing from scratch (``ccl-indexer rebuild``) is the way out, after an operator has
    looked at why a permissioned chain reorganised that deeply.
    """

    code = "reorg_too_deep"
    title = "Reorg deeper than the window"


class ReplicaMismatchError(IndexerError):
    """The database mirrors another chain or contract than the one configured."""

    code = "replica_mismatch"
