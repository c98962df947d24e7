"""Benchmarks. Usage: ``python scripts/bench.py NAME [--seconds N]`` where NAME is one of the
modules in ``scripts/benchmarks`` (gas, ingest, reads, indexer, soak, cli, gate,
dashboard) or ``all``.
``--seconds`` sets how long the soak runs (default 120).

Each benchmark prints progress to stderr and ONE JSON object as the last line of stdout.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

NAMES = ("gas", "ingest", "reads", "indexer", "soak", "cli", "gate", "dashboard")
USAGE = f"usage: bench.py {{{'|'.join((*NAMES, 'all'))}}} [--seconds N]"


def _parse(argv: list[str]) -> tuple[str, dict[str, float]] | None:
    """``(name, soak options)``, or None for a command line that is not understood."""
    if not argv or argv[0] not in (*NAMES, "all"):
        return None
    rest = argv[1:]
    if not rest:
        return argv[0], {}
    if len(rest) == 2 and rest[0] == "--seconds" and argv[0] in ("soak", "all"):
        try:
            seconds = float(rest[1])
        except ValueError:
            return None
        if seconds > 0:
            return argv[0], {"seconds": seconds}
    return None


def main(argv: list[str]) -> int:
    parsed = _parse(argv)
    if parsed is None:
        print(USAGE, file=sys.stderr)
        return 2
    chosen, soak_options = parsed
    names = NAMES if chosen == "all" else (chosen,)
    results = {}
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        results[name] = module.run(**soak_options) if name == "soak" else module.run()
        if len(names) == 1:
            print(json.dumps(results[name], sort_keys=True))
    if len(names) > 1:
        print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
