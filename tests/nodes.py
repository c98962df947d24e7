"""Real services for integration tests (``ledger_api.devnodes``): a service that is not
installed or not reachable skips the test; one that is installed but does not start fails it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
from web3 import Web3

from ledger_api.devnodes import (
    ANVIL,
    ANVIL_KEY,
    PG_URL,
    ServiceUnavailable,
    anvil,
    free_port,
    private_schema,
)

__all__ = ["ANVIL", "ANVIL_KEY", "PG_URL", "anvil_node", "free_port", "postgres_schema"]


@contextmanager
def anvil_node() -> Iterator[tuple[str, Web3]]:
    """A fresh anvil on a free port; yields its URL and a connected Web3."""
    if not ANVIL.exists():
        pytest.skip("anvil binary not installed (npm ci)")
    with ExitStack() as stack:
        try:
            node = stack.enter_context(anvil())
        except ServiceUnavailable as exc:
            pytest.fail(str(exc))
        yield node


@contextmanager
def postgres_schema(prefix: str = "ccl_test") -> Iterator[str]:
    """A private schema on the PostgreSQL test server, dropped afterwards."""
    with ExitStack() as stack:
        try:
            schema = stack.enter_context(private_schema(prefix))
        except ServiceUnavailable as exc:  # pragma: no cover - CI fails on the skip
            pytest.skip(str(exc))
        yield schema
