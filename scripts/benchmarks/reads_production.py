"""Authorized reads on the production path: ``bench.py reads --production``.

Setup (untimed): anvil and a private schema on the PostgreSQL server at
``CCL_TEST_POSTGRES_URL`` (``ledger_api.devnodes``), then the operator's steps as commands
(``ccl db upgrade``, ``ccl deploy``, one ``ccl-indexer run``), and the same population as the
embedded reads benchmark (``reads.populate``: a bank with an accepted agreement, SUBJECTS
subjects bound on chain with tax records and a QUERY grant each), sent through the platform
key's transaction queue like every other process's transactions.

Timed, for ``ccl serve --workers 1`` and then ``--workers 2`` (each started afresh beside the
same indexer): the embedded benchmark's load generator (``reads``: a separate process,
CONCURRENCY keep-alive connections, pre-signed requests), WARMUP reads discarded, then
REQUESTS record reads. While the two-worker server is under that load, RELAY_GRANTS subjects
relay a grant and RELAY_REGISTRATIONS institutions are registered, all at once; after the
load, RELAY_REVOCATIONS of those grants are revoked at once. A relay fails if it raises, or
answers without the transaction's outcome, or the chain disagrees afterwards.

Gate figures come from the gate benchmark (``gate``): the decision an allowed read makes, on
PostgreSQL and on SQLite, in-process.

``run()`` returns {"reads_per_s_w1", "reads_per_s_w2", "p99_ms_w2", "relay_failures",
"gate_decision_p50_us_pg", "gate_decision_p50_us_sqlite", ...}.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount

from benchmarks import gate, reads
from ledger_api.chain.connection import operator_transactor
from ledger_api.chain.deployment import Deployment
from ledger_api.chain.ledger import GrantTerms, Ledger
from ledger_api.chain.types import AccessLevel, InstitutionType, Purpose
from ledger_api.client import LedgerClient
from ledger_api.devnodes import ANVIL_KEY, PG_URL, anvil, free_port, private_schema
from ledger_api.identity.uscc import subject_id
from ledger_api.settings import Settings
from ledger_api.store.db import make_engine
from ledger_api.synth.generator import make_uscc

SUBJECTS = int(os.environ.get("CCL_BENCH_PRODUCTION_SUBJECTS", "200"))
RELAY_GRANTS, RELAY_REGISTRATIONS, RELAY_REVOCATIONS = 25, 15, 10
ROOT = Path(__file__).resolve().parents[2]
# anvil's funded development accounts #1 (the bank) and #2 (the governance key).
BANK_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
GOVERNANCE_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
# Throwaway secrets of this benchmark's own (production refuses the development ones).
SECRETS = {
    "CCL_OPERATOR_KEY": ANVIL_KEY,
    "CCL_MASTER_KEY": "a1" * 32,
    "CCL_MASTER_KEY_ID": "bench-1",
    "CCL_PSEUDONYM_KEY": "b2" * 32,
}
SERVER_ENV = {
    **reads.SERVER_ENV,
    "CCL_MODE": "production",
    "CCL_INDEXER_POLL_INTERVAL_S": "0.2",
    # Requests are signed before the clock starts, and 7,500 of them at a few hundred per
    # second outlast the default 60 s window; nonces are kept as long as the window.
    "CCL_CLOCK_SKEW_S": "3600",
    "CCL_NONCE_RETENTION_S": "7200",
}


def _log(message: str) -> None:
    print(f"[reads --production] {message}", file=sys.stderr, flush=True)


class Platform:
    """The production processes on one chain and database, started as an operator would."""

    def __init__(self, chain_url: str, schema: str, work: Path) -> None:
        self.work = work
        self.env = {
            **os.environ,
            **SERVER_ENV,
            **SECRETS,
            "CCL_CHAIN_URL": chain_url,
            "CCL_DATABASE_URL": f"{PG_URL}?options=-csearch_path%3D{schema}",
            "CCL_DEPLOYMENT_FILE": str(work / "deployment.json"),
            "CCL_GOVERNANCE_KEY": GOVERNANCE_KEY,
        }
        self.background: list[subprocess.Popen[bytes]] = []

    def settings(self) -> Settings:
        fields = {k.removeprefix("CCL_").lower(): v for k, v in self.env.items()}
        known = {k: v for k, v in fields.items() if k in Settings.model_fields}
        return Settings(**known)

    def command(self, program: str, *args: str) -> None:
        argv = [sys.executable, "-m", program, *args]
        done = subprocess.run(argv, cwd=ROOT, env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)}: {done.stderr.strip()[-500:]}")

    def start(self, name: str, program: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.work / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", program, *args], cwd=ROOT, env=self.env, stderr=log
        )
        self.background.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self.background.remove(process)

    def stop_all(self) -> None:
        for process in list(self.background):
            self.stop(process)

    def log_tail(self, name: str) -> str:
        return (self.work / f"{name}.log").read_text(errors="replace")[-1500:]


@contextmanager
def _platform() -> Iterator[Platform]:
    with (
        tempfile.TemporaryDirectory(prefix="ccl-bench-production-") as tmp,
        anvil() as (chain_url, _w3),
        private_schema("ccl_bench_reads") as schema,
    ):
        platform = Platform(chain_url, schema, Path(tmp))
        try:
            yield platform
        finally:
            platform.stop_all()


def _seed(platform: Platform) -> dict[str, Any]:
    """Schema, deployment, the indexer, and the population (through the key's queue)."""
    platform.command("ledger_api.cli", "db", "upgrade")
    platform.command(
        "ledger_api.cli", "deploy", "--governance", Account.from_key(GOVERNANCE_KEY).address
    )
    platform.start("indexer", "indexer.cli", "run")
    settings = platform.settings()
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(settings.chain_url))
    engine = make_engine(settings.resolved_database_url)
    try:
        ledger = Ledger(w3, Deployment.load(settings.resolved_deployment_file))
        operator = operator_transactor(settings, w3, engine)
        bank = Account.from_key(BANK_KEY)
        seeded = reads.populate(ledger, operator, bank, engine, settings, SUBJECTS)
        spare = [_spare_key(i) for i in range(RELAY_GRANTS)]
        for i, key in enumerate(spare):  # subjects whose grants are relayed under load
            sid = subject_id(make_uscc("410100", 900_000 + i), settings.pseudonym_key_bytes)
            deadline, signature = ledger.sign_registration(key, sid)
            ledger.bind_subject(operator, sid, key.address, deadline, signature)
    finally:
        engine.dispose()
    return {**seeded, "ledger": ledger, "spare": spare}


