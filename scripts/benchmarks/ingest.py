"""Ingestion benchmark: 100,000 synthetic records end to end into a fresh SQLite file.

End to end = parse, validate, encrypt (AES-256-GCM, per-subject keys), hash (salted leaves,
Merkle tree, inclusion proofs), store, anchor: one anchored root per batch, one batch per
category (15 batches), submitted through ``Ingestor.ingest_many`` (the next batch is validated
while the previous one is stored). Anchoring goes to the ledger contract on an in-process
eth-tester chain through ``ChainAnchorer``, as in production: a large batch's root in a
transaction of its own, a run of small batches' roots together in one ``anchorMany``
transaction (each root still its own anchor).

The baseline is a plain bulk insert of the same number of rows with the same columns and
byte sizes (taken from the ingested table) into a table with no secondary index, in a fresh
database of the same kind with the same settings, through the same executemany path.

The whole measurement runs ``ROUNDS`` times, each round in a process of its own (fresh
database and chain each round, the baseline right after the ingestion, in the same process),
as ``ccl ingest`` runs one ingestion per process. Rounds run one after another in one process
measured slower after the first (up to 10%): each ingestion forks its pool's workers again,
and once the process has recycled the memory of earlier rounds, the ingesting threads' writes
to it take copy-on-write faults and TLB-shootdown interrupts (seen with perf: kernel time up
a fifth from the first round to the third). The headline figures are the medians over the
rounds; ``per_round`` has every round's figures.

Prints progress to stderr; ``run()`` returns the figures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from statistics import median
from typing import Any

from sqlalchemy import Column, Integer, LargeBinary, MetaData, SmallInteger, String, Table, select

from ledger_api.chain.anchorer import ChainAnchorer
from ledger_api.ingest.pipeline import Ingestor
from ledger_api.settings import Settings
from ledger_api.store.bulk import bulk_insert
from ledger_api.store.db import make_engine, migrate
from ledger_api.store.models import RECORDS
from ledger_api.synth.generator import iter_all_records
from ledger_api.verify.verifier import verify_database

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from world import build_world

RECORDS_TARGET = 100_000
# This machine's speed drifts by up to 2x from one minute to the next; a median over rounds
# is steadier than any single round.
ROUNDS = 3
_FIGURES = (
    "records_per_s",
    "baseline_insert_records_per_s",
    "ratio",
    "verify_records_per_s",
    "ingest_cpu_s",
    "ingest_worker_cpu_s",
)
SEED = 20250101
PROVIDER = "bench-provider"


def _log(message: str) -> None:
    print(f"[bench ingest] {message}", file=sys.stderr, flush=True)


def _batches(target: int) -> dict[str, bytes]:
    lines: dict[str, list[str]] = defaultdict(list)
    for n, (category, row) in enumerate(iter_all_records(target, SEED), start=1):
        lines[category].append(json.dumps(row, ensure_ascii=False))
        if n == target:  # far more enterprises than needed: stop at the record count
            break
    return {c: ("\n".join(rows) + "\n").encode() for c, rows in lines.items()}


def _baseline(workdir: Path, rows: list[tuple[Any, ...]]) -> float:
    engine = make_engine(f"sqlite:///{workdir / 'baseline.sqlite'}")
    metadata = MetaData()
    columns = [c.name for c in RECORDS.columns if c.name != "id"]
    table = Table(
        "plain_rows",
        metadata,
        Column("id", Integer, primary_key=True),
        *[
            Column(c, String if c == "provider" else SmallInteger
                   if c in ("category",) else Integer if c == "leaf_index" else LargeBinary)
            for c in columns
        ],
    )  # fmt: skip
    metadata.create_all(engine)
    chunk = 5000
    start = time.perf_counter()
    with engine.begin() as conn:
        for i in range(0, len(rows), chunk):
            bulk_insert(conn, table, columns, rows[i : i + chunk])
    elapsed = time.perf_counter() - start
    engine.dispose()
    return len(rows) / elapsed


def _round(batches: dict[str, bytes], number: int) -> dict[str, Any]:
    """One round: ingest into a fresh database and chain, verify, then the baseline."""
    settings = Settings()
    with tempfile.TemporaryDirectory(prefix="ccl-bench-ingest-") as tmp:
        workdir = Path(tmp)
        url = f"sqlite:///{workdir / 'ledger.sqlite'}"
        migrate(url)
        engine = make_engine(url)
        world = build_world()  # a deployed ledger; the provider holds PROVIDER_ROLE
        anchorer = ChainAnchorer(world.ledger, world.provider)
        first_block = world.w3.eth.block_number
        # As `ccl ingest` runs it: one worker process per CPU validates and seals.
        ingestor = Ingestor(engine, anchorer, settings, workers=os.cpu_count() or 1)
        _log(f"round {number}: ingesting {len(batches)} batches")
        cpu_before = os.times()
        start = time.perf_counter()
        stored = 0
        roots = []
        for result in ingestor.ingest_many(PROVIDER, batches.items(), fmt="jsonl"):
            if result.rejected or not result.done or result.root is None:
                raise SystemExit(f"benchmark batch {result.category} did not ingest cleanly")
            stored += result.accepted
            roots.append(result.root)
        ingest_s = time.perf_counter() - start
        cpu_after = os.times()  # the pool's workers have exited: their CPU is counted
        anchors = world.w3.eth.block_number - first_block  # one block per anchor transaction
        anchored = sum(anchorer.anchored(root) is not None for root in roots)
        if anchored != len(batches):
            raise SystemExit(f"{anchored} of {len(batches)} batch roots are anchored")
        _log(
            f"round {number}: ingested {stored} records in {ingest_s:.2f}s, {anchored} roots "
            f"anchored in {anchors} transactions"
        )

        start = time.perf_counter()
        # As `ccl verify` runs it: one worker process per CPU.
        report = verify_database(engine, anchorer, workers=os.cpu_count() or 1)
        verify_s = time.perf_counter() - start
        if not report.clean or report.records != stored:
            raise SystemExit("benchmark verification found problems")
        _log(f"round {number}: verified {report.records} records in {verify_s:.2f}s")

        columns = [c.name for c in RECORDS.columns if c.name != "id"]
        with engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(select(*[RECORDS.c[c] for c in columns]))]
        engine.dispose()
        baseline = _baseline(workdir, rows)
        _log(f"round {number}: baseline plain insert {baseline:.0f} rows/s")
    records_per_s = stored / ingest_s
    return {
        "records": stored,
        "anchor_transactions": anchors,
        "anchored_roots": anchored,
        "records_per_s": round(records_per_s),
        "baseline_insert_records_per_s": round(baseline),
        "ratio": round(records_per_s / baseline, 3),
        "verify_records_per_s": round(stored / verify_s),
        # Where the time goes: CPU seconds of the ingesting process (database, keys, anchors,
        # pool traffic) and of its worker processes (validation, sealing, trees).
        "ingest_cpu_s": round(
            cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system, 2
        ),
        "ingest_worker_cpu_s": round(
            cpu_after.children_user
            + cpu_after.children_system
            - cpu_before.children_user
            - cpu_before.children_system,
            2,
        ),
    }


def _round_apart(batch_dir: Path, number: int) -> dict[str, Any]:
    """``_round`` in a new process, over the batches written to ``batch_dir``."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.ingest", "--round", str(number), str(batch_dir)],
        cwd=Path(__file__).resolve().parents[1],  # scripts/, as bench.py puts it on the path
        stdout=subprocess.PIPE,
        check=True,
    )
    figures: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return figures


