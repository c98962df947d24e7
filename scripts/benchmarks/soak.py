"""Soak benchmark: mixed load at about half the measured maximum read rate, for minutes.

Setup (untimed): a fresh embedded chain + SQLite in a temp dir (as ``reads``, with fewer
subjects), a regulator, and the API under uvicorn in a subprocess (``reads._start_server``).

1. Maximum: closed-loop gated record reads at CONCURRENCY for MEASURE_S seconds.
2. Soak: open loop at half that rate for ``--seconds`` (default 120) with a mix of gated reads
   (records, verify, score, report), subject pages (own records, access log, grants), audit
   queries, refused requests (another institution's grant, a bad signature, a replay) and, every
   RELAY_EVERY_S, a grant relayed through the API (a chain transaction). Every request is
   signed just before it is sent.

Between the two, a warm-up: WARMUP_S of the same mix, relays included, which must have sent
every kind of request at least once (else the run stops). Caches, pools and worker threads
then have their working size, so ``rss_start_mb`` is taken after it: the soak measures growth
beyond a warmed-up server, not the server's first use of each path.

Prints one JSON line: ``requests``, ``errors`` (answers other than the one expected: a refusal
must be refused with its status, an allowed request served), ``server_5xx``, ``rss_start_mb``
(after the warm-up) and ``rss_end_mb`` (at the end) of the server process,
``rss_growth_ratio``, ``p99_ms`` (over the soak), and the rates. Goal: errors 0, server_5xx 0,
rss_growth_ratio <= 1.10.

Debugging aid: with ``CCL_SOAK_DIAGNOSE=DIR`` the server loads ``soak_probe``, which records
after the warm-up and at the end where its memory is (anonymous or file-backed pages, glibc's
heap allocated and free, SQLite's heap and page caches, threads, pending cyclic garbage) and,
with ``CCL_SOAK_TRACE_FRAMES=N``, the Python allocations made in between and still alive
(tracemalloc; several times slower). The comparison goes to stderr; the JSON line is the same.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from eth_account import Account
from eth_account.signers.local import LocalAccount

from benchmarks import reads
from ledger_api.api.signing import canonical_query, canonical_request, sign_request
from ledger_api.chain import eip712
from ledger_api.chain.anchorer import ChainAnchorer
from ledger_api.chain.deployment import deploy_ledger
from ledger_api.chain.embedded import open_embedded
from ledger_api.chain.ledger import GrantTerms, Ledger
from ledger_api.chain.transactor import Transactor
from ledger_api.chain.types import AccessLevel, InstitutionType, Purpose, mask_of
from ledger_api.identity.uscc import subject_id
from ledger_api.ingest.pipeline import Ingestor
from ledger_api.settings import Settings
from ledger_api.store.db import make_engine, migrate
from ledger_api.synth.generator import make_uscc

SUBJECTS = 40
CONCURRENCY = 16
MEASURE_S = 6.0
WARMUP_S = 15.0
DEFAULT_SECONDS = 120
RELAY_EVERY_S = 5.0
SAMPLE_EVERY_S = 10.0
# A directory: the server runs with soak_probe (tracemalloc, smaps, mallinfo2), which writes a
# probe after the warm-up and one at the end; the two are compared on stderr.
DIAGNOSE_ENV = "CCL_SOAK_DIAGNOSE"
TAX = 1 << 2
BANK_KEY = (2).to_bytes(32, "big")
BANK_B_KEY = (4).to_bytes(32, "big")
REGULATOR_KEY = (5).to_bytes(32, "big")


def _log(message: str) -> None:
    print(f"[soak] {message}", file=sys.stderr, flush=True)


# -- setup -----------------------------------------------------------------------------------


def seed(data_dir: Path, settings: Settings) -> dict[str, Any]:
    chain = open_embedded(data_dir / "chain")
    try:
        w3 = chain.w3
        operator = Transactor(w3, Account.from_key(settings.operator_key.get_secret_value()))
        governance = Transactor(w3, Account.from_key(settings.governance_key.get_secret_value()))
        deployment = deploy_ledger(w3, operator, governance.address)
        deployment.save(settings.resolved_deployment_file)
        ledger = Ledger(w3, deployment)  # the operator holds PROVIDER_ROLE from deployment
        regulator = Account.from_key(REGULATOR_KEY)
        ledger.grant_role(governance, "REGULATOR_ROLE", regulator.address)
        now = int(time.time())
        banks = []
        for key, name in ((BANK_KEY, "Soak Bank"), (BANK_B_KEY, "Soak Bank B")):
            bank = Transactor(w3, Account.from_key(key))
            ledger.register_institution(operator, bank.address, InstitutionType.BANK, name)
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
            banks.append(bank)
        migrate(settings.resolved_database_url)
        engine = make_engine(settings.resolved_database_url)
        ingestor = Ingestor(engine, ChainAnchorer(ledger, operator), settings)
        subjects: list[str] = []
        rows: list[str] = []
        for i in range(SUBJECTS):
            uscc = make_uscc("410100", 600_000 + i)
            key = reads._key("soak-subject", i)
            sid = subject_id(uscc, settings.pseudonym_key_bytes)
            deadline, signature = ledger.sign_registration(key, sid)
            ledger.bind_subject(operator, sid, key.address, deadline, signature)
            subjects.append("0x" + sid.hex())
            rows.extend(json.dumps(r) for r in reads._tax_rows(uscc))
        ingestor.ingest("soak-tax", "tax", "\n".join(rows).encode(), fmt="jsonl")
        engine.dispose()
        terms = GrantTerms(
            banks[0].address, TAX, Purpose.LOAN_APPLICATION, AccessLevel.QUERY, now - 60,
            now + 86400,
        )  # fmt: skip
        signed = [ledger.sign_grant(reads._key("soak-subject", i), terms) for i in range(SUBJECTS)]
        grants = ledger.relay_grants(operator, signed)
        nonces = [ledger.nonce_of(reads._key("soak-subject", i).address) for i in range(SUBJECTS)]
        domain = {"chain_id": ledger.domain.chain_id, "contract": ledger.domain.verifying_contract}
        _log(f"seeded {SUBJECTS} subjects, {len(rows)} records, {len(grants)} grants")
        return {"subjects": subjects, "grants": grants, "nonces": nonces, "domain": domain}
    finally:
        chain.close()


# -- requests --------------------------------------------------------------------------------


@dataclass
class Planned:
    """One request to send: built (and signed) just before it is sent."""

    kind: str
    raw: bytes
    expect: int  # the status a correct server answers


def _request(
    key: LocalAccount,
    method: str,
    path: str,
    params: dict[str, str] | None = None,
    body: bytes = b"",
    *,
    nonce: str | None = None,
    corrupt: bool = False,
) -> tuple[bytes, str]:
    params = params or {}
    nonce = nonce or secrets.token_hex(16)
    timestamp = int(time.time())
    canonical = canonical_request(
        method, path, canonical_query(params.items()), body, timestamp, nonce
    )
    signature = sign_request(key.key, canonical)
    if corrupt:  # another request's signature: recovers to some other address
        signature = sign_request(key.key, canonical + "x")
    target = path + ("?" + urlencode(params) if params else "")
    lines = [
        f"{method} {target} HTTP/1.1",
        "Host: 127.0.0.1",
        f"X-CCL-Address: {key.address}",
        f"X-CCL-Timestamp: {timestamp}",
        f"X-CCL-Nonce: {nonce}",
        f"X-CCL-Signature: {signature}",
    ]
    if body or method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body, nonce


class Mix:
    """Chooses the next request of the soak's mix."""

    def __init__(self, seeded: dict[str, Any], seed: int = 11) -> None:
        self.rng = random.Random(seed)
        self.subjects: list[str] = seeded["subjects"]
        self.grants: list[int] = seeded["grants"]
        self.nonces: list[int] = list(seeded["nonces"])
        self.domain = eip712.Domain(seeded["domain"]["chain_id"], seeded["domain"]["contract"])
        self.bank = Account.from_key(BANK_KEY)
        self.bank_b = Account.from_key(BANK_B_KEY)
        self.regulator = Account.from_key(REGULATOR_KEY)
        self.replayable: bytes | None = None
        self.relays = 0
        kinds = {
            "records": 40,
            "verify": 10,
            "score": 5,
            "report": 5,
            "own_records": 8,
            "own_access_log": 5,
            "own_grants": 4,
            "audit": 3,
            "refused_other_grant": 4,
            "refused_bad_signature": 3,
            "refused_replay": 3,
        }
        self.kinds = [k for k, weight in kinds.items() for _ in range(weight)]

    def _gated(self, i: int, action: str) -> dict[str, str]:
        params = {"purpose": "loan_application", "grant_id": str(self.grants[i])}
        if action == "records":
            params["category"] = "tax"
        elif action == "verify":
            params.update(predicate="no_tax_arrears_months", arg="12")
        elif action == "report":
            params = {"purpose": "loan_application"}
        return params

    def read(self) -> Planned:
        i = self.rng.randrange(len(self.subjects))
        raw, _ = _request(
            self.bank,
            "GET",
            f"/v1/institution/subjects/{self.subjects[i]}/records",
            self._gated(i, "records"),
        )
        return Planned("records", raw, 200)

    def relay(self) -> Planned:
        """A subject grants the second bank a VERIFY grant, relayed through the API."""
        i = self.rng.randrange(len(self.subjects))
        key = reads._key("soak-subject", i)
        now = int(time.time())
        message = {
            "institution": self.bank_b.address,
            "categories": TAX,
            "purpose": int(Purpose.LOAN_APPLICATION),
            "level": int(AccessLevel.VERIFY),
            "notBefore": now - 60,
            "notAfter": now + 3600,
            "maxUses": 0,
            "nonce": self.nonces[i],
            "deadline": now + 600,
        }
        self.nonces[i] += 1
        signature = eip712.sign_typed(key.key, self.domain, "Grant", message)
        item = {
            "terms": {
                "institution": self.bank_b.address,
                "categories": TAX,
                "purpose": int(Purpose.LOAN_APPLICATION),
                "level": int(AccessLevel.VERIFY),
                "not_before": message["notBefore"],
                "not_after": message["notAfter"],
                "max_uses": 0,
            },
            "signer": key.address,
            "deadline": message["deadline"],
            "signature": "0x" + signature.hex(),
        }
        body = json.dumps({"grants": [item]}, separators=(",", ":")).encode()
        raw, _ = _request(key, "POST", "/v1/subject/grants", body=body)
        self.relays += 1
        return Planned("relay", raw, 201)

    def next(self) -> Planned:
        kind = self.rng.choice(self.kinds)
        i = self.rng.randrange(len(self.subjects))
        subject = self.subjects[i]
        if kind in ("records", "verify", "score", "report"):
            path = f"/v1/institution/subjects/{subject}/{kind}"
            raw, _ = _request(self.bank, "GET", path, self._gated(i, kind))
            if kind == "records" and self.replayable is None:
                self.replayable = raw
            return Planned(kind, raw, 200)
        key = reads._key("soak-subject", i)
        if kind == "own_records":
            return Planned(kind, _request(key, "GET", "/v1/subject/records")[0], 200)
        if kind == "own_access_log":
            params = {"limit": "20"}
            return Planned(kind, _request(key, "GET", "/v1/subject/access-log", params)[0], 200)
        if kind == "own_grants":
            return Planned(kind, _request(key, "GET", "/v1/subject/grants")[0], 200)
        if kind == "audit":
            # Not ``violations``: it re-checks every allowed entry of the whole log (a
            # regulator's full scan, quadratic in the log's size), not a per-request query.
            view = self.rng.choice(["access_audit", "access_audit", "volumes", "statistics"])
            params = {"limit": "50", "institution": self.bank.address}
            raw, _ = _request(self.regulator, "GET", f"/v1/audit/{view}", params)
            return Planned(kind, raw, 200)
        if kind == "refused_other_grant":
            path = f"/v1/institution/subjects/{subject}/records"
            raw, _ = _request(self.bank_b, "GET", path, self._gated(i, "records"))
            return Planned(kind, raw, 403)
        if kind == "refused_bad_signature":
            path = f"/v1/institution/subjects/{subject}/records"
            raw, _ = _request(self.bank, "GET", path, self._gated(i, "records"), corrupt=True)
            return Planned(kind, raw, 401)
        # A replay of an earlier (served) read: refused, nothing served.
        if self.replayable is None:
            return self.read()
        return Planned(kind, self.replayable, 401)


