"""The audit views' memory does not grow with the access log: on SQLite no view sorts the
log's entries (pages are read in an index's order, aggregates are counted as they stream)."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from activity import issue_grants
from indexer_support import make_indexer
from sql_plans import statements_that_sort
from sqlalchemy import Engine
from test_indexer_audit_views import log_access, view
from world import World

from ledger_api.chain.types import AccessLevel


@pytest.fixture
def grants(world: World, engine: Engine) -> list[int]:
    ids = issue_grants(world)
    make_indexer(world.w3, world.ledger.deployment, engine).run_once()
    return ids


def _some_accesses(engine: Engine, world: World, grant: int) -> None:
    for subject in (0, 1, 0):
        log_access(engine, world, actor=world.bank.address, grant_id=grant, subject=subject)
    log_access(engine, world, actor=world.bank.address, grant_id=grant, action="verify",
               level=AccessLevel.VERIFY)  # fmt: skip
    log_access(engine, world, actor=world.bank_b.address, grant_id=grant, decision="denied")


@pytest.mark.parametrize("name", ["volumes", "statistics"])
def test_aggregate_views_count_the_log_without_sorting_it(
    world: World, engine: Engine, grants: list[int], name: str
) -> None:
    _some_accesses(engine, world, grants[0])
    filters: list[dict[str, Any]] = [{}, {"institution": world.bank.address}]
    for f in filters:
        assert statements_that_sort(engine, functools.partial(view, engine, name, **f)) == []


def test_volumes_count_each_group_once(world: World, engine: Engine, grants: list[int]) -> None:
    _some_accesses(engine, world, grants[0])
    rows = view(engine, "volumes")
    bank = [r for r in rows if r["institution"] == world.bank.address]
    assert sum(r["total"] for r in bank) == 4 and sum(r["verifications"] for r in bank) == 1
    assert sum(r["denied"] for r in bank) == 0
    other = [r for r in rows if r["institution"] == world.bank_b.address]
    assert [(r["total"], r["denied"], r["allowed"]) for r in other] == [(1, 1, 0)]
    usage = {u["institution"]: u for u in view(engine, "statistics")["usage_by_institution"]}
    assert usage[world.bank.address] == {
        "institution": world.bank.address, "queries": 3, "verifications": 1, "denied": 0,
    }  # fmt: skip
    assert usage[world.bank_b.address]["denied"] == 1


@pytest.mark.parametrize("name", ["access_audit", "refusals"])
def test_filtered_pages_are_read_in_index_order_without_sorting(
    world: World, engine: Engine, grants: list[int], name: str
) -> None:
    _some_accesses(engine, world, grants[0])
    filters: list[dict[str, Any]] = [
        {},
        {"institution": world.bank.address},
        {"subject_id": world.subject_ids[0]},
        {"institution": world.bank_b.address, "limit": 1, "offset": 0},
    ]
    for f in filters:
        assert statements_that_sort(engine, functools.partial(view, engine, name, **f)) == []


def test_a_filtered_page_keeps_the_log_order(
    world: World, engine: Engine, grants: list[int]
) -> None:
    _some_accesses(engine, world, grants[0])
    everything = [r["entry_id"] for r in view(engine, "access_audit")]
    bank = [r["entry_id"] for r in view(engine, "access_audit", institution=world.bank.address)]
    assert bank == sorted(bank) and set(bank) < set(everything)
    second_page = view(engine, "access_audit", institution=world.bank.address, limit=2, offset=2)
    assert [r["entry_id"] for r in second_page] == bank[2:4]