def _write_batches(batch_dir: Path, batches: dict[str, bytes]) -> None:
    for position, (category, data) in enumerate(batches.items()):
        (batch_dir / f"{position:03d}-{category}.jsonl").write_bytes(data)


def _read_batches(batch_dir: Path) -> dict[str, bytes]:
    return {
        path.stem.split("-", 1)[1]: path.read_bytes() for path in sorted(batch_dir.glob("*.jsonl"))
    }


def run(records: int = RECORDS_TARGET, rounds: int = ROUNDS) -> dict[str, Any]:
    _log(f"generating {records} synthetic records")
    batches = _batches(records)
    with tempfile.TemporaryDirectory(prefix="ccl-bench-batches-") as tmp:
        batch_dir = Path(tmp)
        _write_batches(batch_dir, batches)
        figures = [_round_apart(batch_dir, number) for number in range(1, rounds + 1)]
    stored = {f["records"] for f in figures}
    if len(stored) != 1:
        raise SystemExit(f"rounds stored different record counts: {sorted(stored)}")
    return {
        "records": stored.pop(),
        "batches": len(batches),
        "anchor_transactions": figures[0]["anchor_transactions"],
        "anchored_roots": figures[0]["anchored_roots"],
        "anchorer": "ledger contract on eth-tester",
        "rounds": rounds,
        # Headline figures: the median over the rounds of each figure (the ratio is the
        # median of the rounds' own ratios, each pairing an ingestion with the baseline
        # measured right after it).
        **{name: median(f[name] for f in figures) for name in _FIGURES},
        "per_round": [{name: f[name] for name in _FIGURES} for f in figures],
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["--round"]:  # one round, for _round_apart
        print(json.dumps(_round(_read_batches(Path(sys.argv[3])), int(sys.argv[2]))))
    else:
        print(json.dumps(run(), sort_keys=True))
