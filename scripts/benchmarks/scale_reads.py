"""Authorized reads and an enterprise's own pages on the scale state, over HTTP.

``measure(db_url, shape)`` runs after ``scale_state.load`` and ``scale_records.load`` wrote
the database at ``db_url``:

* Identities: the state's accounts are synthetic (0x<digits>), so nobody could sign for them.
  Every institution and a sample of SAMPLE enterprises get keys derived from their index
  (``institution_key``, ``subject_key``), and their rows are rebound to those keys' addresses
  (``bind_sample``): the institutions' registry and agreement rows, the sampled grants'
  institution column and the sampled enterprises' accounts. Grants name their institution by
  index, which is what the gate checks; the state's other grants and its synthetic log keep
  the old addresses (no read here looks them up by address).
* The sample: grants usable for a records read now (live, not expiring, DETAIL level, loan
  application purpose, no use cap), of distinct random enterprises.
* The server: the real API alone, ``ccl serve`` (uvicorn, one worker) in production mode on
  the database, beside a fresh anvil holding a deployment of the ledger (the API checks
  the chain's code and reads its head; the gate reads the state from the replica tables).
* ``reads_per_s`` (p50/p99 too): the reads benchmark's load generator (``benchmarks.reads``:
  a separate process, CONCURRENCY keep-alive connections, requests signed beforehand) sends
  WARMUP then REQUESTS ``GET /v1/institution/subjects/{subject}/records`` (category tax, under
  the grant, signed by the grant's institution) for random sampled grants; every answer
  must be 200, and each is gated, decrypted and access-logged.
* ``own_data_page_p50_ms`` / ``_p99_ms``: ``GET /v1/subject/records`` signed by sampled
  enterprises, one at a time (PAGES); every page must hold the enterprise's loaded records.
* ``own_access_log_page_p50_ms`` / ``_p99_ms``: ``GET /v1/subject/access-log``, the same way.
"""

from __future__ import annotations

import hashlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine, update

from benchmarks import reads
from benchmarks import scale_records as records
from benchmarks import scale_state as state_rows
from indexer.tables import AGREEMENTS, GRANTS, INSTITUTIONS, SUBJECT_BINDINGS
from ledger_api.chain.deployment import deploy_ledger
from ledger_api.chain.transactor import Transactor
from ledger_api.client import LedgerClient
from ledger_api.devnodes import anvil, free_port
from ledger_api.store.db import make_engine

SAMPLE = int(os.environ.get("CCL_BENCH_SCALE_READ_SUBJECTS", "200"))
REQUESTS = int(os.environ.get("CCL_BENCH_SCALE_READS", "3000"))
WARMUP = int(os.environ.get("CCL_BENCH_SCALE_READS_WARMUP", "500"))
PAGES = int(os.environ.get("CCL_BENCH_SCALE_PAGES", "200"))
ROOT = Path(__file__).resolve().parents[2]
SERVER_ENV = {
    **reads.SERVER_ENV,
    "CCL_MODE": "production",
    "CCL_OPERATOR_KEY": records.PLATFORM_KEY,
    "CCL_MASTER_KEY": records.MASTER_KEY.hex(),
    "CCL_MASTER_KEY_ID": records.MASTER_KEY_ID,
    "CCL_PSEUDONYM_KEY": records.PSEUDONYM_KEY.hex(),
    # The state's log is 30 days old and never anchored: anchoring it is not what is measured.
    "CCL_ACCESS_LOG_ANCHOR_EVERY_S": str(10**9),
    "CCL_ACCESS_LOG_ANCHOR_EVERY_ENTRIES": str(2**62),
    # Requests are signed before the clock starts.
    "CCL_CLOCK_SKEW_S": "3600",
    "CCL_NONCE_RETENTION_S": "7200",
}
# anvil's third funded account names the deployment's governance (no role is administered).
GOVERNANCE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _log(message: str) -> None:
    print(f"[scale reads] {message}", file=sys.stderr, flush=True)


def institution_key(index: int) -> LocalAccount:
    return Account.from_key(
        hashlib.sha256(f"ccl-bench-scale-institution-{index}".encode()).digest()
    )


def subject_key(index: int) -> LocalAccount:
    return Account.from_key(hashlib.sha256(f"ccl-bench-scale-subject-{index}".encode()).digest())


def subject_of(grant: int) -> int:
    return (grant - 1) // 3 + 1


def readable(grant: int) -> bool:
    """Usable for a records read now (``scale_state``'s rules): live, not expiring in the
    window, DETAIL level, loan-application purpose, no use cap."""
    return not (
        state_rows.revoked(grant)
        or state_rows.expires_in_window(grant)
        or grant % 3 != 2
        or grant % 5 == 0
        or grant % 4 == 1
    )


def sample_grants(shape: state_rows.Shape, count: int, seed: int = 32) -> list[int]:
    """``count`` readable grants of distinct random enterprises (fewer if the state has not
    that many)."""
    rng = random.Random(seed)
    chosen: dict[int, int] = {}
    for _ in range(100 * count):  # about one grant in seven is readable
        if len(chosen) == count:
            break
        grant = rng.randrange(1, shape.grants + 1)
        if readable(grant):
            chosen.setdefault(subject_of(grant), grant)
    return list(chosen.values())


def bind_sample(engine: Engine, grants: list[int]) -> None:
    """Rebind every institution and the sampled enterprises to keys (see the module doc)."""
    with engine.begin() as conn:
        for k in range(1, state_rows.INSTITUTIONS_N + 1):
            old, new = state_rows.institution_address(k), institution_key(k).address
            conn.execute(
                update(INSTITUTIONS).where(INSTITUTIONS.c.address == old).values(address=new)
            )
            conn.execute(
                update(AGREEMENTS).where(AGREEMENTS.c.institution == old).values(institution=new)
            )
        for grant in grants:
            new = institution_key(state_rows.institution_of(grant)).address
            conn.execute(update(GRANTS).where(GRANTS.c.grant_id == grant).values(institution=new))
            index = subject_of(grant)
            conn.execute(
                update(SUBJECT_BINDINGS)
                .where(SUBJECT_BINDINGS.c.subject_index == index)
                .values(account=subject_key(index).address)
            )


