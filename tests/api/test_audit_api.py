"""Regulators read the indexer's audit views over the API, with filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api_support import Api
from test_gate import read

from indexer.follower import Indexer


def _index(api: Api) -> None:
    Indexer.for_engine(
        api.world.w3, api.world.ledger.deployment, api.engine, api.settings
    ).run_once()


def test_regulator_sees_each_access_with_the_grant_state_at_its_block_filtered(api: Api) -> None:
    grant = api.grant()
    read(api, grant)
    _index(api)
    regulator = api.client(api.world.regulator.account)
    rows = regulator.audit("access_audit", institution=api.world.bank.address).result
    assert isinstance(rows, list)
    (entry,) = [r for r in rows if r["grant_id"] == grant]
    assert entry["decision"] == "allowed" and entry["recomputed"] == "usable"
    assert entry["consistent"] and entry["grant_at_block"]["grant_id"] == grant
    assert regulator.audit("access_audit", institution=api.world.bank_b.address).result == []
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert regulator.audit("access_audit", since=later).result == []
    assert regulator.audit("violations").result == []


def test_regulator_sees_every_data_batch_anchor_verified(api: Api) -> None:
    _index(api)
    anchors = api.client(api.world.regulator.account).audit("anchors", limit=500).result
    assert isinstance(anchors, list)
    batches = [a for a in anchors if a["kind"] == "data_batch"]
    assert batches and all(a["status"] == "verified" for a in batches)
