"""Every request counted and timed, for operators (Prometheus ``/metrics``) and regulators
(``GET /v1/audit/metrics``, from the ``api_request_counts`` table).

The middleware is plain ASGI and does no I/O: a request adds to two in-memory tallies (the
Prometheus counter and histogram of its route template and status, and this process's daily
counts by endpoint class and status). A background thread adds the daily counts to the table
every ``FLUSH_EVERY_S`` seconds in one upsert; ``GET /v1/audit/metrics`` flushes first, so it
reports this process's requests up to the moment it is asked.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from ledger_api.store.request_counts import CountKey, add_counts

log = logging.getLogger(__name__)

__all__ = ["ENDPOINT_CLASSES", "DailyCounts", "RequestMetricsMiddleware", "endpoint_class"]

FLUSH_EVERY_S = 5.0
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Observer = Callable[[str, str, int, float], None]  # method, route template, status, seconds

# Endpoint classes in the spirit of the Australian CDR's (unauthenticated, high/low priority,
# unattended...): who calls and what for. First matching route-template prefix wins.
ENDPOINT_CLASSES: tuple[tuple[str, str], ...] = (
    ("/v1/institution/", "institution"),  # gated reads of enterprise data, and grant checks
    ("/v1/subject/", "subject"),  # enterprises: their grants, records, disputes
    ("/v1/provider/", "provider"),  # data providers' ingestion
    ("/v1/operator/", "operator"),
    ("/v1/audit/", "audit"),  # regulators
)
UNAUTHENTICATED = "unauthenticated"  # health, directory, catalog, OpenAPI, unmatched paths


def endpoint_class(route: str) -> str:
    for prefix, name in ENDPOINT_CLASSES:
        if route.startswith(prefix):
            return name
    return UNAUTHENTICATED


class DailyCounts:
    """This process's request counts and total time per (UTC day, endpoint class, status),
    added to ``api_request_counts`` by ``flush``."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock
        self._lock = threading.Lock()
        self._counts: dict[CountKey, list[float]] = {}
        self._day_starts = 0.0
        self._day = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _today(self) -> str:
        now = self.clock()
        if not self._day_starts <= now < self._day_starts + 86400:
            day = datetime.fromtimestamp(now, UTC).date()
            self._day = day.isoformat()
            self._day_starts = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        return self._day

    def add(self, cls: str, status: int, seconds: float) -> None:
        key = (self._today(), cls, status)
        with self._lock:
            tally = self._counts.get(key)
            if tally is None:
                self._counts[key] = [1, seconds * 1000.0]
            else:
                tally[0] += 1
                tally[1] += seconds * 1000.0

    def flush(self) -> None:
        """Add the counts so far to the table; on failure they are kept for the next flush."""
        with self._lock:
            counts, self._counts = self._counts, {}
        if not counts:
            return
        try:
            with self.engine.begin() as conn:
                add_counts(conn, {k: (int(v[0]), v[1]) for k, v in counts.items()})
        except Exception:
            with self._lock:
                for key, (n, ms) in counts.items():
                    tally = self._counts.setdefault(key, [0, 0.0])
                    tally[0] += n
                    tally[1] += ms
            raise

    def start(self, every_s: float = FLUSH_EVERY_S) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, args=(every_s,), name="request-counts", daemon=True
            )
            self._thread.start()

    def _run(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            try:
                self.flush()
            except Exception:  # kept in memory; the next flush retries
                log.warning("storing request counts failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        try:
            self.flush()
        except Exception:
            log.warning("storing the last request counts failed", exc_info=True)


class RequestMetricsMiddleware:
    """Times each HTTP request and hands (method, route template, status, seconds) on."""

    def __init__(self, app: Callable[..., Awaitable[None]], observers: list[Observer]) -> None:
        self.app = app
        self.observers = observers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception escaping the app becomes a 500 further out

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            seconds = time.perf_counter() - started
            # The route template (/v1/institution/subjects/{subject_id}/records), never the
            # path: labels stay few and carry no subject ids. The router sets it on the scope.
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            for observe in self.observers:
                observe(scope["method"], route, status, seconds)
