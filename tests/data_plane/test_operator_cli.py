"""The operator's first day with `ccl`, driven as an operator types it: set-up, providers,
master-key rotation, a stack that refuses to start in one line, `--json` everywhere."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from eth_account import Account
from operator_setup import init_platform, register_provider
from operator_terminal import run_in_terminal
from typer.testing import CliRunner

from ledger_api.chain.connection import open_chain, operator_transactor
from ledger_api.chain.deployment import Deployment
from ledger_api.chain.ledger import Ledger, role_id
from ledger_api.cli import app
from ledger_api.settings import Settings

from .conftest import jsonl, tax_row


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CCL_DATA_DIR", str(tmp_path / "var"))
    for name in ("CCL_DATABASE_URL", "CCL_NEW_MASTER_KEY", "CCL_API_URL", "CCL_CHAIN_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "var"


def ccl(*args: str):
    return CliRunner().invoke(app, list(args))


def stored(data_dir: Path) -> tuple[int, int]:
    """(batches, records) in the platform's database."""
    db = sqlite3.connect(data_dir / "ledger.sqlite")
    try:
        batches = db.execute("SELECT count(*) FROM ingest_batches").fetchone()[0]
        records = db.execute("SELECT count(*) FROM records").fetchone()[0]
    finally:
        db.close()
    return batches, records


