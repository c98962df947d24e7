"""The regulator's ``refusals`` view: every denied entry, data denials and refused operations."""

from __future__ import annotations

import json

import pytest
from activity import issue_grants
from indexer_support import make_indexer
from sqlalchemy import Engine
from test_indexer_audit_views import log_access, view
from typer.testing import CliRunner
from world import World

from indexer.cli import app


@pytest.fixture
def grants(world: World, engine: Engine) -> list[int]:
    ids = issue_grants(world)
    make_indexer(world.w3, world.ledger.deployment, engine).run_once()
    return ids


def test_refusals_lists_denied_entries_only_with_their_operation(
    world: World, engine: Engine, grants: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    log_access(engine, world, actor=world.bank.address, grant_id=grants[0])
    denied_read = log_access(
        engine, world, actor=world.bank_b.address, grant_id=grants[0], decision="denied"
    )
    refused_operation = log_access(
        engine, world, actor=world.bank.address, grant_id=None, decision="denied",
        action="POST /v1/operator/roles", category=None,
    )  # fmt: skip
    rows = view(engine, "refusals")
    assert [(r["entry_id"], r["action"]) for r in rows] == [
        (denied_read, "records"),
        (refused_operation, "POST /v1/operator/roles"),
    ]
    assert all(r["decision"] == "denied" and r["consistent"] for r in rows)
    assert [r["entry_id"] for r in view(engine, "refusals", institution=world.bank.address)] == [
        refused_operation
    ]
    assert view(engine, "violations") == []  # a refusal is never a violation
    monkeypatch.setenv("CCL_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    result = CliRunner().invoke(app, ["audit", "refusals", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert [r["entry_id"] for r in json.loads(result.stdout)] == [denied_read, refused_operation]
