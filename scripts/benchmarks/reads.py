"""Authorized-read benchmark: signed, gated, decrypted, logged record reads over HTTP.

Setup (untimed): a fresh embedded chain + SQLite in a temp dir; deploy; an institution with an
accepted agreement; SUBJECTS subjects bound on chain, each with tax records (ingested and
anchored) and a QUERY grant to the institution.

Server: the embedded stack (``ledger_api.stack.EmbeddedStack``: chain, database, the indexer
following the chain, and the API whose gate reads the indexer's replica through
``CachedChainState``) under uvicorn with uvloop and httptools, one process (the embedded chain
belongs to one process), in a subprocess.

Load generator: another process, CONCURRENCY keep-alive connections speaking raw HTTP/1.1 with
requests pre-signed (coincurve) before the clock starts. Timed: WARMUP reads (discarded), then
REQUESTS record reads (each signed, authenticated, gated, decrypted and access-logged), then
REQUESTS GET /healthz on the same server as the baseline. Finally a subject revokes a grant
through the API (the relay returns after the transaction's receipt) and reads under that grant
are retried until the first refusal: ``revocation_enforcement_s``.

``run()`` returns {"authorized_reads_per_s", "p50_ms", "p99_ms", "baseline_rps", "ratio",
"revocation_enforcement_s", "server_cpu_ms_per_read", ...}. The generator, the server and
whatever else runs on the machine share its cores: ``cpu_count`` and the load average are
reported with the figures, and the server's CPU time per read is independent of that load.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine

from ledger_api.chain.anchorer import ChainAnchorer
from ledger_api.chain.deployment import deploy_ledger
from ledger_api.chain.embedded import open_embedded
from ledger_api.chain.ledger import GrantTerms, Ledger
from ledger_api.chain.transactor import Transactor
from ledger_api.chain.types import AccessLevel, InstitutionType, Purpose, mask_of
from ledger_api.client import LedgerClient
from ledger_api.identity.uscc import subject_id
from ledger_api.ingest.pipeline import Ingestor
from ledger_api.settings import Settings
from ledger_api.store.db import make_engine, migrate
from ledger_api.synth.generator import make_uscc

SUBJECTS = 200
REQUESTS = int(os.environ.get("CCL_BENCH_READS", "6000"))
WARMUP = int(os.environ.get("CCL_BENCH_READS_WARMUP", "1500"))
CONCURRENCY = 32
SPARE_SUBJECTS = 10  # grants kept out of the timed reads, one revoked per run
SEED = 7
# Reuse a seeded directory between runs (development): CCL_BENCH_READS_DIR=/some/dir
REUSE_DIR = os.environ.get("CCL_BENCH_READS_DIR", "")
SERVER_ENV = {
    "CCL_MODE": "embedded",
    "CCL_RATE_LIMIT_PER_MINUTE": "100000000",
    "CCL_RATE_LIMIT_BURST": "1000000",
    "CCL_ACCESS_LOG_ANCHOR_EVERY_S": "3600",
    "CCL_ACCESS_LOG_ANCHOR_EVERY_ENTRIES": "1000000",
    "CCL_STATE_CACHE_TTL_S": "0.25",
    "CCL_KEYRING_CACHE_TTL_S": "5",
    "CCL_INDEXER_POLL_INTERVAL_S": "0.5",
}
# The server: the embedded stack (chain + SQLite + indexer following the chain + API) with the
# gate reading the indexer's replica through CachedChainState, served by uvicorn on uvloop and
# httptools. One process: the embedded chain is owned by exactly one process.
SERVER_CODE = (
    "import sys, uvicorn\n"
    "from ledger_api.settings import Settings\n"
    "from ledger_api.stack import EmbeddedStack\n"
    "stack = EmbeddedStack(Settings())\n"
    "stack.start()\n"
    "try:\n"
    "    uvicorn.run(stack.app(), host='127.0.0.1', port=int(sys.argv[1]), loop='uvloop',\n"
    "                http='httptools', log_level='warning', access_log=False)\n"
    "finally:\n"
    "    stack.close()\n"
)


def _log(message: str) -> None:
    print(f"[reads] {message}", file=sys.stderr, flush=True)


def _key(label: str, i: int) -> LocalAccount:
    return Account.from_key(hashlib.sha256(f"ccl-bench-{label}-{i}".encode()).digest())


def _tax_rows(uscc: str) -> list[dict[str, Any]]:
    return [
        {
            "uscc": uscc,
            "record_key": f"tax-{m}",
            "period": f"2025-{m:02d}",
            "tax_type": "vat",
            "taxable_sales": "120000.00",
            "tax_paid": "7000.00",
            "arrears_amount": "0.00",
            "paid_on_time": True,
            "tax_grade": "B",
        }
        for m in range(1, 4)
    ]


def seed(data_dir: Path, settings: Settings) -> dict[str, Any]:
    """Deploy on a fresh embedded chain and populate; returns what the timed phase needs."""
    chain = open_embedded(data_dir / "chain")
    try:
        w3 = chain.w3
        operator = Transactor(w3, Account.from_key(settings.operator_key.get_secret_value()))
        governance = Account.from_key(settings.governance_key.get_secret_value())
        deployment = deploy_ledger(w3, operator, governance.address)
        deployment.save(settings.resolved_deployment_file)
        migrate(settings.resolved_database_url)
        engine = make_engine(settings.resolved_database_url)
        try:
            return populate(
                Ledger(w3, deployment), operator, bank_key(), engine, settings, SUBJECTS
            )
        finally:
            engine.dispose()
    finally:
        chain.close()


def populate(
    ledger: Ledger,
    operator: Transactor,
    bank_account: LocalAccount,
    engine: Engine,
    settings: Settings,
    count: int,
) -> dict[str, Any]:
    """The bank (a funded key) with an accepted agreement, and ``count`` subjects bound on
    chain, each with tax records (ingested and anchored) and a QUERY grant to the bank.
    ``operator`` holds the platform's roles (the deployer does)."""
    bank = Transactor(ledger.w3, bank_account)
    ledger.register_institution(operator, bank.address, InstitutionType.BANK, "Bench Bank")
    now = int(time.time())
    agreement = ledger.propose_agreement(
        operator,
        bank.address,
        (1 << 15) - 1,
        mask_of(list(Purpose)),
        now - 60,
        now + 86400 * 365,
        b"\x01" * 32,
    )
    ledger.transact(bank, "acceptAgreement", agreement)
    ingestor = Ingestor(engine, ChainAnchorer(ledger, operator), settings)
    subjects: list[tuple[str, LocalAccount]] = []
    rows: list[str] = []
    for i in range(count):
        uscc = make_uscc("410100", 500_000 + i)
        key = _key("subject", i)
        sid = subject_id(uscc, settings.pseudonym_key_bytes)
        deadline, signature = ledger.sign_registration(key, sid)
        ledger.bind_subject(operator, sid, key.address, deadline, signature)
        subjects.append(("0x" + sid.hex(), key))
        rows.extend(json.dumps(r) for r in _tax_rows(uscc))
    ingestor.ingest("bench-tax", "tax", "\n".join(rows).encode(), fmt="jsonl")
    terms_for = GrantTerms(
        bank.address, 1 << 2, Purpose.LOAN_APPLICATION, AccessLevel.QUERY, now - 60, now + 86400
    )
    grants: list[int] = []
    for start in range(0, count, 50):
        signed = [ledger.sign_grant(key, terms_for) for _, key in subjects[start : start + 50]]
        grants.extend(ledger.relay_grants(operator, signed))
    _log(f"seeded {count} subjects, {len(rows)} records, {len(grants)} grants")
    return {"bank": bank.account, "subjects": subjects, "grants": grants}