def _spare_key(i: int) -> LocalAccount:
    return reads._key("relay-subject", i)


def _serve(platform: Platform, workers: int, probe: Callable[[str], None]) -> tuple[Any, str]:
    """``ccl serve --workers N`` on a free port, once it answers ``probe`` (a gated read: the
    replica has caught up)."""
    port = str(free_port())
    name = f"serve-w{workers}"
    process = platform.start(
        name, "ledger_api.cli", "serve", "--workers", str(workers), "--port", port
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # a bound on start-up, not a timing
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"ccl serve exited: {platform.log_tail(name)}")
        try:
            probe(base)
            return process, base
        except Exception:  # not up yet, or the replica is behind
            if time.monotonic() > deadline:
                raise RuntimeError(f"ccl serve did not answer: {platform.log_tail(name)}") from None
            time.sleep(0.3)


def _presigned(base: str, seeded: dict[str, Any]) -> dict[str, list[str]]:
    client = LedgerClient(base, seeded["bank"])
    subjects, grants = seeded["subjects"], seeded["grants"]
    return {
        "warmup": reads._presign(client, subjects, grants, reads.WARMUP),
        "reads": reads._presign(client, subjects, grants, reads.REQUESTS),
    }


def _timed_reads(base: str, phases: dict[str, list[str]], work: Path) -> dict[str, Any]:
    results = reads._run_driver(int(base.rsplit(":", 1)[1]), phases, work)
    for name, phase in results.items():
        bad = {s: n for s, n in phase["statuses"].items() if s != "200"}
        if bad:
            raise RuntimeError(f"{name}: non-200 responses {bad}: {phase['failures']}")
    measured: dict[str, Any] = results["reads"]
    return measured


