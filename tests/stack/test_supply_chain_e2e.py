"""Supply-chain finance end to end on anvil, through the API (served by uvicorn, relaying through
the durable transaction queue) and the CLIs: the core enterprise confirms, the supplier splits
to its own supplier, that supplier finances with a bank, a second financing of the same value
is refused (problem+json, and in the regulator's double-financing view), the debtor settles,
the lock releases, and the regulator's supply-chain view shows each step."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from live_server import served
from nodes import anvil_node
from pydantic import SecretStr
from sqlalchemy import Engine, select
from typer.testing import CliRunner
from world import PSEUDONYM_KEY, USCCS, World, build_world, dev_key

from indexer.follower import Indexer
from ledger_api.api.app import create_app
from ledger_api.api.context import build_context
from ledger_api.chain.transactor import Transactor
from ledger_api.chain.txqueue import TxQueue
from ledger_api.client import LedgerClient
from ledger_api.settings import Settings
from ledger_api.store.chain_transactions import ChainTransaction
from ledger_api.store.db import make_engine, migrate
from wallet_cli.bank.main import app as bank_app
from wallet_cli.main import app as wallet_app

pytestmark = [pytest.mark.anvil, pytest.mark.xdist_group("anvil")]

CORE, SUPPLIER, SUB = 0, 1, 2
BANK_NAME = "中原银行郑州分行"
PASSWORD = "correct horse battery"


def _settings(data_dir: Path) -> Settings:
    return Settings(
        pseudonym_key=SecretStr(PSEUDONYM_KEY.hex()),
        data_dir=data_dir,
        state_cache_ttl_s=0.0,
        keyring_cache_ttl_s=0.0,
        rate_limit_per_minute=600_000,
        rate_limit_burst=10_000,
        access_log_anchor_every_s=3600.0,
    )


@dataclass
class Live:
    world: World
    engine: Engine
    api_url: str
    home: Path  # the wallet's home (keystores of core, supplier, sub and bank)

    def client(self, account: LocalAccount) -> LedgerClient:
        return LedgerClient(self.api_url, account)

    def index(self) -> None:
        Indexer.for_engine(self.world.w3, self.world.ledger.deployment, self.engine).run_once()

    def regulator_view(self, view: str) -> list[dict[str, Any]]:
        rows = self.client(self.world.regulator.account).audit(view).result
        assert isinstance(rows, list)
        return rows

    def cli(self, name: str, *args: str, app: Any = None) -> Any:
        """A wallet (or bank) command as ``name``'s keystore, against the live API."""
        words = [*args, "-n", name, "--password-file", str(self.home / "pw.txt")]
        env = {"CCL_WALLET_HOME": str(self.home), "CCL_WALLET_KDF_N": "1024",
               "CCL_WALLET_API_URL": self.api_url, "CCL_WALLET_PASSWORD": None}  # fmt: skip
        if app is None:
            return CliRunner().invoke(wallet_app, ["receivable", *words, "--json"], env=env)
        bank_env = {"CCL_BANK_HOME": str(self.home), "CCL_BANK_API_URL": self.api_url,
                    "CCL_BANK_PASSWORD": None, "CCL_WALLET_KDF_N": "1024"}  # fmt: skip
        return CliRunner().invoke(app, words, env=bank_env)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with anvil_node() as (_url, w3):
        for i in (*range(1, 9), 10):  # the world's dev keys
            balance = hex(100 * 10**18)
            w3.provider.make_request("anvil_setBalance", [dev_key(i).address, balance])  # type: ignore[arg-type]
        world = build_world(w3)
        world.ledger.grant_role(world.operator, "PROVIDER_ROLE", world.operator.address)
        settings = _settings(tmp_path)
        url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        migrate(url)
        engine = make_engine(url)
        operator = world.operator.account
        relayer = Transactor(w3, operator, TxQueue(engine, w3, operator))  # as in production
        ctx = build_context(
            settings, w3=w3, deployment=world.ledger.deployment, engine=engine,
            relayer=relayer, run_migrations=False,
        )  # fmt: skip
        home = tmp_path / "wallet-home"
        home.mkdir()
        (home / "pw.txt").write_text(PASSWORD + "\n")
        keys = {"core": world.subject_keys[CORE], "supplier": world.subject_keys[SUPPLIER],
                "sub": world.subject_keys[SUB], "bank": world.bank.account}  # fmt: skip
        for name, key in keys.items():
            key_file = tmp_path / f"{name}.key"
            key_file.write_text(key.key.hex() + "\n")
            done = CliRunner().invoke(
                wallet_app,
                ["import", "-n", name, "--private-key-file", str(key_file),
                 "--password-file", str(home / "pw.txt")],
                env={"CCL_WALLET_HOME": str(home), "CCL_WALLET_KDF_N": "1024"},
            )  # fmt: skip
            assert done.exit_code == 0, done.stderr
        try:
            with served(create_app(settings, context=ctx)) as api_url:
                yield Live(world, engine, api_url, home)
        finally:
            engine.dispose()


