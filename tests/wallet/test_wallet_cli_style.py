"""``ccl-wallet`` speaks like ``ccl`` and ``ccl-indexer`` and starts without the heavy imports."""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
from walletkit import Wallet

from wallet_cli.registry import COMMANDS

# Modules that make a start slow (web3, the in-process chain, the API server) and that neither
# the help nor the key verbs need.
HEAVY = ("web3", "eth_tester", "fastapi")


def imported_modules(args: list[str], home: Path) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CCL_")}
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "wallet_cli.main", *args],
        env={**env, "CCL_WALLET_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return {
        line.rsplit("|", 1)[1].strip()
        for line in run.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


@pytest.mark.parametrize("args", [["--help"], ["list"], ["address"], ["grants", "--help"]])
def test_help_and_simple_commands_do_not_import_web3_eth_tester_or_fastapi(
    args: list[str], tmp_path: Path
) -> None:
    modules = imported_modules(args, tmp_path)
    assert "wallet_cli.config" in modules  # the measurement saw the wallet start
    assert not {m for m in modules if m.split(".")[0] in HEAVY}


def test_the_help_lists_commands_without_importing_their_modules(tmp_path: Path) -> None:
    modules = imported_modules(["--help"], tmp_path)
    assert not {entry.module for entry in COMMANDS.values()} & modules
    assert "eth_account" not in modules


def test_each_listed_summary_is_the_first_line_of_its_commands_help() -> None:
    for name, entry in COMMANDS.items():
        function = getattr(importlib.import_module(entry.module), entry.function)
        doc = inspect.getdoc(function)
        assert doc is not None and doc.splitlines()[0] == entry.summary, name


def test_every_command_takes_json_and_debug_like_ccl_and_ccl_indexer(wallet: Wallet) -> None:
    for name in COMMANDS:
        shown = wallet([name, "--help"])
        assert shown.exit_code == 0, (name, shown.stderr)
        for option in ("--json", "--debug", "--home", "--api-url"):
            assert option in shown.stdout, (name, option)


def test_an_unknown_command_is_one_line(wallet: Wallet) -> None:
    result = wallet(["-n", "acme", "frobnicate"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
