"""Throwaway local services for tests and benchmarks, never for the product's runtime: a free
localhost port, an anvil node (the binary npm installs), and a private schema on a PostgreSQL
server. A service that cannot be had raises ``ServiceUnavailable`` with what was missing; the
tests turn that into a skip or a failure, the benchmarks into one line."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from web3 import Web3

ANVIL = Path(__file__).resolve().parents[1] / "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
# anvil's first funded dev account (public, deterministic test key).
ANVIL_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
PG_URL = os.environ.get(
    "CCL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


class ServiceUnavailable(Exception):
    """A local service could not be started or reached."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def anvil() -> Iterator[tuple[str, Web3]]:
    """A fresh anvil on a free port; yields its URL and a connected Web3."""
    if not ANVIL.exists():
        raise ServiceUnavailable("anvil binary not installed (npm ci)")
    port = free_port()
    process = subprocess.Popen(
        [str(ANVIL), "--port", str(port), "--host", "127.0.0.1", "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    w3 = Web3(Web3.HTTPProvider(url))
    try:
        deadline = time.monotonic() + 30  # a bound on start-up, not a timing assertion
        while not w3.is_connected():
            if time.monotonic() > deadline or process.poll() is not None:
                raise ServiceUnavailable("anvil did not start")
            time.sleep(0.05)
        yield url, w3
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def private_schema(prefix: str, url: str = PG_URL) -> Iterator[str]:
    """A schema of its own on the PostgreSQL server at ``url`` (concurrent users share the
    server), dropped afterwards."""
    schema = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # the server is not there or refuses: say so, in one line
        admin.dispose()
        raise ServiceUnavailable(f"PostgreSQL not reachable at {url}: {exc}") from exc
    try:
        yield schema
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
