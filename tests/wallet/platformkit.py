"""A platform for the wallet's domain commands to talk to.

- ``InProcessPlatform``: the API app on the session's eth-tester ``world``, reached through a
  ``TestClient`` transport (``wallet_cli.platform.CLIENT_FACTORY``), the chain handed to the
  wallet for ``CHAIN_URL`` (``wallet_cli.chain.WEB3_FACTORY``). Fast; for CliRunner tests.
- ``LivePlatform``: a real anvil node and a real uvicorn server on free 127.0.0.1 ports, for
  driving ``ccl-wallet`` as a subprocess, exactly as a user would.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from live_server import served
from nodes import anvil_node
from pydantic import SecretStr
from web3 import Web3
from world import PSEUDONYM_KEY, World, build_world, dev_key

from ledger_api.api.app import create_app
from ledger_api.api.context import AppContext, build_context
from ledger_api.client import LedgerClient
from ledger_api.identity.uscc import check_character
from ledger_api.settings import Settings
from ledger_api.store.db import make_engine, migrate

CHAIN_URL = "http://chain.invalid:8545"  # what in-process tests pass as --chain-url / --rpc


def make_uscc(serial: int, division: str = "410100") -> str:
    """A valid Henan USCC (GB 32100-2015 check character computed)."""
    first17 = f"91{division}MA{serial:07d}"
    return first17 + check_character(first17)


def _month(offset: int) -> str:
    today = date.today()
    total = today.year * 12 + today.month - 1 - offset
    return f"{total // 12:04d}-{total % 12 + 1:02d}"


def sample_rows(uscc: str) -> dict[str, list[dict[str, Any]]]:
    return {
        "registration": [
            {
                "uscc": uscc,
                "record_key": "reg-1",
                "enterprise_name": "郑州钱包测试有限公司",
                "enterprise_type": "limited_company",
                "industry_section": "C",
                "division_code": "410100",
                "registered_capital": "1000000.00",
                "established_on": "2016-04-01",
                "business_status": "active",
                "legal_representative": "李四光",
                "legal_rep_id_number": "410101198802024321",
                "contact_phone": "13900139000",
            }
        ],
        "tax": [
            {
                "uscc": uscc,
                "record_key": f"tax-{i}",
                "period": _month(i),
                "tax_type": "vat",
                "taxable_sales": "50000.00",
                "tax_paid": "3000.00",
                "arrears_amount": "0.00",
                "paid_on_time": True,
                "tax_grade": "A",
            }
            for i in range(1, 3)
        ],
    }


def platform_settings(data_dir: Path, **overrides: Any) -> Settings:
    return Settings(
        pseudonym_key=SecretStr(PSEUDONYM_KEY.hex()),
        data_dir=data_dir,
        state_cache_ttl_s=0.0,
        keyring_cache_ttl_s=0.0,
        rate_limit_per_minute=600_000,
        rate_limit_burst=10_000,
        access_log_anchor_every_s=3600.0,
        access_log_anchor_every_entries=100_000,
        **overrides,
    )


@dataclass
class PlatformBase:
    world: World
    ctx: AppContext

    @property
    def operator(self) -> LocalAccount:
        return self.world.operator.account

    @property
    def bank(self) -> LocalAccount:
        return self.world.bank.account

    def client(self, account: LocalAccount) -> LedgerClient:
        raise NotImplementedError

    def approve_pending(self) -> list[int]:
        operator = self.client(self.operator)
        ids = [r.id for r in operator.list_registrations("pending_approval")]
        for registration_id in ids:
            operator.approve_registration(registration_id)
        return ids

    def ingest_for(self, uscc: str) -> None:
        provider = self.client(self.operator)  # the operator also holds PROVIDER_ROLE here
        for category, rows in sample_rows(uscc).items():
            data = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
            result = provider.ingest(category, data)
            assert not result.rejected, result.rejected


@dataclass
class InProcessPlatform(PlatformBase):
    http: TestClient

    def client(self, account: LocalAccount) -> LedgerClient:
        return LedgerClient("http://testserver", account, transport=self.http)


@contextmanager
def in_process_platform(
    world: World, tmp_path: Path, template: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[InProcessPlatform]:
    db = tmp_path / "ledger.sqlite"
    shutil.copy(template, db)
    settings = platform_settings(tmp_path)
    world.ledger.grant_role(world.operator, "PROVIDER_ROLE", world.operator.address)
    ctx = build_context(
        settings,
        w3=world.w3,
        deployment=world.ledger.deployment,
        engine=make_engine(f"sqlite:///{db}"),
        relayer=world.operator,
        run_migrations=False,
    )
    app = create_app(settings, context=ctx)
    platform = InProcessPlatform(world, ctx, TestClient(app))

    def client_factory(url: str, account: LocalAccount) -> LedgerClient:
        # Each command closes its client: give it its own TestClient on the same app.
        return LedgerClient(url, account, transport=TestClient(app))

    def web3_factory(url: str) -> Web3:
        if url != CHAIN_URL:
            return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 2}))
        return world.w3

    monkeypatch.setattr("wallet_cli.platform.CLIENT_FACTORY", client_factory)
    monkeypatch.setattr("wallet_cli.chain.WEB3_FACTORY", web3_factory)
    try:
        yield platform
    finally:
        ctx.close()
        ctx.engine.dispose()


def migrated_template(directory: Path) -> Path:
    template = directory / "template.sqlite"
    migrate(f"sqlite:///{template}")
    return template


# -- a real node and a real server ----------------------------------------------------------


def fund(w3: Web3, address: str, ether: int = 100) -> None:
    w3.provider.make_request("anvil_setBalance", [address, hex(ether * 10**18)])  # type: ignore[arg-type]


@dataclass
class LivePlatform(PlatformBase):
    api_url: str
    chain_url: str
    server_log: io.StringIO

    def client(self, account: LocalAccount) -> LedgerClient:
        return LedgerClient(self.api_url, account)


@contextmanager
def live_platform(tmp_path: Path) -> Iterator[LivePlatform]:
    """anvil + the world deployed on it + the API served by uvicorn on a free port.

    Everything the server logs (uvicorn and the application's loggers) goes to ``server_log``
    so that tests can check no secret was ever logged.
    """
    with anvil_node() as (chain_url, w3):
        for i in (*range(1, 9), 10):  # the world's dev keys (operator, ..., subjects, governance)
            fund(w3, dev_key(i).address)
        world = build_world(w3)
        world.ledger.grant_role(world.operator, "PROVIDER_ROLE", world.operator.address)
        settings = platform_settings(tmp_path)
        url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
        migrate(url)
        ctx = build_context(
            settings,
            w3=w3,
            deployment=world.ledger.deployment,
            engine=make_engine(url),
            relayer=world.operator,
            run_migrations=False,
        )
        log = io.StringIO()
        handler = logging.StreamHandler(log)
        handler.setLevel(logging.DEBUG)
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        try:
            with served(create_app(settings, context=ctx)) as api_url:
                yield LivePlatform(world, ctx, api_url, chain_url, log)
        finally:
            root.removeHandler(handler)
            root.setLevel(old_level)
            ctx.engine.dispose()
