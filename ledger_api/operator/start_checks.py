"""Checks `ccl stack`, `serve` and `keys rotate-master` make before they start anything, so that
a busy port, a stale master key or a running stack is one line, not a failure later."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledger_api.errors import InputError
from ledger_api.operator.stack_link import running_stack_url

if TYPE_CHECKING:
    from ledger_api.settings import Settings


def check_port_free(host: str, port: int) -> None:
    """A busy port is one line before any banner (uvicorn would fail after it)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise InputError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                "stop what uses it or pass --port",
                code="port_in_use",
            ) from None


def client_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def check_master_key(settings: Settings) -> None:
    from ledger_api.crypto.keys import MasterKey
    from ledger_api.operator.master_key import check_master_key
    from ledger_api.store.db import make_engine

    # No migration here: `serve` checked the schema already, `stack` migrates when it starts.
    engine = make_engine(settings.resolved_database_url)
    try:
        check_master_key(engine, MasterKey.from_settings(settings))
    finally:
        engine.dispose()


def refuse_rotation_beside_a_running_stack(settings: Settings) -> None:
    """A running stack holds the current master key: rotated under it, its next read of an
    enterprise's data would fail. Stop it, rotate, start it with the new key."""
    api_url = running_stack_url(settings)
    if api_url is not None:
        raise InputError(
            f"`ccl stack` (API {api_url}) is running with the current master key: stop it, "
            "rotate, then start it with CCL_MASTER_KEY and CCL_MASTER_KEY_ID set to the new key",
            code="stack_running",
        )
