"""A day of activity for the dashboard tests, and the dashboard served on a loopback port."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn
from api_support import Api
from starlette.applications import Starlette
from test_gate import read
from world import PSEUDONYM_KEY

from indexer.dashboard import create_dashboard
from indexer.follower import Indexer
from ledger_api.crypto.keys import insert_subjects
from ledger_api.errors import LedgerError
from ledger_api.identity.uscc import subject_id
from ledger_api.synth import financing as synth
from ledger_api.synth.generator import iter_enterprises


def populate(api: Api) -> dict[str, int]:
    """Grants for both subjects, allowed reads, refused reads and a revocation; indexed."""
    world = api.world
    first, second = api.grant(0), api.grant(1)
    uninsured = api.grant(1, institution=world.insurer.address)  # the insurer has no agreement
    read(api, first)
    read(api, first, category="social_insurance")
    read(api, second, subject=1)
    refusals = [
        lambda: read(api, first, category="housing_fund"),  # a category the grant lacks
        lambda: read(api, uninsured, who=world.insurer.account, subject=1),
    ]
    denied = 0
    for refused in refusals:
        try:
            refused()
        except LedgerError:
            denied += 1
    world.ledger.revoke_grant(world.subject_tx[0], first)
    Indexer.for_engine(world.w3, world.ledger.deployment, api.engine, api.settings).run_once()
    return {"grant": first, "denied": denied}


def generate_loans(api: Api) -> None:
    """A small generated set of applications and loans, stored as tests/api/test_financing_kpis
    stores its larger one."""
    enterprises = [
        (subject_id(e.uscc, api.settings.pseudonym_key_bytes), e)
        for e in iter_enterprises(8, seed=11)
    ]
    now = int(api.clock())
    banks = [api.world.bank.address, api.world.bank_b.address]
    apps = synth.generate(enterprises, banks, start=now - 60 * 86_400, days=50, count=40, seed=7)
    keyring = api.ctx.keyrings.current()
    with api.engine.begin() as conn:
        insert_subjects(
            conn, keyring.keys_for(conn, {s: e.uscc for s, e in enterprises}).new_subjects
        )
        synth.store(conn, keyring, apps, now)


def dashboard_for(api: Api) -> Starlette:
    return create_dashboard(api.engine, pseudonym_key=PSEUDONYM_KEY, indexer_lag=lambda: 0)


@contextlib.contextmanager
def served(app: Starlette) -> Iterator[str]:
    """``app`` on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:  # startup, not timing: the loop ends as soon as it listens
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
