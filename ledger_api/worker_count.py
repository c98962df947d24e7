"""How many worker processes a CPU-bound step may fork, from an environment variable."""

from __future__ import annotations

import os

from ledger_api.errors import InputError


def workers_from_env(name: str, default: int) -> int:
    """The count ``name`` sets (at least 1), else ``default``; InputError if not an integer."""
    configured = os.environ.get(name)
    if not configured:
        return default
    try:
        return max(1, int(configured))
    except ValueError:
        raise InputError(f"{name} must be an integer") from None


def one_per_cpu() -> int:
    return os.cpu_count() or 1
