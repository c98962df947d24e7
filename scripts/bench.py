"""Benchmarks. Usage: ``python scripts/bench.py NAME [--seconds N | --max N]`` where NAME is
one of the modules in ``scripts/benchmarks`` (gas, ingest, reads, indexer, soak, cli, gate,
dashboard, scale, alerts) or ``all``. ``--seconds`` sets how long the soak runs (default 120);
``--max`` the largest number of enterprises the scale benchmark builds (default 100000;
10000000 at most). ``reads --production`` runs the reads on the production path instead
(anvil, PostgreSQL, ``ccl serve --workers 1`` then ``2`` beside one indexer;
``benchmarks/reads_production.py``).

Each benchmark prints progress to stderr and ONE JSON object as the last line of stdout.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

NAMES = (
    "gas", "ingest", "reads", "indexer", "soak", "cli", "gate", "dashboard", "scale", "alerts",
)  # fmt: skip
USAGE = (
    f"usage: bench.py {{{'|'.join((*NAMES, 'all'))}}} [--seconds N | --max N]"
    " | bench.py reads --production"
)
PRODUCTION = "reads_production"  # module run by ``reads --production``
_OPTIONS = {"soak": "--seconds", "scale": "--max"}


def _parse(argv: list[str]) -> tuple[str, dict[str, float]] | None:
    """``(name, soak options)``, or None for a command line that is not understood."""
    if not argv or argv[0] not in (*NAMES, "all"):
        return None
    rest = argv[1:]
    if not rest:
        return argv[0], {}
    if rest == ["--production"] and argv[0] == "reads":
        return PRODUCTION, {}
    if len(rest) == 2 and rest[0] == "--seconds" and argv[0] in ("soak", "all"):
        try:
            seconds = float(rest[1])
        except ValueError:
            return None
        if seconds > 0:
            return argv[0], {"seconds": seconds}
    if len(rest) == 2 and rest[0] == "--max" and argv[0] in ("scale", "all"):
        try:
            largest = int(rest[1])
        except ValueError:
            return None
        if 1000 <= largest <= 10_000_000:
            return argv[0], {"max_enterprises": largest}
    return None


def _flag(option: str) -> str:
    return {"seconds": "--seconds", "max_enterprises": "--max"}[option]


def main(argv: list[str]) -> int:
    parsed = _parse(argv)
    if parsed is None:
        print(USAGE, file=sys.stderr)
        return 2
    chosen, options = parsed
    names = NAMES if chosen == "all" else (chosen,)  # PRODUCTION only when asked for
    results = {}
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        mine = {k: v for k, v in options.items() if _OPTIONS.get(name) == _flag(k)}
        results[name] = module.run(**mine)
        if len(names) == 1:
            print(json.dumps(results[name], sort_keys=True))
    if len(names) > 1:
        print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
