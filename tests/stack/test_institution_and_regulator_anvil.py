"""On anvil behind a real uvicorn server: an institution accepts its agreement by signature
without gas, checks the grant an enterprise gave it, and a regulator suspends it with
`ccl regulator` signing with its keystore; the institution's reads are refused from the next
block on and the act is in the audit view with who made it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from nodes import anvil_node, free_port
from pydantic import SecretStr
from typer.testing import CliRunner
from web3 import Web3
from web3.types import RPCEndpoint
from world import PSEUDONYM_KEY, World, build_world, dev_key

from indexer.follower import Indexer
from ledger_api.api.app import create_app
from ledger_api.api.context import AppContext, build_context
from ledger_api.chain.ledger import GrantTerms
from ledger_api.chain.types import AccessLevel, Purpose
from ledger_api.cli import app
from ledger_api.client import LedgerClient
from ledger_api.settings import Settings
from ledger_api.store.db import make_engine, migrate
from wallet_cli.keystore import encrypt_key

pytestmark = [pytest.mark.anvil, pytest.mark.xdist_group("anvil")]
TAX = 1 << 2
PASSWORD = "regulator-password-1"


def _serve(ctx: AppContext, settings: Settings) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, context=ctx), host="127.0.0.1", port=port,
                       log_level="warning")
    )  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30  # a bound on start-up, not a timing assertion
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, AppContext, str]]:
    tmp = tmp_path_factory.mktemp("anvil-institution")
    with anvil_node() as (_url, w3):
        for i in (*range(1, 9), 10):
            w3.provider.make_request(
                RPCEndpoint("anvil_setBalance"), [dev_key(i).address, hex(100 * 10**18)]
            )
        world = build_world(w3)
        settings = Settings(
            pseudonym_key=SecretStr(PSEUDONYM_KEY.hex()),
            data_dir=tmp,
            state_cache_ttl_s=0.0,
            keyring_cache_ttl_s=0.0,
            access_log_anchor_every_s=3600.0,
        )
        url = f"sqlite:///{tmp / 'ledger.sqlite'}"
        migrate(url)
        ctx = build_context(
            settings,
            w3=w3,
            deployment=world.ledger.deployment,
            engine=make_engine(url),
            relayer=world.operator,
            run_migrations=False,
        )
        try:
            yield from ((world, ctx, api) for api in _serve(ctx, settings))
        finally:
            ctx.engine.dispose()


def _regulator(tmp_path: Path, world: World, api: str, *args: str) -> Any:
    keystore = tmp_path / "regulator.json"
    if not keystore.exists():
        secret = SecretStr(PASSWORD)
        keystore.write_text(json.dumps(encrypt_key(world.regulator.account.key, secret,
                                                   work_factor=1024)))  # fmt: skip
        (tmp_path / "password").write_text(PASSWORD + "\n")
    argv = ["regulator", *args, "--keystore", str(keystore), "--password-file",
            str(tmp_path / "password"), "--api-url", api]  # fmt: skip
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    return result


def test_an_institution_on_its_own_and_a_regulator_suspending_it_on_anvil(
    live: tuple[World, AppContext, str], tmp_path: Path
) -> None:
    world, ctx, api = live
    w3: Web3 = world.w3
    insurer = LedgerClient(api, world.insurer.account)
    now = int(time.time())
    proposed = world.ledger.propose_agreement(
        world.operator, world.insurer.address, TAX, 1, now - 60, now + 86400, b"\x07" * 32
    )
    balance = w3.eth.get_balance(world.insurer.address)
    assert insurer.accept_agreement(proposed).status == "active"
    assert w3.eth.get_balance(world.insurer.address) == balance  # the platform paid
    terms = GrantTerms(world.insurer.address, TAX, Purpose.LOAN_APPLICATION, AccessLevel.QUERY,
                       now - 60, now + 86400, 3)  # fmt: skip
    grant_id = world.ledger.issue_grant(world.subject_tx[0], terms)
    [listed] = insurer.institution_grants(usable=True)
    assert (listed.grant_id, listed.uses_left, listed.status.usable) == (grant_id, 3, True)
    assert listed.subject_uscc is None  # no record of the enterprise ingested here
    assert insurer.check_grant(grant_id, category="tax", purpose="loan_application").usable

    done = _regulator(tmp_path, world, api, "suspend-institution", world.insurer.address, "--yes",
                      "--json")  # fmt: skip
    act = json.loads(done.stdout)
    assert (act["target_name"], act["regulator"]) == ("Insurer C", world.regulator.address)
    after = insurer.check_grant(grant_id, category="tax", purpose="loan_application")
    assert (after.usable, after.reason) == (False, "institution_suspended")
    assert after.checked_block >= act["block_number"]

    Indexer.for_engine(w3, world.ledger.deployment, ctx.engine, ctx.settings).run_once()
    shown = _regulator(tmp_path, world, api, "acts", "--json")
    [row] = json.loads(shown.stdout)
    assert (row["act"], row["institution_name"], row["regulator"]) == (
        "suspend_institution", "Insurer C", world.regulator.address,
    )  # fmt: skip
