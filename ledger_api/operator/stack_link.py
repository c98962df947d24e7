"""How a ``ccl`` command finds the ``ccl stack`` that holds the embedded chain.

Only one process may open the embedded chain (two mining on one database would fork it), so
while ``ccl stack`` runs, a command that opened the chain itself failed with ``chain_locked``.
The stack now writes ``stack.json`` (its pid and API address) in the data directory while it
serves; a command that finds the chain locked sends its work to that API instead, signed with
the operator key, and only refuses (saying what to do) when no stack announces itself.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ledger_api.errors import ChainError

if TYPE_CHECKING:
    from ledger_api.settings import Settings

STACK_FILE = "stack.json"


def _chain_lock(settings: Settings) -> Path:
    return settings.data_dir / "chain" / "LOCK"  # ledger_api.chain.embedded.LOCK_FILE


def _locked_by_another(path: Path) -> bool:
    if not path.exists():
        return False
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return False


@contextmanager
def announced(settings: Settings, api_url: str) -> Iterator[Path]:
    """Announce the running stack's API while the block runs (``ccl stack``)."""
    path = settings.data_dir / STACK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": os.getpid(), "api_url": api_url}) + "\n")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def running_stack_url(settings: Settings) -> str | None:
    """The API of the ``ccl stack`` holding the embedded chain, or None when the chain is free
    (or not embedded); raises ``chain_locked`` with what to do when another process holds it."""
    if settings.chain_url or not _locked_by_another(_chain_lock(settings)):
        return None
    explicit = os.environ.get("CCL_API_URL")
    if explicit:
        return explicit
    announced_file = settings.data_dir / STACK_FILE
    try:
        return str(json.loads(announced_file.read_text())["api_url"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        holder = _chain_lock(settings).read_text().strip() or "?"
    except OSError:
        holder = "?"
    raise ChainError(
        f"the embedded chain in {settings.data_dir / 'chain'} is held by process {holder}, "
        "which announces no API: stop it, or set CCL_API_URL to the platform API it serves",
        code="chain_locked",
    )
