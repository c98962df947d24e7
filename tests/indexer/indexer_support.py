"""Helpers shared by the indexer tests (a uniquely named module: several conftest.py exist)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from indexer.follower import Indexer
from ledger_api.chain.deployment import Deployment


def make_indexer(w3: Any, deployment: Deployment, engine: Engine, **kwargs: Any) -> Indexer:
    kwargs.setdefault("confirmation_depth", 0)
    kwargs.setdefault("reorg_window", 64)
    return Indexer.for_engine(w3, deployment, engine, **kwargs)
