"""CLI start-up: `ccl --help` against bare Python's start, on the same machine and moment.

Runs are interleaved (python, ccl, ccl-indexer, ...) so that load from other processes hits
every command alike, and the median of each is reported. Goal: ``ratio`` (ccl help / bare
Python) at most 8.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = 15
GOAL_RATIO = 8.0
BIN = Path(sys.executable).parent


def _command(entry_point: str, module: str) -> list[str]:
    """The installed entry point when there is one, else ``python -m module``."""
    installed = BIN / entry_point
    if installed.exists():
        return [str(installed), "--help"]
    return [sys.executable, "-m", module, "--help"]


def _seconds(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def run() -> dict[str, object]:
    commands = {
        "python": [sys.executable, "-c", "pass"],
        "ccl": _command("ccl", "ledger_api.cli"),
        "ccl_indexer": _command("ccl-indexer", "indexer.cli"),
    }
    env_note = {k: os.environ[k] for k in ("PYTHONDONTWRITEBYTECODE",) if k in os.environ}
    for argv in commands.values():  # warm the file cache and the bytecode
        _seconds(argv)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for i in range(RUNS):
        for name, argv in commands.items():
            times[name].append(_seconds(argv))
        print(f"run {i + 1}/{RUNS}", file=sys.stderr, flush=True)
    median = {name: statistics.median(values) for name, values in times.items()}
    ratio = median["ccl"] / median["python"]
    return {
        "ccl_help_s": round(median["ccl"], 4),
        "ccl_indexer_help_s": round(median["ccl_indexer"], 4),
        "python_s": round(median["python"], 4),
        "ratio": round(ratio, 2),
        "indexer_ratio": round(median["ccl_indexer"] / median["python"], 2),
        "goal_ratio": GOAL_RATIO,
        "meets_goal": ratio <= GOAL_RATIO,
        "runs": RUNS,
        "ccl_command": " ".join(Path(a).name for a in commands["ccl"]),
        "cpus": os.cpu_count(),
        "load_1min": round(os.getloadavg()[0], 2),
        **({"env": env_note} if env_note else {}),
    }
