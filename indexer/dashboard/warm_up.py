"""The dashboard's one pass over the whole access log, started in the background at launch.

The in-memory access counts and violations (``access_counts``, ``violation_cache``) read the
whole log once, then only what is appended (seconds with a million entries: the benchmark in
docs/benchmarks.md). Started when the dashboard starts, that pass has usually ended before a
regulator opens the first page; a page asked for meanwhile waits for the pass already running
(the caches' locks) rather than starting a second, so it never waits longer than the pass.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from indexer.dashboard.access_counts import AccessCounts
from indexer.dashboard.violation_cache import ViolationCache

log = logging.getLogger(__name__)


class WarmUp:
    def __init__(
        self, engine: Engine, access_counts: AccessCounts, violation_cache: ViolationCache
    ) -> None:
        self._engine = engine
        self._access_counts = access_counts
        self._violation_cache = violation_cache
        self._done = threading.Event()
        self.seconds: float | None = None  # how long the pass took, once it has ended
        self.counted_through: int | None = None  # the last entry id it counted
        self.failed: str | None = None  # why it stopped; the first page then does the pass

    def start(self) -> None:
        threading.Thread(target=self._run, name="dashboard-warm-up", daemon=True).start()

    def wait(self, timeout: float | None = None) -> bool:
        """Whether the pass has ended (done or failed) within ``timeout`` seconds."""
        return self._done.wait(timeout)

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            with Session(self._engine) as session:
                self._access_counts.refresh(session.connection())
                self._violation_cache.refresh(session)
            self.seconds = time.perf_counter() - started
            self.counted_through = self._access_counts.counted_through
        except Exception as error:  # a page repeats the pass; the server stays up
            self.failed = f"{type(error).__name__}: {error}"
            log.warning("dashboard warm-up stopped (%s); the first page counts the log", error)
        finally:
            self._done.set()