@contextmanager
def serving(db_url: str) -> Iterator[str]:
    """``ccl serve`` on the database at ``db_url`` beside a fresh anvil with the ledger
    deployed; yields the API's base URL."""
    with tempfile.TemporaryDirectory(prefix="ccl-bench-scale-") as tmp, anvil() as (url, w3):
        deployment_file = Path(tmp) / "deployment.json"
        operator = Transactor(w3, Account.from_key(records.PLATFORM_KEY))
        deploy_ledger(w3, operator, GOVERNANCE).save(deployment_file)
        port = free_port()
        env = {
            **os.environ,
            **SERVER_ENV,
            "CCL_CHAIN_URL": url,
            "CCL_DATABASE_URL": db_url,
            "CCL_DEPLOYMENT_FILE": str(deployment_file),
            "CCL_DATA_DIR": tmp,
        }
        log = Path(tmp) / "serve.log"
        with log.open("wb") as sink:
            server = subprocess.Popen(
                [sys.executable, "-m", "ledger_api.cli", "serve", "--port", str(port)],
                cwd=ROOT,
                env=env,
                stderr=sink,
            )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_for(server, base, log)
            yield base
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _wait_for(server: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + 300  # a bound on start-up (a loaded machine), not a timing
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"ccl serve exited: {log.read_text(errors='replace')[-1500:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"ccl serve did not answer: {log.read_text(errors='replace')[-1500:]}")


def read_params(grant: int) -> tuple[str, dict[str, str]]:
    """The records read under ``grant``: its path and query."""
    sid = "0x" + state_rows.subject_id(subject_of(grant)).hex()
    params = {
        "category": "tax",
        "purpose": "loan_application",
        "grant_id": str(grant),
        "level": "query",
    }
    return f"/v1/institution/subjects/{sid}/records", params


def _signed_reads(http: httpx.Client, grants: list[int], count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    # Signers only: they share ``http`` (a client of its own each cost ~60 ms of TLS setup).
    clients = {
        k: LedgerClient(str(http.base_url), institution_key(k), http)
        for k in range(1, state_rows.INSTITUTIONS_N + 1)
    }
    out = []
    for _ in range(count):
        grant = rng.choice(grants)
        path, params = read_params(grant)
        headers = clients[state_rows.institution_of(grant)].signed_headers("GET", path, params)
        query = "&".join(f"{k}={v}" for k, v in params.items())
        out.append(reads._raw_get(f"{path}?{query}", headers))
    return out


def _page_latencies(http: httpx.Client, grants: list[int], path: str, check: Any) -> list[float]:
    """``path`` signed by sampled enterprises, one request at a time: seconds each."""
    signed = []
    for n in range(PAGES):
        index = subject_of(grants[n % len(grants)])
        client = LedgerClient(str(http.base_url), subject_key(index), http)
        signed.append((index, client.signed_headers("GET", path)))
    latencies = []
    for index, headers in signed:
        started = time.perf_counter()
        response = http.get(path, headers=headers)
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
        check(index, response.json())
    return latencies


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


def measure(db_url: str, shape: state_rows.Shape, per: int) -> dict[str, Any]:
    """Reads/s at concurrency 32 and the own pages' p50/p99 on the loaded state, whose
    enterprises were loaded with ``per`` records each (every own-data page must hold them)."""
    grants = sample_grants(shape, SAMPLE)
    engine = make_engine(db_url)
    try:
        bind_sample(engine, grants)
    finally:
        engine.dispose()

    def own_records(index: int, page: dict[str, Any]) -> None:
        if len(page["records"]) != per:
            raise RuntimeError(f"enterprise {index} has {len(page['records'])} records, not {per}")

    with (
        serving(db_url) as base,
        tempfile.TemporaryDirectory() as work,
        httpx.Client(base_url=base, timeout=60) as http,
    ):
        port = int(base.rsplit(":", 1)[1])
        phases = {
            "warmup": _signed_reads(http, grants, WARMUP, 1),
            "reads": _signed_reads(http, grants, REQUESTS, 2),
        }
        _log(f"{len(grants)} enterprises, {REQUESTS} reads at concurrency {reads.CONCURRENCY}")
        results = reads._run_driver(port, phases, Path(work))
        for name, phase in results.items():
            bad = {s: n for s, n in phase["statuses"].items() if s != "200"}
            if bad:
                raise RuntimeError(f"{name}: non-200 answers {bad}: {phase['failures']}")
        own = _page_latencies(http, grants, "/v1/subject/records", own_records)
        log = _page_latencies(http, grants, "/v1/subject/access-log", lambda i, p: None)
    timed = results["reads"]
    return {
        "reads_per_s": round(len(timed["latencies"]) / timed["elapsed"], 1),
        "reads_p50_ms": _ms(timed["latencies"], 0.50),
        "reads_p99_ms": _ms(timed["latencies"], 0.99),
        "own_data_page_p50_ms": _ms(own, 0.50),
        "own_data_page_p99_ms": _ms(own, 0.99),
        "own_access_log_page_p50_ms": _ms(log, 0.50),
        "own_access_log_page_p99_ms": _ms(log, 0.99),
        "read_sample": len(grants),
        "records_per_enterprise": per,
        "own_data_page_mean_ms": round(statistics.fmean(own) * 1000, 2),
    }
