"""The indexer and the API refuse a deployment of a ConsentLedger version they do not know."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner
from world import World

from indexer.cli import app
from ledger_api.api.context import build_context
from ledger_api.errors import ChainError
from ledger_api.settings import Settings


def _previous_version_record(world: World, path: Path) -> Path:
    """The record as the contract before 2.0.0 was deployed with: no version, no governance."""
    world.ledger.deployment.save(path)
    fields = json.loads(path.read_text())
    for name in ("contract_version", "governance", "governance_delay_s"):
        fields.pop(name)
    path.write_text(json.dumps(fields))
    return path


def test_the_indexer_cli_refuses_a_deployment_of_an_unknown_version_in_one_line(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = _previous_version_record(world, tmp_path / "deployment.json")
    monkeypatch.setenv("CCL_DEPLOYMENT_FILE", str(record))
    monkeypatch.setenv("CCL_CHAIN_URL", "http://127.0.0.1:9")  # never reached: refused first
    monkeypatch.setenv("CCL_DATABASE_URL", f"sqlite:///{tmp_path / 'replica.sqlite'}")
    result = CliRunner().invoke(app, ["catch-up"])
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: deployment ") and "[unknown_contract_version]" in line
    assert "docs/upgrading.md" in line


def test_the_api_refuses_a_deployment_of_an_unknown_version(world: World, tmp_path: Path) -> None:
    record = _previous_version_record(world, tmp_path / "deployment.json")
    settings = Settings(data_dir=tmp_path, deployment_file=record)
    with pytest.raises(ChainError) as caught:
        build_context(settings, w3=world.w3)
    assert caught.value.code == "unknown_contract_version"