def bank_key() -> LocalAccount:
    """The embedded chain's funded account the bank signs with."""
    return Account.from_key((2).to_bytes(32, "big"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(data_dir: Path, port: int, code: str = SERVER_CODE) -> subprocess.Popen[bytes]:
    env = {**os.environ, **SERVER_ENV, "CCL_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-c", code, str(port)]
    process = subprocess.Popen(command, env=env)
    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API server exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the API server did not start")


# -- the load generator (a separate process) ---------------------------------------------------
#
# Raw HTTP/1.1 over CONCURRENCY keep-alive asyncio connections (uvloop), requests pre-built as
# bytes: per request the generator writes one buffer and parses one status line and
# Content-Length, so it costs a small fraction of what the server spends on the request.


async def _drive_raw(port: int, requests: list[bytes]) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    failures: list[str] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while next_index < len(requests):
                raw = requests[next_index]
                next_index += 1
                started = time.perf_counter()
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                        break
                body = await reader.readexactly(length) if length else b""
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
                if status != 200 and len(failures) < 3:
                    failures.append(f"{status} {body[:200]!r}")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    return {"elapsed": elapsed, "latencies": latencies, "statuses": statuses, "failures": failures}


def _driver_main(port: int, requests_file: str, results_file: str) -> None:
    import uvloop

    requests = json.loads(Path(requests_file).read_text())
    phases: dict[str, Any] = {}
    for name, items in requests.items():
        raw = [item.encode("latin-1") for item in items]
        phases[name] = uvloop.run(_drive_raw(port, raw))
    Path(results_file).write_text(json.dumps(phases))


def _run_driver(port: int, phases: dict[str, list[str]], work: Path) -> dict[str, Any]:
    """Run the load generator in its own process; returns its measurements per phase."""
    requests_file, results_file = work / "requests.json", work / "results.json"
    requests_file.write_text(json.dumps(phases))
    subprocess.run(
        [sys.executable, __file__, "drive", str(port), str(requests_file), str(results_file)],
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    results: dict[str, Any] = json.loads(results_file.read_text())
    return results


def _cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU time of process ``pid``, or of its ``thread`` (Linux /proc)."""
    stat = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _raw_get(target: str, headers: dict[str, str]) -> str:
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1"]
    lines.extend(f"{k}: {v}" for k, v in headers.items())
    return "\r\n".join(lines) + "\r\n\r\n"


def _presign(
    client: LedgerClient, subjects: list[tuple[str, LocalAccount]], grants: list[int], count: int
) -> list[str]:
    rng = random.Random(SEED + count)
    out = []
    for _ in range(count):
        i = rng.randrange(len(subjects))
        path = f"/v1/institution/subjects/{subjects[i][0]}/records"
        params = {
            "category": "tax",
            "purpose": "loan_application",
            "grant_id": str(grants[i]),
            "level": "query",
        }
        headers = client.signed_headers("GET", path, params)
        query = "&".join(f"{k}={v}" for k, v in params.items())
        out.append(_raw_get(f"{path}?{query}", headers))
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _seeded(data_dir: Path, settings: Settings) -> dict[str, Any]:
    """Seed ``data_dir`` (or reuse an earlier seeding of it, see ``REUSE_DIR``)."""
    marker = data_dir / "bench-seed.json"
    if marker.exists():
        saved = json.loads(marker.read_text())
        subjects = [(sid, _key("subject", i)) for i, sid in enumerate(saved["subjects"])]
        bank = bank_key()
        _log(f"reusing the seeding in {data_dir}")
        revoked = int(saved.get("revoked", 0))
    else:
        saved = seed(data_dir, settings)
        saved["subjects"] = [s for s, _ in saved.pop("subjects")]
        saved.pop("bank")
        revoked = 0
        subjects = [(sid, _key("subject", i)) for i, sid in enumerate(saved["subjects"])]
        bank = bank_key()
    if revoked >= SPARE_SUBJECTS:
        raise RuntimeError(f"{data_dir} has no unrevoked spare grant left: seed a new directory")
    # The timed reads use the first subjects; each run revokes one of the spare ones at the end.
    target = SUBJECTS - 1 - revoked
    marker.write_text(json.dumps({**saved, "revoked": revoked + 1}))
    return {
        "bank": bank,
        "subjects": subjects[: SUBJECTS - SPARE_SUBJECTS],
        "grants": saved["grants"][: SUBJECTS - SPARE_SUBJECTS],
        "revoke": (subjects[target], saved["grants"][target]),
    }


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ccl-bench-reads-") as tmp:
        data_dir = Path(REUSE_DIR) if REUSE_DIR else Path(tmp)
        data_dir.mkdir(parents=True, exist_ok=True)
        settings = Settings(data_dir=data_dir)
        seeded = _seeded(data_dir, settings)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = _start_server(data_dir, port)
        try:
            bank_client = LedgerClient(base, seeded["bank"])
            subjects, grants = seeded["subjects"], seeded["grants"]
            started = time.perf_counter()
            phases = {
                "warmup": _presign(bank_client, subjects, grants, WARMUP),
                "reads": _presign(bank_client, subjects, grants, REQUESTS),
                "baseline": [_raw_get("/healthz", {})] * REQUESTS,
            }
            _log(
                f"pre-signed {WARMUP + REQUESTS} reads in {time.perf_counter() - started:.1f}s; "
                f"driving at concurrency {CONCURRENCY} from a separate process"
            )
            results: dict[str, Any] = {}
            cpu: dict[str, float] = {}
            main_cpu: dict[str, float] = {}
            for name, items in phases.items():
                before = _cpu_seconds(server.pid)
                main_before = _cpu_seconds(server.pid, server.pid)
                results.update(_run_driver(port, {name: items}, Path(tmp)))
                cpu[name] = _cpu_seconds(server.pid) - before
                main_cpu[name] = _cpu_seconds(server.pid, server.pid) - main_before
            for name, phase in results.items():
                bad = {s: n for s, n in phase["statuses"].items() if s != "200"}
                if bad:
                    raise RuntimeError(f"{name}: non-200 responses {bad}: {phase['failures']}")
                _log(f"{name}: {len(phase['latencies']) / phase['elapsed']:.0f} requests/s")
            revocation_s = _measure_revocation(base, bank_client, *seeded["revoke"])
        finally:
            server.terminate()
            server.wait(timeout=30)
        reads, baseline = results["reads"], results["baseline"]
        reads_per_s = len(reads["latencies"]) / reads["elapsed"]
        baseline_rps = len(baseline["latencies"]) / baseline["elapsed"]
        load = os.getloadavg()
        return {
            "authorized_reads_per_s": round(reads_per_s, 1),
            "p50_ms": round(_percentile(reads["latencies"], 0.50) * 1000, 2),
            "p99_ms": round(_percentile(reads["latencies"], 0.99) * 1000, 2),
            "baseline_rps": round(baseline_rps, 1),
            "ratio": round(reads_per_s / baseline_rps, 3),
            "revocation_enforcement_s": round(revocation_s, 3),
            "server_cpu_ms_per_read": round(cpu["reads"] / REQUESTS * 1000, 3),
            "server_cpu_ms_per_baseline_request": round(cpu["baseline"] / REQUESTS * 1000, 3),
            # The event-loop thread runs every request; how busy it was shows how far a
            # phase is from its single-thread ceiling.
            "server_loop_busy_reads": round(main_cpu["reads"] / reads["elapsed"], 3),
            "server_loop_busy_baseline": round(main_cpu["baseline"] / baseline["elapsed"], 3),
            "requests": REQUESTS,
            "concurrency": CONCURRENCY,
            "subjects": SUBJECTS,
            "state": "replica",
            "server": "uvicorn, 1 worker, uvloop + httptools, embedded stack",
            "load_generator": "separate process, raw HTTP/1.1 keep-alive, pre-signed",
            "cpu_count": os.cpu_count(),
            "loadavg_1m_at_end": round(load[0], 2),
        }


def _measure_revocation(
    base: str, bank_client: LedgerClient, subject: tuple[str, LocalAccount], grant_id: int
) -> float:
    """Seconds from the revocation's receipt (relay response) to the first refused read."""
    subject_hex, key = subject
    wallet = LedgerClient(base, key)
    info = wallet.chain_info(key.address)
    from ledger_api.chain import eip712

    deadline = int(time.time()) + 3600
    domain = eip712.Domain(info.chain_id, info.contract)
    signature = eip712.sign_typed(
        key.key,
        domain,
        "Revocation",
        {"grantId": grant_id, "nonce": info.account_nonce, "deadline": deadline},
    )
    wallet.relay_revocation(grant_id, deadline, signature)
    receipt_at = time.perf_counter()
    while time.perf_counter() - receipt_at < 30:
        response = bank_client.send(
            "GET",
            f"/v1/institution/subjects/{subject_hex}/records",
            params={
                "category": "tax",
                "purpose": "loan_application",
                "grant_id": grant_id,
                "level": "query",
            },
        )
        if response.status_code == 403:
            return time.perf_counter() - receipt_at
    return float("inf")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "drive":
        _driver_main(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        print(json.dumps(run(), indent=2))