def one_line_error(result, code: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert lines[0].startswith("error: ") and lines[0].endswith(f"[{code}]"), lines[0]
    return lines[0]


def tax_file(tmp_path: Path, *keys: str) -> Path:
    path = tmp_path / "tax.jsonl"
    path.write_bytes(jsonl([tax_row(key=k) for k in keys]))
    return path


# -- ccl init ------------------------------------------------------------------------------


def test_ingest_into_an_empty_data_dir_asks_for_ccl_init_and_deploys_nothing(
    data_dir: Path, tmp_path: Path
) -> None:
    result = ccl("ingest", str(tax_file(tmp_path, "K1")), "-p", "0x" + "11" * 20)
    assert result.exit_code == 2
    assert "run `ccl init`" in one_line_error(result, "not_initialised")
    assert not (data_dir / "deployment.json").exists() and not (data_dir / "chain").exists()
    for command in (["verify"], ["resume"], ["catalog", "publish"]):
        refused = ccl(*command)
        assert refused.exit_code == 2 and "ccl init" in refused.stderr, command


def test_ccl_init_deploys_the_ledger_once_and_says_so(data_dir: Path) -> None:
    first = ccl("init")
    assert first.exit_code == 0, first.output
    record = json.loads((data_dir / "deployment.json").read_text())
    assert first.stdout.startswith(f"deployed a new ledger at {record['address']}")
    again = ccl("init", "--json")
    assert again.exit_code == 0
    assert json.loads(again.stdout) == {
        "created": False,
        "address": record["address"],
        "chain_id": record["chain_id"],
        "deployment_block": record["deployment_block"],
        "record": str(data_dir / "deployment.json"),
    }


# -- providers -----------------------------------------------------------------------------


def test_ingest_refuses_a_provider_the_ledger_does_not_know_before_storing_anything(
    data_dir: Path, tmp_path: Path
) -> None:
    init_platform(data_dir)
    batch = str(tax_file(tmp_path, "K1"))
    by_name = ccl("ingest", batch, "-p", "a")
    assert by_name.exit_code == 2
    assert "unknown provider 'a'" in one_line_error(by_name, "unknown_provider")
    stranger = Account.create().address
    by_address = ccl("ingest", batch, "-p", stranger.lower())
    assert by_address.exit_code == 2
    assert f"ccl admin grant-role provider {stranger}" in one_line_error(
        by_address, "not_a_provider"
    )
    assert stored(data_dir) == (0, 0)


def test_the_same_records_from_one_provider_named_two_ways_are_stored_once(
    data_dir: Path, tmp_path: Path
) -> None:
    init_platform(data_dir)
    address = register_provider(data_dir, "henan-tax")
    batch = str(tax_file(tmp_path, "K1", "K2", "K3"))
    first = ccl("ingest", batch, "-p", "henan-tax", "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["accepted"] == 3
    assert json.loads(first.stdout)["provider"] == address
    for other_name in (address.lower(), address):
        again = ccl("ingest", batch, "-p", other_name, "--json")
        assert again.exit_code == 0, again.output
        assert json.loads(again.stdout)["accepted"] == 0
    assert stored(data_dir) == (1, 3)


def test_ingest_refuses_when_the_platform_key_cannot_anchor_for_providers(
    data_dir: Path, tmp_path: Path
) -> None:
    init_platform(data_dir)
    register_provider(data_dir, "henan-tax")
    settings = Settings(data_dir=data_dir)
    connection = open_chain(settings)
    try:
        ledger = Ledger(connection.w3, Deployment.load(settings.resolved_deployment_file))
        platform = operator_transactor(settings, connection.w3)
        role = role_id("PROVIDER_ROLE")
        ledger.transact(platform, "renounceRole", role, platform.address, gas=100_000)
    finally:
        connection.close()
    result = ccl("ingest", str(tax_file(tmp_path, "K1")), "-p", "henan-tax")
    assert result.exit_code == 1
    assert "PROVIDER_ROLE" in one_line_error(result, "missing_role")
    assert stored(data_dir) == (0, 0)


# -- master key ----------------------------------------------------------------------------


def _one_subject(data_dir: Path, tmp_path: Path) -> None:
    init_platform(data_dir)
    register_provider(data_dir, "henan-tax")
    assert ccl("ingest", str(tax_file(tmp_path, "K1")), "-p", "henan-tax").exit_code == 0


def _key_ids(data_dir: Path) -> set[str]:
    db = sqlite3.connect(data_dir / "ledger.sqlite")
    try:
        return {row[0] for row in db.execute("SELECT key_id FROM subjects")}
    finally:
        db.close()


def test_rotate_master_asks_for_the_new_key_twice_at_the_terminal(
    data_dir: Path, tmp_path: Path
) -> None:
    _one_subject(data_dir, tmp_path)
    env = {"PATH": "/usr/bin:/bin", "CCL_DATA_DIR": str(data_dir), "HOME": str(tmp_path)}
    argv = [sys.executable, "-m", "ledger_api.cli", "keys", "rotate-master", "--new-key-id", "k2"]
    code, screen = run_in_terminal(
        argv,
        env,
        [
            ("New master key (hex): ", "22" * 32),
            ("Repeat for confirmation: ", "23" * 32),  # a slip: asked again
            ("New master key (hex): ", "22" * 32),
            ("Repeat for confirmation: ", "22" * 32),
        ],
    )
    assert code == 0, screen
    assert "do not match" in screen and "re-wrapped 1 data key(s)" in screen
    assert "22" * 32 not in screen  # hidden input
    assert _key_ids(data_dir) == {"k2"}


def test_rotate_master_reads_the_new_key_from_a_named_file_or_variable(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _one_subject(data_dir, tmp_path)
    key_file = tmp_path / "new.key"
    key_file.write_text("33" * 32 + "\n")
    by_file = ccl("keys", "rotate-master", "--new-key-id", "k2", "--new-key-file", str(key_file))
    assert by_file.exit_code == 0, by_file.output
    assert _key_ids(data_dir) == {"k2"}
    monkeypatch.setenv("CCL_MASTER_KEY", "33" * 32)
    monkeypatch.setenv("CCL_MASTER_KEY_ID", "k2")
    monkeypatch.setenv("VAULT_NEXT_KEY", "44" * 32)
    by_env = ccl(
        "keys", "rotate-master", "--new-key-id", "k3", "--new-key-env", "VAULT_NEXT_KEY", "--json"
    )
    assert by_env.exit_code == 0, by_env.output
    assert json.loads(by_env.stdout) == {"rewrapped": 1, "master_key_id": "k3"}
    assert "44" * 32 not in by_env.output
    not_hex = ccl(
        "keys", "rotate-master", "--new-key-id", "k4", "--new-key-env", "CCL_MASTER_KEY_ID"
    )
    assert not_hex.exit_code == 2 and "must be hex" in one_line_error(not_hex, "invalid_input")
    key_file.write_text("66" * 16)
    too_short = ccl("keys", "rotate-master", "--new-key-id", "k4", "--new-key-file", str(key_file))
    assert "must be 32 bytes" in one_line_error(too_short, "invalid_input")
    assert _key_ids(data_dir) == {"k3"}


def test_a_stack_started_with_the_old_master_key_refuses_in_one_line(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _one_subject(data_dir, tmp_path)
    monkeypatch.setenv("CCL_NEW_MASTER_KEY", "55" * 32)
    assert ccl("keys", "rotate-master", "--new-key-id", "k2").exit_code == 0
    monkeypatch.delenv("CCL_NEW_MASTER_KEY")
    result = ccl("stack", "--port", str(_free_port()))
    assert result.exit_code == 1
    line = one_line_error(result, "wrong_master_key")
    assert "wrapped under master key 'k2'" in line and "CCL_MASTER_KEY_ID" in line
    monkeypatch.setenv("CCL_MASTER_KEY_ID", "k2")  # the right id, the old key
    wrong_key = ccl("stack", "--port", str(_free_port()))
    assert wrong_key.exit_code == 1
    assert "CCL_MASTER_KEY is not" in one_line_error(wrong_key, "wrong_master_key")


# -- ccl stack -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_stack_on_a_busy_port_is_one_line_before_any_banner(data_dir: Path) -> None:
    init_platform(data_dir)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = ccl("stack", "--port", str(busy.getsockname()[1]))
    assert result.exit_code == 2
    assert "stop what uses it or pass --port" in one_line_error(result, "port_in_use")
    assert "Credit Consent Ledger" not in result.output


def test_a_stack_without_ccl_init_says_to_run_it(data_dir: Path) -> None:
    result = ccl("stack", "--port", str(_free_port()))
    assert result.exit_code == 2 and "ccl init" in one_line_error(result, "not_initialised")


# -- --json --------------------------------------------------------------------------------

SERVERS = {"stack", "serve"}  # they run until stopped and print no result


def _leaf_commands(
    group: Any, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], Any]]:
    # typer builds its commands on its own copy of click: groups are told by their commands.
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _leaf_commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def test_every_ccl_command_takes_json() -> None:
    root = typer.main.get_command(app)
    missing = [
        " ".join(path)
        for path, command in _leaf_commands(root)
        if path[-1] not in SERVERS and not any("--json" in p.opts for p in command.params)
    ]
    assert missing == []


# -- start-up ------------------------------------------------------------------------------

HEAVY = ("web3", "sqlalchemy", "eth_account", "httpx", "pydantic_settings", "fastapi", "rich")


@pytest.mark.parametrize("module", ["ledger_api.cli", "indexer.cli"])
def test_help_imports_none_of_the_heavy_libraries(module: str) -> None:
    # Their import took about a second of `ccl --help`; commands import what they use.
    probe = (
        f"import sys, runpy; sys.argv = ['x', '--help']\n"
        f"try:\n    runpy.run_module({module!r}, run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
