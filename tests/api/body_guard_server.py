"""The API application served by uvicorn in a process of its own, for tests that must watch
the process (a body that crashes the interpreter kills only this process) or the socket.

    python tests/api/body_guard_server.py PORT

Every body is refused or admitted by the middleware before a route runs, so the application
gets a context with no chain behind it and only the database the request counters flush into:
a request that gets past the middleware into a route fails there (500), which the tests never do.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import cast

import uvicorn

from ledger_api.api.app import create_app
from ledger_api.api.context import AppContext
from ledger_api.settings import Settings
from ledger_api.store.db import make_engine, migrate


class _NoBackend:
    """The lifespan's part of ``AppContext``: nothing to start or close, and a migrated SQLite
    database for the per-day request counts the app flushes every few seconds."""

    def __init__(self) -> None:
        path = Path(tempfile.mkdtemp(prefix="ccl-body-guard-")) / "counts.sqlite"
        self.engine = make_engine(f"sqlite:///{path}")
        migrate(self.engine)
        self.clock = time.time
        # Monitoring is built (not started: the server runs with it disabled) from these.
        self.settings = Settings(monitoring_enabled=False)
        self.state = self.catalog = self.writer = None

    def start_background(self) -> None:
        pass

    def close(self) -> None:
        pass


def main(port: int) -> None:
    backend = _NoBackend()
    app = create_app(backend.settings, context=cast(AppContext, backend))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main(int(sys.argv[1]))
