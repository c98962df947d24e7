"""``bench.py reads --production`` runs end to end in a tiny configuration: the production
processes start, both worker counts serve gated reads, the 50 relays land, and the one JSON
line carries every figure. Figures are not judged here (benchmarks measure, tests check)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from nodes import ANVIL

pytestmark = [
    pytest.mark.anvil,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.xdist_group("anvil"),
    pytest.mark.timeout(900),
]

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "CCL_BENCH_PRODUCTION_SUBJECTS": "12",
    "CCL_BENCH_READS": "120",
    "CCL_BENCH_READS_WARMUP": "20",
    "CCL_BENCH_GATE_DECISIONS": "100",
}


def test_the_production_reads_benchmark_prints_its_figures_and_every_relay_lands() -> None:
    if not ANVIL.exists():
        pytest.skip("anvil binary not installed (npm ci)")
    done = subprocess.run(
        [sys.executable, "scripts/bench.py", "reads", "--production"],
        cwd=ROOT,
        env={**os.environ, **TINY},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    for name in ("reads_per_s_w1", "reads_per_s_w2", "p99_ms_w2", "gate_decision_p50_us_pg",
                 "gate_decision_p50_us_sqlite"):  # fmt: skip
        assert figures[name] > 0, name
    assert figures["relays"] == 50
    assert figures["relay_failures"] == 0, done.stderr[-3000:]
    assert figures["requests"] == 120 and figures["subjects"] == 12
