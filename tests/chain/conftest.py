"""The Receivables contract beside the session's ledger, for the supply-chain tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from receivables_kit import SupplyChain, build_supply_chain
from world import World


@pytest.fixture(scope="session")
def base_supply_chain(base_world: World) -> SupplyChain:
    return build_supply_chain(base_world)


@pytest.fixture
def supply_chain(base_supply_chain: SupplyChain, world: World) -> Iterator[SupplyChain]:
    """The session's supply chain, rolled back after each test with the world's snapshot."""
    yield base_supply_chain
    for t in (base_supply_chain.sub_supplier, base_supply_chain.outsider):
        t.forget_nonce()
