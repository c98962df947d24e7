"""`ccl-indexer dashboard`: serve the dashboard alone, on this machine only.

It reads the database named by ``CCL_DATABASE_URL`` (the replica and the access log) and never
the platform's API, so it holds no key and signs nothing. Binding anything but a loopback
address is refused: the dashboard has no login (docs/dashboard.md).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from sqlalchemy import Engine, select

from indexer.dashboard.app import create_dashboard
from indexer.tables import CHECKPOINT
from ledger_api.errors import InputError
from ledger_api.settings import Settings

DEFAULT_PORT = 8710


class NotLoopbackError(InputError):
    code = "dashboard_not_loopback"


def check_host(host: str) -> str:
    """``host`` when it is a loopback address or ``localhost``; refused otherwise."""
    if host == "localhost":
        return host
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise NotLoopbackError(
            f"--host {host}: the dashboard has no login and is served on a loopback address "
            "only (127.0.0.1 or ::1); reach it from elsewhere through an SSH tunnel"
        )
    return host


def chain_lag(settings: Settings, engine: Engine) -> Callable[[], int | None] | None:
    """Blocks the replica is behind the node's confirmed head, when a node URL is configured
    (the embedded chain belongs to the process running the indexer, so it cannot be asked)."""
    if not settings.chain_url:
        return None
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(settings.chain_url))

    def lag() -> int | None:
        with engine.connect() as conn:
            indexed = conn.execute(select(CHECKPOINT.c.block_number).limit(1)).scalar()
        if indexed is None:
            return None
        target = int(w3.eth.block_number) - settings.confirmation_depth
        return max(target - int(indexed), 0)

    return lag


def serve(settings: Settings, *, host: str, port: int) -> None:
    import uvicorn

    from ledger_api.store.db import ensure_schema, make_engine

    check_host(host)
    engine = make_engine(settings.resolved_database_url)
    try:
        ensure_schema(engine, migrate_if_behind=settings.mode == "embedded")
        app = create_dashboard(
            engine,
            pseudonym_key=settings.pseudonym_key_bytes,
            indexer_lag=chain_lag(settings, engine),
            warm_up=True,  # the log's one full pass starts now, not at the first page
        )
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        engine.dispose()