# -- the load --------------------------------------------------------------------------------


@dataclass
class Outcome:
    latencies: list[float]
    by_kind: dict[str, list[float]]
    statuses: dict[int, int]
    errors: list[str]
    requests: int
    elapsed: float


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
) -> tuple[int, bytes]:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
            break
    body = await reader.readexactly(length) if length else b""
    return status, body


async def drive(
    port: int,
    next_request: Any,
    seconds: float,
    rate: float | None,
    relay: Any = None,
    sample: tuple[int, list[float]] | None = None,
) -> Outcome:
    """Closed loop (``rate`` None) or open loop at ``rate`` requests/s for ``seconds``."""
    outcome = Outcome([], {}, {}, [], 0, 0.0)
    started = time.perf_counter()
    end = started + seconds
    issued = 0

    async def worker() -> None:
        nonlocal issued
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                index = issued
                issued += 1
                if rate is not None:
                    due = started + index / rate
                    if due >= end:
                        return
                    delay = due - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                elif time.perf_counter() >= end:
                    return
                await _one(reader, writer, next_request())
        finally:
            writer.close()

    async def _one(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, planned: Planned
    ) -> None:
        sent = time.perf_counter()
        try:
            status, body = await _exchange(reader, writer, planned.raw)
        except (OSError, asyncio.IncompleteReadError) as error:
            outcome.errors.append(f"{planned.kind}: {error!r}")
            outcome.requests += 1
            return
        latency = time.perf_counter() - sent
        outcome.latencies.append(latency)
        outcome.by_kind.setdefault(planned.kind, []).append(latency)
        outcome.statuses[status] = outcome.statuses.get(status, 0) + 1
        outcome.requests += 1
        if status != planned.expect:
            outcome.errors.append(
                f"{planned.kind}: {status} (expected {planned.expect}) {body[:160]!r}"
            )

    async def relayer() -> None:
        # A connection per relay: uvicorn closes connections idle for 5 s (its keep-alive).
        while relay is not None and time.perf_counter() + RELAY_EVERY_S < end:
            await asyncio.sleep(RELAY_EVERY_S)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                await _one(reader, writer, relay())
            finally:
                writer.close()

    async def sampler() -> None:
        # The server's RSS every SAMPLE_EVERY_S: a leak climbs steadily, a cache levels off.
        while sample is not None and time.perf_counter() + SAMPLE_EVERY_S < end:
            await asyncio.sleep(SAMPLE_EVERY_S)
            sample[1].append(round(rss_mb(sample[0]), 1))

    await asyncio.gather(relayer(), sampler(), *(worker() for _ in range(CONCURRENCY)))
    outcome.elapsed = time.perf_counter() - started
    return outcome


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (psutil when installed, else /proc)."""
    try:
        import psutil

        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except ImportError:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmRSS for process {pid}") from None


def _start_server(data_dir: Path, port: int, probe_dir: str | None) -> subprocess.Popen[bytes]:
    if probe_dir is None:
        return reads._start_server(data_dir, port)
    prelude = (
        f"import sys; sys.path.append({str(Path(__file__).parent)!r})\n"
        f"import soak_probe; soak_probe.install({probe_dir!r})\n"
    )
    return reads._start_server(data_dir, port, prelude + reads.SERVER_CODE)


def _probe(server: subprocess.Popen[bytes], probe_dir: str | None, number: int) -> None:
    """Have the server's probe write its ``number``-th snapshot, and wait for it."""
    if probe_dir is None:
        return
    server.send_signal(signal.SIGUSR1)
    done = Path(probe_dir) / f"probe-{number}.done"
    deadline = time.time() + 120
    while not done.exists() and time.time() < deadline:
        time.sleep(0.2)