class Relays:
    """The relays fired at the two-worker server; counts every one that did not land."""

    def __init__(self, base: str, seeded: dict[str, Any]) -> None:
        self.base = base
        self.ledger: Ledger = seeded["ledger"]
        self.bank: LocalAccount = seeded["bank"]
        self.spare: list[LocalAccount] = seeded["spare"]
        self.failures: list[str] = []
        self.grants: list[tuple[LocalAccount, int]] = []
        self.registered: list[str] = []
        self._lock = threading.Lock()

    def _fail(self, what: str, error: Exception | str) -> None:
        with self._lock:
            self.failures.append(f"{what}: {error}")

    def _grant(self, key: LocalAccount) -> None:
        now = int(time.time())
        terms = GrantTerms(self.bank.address, 1 << 2, Purpose.LOAN_APPLICATION,
                           AccessLevel.QUERY, now - 60, now + 86400)  # fmt: skip
        try:
            ids = LedgerClient(self.base, key).relay_grants([self.ledger.sign_grant(key, terms)])
        except Exception as exc:  # a failed relay is the figure counted
            self._fail("grant", exc)
            return
        if len(ids) != 1:
            self._fail("grant", f"answered {ids}")
            return
        with self._lock:
            self.grants.append((key, ids[0]))

    def _register(self, i: int) -> None:
        address = Account.create().address
        try:
            answer = LedgerClient(self.base, Account.from_key(ANVIL_KEY)).register_institution(
                address, int(InstitutionType.BANK), f"Relay Bank {i}"
            )
        except Exception as exc:
            self._fail("registration", exc)
            return
        if not answer.tx_hash:
            self._fail("registration", "no transaction in the answer")
            return
        with self._lock:
            self.registered.append(address)

    def _revoke(self, key: LocalAccount, grant_id: int) -> None:
        deadline, signature = self.ledger.sign_revocation(key, grant_id)
        try:
            LedgerClient(self.base, key).relay_revocation(grant_id, deadline, signature)
        except Exception as exc:
            self._fail("revocation", exc)

    def during_load(self) -> None:
        calls = [partial(self._grant, key) for key in self.spare]
        calls += [partial(self._register, i) for i in range(RELAY_REGISTRATIONS)]
        with ThreadPoolExecutor(len(calls)) as pool:
            list(pool.map(lambda call: call(), calls))

    def after_load(self) -> None:
        chosen = self.grants[:RELAY_REVOCATIONS]
        if len(chosen) < RELAY_REVOCATIONS:  # revocations of grants that never landed
            self.failures.extend(["revocation: no grant"] * (RELAY_REVOCATIONS - len(chosen)))
        with ThreadPoolExecutor(max(1, len(chosen))) as pool:
            list(pool.map(lambda pair: self._revoke(*pair), chosen))
        # The chain has the last word: every answered relay must be there, exactly as answered.
        for key, grant_id in self.grants:
            terms = self.ledger.grant(grant_id)
            revoked = (key, grant_id) in chosen
            if terms.revoked != revoked:
                self._fail("chain", f"grant {grant_id} revoked={terms.revoked}")
        for address in self.registered:
            if self.ledger.institution(address).index == 0:
                self._fail("chain", f"institution {address} not registered")


def _probe(seeded: dict[str, Any]) -> Callable[[str], None]:
    subject = seeded["subjects"][0][0]

    def probe(base: str) -> None:
        httpx.get(f"{base}/healthz", timeout=5).raise_for_status()
        LedgerClient(base, seeded["bank"]).records(
            subject, category="tax", purpose="loan_application", grant_id=seeded["grants"][0]
        )

    return probe


def run() -> dict[str, Any]:
    with _platform() as platform:
        _log(f"seeding {SUBJECTS} subjects on anvil + PostgreSQL through the operator's steps")
        seeded = _seed(platform)
        probe = _probe(seeded)
        measured: dict[int, dict[str, Any]] = {}
        relays: Relays | None = None
        for workers in (1, 2):
            server, base = _serve(platform, workers, probe)
            try:
                _log(f"{workers} worker(s): {reads.REQUESTS} reads at concurrency "
                     f"{reads.CONCURRENCY}")  # fmt: skip
                phases = _presigned(base, seeded)
                if workers == 2:  # fired as the load starts
                    relays = Relays(base, seeded)
                    firing = threading.Thread(target=relays.during_load, name="relays")
                    firing.start()
                measured[workers] = _timed_reads(base, phases, platform.work)
                if relays is not None:
                    firing.join()
                    relays.after_load()
            finally:
                platform.stop(server)
        assert relays is not None
        if relays.failures:
            _log(f"relay failures: {relays.failures[:5]}")
    _log("gate decisions, in-process")
    gate_figures = gate.run()
    one, two = measured[1], measured[2]
    return {
        "reads_per_s_w1": round(len(one["latencies"]) / one["elapsed"], 1),
        "reads_per_s_w2": round(len(two["latencies"]) / two["elapsed"], 1),
        "p99_ms_w2": round(reads._percentile(two["latencies"], 0.99) * 1000, 2),
        "p50_ms_w2": round(reads._percentile(two["latencies"], 0.50) * 1000, 2),
        "relay_failures": len(relays.failures),
        "relays": RELAY_GRANTS + RELAY_REGISTRATIONS + RELAY_REVOCATIONS,
        "gate_decision_p50_us_pg": gate_figures["gate_decision_p50_us_pg"],
        "gate_decision_p50_us_sqlite": gate_figures["gate_decision_p50_us_sqlite"],
        "gate_ratio": gate_figures["ratio"],
        "gate_decision_p50_us_pg_db": gate_figures["gate_decision_p50_us_pg_db"],
        "gate_decision_p50_us_sqlite_db": gate_figures["gate_decision_p50_us_sqlite_db"],
        "requests": reads.REQUESTS,
        "concurrency": reads.CONCURRENCY,
        "subjects": SUBJECTS,
        "server": "ccl serve (uvicorn workers) + one ccl-indexer run, anvil, PostgreSQL",
        "cpu_count": os.cpu_count(),
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
    }
