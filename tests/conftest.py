"""Fixtures shared by the whole suite: one deployed ledger per session, snapshot per test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from receivables_kit import SupplyChain, build_supply_chain
from world import World, build_world


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


@pytest.fixture
def supply_chain(world: World) -> Iterator[SupplyChain]:
    """A supply chain built inside the test's snapshot (its extra enterprise and funded keys
    roll back with the world), so no other test sees a fourth subject."""
    chain = build_supply_chain(world)
    yield chain
    for t in (chain.sub_supplier, chain.outsider):
        t.forget_nonce()


# -- CI guard: integration tests against PostgreSQL and anvil must run, not skip ---------------

INTEGRATION_MARKERS = ("postgres", "anvil")
_integration_outcomes: dict[str, dict[str, int]] = {m: {} for m in INTEGRATION_MARKERS}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for marker in INTEGRATION_MARKERS:
        if marker in report.keywords and (report.when == "call" or report.skipped):
            outcome = report.outcome
            _integration_outcomes[marker][outcome] = (
                _integration_outcomes[marker].get(outcome, 0) + 1
            )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    import os

    if os.environ.get("CCL_REQUIRE_INTEGRATION") != "1" or hasattr(session.config, "workerinput"):
        return
    problems = []
    for marker, outcomes in _integration_outcomes.items():
        if not outcomes.get("passed"):
            problems.append(f"no {marker} integration test passed")
        if outcomes.get("skipped"):
            problems.append(f"{outcomes['skipped']} {marker} integration tests were skipped")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    summary = ", ".join(f"{m}: {o}" for m, o in _integration_outcomes.items())
    if reporter is not None:
        reporter.write_line(f"integration tests: {summary}")
    if problems:
        if reporter is not None:
            reporter.write_line("error: " + "; ".join(problems), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
