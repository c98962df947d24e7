"""The README's production section, run line by line on anvil and PostgreSQL with two API
workers and one indexer, then 50 relays fired concurrently at those workers: each lands on
chain exactly once and its caller gets its answer.

Only the places change (a free port, the test's node, schema and files, throwaway keys); the
commands, their order and their options are the README's.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from nodes import ANVIL_KEY, PG_URL, anvil_node, free_port, postgres_schema
from sqlalchemy import select
from web3 import Web3

from ledger_api.catalog.loader import default_catalog
from ledger_api.chain.deployment import Deployment
from ledger_api.chain.ledger import GrantTerms, Ledger
from ledger_api.chain.transactor import Transactor
from ledger_api.chain.types import AccessLevel, Purpose, mask_of
from ledger_api.client import LedgerClient
from ledger_api.errors import LedgerError
from ledger_api.store.chain_transactions import ChainTransaction
from ledger_api.store.db import make_engine
from ledger_api.synth.generator import make_uscc

pytestmark = [pytest.mark.anvil, pytest.mark.postgres, pytest.mark.xdist_group("anvil")]

ROOT = Path(__file__).resolve().parents[2]
# anvil's funded development accounts #1 (the bank) and #2 (the governance key).
BANK_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
GOVERNANCE_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
SECRETS = {
    "CCL_OPERATOR_KEY": ANVIL_KEY,
    "CCL_MASTER_KEY": "a1" * 32,
    "CCL_MASTER_KEY_ID": "prod-1",
    "CCL_PSEUDONYM_KEY": "b2" * 32,
}


def readme_production_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Running it in production", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the README's production section has no sh block"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


class Operator:
    """Runs the README's lines with this test's places substituted."""

    def __init__(
        self, places: dict[str, str], settings: dict[str, str], env: dict[str, str]
    ) -> None:
        self.places = places  # placeholder in a command -> this test's value
        self.settings = settings  # variable the README exports -> this test's value
        self.env = env
        self.logs = Path(env["CCL_TEST_LOGS"])
        self.background: list[subprocess.Popen[bytes]] = []

    def substitute(self, line: str) -> str:
        for placeholder, value in self.places.items():
            line = line.replace(placeholder, value)
        return line

    def run(self, line: str) -> None:
        line = self.substitute(line)
        if line.startswith("export "):
            self._export(line.removeprefix("export "))
            return
        words = shlex.split(line.removesuffix("&").strip())
        if words[0] == "pg_dump":
            assert shutil.which("pg_dump"), "the README's backup command is not installed"
            return
        program = {"ccl": "ledger_api.cli", "ccl-indexer": "indexer.cli"}[words[0]]
        argv = [sys.executable, "-m", program, *words[1:]]
        env = {**os.environ, **self.env}
        if line.endswith("&"):
            log = self.logs / f"{words[0]}-{len(self.background)}.log"
            self.background.append(subprocess.Popen(argv, cwd=ROOT, env=env, stderr=log.open("wb")))
            return
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"

    def _export(self, assignments: str) -> None:
        for word in shlex.split(assignments):
            name, _, value = word.partition("=")
            if value:
                self.env[name] = self.settings.get(name, value)
            else:  # a secret the operator's secret store provides
                assert name in SECRETS, f"the README exports {name}, a secret the test lacks"
                self.env[name] = SECRETS[name]

    def stop(self) -> None:
        for process in self.background:
            process.terminate()
        for process in self.background:
            process.wait(timeout=30)


@pytest.fixture
def operator(tmp_path: Path) -> Iterator[tuple[Operator, Web3, str]]:
    with anvil_node() as (url, w3), postgres_schema("ccl_path") as schema:
        port = str(free_port())
        document = tmp_path / "agreement.pdf"
        document.write_bytes(b"%PDF-1.4 data-sharing agreement")
        settings = {
            "CCL_CHAIN_URL": url,
            "CCL_DATABASE_URL": f"{PG_URL}?options=-csearch_path%3D{schema}",
            "CCL_DEPLOYMENT_FILE": str(tmp_path / "deployment.json"),
        }
        places = {
            "0xGOVERNANCE": Account.from_key(GOVERNANCE_KEY).address,
            "0xREGULATOR": Account.create().address,
            "0xBANK": Account.from_key(BANK_KEY).address,
            "8700": port,
            "agreement.pdf": str(document),
        }
        env = {
            "CCL_GOVERNANCE_KEY": GOVERNANCE_KEY,  # on the governance machine
            "CCL_TEST_LOGS": str(tmp_path),  # the background processes' stderr
            "CCL_STATE_CACHE_TTL_S": "0",
            "CCL_INDEXER_POLL_INTERVAL_S": "0.2",
            "CCL_ACCESS_LOG_ANCHOR_EVERY_S": "3600",
        }
        runner = Operator(places, settings, env)
        try:
            yield runner, w3, f"http://127.0.0.1:{port}"
        finally:
            runner.stop()


def eventually(check: Callable[[], Any], what: str, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout  # a bound on waiting for the indexer, not a timing test
    while True:
        try:
            return check()
        except (LedgerError, httpx.HTTPError, AssertionError):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}") from None
            time.sleep(0.3)


def test_the_readme_production_steps_then_50_concurrent_relays_each_land_once(
    operator: tuple[Operator, Web3, str],
) -> None:
    runner, w3, api = operator
    lines = readme_production_lines()
    serve_at = next(i for i, line in enumerate(lines) if line.startswith("ccl serve"))
    for line in lines[: serve_at + 1]:
        runner.run(line)
    platform_key = Account.from_key(ANVIL_KEY)
    try:
        eventually(lambda: httpx.get(f"{api}/healthz").raise_for_status(), "the API workers")
    except AssertionError:
        logs = {p.name: p.read_text()[-3000:] for p in runner.logs.glob("*.log")}
        raise AssertionError(f"the API did not start: {logs}") from None
    # The workers decide roles from the indexer's replica: wait until it has the deployment.
    eventually(lambda: LedgerClient(api, platform_key).list_registrations(), "the replica's roles")
    for line in lines[serve_at + 1 :]:
        runner.run(line)

    deployment = Deployment.load(Path(runner.env["CCL_DEPLOYMENT_FILE"]))
    ledger = Ledger(w3, deployment)
    regulator = runner.places["0xREGULATOR"]
    assert ledger.has_role("REGULATOR_ROLE", regulator)
    assert not ledger.has_role("REGULATOR_ROLE", platform_key.address)
    bank = Account.from_key(BANK_KEY)
    ledger.transact(Transactor(w3, bank), "acceptAgreement", 1)  # the bank, on chain

    subjects = [Account.create() for _ in range(15)]
    usccs = [make_uscc("410100", 910_000 + i) for i in range(15)]
    registrations = []
    for key, uscc in zip(subjects, usccs, strict=True):
        wallet = LedgerClient(api, key)
        registrations.append(wallet.sign_registration(wallet.request_registration(uscc)).id)
    nonce_before = w3.eth.get_transaction_count(platform_key.address)
    answers: list[Any] = []

    def platform() -> LedgerClient:
        return LedgerClient(api, platform_key)

    def fire(calls: list[Callable[[], Any]]) -> None:
        with ThreadPoolExecutor(len(calls)) as pool:
            answers.extend(pool.map(lambda call: call(), calls))

    def approve(registration_id: int) -> Any:
        return platform().approve_registration(registration_id)

    def register(i: int) -> Any:
        return platform().register_institution(Account.create().address, 1, f"Bank {i}")

    def grant(key: LocalAccount, terms: GrantTerms) -> list[int]:
        return LedgerClient(api, key).relay_grants([ledger.sign_grant(key, terms)])

    def ingest(uscc: str) -> Any:
        return platform().ingest("tax", _tax_batch(uscc))

    def revoke(key: LocalAccount, grant_id: int) -> Any:
        deadline, signature = ledger.sign_revocation(key, grant_id)
        return LedgerClient(api, key).relay_revocation(grant_id, deadline, signature)

    # 25 at once: 15 real-name approvals (bindSubject) and 10 institution registrations.
    fire([partial(approve, r) for r in registrations] + [partial(register, i) for i in range(10)])
    eventually(lambda: [LedgerClient(api, key).me() for key in subjects], "the bindings")

    # 20 at once: 15 relayed grants and 5 provider batches, each anchored.
    now = int(time.time())
    tax = default_catalog().category("tax").bit
    terms = GrantTerms(
        bank.address, mask_of([tax]), Purpose.LOAN_APPLICATION, AccessLevel.QUERY,
        now - 60, now + 30 * 86400,
    )  # fmt: skip
    fire([partial(grant, key, terms) for key in subjects] + [partial(ingest, u) for u in usccs[:5]])
    grant_ids = [answer[0] for answer in answers[25:40]]

    def replica_has_grants() -> None:
        for key, grant_id in zip(subjects[:5], grant_ids[:5], strict=True):
            assert [g.grant_id for g in LedgerClient(api, key).my_grants()] == [grant_id]

    eventually(replica_has_grants, "the grants in the replica")

    # 5 at once: revocations.
    fire([partial(revoke, k, g) for k, g in zip(subjects[:5], grant_ids[:5], strict=True)])

    assert len(answers) == 50
    assert w3.eth.get_transaction_count(platform_key.address) == nonce_before + 50
    assert all(ledger.grant(g).revoked for g in grant_ids[:5])
    assert not any(ledger.grant(g).revoked for g in grant_ids[5:])
    assert all(a.tx_hash for a in answers[40:45])  # the batches' anchors
    engine = make_engine(runner.env["CCL_DATABASE_URL"])
    table = ChainTransaction.__table__
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.state, table.c.nonce)).all()
    engine.dispose()
    relays = [
        (state, nonce) for state, nonce in rows if nonce is not None and nonce >= nonce_before
    ]
    assert sorted(nonce for _state, nonce in relays) == list(range(nonce_before, nonce_before + 50))
    assert {state for state, _nonce in relays} == {"mined"}


def _tax_batch(uscc: str) -> bytes:
    rows = [
        {
            "uscc": uscc, "record_key": f"tax-{m}", "period": f"2025-{m:02d}",
            "tax_type": "vat", "taxable_sales": "120000.00", "tax_paid": "7000.00",
            "arrears_amount": "0.00", "paid_on_time": True, "tax_grade": "B",
        }
        for m in range(1, 4)
    ]  # fmt: skip
    return "\n".join(json.dumps(row) for row in rows).encode()
