"""Fixtures shared by the whole suite: one deployed ledger per session, snapshot per test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from world import World, build_world  # noqa: E402


@pytest.fixture(scope="session")
def base_world() -> World:
    return build_world()


@pytest.fixture
def world(base_world: World) -> Iterator[World]:
    """The session's ledger, rolled back after each test."""
    tester = base_world.w3.provider.ethereum_tester  # type: ignore[attr-defined]
    snapshot = tester.take_snapshot()
    try:
        yield base_world
    finally:
        tester.revert_to_snapshot(snapshot)
        base_world.forget_nonces()
