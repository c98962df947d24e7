"""Prometheus metrics for operators: ``GET /metrics`` (docs/operators.md, "Metrics").

- ``ccl_http_requests_total{method,route,status}`` and
  ``ccl_http_request_duration_seconds{method,route}``: counted by the request middleware
  (``request_metrics``), labelled by route template, in memory;
- ``ccl_access_decisions_total{action,decision,reason}``: every access-log entry (the gate's
  decisions and every refusal after authentication), read from the log itself at scrape
  time, only the entries added since the last scrape: nothing on the request path, and the
  same totals whichever worker is scraped;
- ``ccl_access_log_queue_depth``: entries waiting for this process's access-log writer;
- ``ccl_access_log_unanchored_entries``, ``ccl_access_log_anchor_lag_seconds``: log entries
  not anchored yet, and the age of the oldest;
- ``ccl_indexer_lag_blocks``: chain head minus the replica's last indexed block.

Several uvicorn workers: set ``PROMETHEUS_MULTIPROC_DIR`` (an empty directory) in the
workers' environment; the request counters are then summed over the workers by
``MultiProcessCollector``. Without it each worker reports its own requests only.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from indexer.tables import CHECKPOINT
from ledger_api.store.access_log import AccessLogEntry

if TYPE_CHECKING:
    from ledger_api.api.context import AppContext

log = logging.getLogger(__name__)

__all__ = ["CONTENT_TYPE_LATEST", "OperatorMetrics"]

ACCESS_LOG = AccessLogEntry.__table__.c
# Request latencies: a gated read takes milliseconds, a relay waits for a receipt (seconds).
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Decisions:
    """Access-log entries counted by (action, decision, reason), read incrementally."""

    def __init__(self) -> None:
        self.last_id = 0
        self.counts: dict[tuple[str, str, str], int] = {}
        self.lock = threading.Lock()

    def update(self, ctx: AppContext) -> dict[tuple[str, str, str], int]:
        with self.lock, ctx.engine.connect() as conn:
            query = (
                select(ACCESS_LOG.action, ACCESS_LOG.decision, ACCESS_LOG.reason,
                       func.count(), func.max(ACCESS_LOG.id))
                .where(ACCESS_LOG.id > self.last_id)
                .group_by(ACCESS_LOG.action, ACCESS_LOG.decision, ACCESS_LOG.reason)
            )  # fmt: skip
            for action, decision, reason, n, last in conn.execute(query):
                key = (action, decision, reason)
                self.counts[key] = self.counts.get(key, 0) + int(n)
                self.last_id = max(self.last_id, int(last))
            return dict(self.counts)


class _LedgerCollector(Collector):
    """What is read at scrape time: decisions, queue depth, anchor and indexer lag."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.decisions = _Decisions()

    def collect(self) -> Iterator[Metric]:
        ctx = self.ctx
        depth = GaugeMetricFamily(
            "ccl_access_log_queue_depth", "Entries waiting for this process's access-log writer"
        )
        depth.add_metric([], ctx.writer.queue_depth)
        yield depth
        try:
            yield from self._from_database()
        except Exception:  # a scrape must still answer; the log says why figures are missing
            log.warning("reading metrics from the database failed", exc_info=True)

    def _from_database(self) -> Iterator[Metric]:
        ctx = self.ctx
        decisions = CounterMetricFamily(
            "ccl_access_decisions", "Access-log entries by action, decision and reason",
            labels=["action", "decision", "reason"],
        )  # fmt: skip
        for labels, n in sorted(self.decisions.update(ctx).items()):
            decisions.add_metric(list(labels), n)
        yield decisions
        with ctx.engine.connect() as conn:
            pending, oldest = conn.execute(
                select(func.count(), func.min(ACCESS_LOG.at)).where(ACCESS_LOG.anchor_id.is_(None))
            ).one()
            indexed = conn.execute(select(func.max(CHECKPOINT.c.block_number))).scalar()
        unanchored = GaugeMetricFamily(
            "ccl_access_log_unanchored_entries", "Access-log entries not anchored on chain yet"
        )
        unanchored.add_metric([], int(pending))
        yield unanchored
        lag = GaugeMetricFamily(
            "ccl_access_log_anchor_lag_seconds", "Age of the oldest access-log entry not anchored"
        )
        age = 0.0 if oldest is None else ctx.clock() - _aware(oldest).timestamp()
        lag.add_metric([], max(age, 0.0))
        yield lag
        if indexed is not None:
            behind = GaugeMetricFamily(
                "ccl_indexer_lag_blocks", "Chain head minus the replica's last indexed block"
            )
            behind.add_metric([], max(ctx.chain_head() - int(indexed), 0))
            yield behind


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class OperatorMetrics:
    """This app's Prometheus metrics: request counters (``observe``) and ``render()``."""

    def __init__(self, ctx: AppContext) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.requests = Counter(
            "ccl_http_requests", "HTTP requests answered, by route template and status",
            ["method", "route", "status"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "ccl_http_request_duration_seconds", "Time to answer, by route template",
            ["method", "route"], registry=self.registry, buckets=_BUCKETS,
        )  # fmt: skip
        # Registered without describe(): the registry does not collect (query) to learn names.
        self._ledger = _LedgerCollector(ctx)
        self.registry.register(self._ledger)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:  # labels() looks up a lock and a dict: done once per key
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        if not self.multiprocess:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(self._ledger)
        return generate_latest(registry)
