"""The embedded stack: chain, database, indexer and API in one process.

`ccl stack` runs it for manual use on localhost, `scripts/demo.py` drives the whole mission
through it. State lives under ``settings.data_dir`` (the chain's key/value store, the SQLite
database and the deployment record), so stopping and starting again keeps every member, grant,
anchor, record and access-log entry.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.applications import Starlette

from indexer.follower import Indexer
from indexer.gate_mirror import GateMirror
from indexer.replica import ReplicaState
from ledger_api.api.app import create_app
from ledger_api.api.context import AppContext, CachedChainState, build_context
from ledger_api.api.mirrored_state import MirroredState
from ledger_api.api.read_connections import ReadConnections
from ledger_api.chain.connection import ChainConnection, ensure_platform_roles, open_chain
from ledger_api.chain.deployment import Deployment, check_deployment
from ledger_api.chain.state import ChainState
from ledger_api.memory import cap_arenas
from ledger_api.settings import Settings
from ledger_api.store.db import ensure_schema, make_serving_engine, migrate

log = logging.getLogger(__name__)


def replica_state(engine: Engine, chain_id: int, reads: ReadConnections) -> ReplicaState:
    """The gate's replica, reading through the API's read connections: on the event loop a
    held AUTOCOMMIT connection, so a PostgreSQL look-up is one round trip of a prepared
    statement instead of a pool checkout, a ping, the query and a reset."""
    return ReplicaState(engine, chain_id=chain_id, connect=reads.connect)


def gate_state(
    engine: Engine, chain_id: int, reads: ReadConnections, settings: Settings
) -> tuple[ChainState, GateMirror | None]:
    """The API's chain state over the replica: the cached state, with the gate's decisions
    answered by this process's gate mirror (``indexer.gate_mirror``, not started yet: see
    ``follow``) unless ``gate_mirror_entries`` or ``state_cache_ttl_s`` is 0."""
    replica = replica_state(engine, chain_id, reads)
    cached = CachedChainState(replica, settings.state_cache_ttl_s)
    interval = settings.state_cache_ttl_s
    if interval <= 0 or settings.gate_mirror_entries <= 0:
        return cached, None
    mirror = GateMirror(
        engine,
        chain_id=chain_id,
        capacity=settings.gate_mirror_entries,
        max_age_s=max(5.0, 20 * interval),  # a follower that stopped syncing is not trusted
    )
    return MirroredState(cached, mirror, replica), mirror


def follow(mirror: GateMirror | None, context: AppContext) -> None:
    """Start the gate mirror's follower once the context (and so the schema) is checked; it
    stops with the context."""
    if mirror is not None:
        mirror.start(context.settings.state_cache_ttl_s)
        context.closers.append(mirror.stop)


class EmbeddedStack:
    """Everything the platform runs, wired from ``settings`` (embedded chain unless
    ``CCL_CHAIN_URL`` names a node)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        cap_arenas(settings.malloc_arenas)  # before the chain's, indexer's and API's threads
        self.connection: ChainConnection = open_chain(settings)
        self.engine = make_serving_engine(settings)
        migrate(self.engine)
        reads = ReadConnections(self.engine)
        replica, mirror = gate_state(self.engine, self.connection.w3.eth.chain_id, reads, settings)
        # Deploys the ledger on first start in embedded mode; loads the record afterwards.
        self.context: AppContext = build_context(
            settings,
            w3=self.connection.w3,
            engine=self.engine,
            state_provider=lambda: replica,
            run_migrations=False,
            reads=reads,
        )
        follow(mirror, self.context)
        ensure_platform_roles(self.context.ledger, self.context.relayer)
        self.indexer = Indexer.for_engine(
            self.connection.w3, self.context.ledger.deployment, self.engine, settings
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def w3(self) -> Any:
        return self.connection.w3

    def catch_up(self) -> int:
        return self.indexer.run_once()

    def start(self) -> None:
        """Catch the replica up, then follow the chain and anchor the access log in threads."""
        self.catch_up()
        self._thread = threading.Thread(
            target=self.indexer.run_forever,
            args=(self._stop, self.settings.indexer_poll_interval_s),
            name="indexer",
            daemon=True,
        )
        self._thread.start()

    def app(self) -> FastAPI:
        app = create_app(self.settings, context=self.context)
        # `ccl-indexer status` cannot open the chain this stack holds: it asks the API.
        app.state.indexer_status = self.indexer.status
        # The regulators' dashboard on the API's port (docs/dashboard.md); it answers
        # loopback clients only, whatever address the API is bound to.
        app.mount("/dashboard", self.dashboard())
        return app

    def dashboard(self) -> Starlette:
        from indexer.dashboard import create_dashboard

        return create_dashboard(
            self.engine,
            pseudonym_key=self.settings.pseudonym_key_bytes,
            indexer_lag=lambda: self.indexer.status().lag,
        )

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.context.close()
        self.engine.dispose()
        self.connection.close()


def check_ready(settings: Settings) -> None:
    """Refuse (with the LedgerError that says what to do) unless the chain is reachable, the
    deployment record exists and matches it, and the database schema is current: checked
    once before workers start, so that a missing step is one line, not workers restarting."""
    connection = open_chain(settings)
    try:
        deployment = Deployment.load(settings.resolved_deployment_file)
        check_deployment(connection.w3, deployment)
    finally:
        connection.close()
    engine = make_serving_engine(settings)
    try:
        ensure_schema(engine, migrate_if_behind=settings.mode == "embedded")
    finally:
        engine.dispose()


def production_app() -> FastAPI:
    """The API alone, for several workers beside one `ccl-indexer run` (uvicorn --factory).

    The gate reads the indexer's replica in the shared database; nothing here writes it.
    """
    settings = Settings()
    cap_arenas(settings.malloc_arenas)  # before this worker's threads
    connection = open_chain(settings)
    engine = make_serving_engine(settings)
    reads = ReadConnections(engine)
    replica, mirror = gate_state(engine, connection.w3.eth.chain_id, reads, settings)
    context = build_context(
        settings, w3=connection.w3, engine=engine, state_provider=lambda: replica, reads=reads
    )
    context.closers.extend([connection.close, engine.dispose])
    follow(mirror, context)
    return create_app(settings, context=context)