def _ok(result: Any) -> dict[str, Any]:
    assert result.exit_code == 0, result.stderr
    return dict(json.loads(result.stdout))


def _row(live: Live) -> dict[str, Any]:
    live.index()
    [row] = live.regulator_view("supply_chain")
    return row


def test_confirm_split_finance_refuse_double_financing_settle_release_on_anvil(
    live: Live,
) -> None:
    world = live.world
    due = (date.today() + timedelta(days=90)).isoformat()
    rid = _ok(live.cli(
        "supplier", "register", USCCS[CORE], "10000.00", "--due", due, "--invoice",
        "INV-E2E-1", "--contract", "PO-E2E-1", "--my-uscc", USCCS[SUPPLIER], "--yes",
    ))["receivable_id"]  # fmt: skip
    assert live.regulator_view("supply_chain") == []  # pending: not yet owed

    # 1. The core enterprise confirms: owed, and the supplier's record exists.
    whole = _ok(live.cli("core", "confirm", str(rid), "--yes"))["part_id"]
    step = _row(live)
    assert (step["confirmed_count"], step["confirmed_amount"]) == (1, "10000.00")
    assert (step["outstanding_amount"], step["financed_amount"]) == ("10000.00", "0.00")

    # 2. The supplier splits 4000 off and passes it to its own supplier.
    piece = _ok(live.cli("supplier", "split", str(whole), "4000", "--yes"))["new_part_id"]
    _ok(live.cli("supplier", "transfer", str(piece), USCCS[SUB], "--yes"))

    # 3. That supplier finances the part with the bank: locked.
    _ok(live.cli("sub", "finance", str(piece), BANK_NAME, "--registry-no", "REG-9", "--yes"))
    step = _row(live)
    assert (step["financed_count"], step["financed_amount"]) == (1, "4000.00")

    # 4. A second financing of the same value is refused: by the CLI and as problem+json.
    again = live.cli("sub", "finance", str(piece), "Bank B", "--yes")
    assert again.exit_code != 0 and "locked" in again.stderr
    sub = world.subject_keys[SUB]
    offer = live.client(sub).call(
        "GET", "/v1/supply-chain/typed-data/financing",
        params={"part_id": piece, "institution": world.bank_b.address},
    )  # fmt: skip
    signed = Account.sign_typed_data(sub.key, full_message=offer["typed_data"])
    refused = live.client(sub).send(
        "POST", f"/v1/supply-chain/parts/{piece}/financing",
        json_body={"institution": world.bank_b.address, "deadline": offer["deadline"],
                   "signature": "0x" + bytes(signed.signature).hex()},
    )  # fmt: skip
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "part_locked"
    live.index()
    attempts = live.regulator_view("double_financing_refusals")
    assert [(a["part_id"], a["enterprise"], a["locked_by_name"]) for a in attempts] == [
        (piece, sub.address, BANK_NAME), (piece, sub.address, BANK_NAME),
    ]  # fmt: skip
    assert {a["institution_name"] for a in attempts} == {"Bank B"}

    # 5. The debtor settles the financed part in full: paid, and its lock releases.
    bank = bank_app  # ccl-bank
    locked = live.cli("bank", "receivables", "--financed", app=bank)
    assert locked.exit_code == 0 and "4000.00" in locked.stdout
    _ok(live.cli("core", "settle", str(piece), "4000.00", "--yes"))
    step = _row(live)
    assert (step["financed_count"], step["settled_amount"]) == (0, "4000.00")
    assert step["outstanding_amount"] == "6000.00"
    assert "no receivable parts financed" in live.cli("bank", "receivables", "--financed",
                                                      app=bank).stderr  # fmt: skip

    # 6. The supplier finances the rest; the bank releases it on repayment.
    _ok(live.cli("supplier", "finance", str(whole), BANK_NAME, "--yes"))
    assert _row(live)["financed_amount"] == "6000.00"
    released = live.cli("bank", "receivable", "release", str(whole), "--yes", app=bank)
    assert released.exit_code == 0, released.output
    assert _row(live)["financed_amount"] == "0.00"

    # Every relay went through the platform's durable queue and was mined.
    with live.engine.connect() as conn:
        states = [s for (s,) in conn.execute(select(ChainTransaction.state))]
    assert states and set(states) == {"mined"}  # refusals were caught before sending
    assert states.count("mined") >= 9
