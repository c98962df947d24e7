"""Benchmarks. Usage: ``python scripts/bench.py NAME`` where NAME is one of the modules in
``scripts/benchmarks`` (gas, ingest, reads, indexer, cli) or ``all``.

Each benchmark prints progress to stderr and ONE JSON object as the last line of stdout.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

NAMES = ("gas", "ingest", "reads", "indexer", "cli")


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in (*NAMES, "all"):
        print(f"usage: bench.py {{{'|'.join((*NAMES, 'all'))}}}", file=sys.stderr)
        return 2
    names = NAMES if argv[0] == "all" else (argv[0],)
    results = {}
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        results[name] = module.run()
        if len(names) == 1:
            print(json.dumps(results[name], sort_keys=True))
    if len(names) > 1:
        print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
