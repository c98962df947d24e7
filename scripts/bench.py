"""Benchmarks. Usage: ``python scripts/bench.py NAME [--seconds N | --max N [--sqlite-max N]
[--sqlite-reads-max N] [--records-full-max N]]`` where NAME is one of the modules in
``scripts/benchmarks`` (gas, ingest, reads, indexer, soak, cli, gate, dashboard, scale, alerts)
or ``all``. ``--seconds`` sets how long the soak runs (default 120); ``--max`` the largest
number of enterprises the scale benchmark builds (default 100000; 10000000 at most),
``--sqlite-max`` the largest it builds on SQLite (default 1000000: 10^7 is measured on
PostgreSQL only), ``--sqlite-reads-max`` the largest it loads records and measures reads at on
SQLite (default 100000, so that ``--max 10000000`` fits 30 minutes; see docs/benchmarks.md) and
``--records-full-max`` the largest whose enterprises get 20 records each (default 1000000; 2
each beyond). ``reads --production`` runs the reads on the production path instead (anvil,
PostgreSQL, ``ccl serve --workers 1`` then ``2`` beside one indexer;
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
    f"usage: bench.py {{{'|'.join((*NAMES, 'all'))}}} [--seconds N"
    " | --max N [--sqlite-max N] [--sqlite-reads-max N] [--records-full-max N]]"
    " | bench.py reads --production"
)
PRODUCTION = "reads_production"  # module run by ``reads --production``
_OPTIONS = {
    "soak": ("seconds",),
    "scale": ("max_enterprises", "sqlite_max", "sqlite_reads_max", "records_full_max"),
}


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
    if argv[0] in ("scale", "all") and len(rest) in (2, 4, 6, 8):
        return _scale_options(argv[0], rest)
    return None


def _scale_options(name: str, rest: list[str]) -> tuple[str, dict[str, float]] | None:
    """``--max N``, ``--sqlite-max N``, ``--sqlite-reads-max N`` and ``--records-full-max N``
    (each at most once), all 1000 .. 10^7."""
    pairs = dict(zip(rest[::2], rest[1::2], strict=True))
    if len(pairs) * 2 != len(rest) or not set(pairs) <= set(_SCALE_FLAGS):
        return None
    options: dict[str, float] = {}
    for flag, value in pairs.items():
        try:
            number = int(value)
        except ValueError:
            return None
        if not 1000 <= number <= 10_000_000:
            return None
        options[_SCALE_FLAGS[flag]] = number
    return name, options


_SCALE_FLAGS = {
    "--max": "max_enterprises",
    "--sqlite-max": "sqlite_max",
    "--sqlite-reads-max": "sqlite_reads_max",
    "--records-full-max": "records_full_max",
}


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
        mine = {k: v for k, v in options.items() if k in _OPTIONS.get(name, ())}
        results[name] = module.run(**mine)
        if len(names) == 1:
            print(json.dumps(results[name], sort_keys=True))
    if len(names) > 1:
        print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
