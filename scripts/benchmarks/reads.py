"""Authorized-read benchmark: signed, gated, decrypted, logged record reads over HTTP.

Setup (untimed): a fresh embedded chain + SQLite in a temp dir; deploy; an institution with an
accepted agreement; SUBJECTS subjects bound on chain, each with tax records (ingested and
anchored) and a QUERY grant to the institution. Then the API runs under uvicorn on 127.0.0.1
(random free port) in a subprocess that owns the chain.

Timed: REQUESTS pre-signed record reads at concurrency 32 (httpx async), then the same number
of GET /healthz on the same server as the baseline. Finally a subject revokes one grant through
the API (the relay returns after the transaction's receipt) and reads under that grant are
retried until the first refusal: ``revocation_enforcement_s``.

``run()`` returns {"authorized_reads_per_s", "p50_ms", "p99_ms", "baseline_rps", "ratio",
"revocation_enforcement_s", ...}. The client and server share this machine's cores.
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
REQUESTS = int(os.environ.get("CCL_BENCH_READS", "2000"))
CONCURRENCY = 32
SEED = 7
SERVER_ENV = {
    "CCL_MODE": "embedded",
    "CCL_RATE_LIMIT_PER_MINUTE": "100000000",
    "CCL_RATE_LIMIT_BURST": "1000000",
    "CCL_ACCESS_LOG_ANCHOR_EVERY_S": "3600",
    "CCL_ACCESS_LOG_ANCHOR_EVERY_ENTRIES": "1000000",
    "CCL_STATE_CACHE_TTL_S": "0.25",
    "CCL_KEYRING_CACHE_TTL_S": "5",
}
SERVER_CODE = (
    "import uvicorn, sys\n"
    "from ledger_api.api.app import create_app\n"
    "from ledger_api.settings import Settings\n"
    "uvicorn.run(create_app(Settings()), host='127.0.0.1', port=int(sys.argv[1]),"
    " log_level='warning', access_log=False)\n"
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
    """Deploy and populate; returns what the timed phase needs."""
    chain = open_embedded(data_dir / "chain")
    try:
        w3 = chain.w3
        operator = Transactor(w3, Account.from_key(settings.operator_key.get_secret_value()))
        deployment = deploy_ledger(w3, operator)
        deployment.save(settings.resolved_deployment_file)
        ledger = Ledger(w3, deployment)
        ledger.grant_role(operator, "PROVIDER_ROLE", operator.address)
        bank = Transactor(w3, Account.from_key((2).to_bytes(32, "big")))
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
        migrate(settings.resolved_database_url)
        engine = make_engine(settings.resolved_database_url)
        ingestor = Ingestor(engine, ChainAnchorer(ledger, operator), settings)
        subjects: list[tuple[str, LocalAccount]] = []
        rows: list[str] = []
        for i in range(SUBJECTS):
            uscc = make_uscc("410100", 500_000 + i)
            key = _key("subject", i)
            sid = subject_id(uscc, settings.pseudonym_key_bytes)
            deadline, signature = ledger.sign_registration(key, sid)
            ledger.bind_subject(operator, sid, key.address, deadline, signature)
            subjects.append(("0x" + sid.hex(), key))
            rows.extend(json.dumps(r) for r in _tax_rows(uscc))
        ingestor.ingest("bench-tax", "tax", "\n".join(rows).encode(), fmt="jsonl")
        engine.dispose()
        terms_for = GrantTerms(
            bank.address, 1 << 2, Purpose.LOAN_APPLICATION, AccessLevel.QUERY, now - 60, now + 86400
        )
        grants: list[int] = []
        for start in range(0, SUBJECTS, 50):
            signed = [ledger.sign_grant(key, terms_for) for _, key in subjects[start : start + 50]]
            grants.extend(ledger.relay_grants(operator, signed))
        _log(f"seeded {SUBJECTS} subjects, {len(rows)} records, {len(grants)} grants")
        return {"bank": bank.account, "subjects": subjects, "grants": grants}
    finally:
        chain.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, **SERVER_ENV, "CCL_DATA_DIR": str(data_dir)}
    process = subprocess.Popen([sys.executable, "-c", SERVER_CODE, str(port)], env=env)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the API server did not start")


async def _drive(base: str, requests: list[tuple[str, dict[str, str]]]) -> list[float]:
    """Send every request at CONCURRENCY; returns per-request latencies (seconds)."""
    latencies: list[float] = []
    queue: asyncio.Queue[tuple[str, dict[str, str]]] = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:

        async def worker() -> None:
            while not queue.empty():
                url, headers = queue.get_nowait()
                started = time.perf_counter()
                response = await http.get(url, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return latencies


def _presign(
    client: LedgerClient, subjects: list[tuple[str, LocalAccount]], grants: list[int], count: int
) -> list[tuple[str, dict[str, str]]]:
    rng = random.Random(SEED)
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
        out.append((f"{path}?{query}", headers))
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="ccl-bench-reads-") as tmp:
        data_dir = Path(tmp)
        settings = Settings(data_dir=data_dir)
        seeded = seed(data_dir, settings)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server = _start_server(data_dir, port)
        try:
            bank_client = LedgerClient(base, seeded["bank"])
            subjects, grants = seeded["subjects"], seeded["grants"]
            # Warm-up (untimed): caches, connections, keyrings.
            warm = _presign(bank_client, subjects, grants, 400)
            t0 = time.perf_counter()
            asyncio.run(_drive(base, warm))
            _log(f"warm-up: {len(warm) / (time.perf_counter() - t0):.0f} reads/s")
            signed = _presign(bank_client, subjects, grants, REQUESTS)
            _log(f"pre-signed {len(signed)} reads; driving at concurrency {CONCURRENCY}")
            started = time.perf_counter()
            latencies = asyncio.run(_drive(base, signed))
            reads_elapsed = time.perf_counter() - started
            health: list[tuple[str, dict[str, str]]] = [("/healthz", {})] * REQUESTS
            started = time.perf_counter()
            asyncio.run(_drive(base, health))
            baseline_elapsed = time.perf_counter() - started
            revocation_s = _measure_revocation(base, bank_client, subjects, grants)
        finally:
            server.terminate()
            server.wait(timeout=30)
        reads_per_s = REQUESTS / reads_elapsed
        baseline_rps = REQUESTS / baseline_elapsed
        return {
            "authorized_reads_per_s": round(reads_per_s, 1),
            "p50_ms": round(_percentile(latencies, 0.50) * 1000, 2),
            "p99_ms": round(_percentile(latencies, 0.99) * 1000, 2),
            "baseline_rps": round(baseline_rps, 1),
            "ratio": round(reads_per_s / baseline_rps, 3),
            "revocation_enforcement_s": round(revocation_s, 3),
            "requests": REQUESTS,
            "concurrency": CONCURRENCY,
            "subjects": SUBJECTS,
            "cpu_count": os.cpu_count(),
        }


def _measure_revocation(
    base: str,
    bank_client: LedgerClient,
    subjects: list[tuple[str, LocalAccount]],
    grants: list[int],
) -> float:
    """Seconds from the revocation's receipt (relay response) to the first refused read."""
    subject_hex, key = subjects[0]
    grant_id = grants[0]
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
    print(json.dumps(run(), indent=2))
