"""The API process's monitoring loop: event sources (supply-chain defaults from the replica),
fan-out, then webhook deliveries, repeated.

One daemon thread; it sleeps ``poll_s`` only when a pass found nothing to do, so a backlog
drains at full speed. ``ccl stack`` and every API worker run it (the fan-out's single
transaction and per-subscription numbering keep concurrent workers consistent on
PostgreSQL: a second fan-out waits on the cursor row).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Protocol

from ledger_api.monitoring.delivery import DeliveryWorker
from ledger_api.monitoring.fanout import FanOut

log = logging.getLogger(__name__)


class EventSource(Protocol):
    """Writes outbox events the ingest transaction cannot (chain facts read from the replica)."""

    def run_once(self) -> int: ...


class MonitoringService:
    def __init__(
        self,
        fanout: FanOut,
        delivery: DeliveryWorker,
        *,
        poll_s: float = 0.5,
        sources: Sequence[EventSource] = (),
    ) -> None:
        self.fanout = fanout
        self.delivery = delivery
        self.poll_s = poll_s
        self.sources = tuple(sources)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """The sources' passes, one fan-out pass and one delivery pass; how much they did."""
        written = sum(source.run_once() for source in self.sources)
        return written + self.fanout.run_once() + self.delivery.run_once()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="monitoring", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.delivery.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # the outbox keeps everything; the next pass tries again
                log.exception("a monitoring pass failed")
                busy = 0
            if not busy:
                self._stop.wait(self.poll_s)
