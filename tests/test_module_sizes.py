"""No Python module of the three packages grows past 700 lines: past that, split it by job."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ledger_api", "indexer", "wallet_cli")
MAX_LINES = 700


def test_no_module_of_ledger_api_indexer_or_wallet_cli_is_over_700_lines() -> None:
    modules = [path for package in PACKAGES for path in (ROOT / package).rglob("*.py")]
    assert len(modules) > 50  # the packages were found
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in modules
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert too_long == {}
