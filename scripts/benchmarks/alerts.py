"""Alerts benchmark: risk-event derivation, fan-out and signed webhook delivery (SQLite).

Setup (untimed): a temporary SQLite database, migrated; a fixed chain state
(``StaticChainState``) with INSTITUTIONS institutions under an active agreement and
SUBJECTS subjects, each subject giving a ``post_loan_monitoring`` grant to
GRANTS_PER_SUBJECT institutions; one risk-alert subscription per institution (1,000
monitoring subscriptions) with a webhook at a local receiver (a threaded HTTP server on
127.0.0.1 that verifies every signature with the Standard Webhooks library).

Timed:
- ``alerts_emitted_per_s``: one ingested batch of ADVERSE records (tax arrears): the rules'
  derivation into the outbox (inside the records' transaction) plus the fan-out to the
  subscriptions, alerts written per second of those two steps (``ingest_s``: the whole
  ingest, sealing and anchoring included, for scale);
- ``delivered_per_s``: the delivery worker draining that batch's alerts to the receiver;
- ``alert_latency_p99_s``: then LATENCY_BATCHES small batches, one at a time, each timed
  from its anchoring (ingest returned) to each of its alerts' arrival at the receiver while
  the monitoring loop runs as in the API (``MonitoringService`` thread);
- ``lost``: alerts the receiver never got; ``out_of_order``: arrivals per subscription
  whose number is not the previous one plus one (a retry of one id counts as a duplicate,
  not as out of order; ``duplicates`` reports those).
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

import ledger_api.ingest.pipeline as pipeline
from ledger_api.accesslog import AccessLogWriter
from ledger_api.anchoring.anchorer import InMemoryAnchorer
from ledger_api.catalog.loader import default_catalog
from ledger_api.chain.grant_rules import AgreementState, GrantState
from ledger_api.chain.state import InstitutionProfile, SubjectBinding
from ledger_api.chain.types import AccessLevel, AgreementStatus, InstitutionType, Purpose
from ledger_api.identity.uscc import subject_id
from ledger_api.ingest.pipeline import Ingestor
from ledger_api.monitoring.delivery import DeliveryWorker
from ledger_api.monitoring.fanout import FanOut
from ledger_api.monitoring.service import MonitoringService
from ledger_api.monitoring.static_state import StaticChainState
from ledger_api.monitoring.subscriptions import RISK_ALERTS, SubscriptionRequest, create
from ledger_api.settings import Settings
from ledger_api.store.db import make_engine, migrate
from ledger_api.synth.generator import make_uscc

INSTITUTIONS = 1000
SUBJECTS = 1000
GRANTS_PER_SUBJECT = 2
ADVERSE = 10_000
LATENCY_BATCHES = 20
LATENCY_ROWS = 5
TAX = 2


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _receiver_main(pipe: Connection, received: Any) -> None:
    """The local receiver, in a process of its own (as a bank's would be): a threaded HTTP
    server verifying every delivery with the Standard Webhooks library. It sends its port,
    takes the endpoints' secrets, and on "stop" sends back its arrivals by subscription:
    (number, webhook-id, wall time) each, and how many deliveries it rejected."""
    hooks: dict[str, Webhook] = {}
    arrivals: dict[int, list[tuple[int, str, float]]] = defaultdict(list)
    rejected = [0]
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            hook = hooks.get(self.path)
            try:
                if hook is None:
                    raise WebhookVerificationError("unknown endpoint")
                event = hook.verify(body, dict(self.headers.items()))
            except WebhookVerificationError:
                with lock:
                    rejected[0] += 1
                self._answer(400)
                return
            data = event["data"]
            with lock:
                arrivals[data["subscription_id"]].append(
                    (data["event_number"], event["id"], time.time())
                )
                received.value += 1
            self._answer(204)

        def log_message(self, *args: Any) -> None:
            pass

    ThreadingHTTPServer.request_queue_size = 256  # 32 senders connect at once
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    pipe.send(server.server_address[1])
    hooks.update({path: Webhook(secret) for path, secret in pipe.recv().items()})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    pipe.recv()  # "stop"
    server.shutdown()
    with lock:
        pipe.send((dict(arrivals), rejected[0]))


class _Receiver:
    """The main process's handle on the receiver process."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.received = context.Value("q", 0)
        self.pipe, child = context.Pipe()
        self.process = context.Process(
            target=_receiver_main, args=(child, self.received), daemon=True
        )
        self.process.start()
        self.port: int = self.pipe.recv()
        self.arrivals: dict[int, list[tuple[int, str, float]]] = {}
        self.rejected = 0

    def endpoints(self, secrets: dict[str, str]) -> None:
        self.pipe.send(secrets)

    def count(self) -> int:
        return int(self.received.value)

    def stop(self) -> None:
        self.pipe.send("stop")
        self.arrivals, self.rejected = self.pipe.recv()
        self.process.join(timeout=30)


def _world(now: int, settings: Settings) -> tuple[StaticChainState, list[str]]:
    state = StaticChainState(now)
    state.agreements[1] = AgreementState(
        0xFFFF, 0xFF, now - 10, now + 10**7, AgreementStatus.ACTIVE
    )
    for i in range(1, INSTITUTIONS + 1):
        address = "0x" + f"{i:040x}"
        state.institutions[address] = InstitutionProfile(
            address, i, InstitutionType.BANK, f"Bank {i}", False, 1
        )
    usccs = [make_uscc("410100", serial) for serial in range(1, SUBJECTS + 1)]
    grant_id = 0
    for index, uscc in enumerate(usccs, start=1):
        sid = subject_id(uscc, settings.pseudonym_key_bytes)
        state.subjects[sid] = SubjectBinding(sid, index, "0x" + f"{10**6 + index:040x}")
        for k in range(GRANTS_PER_SUBJECT):
            grant_id += 1
            state.add_grant(
                GrantState(
                    grant_id, index, (index * 7 + k * 13) % INSTITUTIONS + 1, 1 << TAX,
                    Purpose.POST_LOAN_MONITORING, AccessLevel.VERIFY, now - 10, now + 10**7,
                    0, False,
                )
            )  # fmt: skip
    return state, usccs


def _rows(usccs: list[str], count: int, tag: str) -> bytes:
    lines = []
    for i in range(count):
        row = {
            "uscc": usccs[i % len(usccs)],
            "record_key": f"{tag}-{i}",
            "period": "2026-10",
            "tax_type": "vat",
            "tax_paid": "100.00",
            "arrears_amount": f"{1 + i % 500}.00",
            "paid_on_time": False,
        }
        lines.append(orjson.dumps(row))
    return b"\n".join(lines)


def _timed(fn: Callable[..., Any], spent: list[float]) -> Callable[..., Any]:
    def wrapper(*args: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            spent.append(time.perf_counter() - start)

    return wrapper


def run() -> dict[str, Any]:
    settings = Settings()
    now = int(time.time())
    state, usccs = _world(now, settings)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'alerts.sqlite'}"
        migrate(url)
        engine = make_engine(url)
        receiver = _Receiver()
        port = receiver.port
        secrets: dict[str, str] = {}
        by_sub: dict[int, str] = {}
        with engine.begin() as conn:
            for address in state.institutions:
                hook = f"http://127.0.0.1:{port}/{address}"
                request = SubscriptionRequest(RISK_ALERTS, ["tax"], [], [], hook)
                made = create(conn, address, request, 1 << TAX, hook, now)
                secrets[f"/{address}"] = made["secret"]
                by_sub[made["id"]] = address
        receiver.endpoints(secrets)
        writer = AccessLogWriter(engine)
        catalog = default_catalog()
        fanout = FanOut(engine, lambda: state)
        delivery = DeliveryWorker(engine, lambda: state, catalog, writer, parallel=32)
        ingestor = Ingestor(engine, InMemoryAnchorer(), settings, workers=1)
        derive_spent: list[float] = []
        original = pipeline.record_risk_events
        pipeline.record_risk_events = _timed(original, derive_spent)
        try:
            _log(f"ingesting {ADVERSE} adverse records for {SUBJECTS} subjects")
            start = time.perf_counter()
            ingestor.ingest("henan-tax", "tax", _rows(usccs, ADVERSE, "big"), fmt="jsonl")
            ingest_s = time.perf_counter() - start
            start = time.perf_counter()
            emitted = 0
            while passed := fanout.run_once():
                emitted += passed
            fanout_s = time.perf_counter() - start
            derive_s = sum(derive_spent)
            _log(f"{emitted} alerts: derivation {derive_s:.3f}s, fan-out {fanout_s:.3f}s")
            start = time.perf_counter()
            delivered = 0
            while sent := delivery.run_once():
                delivered += sent
            deliver_s = time.perf_counter() - start
            _log(f"delivered {delivered} in {deliver_s:.2f}s")
            batches = _latency(ingestor, usccs, receiver, fanout, delivery)
        finally:
            pipeline.record_risk_events = original
            receiver.stop()
            writer.close()
        latencies = _latencies(receiver, batches)
        expected = _expected(engine)
        lost, out_of_order, duplicates = _audit_arrivals(receiver, expected)
        engine.dispose()
    load1, load5, _ = os.getloadavg()
    return {
        "alerts_emitted_per_s": round(emitted / (derive_s + fanout_s)),
        "alerts_emitted": emitted,
        "derivation_s": round(derive_s, 3),
        "fanout_s": round(fanout_s, 3),
        "ingest_s": round(ingest_s, 2),
        "delivered_per_s": round(delivered / deliver_s),
        "alert_latency_p99_s": round(statistics.quantiles(latencies, n=100)[98], 3),
        "alert_latency_p50_s": round(statistics.median(latencies), 3),
        "lost": lost,
        "out_of_order": out_of_order,
        "duplicates": duplicates,
        "rejected_by_receiver": receiver.rejected,
        "subscriptions": INSTITUTIONS,
        "adverse_records": ADVERSE,
        "load_1m": round(load1, 2),
        "load_5m": round(load5, 2),
    }


def _latency(
    ingestor: Ingestor,
    usccs: list[str],
    receiver: _Receiver,
    fanout: FanOut,
    delivery: DeliveryWorker,
) -> list[tuple[float, int, int]]:
    """Each small batch's anchoring time (ingest returned) and the receiver's arrival count
    before it and when all its alerts had arrived (latencies are read from the arrivals)."""
    service = MonitoringService(fanout, delivery, poll_s=0.05)
    service.start()
    batches: list[tuple[float, int, int]] = []
    try:
        for batch in range(LATENCY_BATCHES):
            before = receiver.count()
            rows = _rows(usccs[batch * LATENCY_ROWS :], LATENCY_ROWS, f"lat{batch}")
            ingestor.ingest("henan-tax", "tax", rows, fmt="jsonl")
            anchored = time.time()
            wanted = before + LATENCY_ROWS * GRANTS_PER_SUBJECT
            deadline = anchored + 30
            while receiver.count() < wanted and time.time() < deadline:
                time.sleep(0.005)
            batches.append((anchored, before, receiver.count()))
    finally:
        service._stop.set()
        if service._thread is not None:
            service._thread.join(timeout=30)
    return batches


def _latencies(receiver: _Receiver, batches: list[tuple[float, int, int]]) -> list[float]:
    """Arrivals in time order; batch i's alerts are arrivals [before, after) of its window."""
    times = sorted(t for a in receiver.arrivals.values() for _, _, t in a)
    return [t - anchored for anchored, before, after in batches for t in times[before:after]]


def _expected(engine: Any) -> dict[int, int]:
    from sqlalchemy import select

    from ledger_api.store.monitoring_tables import SUBSCRIPTIONS

    with engine.connect() as conn:
        rows = conn.execute(select(SUBSCRIPTIONS.c.id, SUBSCRIPTIONS.c.last_number))
        return {int(i): int(n) for i, n in rows}


def _audit_arrivals(receiver: _Receiver, expected: dict[int, int]) -> tuple[int, int, int]:
    lost = out_of_order = duplicates = 0
    for sub_id, last in expected.items():
        arrivals = receiver.arrivals.get(sub_id, [])
        seen: set[int] = set()
        previous = 0
        for number, _, _ in arrivals:
            if number in seen:
                duplicates += 1
                continue
            if number != previous + 1:
                out_of_order += 1
            seen.add(number)
            previous = number
        lost += sum(1 for n in range(1, last + 1) if n not in seen)
    return lost, out_of_order, duplicates
