"""The regulators' web dashboard over the indexer's replica (docs/dashboard.md)."""

from __future__ import annotations

from indexer.dashboard.app import create_dashboard

__all__ = ["create_dashboard"]