def run(seconds: float = DEFAULT_SECONDS) -> dict[str, Any]:
    probe_dir = os.environ.get(DIAGNOSE_ENV) or None
    with tempfile.TemporaryDirectory(prefix="ccl-bench-soak-") as tmp:
        data_dir = Path(tmp)
        settings = Settings(data_dir=data_dir)
        seeded = seed(data_dir, settings)
        port = reads._free_port()
        server = _start_server(data_dir, port, probe_dir)
        try:
            mix = Mix(seeded)
            maximum = asyncio.run(drive(port, mix.read, MEASURE_S, None))
            bad = {s: n for s, n in maximum.statuses.items() if s != 200}
            if bad or maximum.errors:
                raise RuntimeError(f"the maximum phase failed: {bad} {maximum.errors[:3]}")
            max_rps = len(maximum.latencies) / maximum.elapsed
            rate = max_rps / 2
            _log(f"maximum {max_rps:.0f} reads/s; soaking at {rate:.0f} requests/s for {seconds}s")
            # The same mix first, so that caches and pools have grown to their working size
            # before the starting RSS is taken: the soak measures growth beyond that.
            warmup = asyncio.run(drive(port, mix.next, WARMUP_S, rate, relay=mix.relay))
            unseen = {*mix.kinds, "relay"} - set(warmup.by_kind)
            if unseen:
                raise RuntimeError(f"the warm-up sent no {', '.join(sorted(unseen))} request")
            rss_start = rss_mb(server.pid)
            _probe(server, probe_dir, 1)
            _log(f"warm-up: {warmup.requests} requests, RSS {rss_start:.1f} MiB")
            samples: list[float] = []
            soak = asyncio.run(
                drive(port, mix.next, seconds, rate, relay=mix.relay, sample=(server.pid, samples))
            )
            rss_end = rss_mb(server.pid)
            _probe(server, probe_dir, 2)
            database_mb = (data_dir / "ledger.sqlite").stat().st_size / 2**20
        finally:
            server.terminate()
            server.wait(timeout=30)
    if probe_dir is not None:
        from benchmarks import soak_probe

        _log("probe: " + json.dumps(soak_probe.report(Path(probe_dir)), indent=1))
    ordered = sorted(soak.latencies)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else float("nan")
    for error in soak.errors[:5]:
        _log(f"error: {error}")
    for kind, values in sorted(soak.by_kind.items()):
        _log(f"{kind}: {len(values)} requests, mean {sum(values) / len(values) * 1000:.1f} ms")
    return {
        "requests": soak.requests,
        "errors": len(soak.errors) + len(warmup.errors),
        "server_5xx": sum(
            n for s, n in (*soak.statuses.items(), *warmup.statuses.items()) if s >= 500
        ),
        "rss_start_mb": round(rss_start, 1),
        "rss_end_mb": round(rss_end, 1),
        "rss_growth_ratio": round(rss_end / rss_start, 3),
        "p99_ms": round(p99 * 1000, 2),
        "seconds": seconds,
        "max_reads_per_s": round(max_rps, 1),
        "target_rps": round(rate, 1),
        "achieved_rps": round(soak.requests / soak.elapsed, 1),
        "relays": mix.relays,
        "rss_samples_mb": samples,
        "database_mb": round(database_mb, 1),
        "statuses": {str(s): n for s, n in sorted(soak.statuses.items())},
        "cpu_count": os.cpu_count(),
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
    }
