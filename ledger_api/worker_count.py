"""Worker processes for CPU-bound steps: how many may be forked and at which priority
(from environment variables), and how work is dealt out between them."""

from __future__ import annotations

import heapq
import os
from collections.abc import Sequence
from typing import TypeVar

from ledger_api.errors import InputError

_Key = TypeVar("_Key", int, bytes)  # worker tasks are dealt by index or by id


def workers_from_env(name: str, default: int) -> int:
    """The count ``name`` sets (at least 1), else ``default``; InputError if not an integer."""
    configured = os.environ.get(name)
    if not configured:
        return default
    try:
        return max(1, int(configured))
    except ValueError:
        raise InputError(f"{name} must be an integer") from None


PRIORITIES = ("idle", "normal")


def idle_priority_from_env(name: str) -> bool:
    """Whether ``name`` (``idle``, the default, or ``normal``) asks for workers at idle
    priority; InputError for any other value."""
    configured = (os.environ.get(name) or "idle").strip().lower()
    if configured not in PRIORITIES:
        raise InputError(f"{name} must be one of {', '.join(PRIORITIES)}")
    return configured == "idle"


def one_per_cpu() -> int:
    return os.cpu_count() or 1


def balanced(sizes: Sequence[tuple[_Key, int]], parts: int) -> list[list[_Key]]:
    """The keys of ``sizes`` ((key, size) pairs) in at most ``parts`` groups of about equal total
    size, one group per worker: largest first, each to the least loaded group. Each group is
    sorted; empty groups are left out. (Chunks of consecutive items left one worker on a large
    item long after the others had finished.)"""
    loads = [(0, i) for i in range(parts)]
    groups: list[list[_Key]] = [[] for _ in range(parts)]
    for key, size in sorted(sizes, key=lambda pair: -pair[1]):
        load, i = heapq.heappop(loads)
        groups[i].append(key)
        heapq.heappush(loads, (load + size, i))
    return [sorted(group) for group in groups if group]
